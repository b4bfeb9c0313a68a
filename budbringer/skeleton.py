"""`budbringer new`: next month's message file, as a skeleton to fill in (plain Python, no Prefect).

The skeleton holds what the calendar already knows, as comments at the top of the front matter: the OC meeting
the message is for, the day the approval request goes out, the approval deadline (the day OC gets the
briefing), each tier's earliest day, and the newsletter issue each submission goes to. Below them, every field
each forum of the plan needs, empty, each with a short Danish prompt as a YAML comment: a prompt is never a
value, so an unfilled field is empty, and `check` names it (`message.empty_fields`) instead of sending it.

Where each forum's text is written follows the plan's declarations (render.text_home, docs/plan):

- `groups.<group>` for the forum the plan says the group's text is written for (`group_text: true`), and for
  the fora that share that forum's text (`shares_text_with`);
- every other forum gets a text of its own under `forum_texts`: keyed by its template when several fora share
  it (`network_briefing`), by the forum it shares with (`shares_text_with: midtnyt`), else by its name;
- what only one forum reads (a `forward`, a network's `invitation`, a post's `hashtags`) goes under its name;
  the optional ones (render.OPTIONAL) are marked so in their prompt, to delete in a month without them.

A plan that declares neither (an older plan: every forum reads its group's text) gets the group texts and each
forum's extra fields only. Filled in, the skeleton gives every forum a text written for its readers: `check`
finds no forum reading another reader's text (checks.reader_findings).

The file is named after the month of the request day (`messages/YYYY-MM-status.md`), the month the monthly
run (flows/send.py) looks for it in. An existing file is never overwritten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from budbringer import deadlines, render
from budbringer.errors import InputError, Problem
from budbringer.plan import STAKEHOLDER_LABELS, Plan
from budbringer.render import DEFAULT_NEEDS, OWN_FIELDS, danish_date, danish_day, newsletter_issue, template_key

GROUP_ORDER = ("management", "employees", "citizens", "others")

#: per group, the prompt of each field: what that reader needs (the plan's stakeholder advice)
PROMPTS: dict[str, dict[str, str]] = {
    "management": {
        "about": "Ledelsen: hvorfor, målene, deres rolle og en opgave med en dato",
        "headline": "Det vigtigste for lederne i denne måned, på én linje",
        "lead": "1-3 sætninger: hvad er sket, og hvad beder vi jer om?",
        "text": "Hvorfor (visionen, ét socialområde), målene, status, og jeres rolle som ledere. Skriv »I«",
        "ask": "Hvad beder vi jer om? Ét konkret skridt, som lederne kan tage",
        "by": "Hvornår? En dato (ÅÅÅÅ-MM-DD), fx før OC-mødet {meeting}",
    },
    "employees": {
        "about": "Medarbejderne: hvad ændrer sig i deres hverdag, hvad afløser det, hvor får de hjælp",
        "headline": "Hvad ændrer sig for dig, på én linje",
        "lead": "1-3 sætninger: hvad betyder det for din hverdag lige nu?",
        "text": "Hvad ændrer sig i din hverdag, og hvornår? Hvad afløser det? Hvor får du hjælp? Skriv »du«, "
                "og forklar et fagord, første gang det bruges",
        "ask": "Hvor får du hjælp, og hvem kan du spørge?",
        "by": "Hvornår? En dato (ÅÅÅÅ-MM-DD)",
    },
    "citizens": {
        "about": "Borgerne: hvilken forskel det gør for dem, i hverdagens ord",
        "headline": "Hvad betyder det for dig? På én linje, i hverdagens ord",
        "lead": "1-3 korte sætninger: hvad får du ud af det?",
        "text": "Hvilken forskel gør det for dig? Skal du gøre noget? Korte sætninger og ingen fagord "
                "(fx ikke »udbud« eller »leverandør«)",
        "ask": "Hvad kan du gøre, hvis du vil vide mere?",
        "by": "Hvornår? En dato (ÅÅÅÅ-MM-DD)",
    },
    "others": {
        "about": "Øvrige (politikere, samarbejdspartnere, fagfolk): involvér dem tidligt",
        "headline": "Nyheden for samarbejdspartnere, på én linje",
        "lead": "1-3 sætninger: hvad sker der, og hvad betyder det for jer?",
        "text": "Involvér tidligt: hvad sker der, hvad betyder det for samarbejdet, og hvornår hører I mere?",
        "ask": "Hvad inviterer vi jer til? Fx at dele erfaringer eller stille spørgsmål",
        "by": "Hvornår? En dato (ÅÅÅÅ-MM-DD)",
    },
}

#: the prompts of the fields a template needs beyond a group text
EXTRA_PROMPTS = {
    "forward": ("Teksten, som {forum} sender videre uændret{informs}: kort, i »du«-form, hvad ændrer sig, "
                "og hvor man får hjælp"),
    "forward.headline": "Overskriften på den tekst, der sendes videre",
    "forward.text": "Selve teksten, der sendes videre",
    "invitation.what": "Hvad inviterer vi til? Fx »Workshop om krav til ...«",
    "invitation.date": "Dagen (ÅÅÅÅ-MM-DD)",
    "invitation.time": "Tidsrummet, fx \"9.00-12.00\" (i anførselstegn)",
    "invitation.place": "Stedet, med adresse",
    "invitation.reply_by": "Svarfrist (ÅÅÅÅ-MM-DD): tidligst nogle dage efter, at netværket har fået mailen "
                           "({earliest})",
    "hook": "Opslagets første linje: et spørgsmål eller en nyhed til læserne, ikke budskabets titel",
    "hashtags": "Valgfrit: opslagets hashtags, fx [Socialområdet, RegionMidtjylland]; ellers slet linjen",
}


#: what an optional field without a prompt of its own is for
OPTIONAL_PROMPTS = {"invitation": "en invitation til netværket (fx en workshop eller en demodag)",
                    "forward": "en tekst, som forummet sender videre uændret"}


@dataclass(frozen=True)
class Dates:
    """What the calendar says about the message for one OC meeting."""

    meeting: dt.date
    request_at: dt.datetime
    deadline: dt.datetime
    tiers: list[tuple[str, dt.date, str]]  # (tier title, earliest day, why)
    next_meeting: dt.date | None

    @property
    def message_date(self) -> dt.date:
        """The message's `date`: the day the request goes out (its month names the file)."""
        return self.request_at.date()


def pick_meeting(plan: Plan, meeting: dt.date | None, now: dt.datetime) -> tuple[dt.date, list[dt.date]]:
    """The meeting asked for (one of the plan's), or the first one after `now` whose approval deadline is still
    ahead; and the meetings skipped because their deadline has passed (said to the author)."""
    forum = plan.calendar.meetings_forum
    known = sorted(plan.fora[forum].meetings) if forum in plan.fora else []
    if meeting is not None:
        if meeting not in known:
            raise InputError([Problem(str(plan.path), "--meeting", f"{meeting.isoformat()} is not a meeting of "
                                      f"{forum} in the plan",
                                      f"use one of {', '.join(d.isoformat() for d in known) or '(none)'}, or add "
                                      f"it under fora.{forum}.meetings")])
        return meeting, []
    today = now.astimezone(deadlines._zone(plan)).date()
    skipped: list[dt.date] = []
    for day in (d for d in known if d > today):
        if deadlines.schedule_for(plan, day).deadline > now:
            return day, skipped
        skipped.append(day)
    raise InputError([Problem(str(plan.path), f"fora.{forum}.meetings",
                              f"has no meeting after {today.isoformat()} whose approval deadline is still ahead",
                              f"add the coming meeting dates under fora.{forum}.meetings, or give --meeting")])


def dates_for(plan: Plan, meeting: dt.date) -> Dates:
    """The request day, the deadline and each tier's earliest day for the message to `meeting`: a tier goes
    out once approved (not before the request), after the tier before it, and not before its calendar gate."""
    schedule = deadlines.schedule_for(plan, meeting)
    earliest = schedule.request_at.date()
    tiers: list[tuple[str, dt.date, str]] = []
    for tier in plan.tiers:
        if not plan.active_fora(tier):
            continue
        gate = deadlines.gate(plan, tier, schedule.request_at.date())
        why = "når styregruppen har godkendt" if not tiers else "når trinnet før er leveret"
        if gate is not None and gate > earliest:
            earliest, why = gate, "planens dato for trinnet (not_before)"
        tiers.append((tier.title, earliest, why))
    later = deadlines.next_meeting(plan, meeting + dt.timedelta(days=1))
    return Dates(meeting, schedule.request_at, schedule.deadline, tiers, later)


#: the order of a text's fields in the skeleton
FIELD_ORDER = ("headline", "lead", "hook", "text", "action", "forward", "invitation", "hashtags")


def _social(plan: Plan, name: str) -> bool:
    return name.startswith("linkedin") or _file(plan, name).split("_")[0] in ("linkedin", "facebook", "instagram")


def _homes(plan: Plan) -> dict[str, tuple[list[str], list[str]]]:
    """Where each field every forum reads is written: message place (`groups.employees`, `forum_texts.hmu`) →
    (the fora that read it, its fields), in the order of the fora (module docstring)."""
    legacy = not any(f.group_text or f.shares_text_with for f in plan.fora.values())
    homes: dict[str, tuple[list[str], list[str]]] = {}
    for name in _fora(plan):
        forum = plan.fora[name]
        fields = list(render.reads(forum)) + (["hashtags"] if _social(plan, name) else [])
        for field in fields:
            if field in (*OWN_FIELDS, "hashtags"):
                home = f"forum_texts.{name}"
            elif legacy and field in DEFAULT_NEEDS:
                home = f"groups.{forum.stakeholder}"
            else:
                home = render.text_home(plan, name, field).rsplit(".", 1)[0]
            readers, written = homes.setdefault(home, ([], []))
            if name not in readers:
                readers.append(name)
            if field not in written:
                written.append(field)
    for _, written in homes.values():
        written.sort(key=FIELD_ORDER.index)
    return homes


def _fora(plan: Plan) -> list[str]:
    """Every enabled forum, in tier order (a new message goes to all of them)."""
    return [name for tier in plan.tiers for name in plan.active_fora(tier)]


def _file(plan: Plan, name: str) -> str:
    return plan.fora[name].template.split("/")[-1]


def _line(indent: int, key: str, prompt: str, value: str = "") -> str:
    head = " " * indent + f"{key}:" + (f" {value}" if value else "")
    return f"{head:<30} # {prompt}"


def _field_lines(plan: Plan, home: str, readers: list[str], fields: list[str], dates: Dates,
                 tier_day: dict[str, dt.date]) -> list[str]:
    """The lines of one place's fields, each with the prompt of what its readers need."""
    first = plan.fora[readers[0]]
    prompts = {k: v.format(meeting=danish_date(dates.meeting)) for k, v in PROMPTS[first.stakeholder].items()}
    if first.medium == "mail" and first.stakeholder == "employees":  # a mail greets its readers as a group
        prompts["text"] = prompts["text"].replace("Skriv »du«", "Skriv »I«")
    earliest = tier_day.get(plan.tier_of(readers[0]).name, dates.message_date)
    optional = set(render.OPTIONAL.get(_file(plan, readers[0]), ()))
    lines = []
    for field in fields:
        if field == "action":
            lines.append("    action:")
            lines.append(_line(6, "ask", prompts["ask"]))
            if first.stakeholder == "management":
                lines.append(_line(6, "by", prompts["by"]))
        elif field in ("headline", "lead", "text"):
            lines.append(_line(4, field, prompts[field]))
        else:
            extra = _extra_lines(plan, readers[0], field, 4, dates, earliest)
            if field in optional:
                head, _, prompt = extra[0].partition("# ")
                prompt = prompt[:1].lower() + prompt[1:] if prompt else f"{OPTIONAL_PROMPTS[field]}"
                extra[0] = _line(4, head.strip().rstrip(":"), f"Valgfrit: {prompt}; slet linjerne i en måned uden")
            lines += extra
    return lines


def _extra_lines(plan: Plan, name: str, field: str, indent: int, dates: Dates, earliest: dt.date) -> list[str]:
    forum = plan.fora[name]
    if field == "forward":
        informs = f" til {', '.join(forum.informs)}" if forum.informs else ""
        lines = [_line(indent, "forward", EXTRA_PROMPTS["forward"].format(forum=forum.title, informs=informs))]
        return lines + [_line(indent + 2, key, EXTRA_PROMPTS[f"forward.{key}"]) for key in ("headline", "text")]
    if field == "invitation":
        lines = [" " * indent + "invitation:"]
        for key in ("what", "date", "time", "place", "reply_by"):
            lines.append(_line(indent + 2, key, EXTRA_PROMPTS[f"invitation.{key}"].format(
                earliest=f"tidligst {danish_date(earliest)}")))
        return lines
    return [_line(indent, field, EXTRA_PROMPTS[field])]


def skeleton_text(plan: Plan, dates: Dates) -> str:
    """The skeleton message for the meeting in `dates`, as the text of the file."""
    homes = _homes(plan)
    names = _fora(plan)
    tier_day = {tier.name: day for tier, (_, day, _) in zip(
        [t for t in plan.tiers if plan.active_fora(t)], dates.tiers)}
    zone_time = dates.deadline.strftime("%H.%M")
    out = [
        "---",
        f"# Budskabet til mødet i {plan.fora[plan.calendar.meetings_forum].title} {danish_day(dates.meeting)}, "
        "skrevet af `budbringer new`.",
        "# Kalenderen (planens calendar:):",
        f"#   anmodningen om godkendelse sendes: {danish_day(dates.request_at)} kl. {dates.request_at:%H.%M}",
        f"#   styregruppens frist, hvor OC-kredsen får orienteringen: {danish_day(dates.deadline)} kl. {zone_time}",
        f"#   mødet: {danish_day(dates.meeting)}",
        "#   tidligst ud, trin for trin:",
    ]
    out += [f"#     {i}. {title}: {danish_date(day)} ({why})" for i, (title, day, why) in enumerate(dates.tiers, 1)]
    for name in names:
        forum = plan.fora[name]
        issue = newsletter_issue(forum, dates.deadline.date())
        if issue is not None:
            out.append(f"#   {forum.title}: forslaget går til nummeret {danish_date(issue.date)} (redaktionens "
                       f"deadline {danish_date(issue.deadline)}); skriv i datid om det, der er sket inden da")
    out += [
        "# Skriv efter hvert kolon, og slet de linjer, du ikke bruger. Hvert felt, der stadig er tomt, nævner",
        "# `budbringer check` ved navn. Vejledning: docs/skriv-et-budskab.md.",
        f"id: {dates.message_date:%Y-%m}-status",
        _line(0, "title", "Styregruppens navn for budskabet, fx »Status på udbuddet – "
              f"{_month(dates.meeting)} {dates.meeting.year}«"),
        _line(0, "summary", "1-2 sætninger til styregruppen: hvad handler budskabet om?"),
        f"date: {dates.message_date.isoformat()}              # den dag, anmodningen sendes (filen hører til måneden)",
        _line(0, "link", "Valgfrit: en https-adresse med mere at læse; ellers slet linjen"),
        "contact:                       # den, læserne og redaktionerne kan kontakte",
        _line(2, "name", "Fornavn og efternavn"),
        _line(2, "role", "Rolle, fx projektleder"),
        _line(2, "email", "Mailadresse", plan.narrative.contact if "@" in plan.narrative.contact else ""),
    ]
    if dates.next_meeting is not None:
        out.append(f"next_status: {dates.next_meeting.isoformat()}        # næste OC-møde; ret eller slet")
    out += [
        "timeline:                      # fakta, skrevet én gang; hver modtager ser dem med sin gruppes ord",
        _line(2, "- when", "Hvornår, fx »Januar 2027«"),
        "    now: true                  # det trin, vi er ved nu",
        _line(4, "text", "Hvad sker der? Med medarbejdernes ord"),
        _line(4, "citizens", "Det samme i hverdagens ord til borgerne (valgfrit: ellers slet linjen)"),
        "",
        "groups:",
    ]
    for group in GROUP_ORDER:
        if (home := f"groups.{group}") not in homes:
            continue
        readers, fields = homes[home]
        titles = ", ".join(plan.fora[n].title for n in readers)
        out.append(_line(2, group, f"{PROMPTS[group]['about']}. Læses i: {titles}"))
        out += _field_lines(plan, home, readers, fields, dates, tier_day)
    out += ["", "forum_texts:"]
    for home, (readers, fields) in homes.items():
        if not home.startswith("forum_texts."):
            continue
        key = home.split(".", 1)[1]
        forum = plan.fora[readers[0]]
        titles = ", ".join(plan.fora[n].title for n in readers)
        if set(fields) <= {*OWN_FIELDS, "hook", "hashtags"} and key in plan.fora:
            about = titles  # only what this forum reads besides its text
        else:
            description = f" {forum.description.strip()}" if forum.description and len(readers) == 1 else ""
            about = f"Til {titles} ({STAKEHOLDER_LABELS[forum.stakeholder]}).{description}"
        out.append(_line(2, key, about))
        out += _field_lines(plan, home, readers, fields, dates, tier_day)
    out += [
        "---",
        "",
    ]
    return "\n".join(out)


def _month(day: dt.date) -> str:
    return danish_date(day).split(" ")[1]


def write(plan: Plan, folder: str | Path, now: dt.datetime,
          meeting: dt.date | None = None) -> tuple[Path, Dates, list[dt.date]]:
    """Write the skeleton for `meeting` (default: the next one after `now` whose approval deadline is ahead)
    into `folder`; never overwrite. Returns the file, its dates and the meetings skipped as too close."""
    chosen, skipped = pick_meeting(plan, meeting, now)
    dates = dates_for(plan, chosen)
    target = Path(folder) / f"{dates.message_date:%Y-%m}-status.md"
    if target.exists():
        raise InputError([Problem(str(target), "(file)", "exists already; `budbringer new` never overwrites a file",
                                  "edit that file, or move it away and run `budbringer new` again")])
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "x", encoding="utf-8") as out:  # "x": refuse a file that appeared meanwhile
        out.write(skeleton_text(plan, dates))
    return target, dates, skipped


def same_month(target: Path) -> list[Path]:
    """Other message files of the same month: the monthly run takes exactly one (flows/send.py)."""
    month = target.name[:7]
    return sorted(p for p in target.parent.glob(f"{month}-*.md") if p != target)
