"""Dates checked against delivery: every date a reader is given is checked against the day that reader gets it.

When a forum gets its text follows from the plan (docs/dates.md):

- the **approval deadline** (`deadlines.schedule_for_message_date`): the briefing reaches OC by then at the
  latest, and the cascade runs on from there, so every tier's reader has it by that day;
- a tier's **calendar gate** (`not_before:` a date or the OC meeting) holds that tier and every tier after it;
- a **newsletter** reader gets the item on the date of the issue it lands in (`render.newsletter_issue`).

That day is the latest day the plan lets the text arrive: the day to plan the reader's dates against. Then:

- a **deadline** (an `action.by`, an invitation's `reply_by`, or a date written in the text after "senest",
  "inden", "før", "frist", …) must fall at least `MIN_WORKING_DAYS` Danish working days after that day, and an
  invitation's own date after it: otherwise an error naming the field;
- a sentence that speaks of a period which has **ended by that day** (a date, "i januar", "i foråret 2027", a
  timeline step's `when`) in the present or future tense ("i januar holder vi demodage") is a warning: the
  date arithmetic is certain, but the tense is read by a heuristic, so it asks the author rather than blocks;
- the **approval deadline** itself: a message dated after its own deadline, or a deadline that has passed at
  the runtime's `now` (the request would go out with links that are dead on arrival), is an error naming the
  message's `date` and the fix.

Plain Python: no Prefect, no clock of its own (`now` is passed in).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from budbringer import checks, deadlines, readability, render
from budbringer.checks import Finding
from budbringer.errors import InputError
from budbringer.message import Message, Text
from budbringer.plan import Plan

__all__ = ["MIN_WORKING_DAYS", "Arrival", "approval_findings", "arrivals", "date_findings", "findings",
           "find_dates", "period_of"]

#: the fewest Danish working days a reader needs between getting a text and a deadline in it (the day of
#: arrival not counted, the deadline's day counted): a mail read on Thursday can be answered by Monday
MIN_WORKING_DAYS = 2
APPROVAL = "approval"  # the `forum` of findings about the approval itself


@dataclass(frozen=True)
class Arrival:
    """The latest day the plan lets one forum's reader get its text, and why (English, Danish)."""

    forum: str
    day: dt.date
    why: str
    why_da: str


# -- Danish dates and periods ----------------------------------------------------------------------------------

@cache
def _months() -> dict[str, int]:
    """Danish month names and abbreviations (CLDR, through Babel, as render.danish_date writes them)."""
    from babel.dates import get_month_names

    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_month_names(width, locale="da").items():
            names[name.lower().rstrip(".")] = number
    names["sept"] = 9
    return names


@cache
def _weekdays() -> tuple[str, ...]:
    from babel.dates import get_day_names

    return tuple(name.lower() for name in get_day_names("wide", locale="da").values())


@cache
def _date_pattern() -> re.Pattern[str]:
    months = "|".join(sorted(_months(), key=len, reverse=True))
    weekdays = "|".join(_weekdays())
    return re.compile(
        rf"(?<![\w.])(?:(?:{weekdays})\s+)?(?:(?:den|d\.)\s+)?(?:"
        rf"(?P<day>\d{{1,2}})\.?\s+(?P<month_name>{months})\.?(?:\s+(?P<year>\d{{4}}))?(?![\w])"
        rf"|(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})"
        rf"|(?P<nday>\d{{1,2}})[./](?P<nmonth>\d{{1,2}})(?:(?:[./-])(?P<nyear>\d{{4}}|\d{{2}})(?!\d)|\.|(?=[^.\d]|$))"
        rf")", re.IGNORECASE)


def _nearest(month: int, day: int, near: dt.date) -> dt.date | None:
    """A day and month without a year: the year that puts it nearest to `near` (the message's date)."""
    candidates = []
    for year in (near.year - 1, near.year, near.year + 1):
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(candidates, key=lambda d: abs((d - near).days), default=None)


@dataclass(frozen=True)
class Mention:
    """A date written in a text: where, as written, and what day it means."""

    start: int
    end: int
    written: str
    day: dt.date


def find_dates(text: str, near: dt.date) -> list[Mention]:
    """Every date written in a Danish text: "15. januar", "fredag den 15. jan. 2027", "12.1.", "12/1-2027",
    "2027-01-15". A date without a year is the one nearest to `near`. Times ("kl. 9.30") are no dates."""
    found: list[Mention] = []
    for match in _date_pattern().finditer(text):
        if re.search(r"kl\.?\s*$", text[max(0, match.start() - 4):match.start()]):
            continue
        groups = match.groupdict()
        try:
            if groups["iso"]:
                day = dt.date.fromisoformat(groups["iso"])
            elif groups["month_name"]:
                month = _months()[groups["month_name"].lower().rstrip(".")]
                day = (dt.date(int(groups["year"]), month, int(groups["day"])) if groups["year"]
                       else _nearest(month, int(groups["day"]), near))
            else:
                month, number = int(groups["nmonth"]), int(groups["nday"])
                if groups["nyear"]:
                    year = int(groups["nyear"])
                    day = dt.date(year + 2000 if year < 100 else year, month, number)
                elif match.group(0).endswith((".", "/")) or "/" in match.group(0):
                    day = _nearest(month, number, near)
                else:
                    day = None  # "9.30" without a closing dot: a time or a decimal, not a date
        except (ValueError, KeyError):
            day = None
        if day is not None:
            written = match.group(0).strip()
            if groups["month_name"] and not groups["year"] and len(groups["month_name"].rstrip(".")) > 3 \
                    and groups["month_name"].lower().rstrip(".") not in ("sept",) and written.endswith("."):
                written = written[:-1]  # the sentence's full stop, not part of "15. januar"
            found.append(Mention(match.start(), match.start() + len(written), written, day))
    return found


#: a season: its first month, and how many months it lasts
SEASONS = {"foråret": (3, 3), "forår": (3, 3), "sommeren": (6, 3), "sommer": (6, 3), "efteråret": (9, 3),
           "efterår": (9, 3), "vinteren": (12, 3), "vinter": (12, 3)}


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def period_of(words: str, near: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a period written in Danish, or None: "januar", "Januar 2027", "november
    2026", "foråret 2027", "Vinteren 2026/27", "uge 3", a date. Without a year: the one nearest to `near`."""
    text = words.strip().lower()
    if mention := next(iter(find_dates(text, near)), None):
        return mention.day, mention.day
    month_names = "|".join(name for name in _months() if len(name) > 3)
    if found := re.search(rf"\b({month_names})\b\.?(?:\s+(\d{{4}}))?", text):
        month = _months()[found.group(1)]
        year = int(found.group(2)) if found.group(2) else _nearest(month, 1, near).year  # type: ignore[union-attr]
        return dt.date(year, month, 1), _month_end(year, month)
    if found := re.search(r"\b(" + "|".join(SEASONS) + r")\b(?:\s+(\d{4})(?:\s*/\s*(\d{2,4}))?)?", text):
        first, length = SEASONS[found.group(1)]
        if found.group(2):
            year = int(found.group(2))
        else:
            year = _nearest(first, 15, near).year  # type: ignore[union-attr]
        if first == 12 and found.group(2) and not found.group(3):
            # "vinteren 2027": the winter that ends in 2027 or the one that starts in it; take the later end
            year = int(found.group(2))
        start = dt.date(year, first, 1)
        last_month = (first + length - 2) % 12 + 1
        return start, _month_end(year + (last_month < first), last_month)
    if found := re.search(r"\buge\s+(\d{1,2})(?:\s+(\d{4}))?\b", text):
        week = int(found.group(1))
        years = [int(found.group(2))] if found.group(2) else [near.year - 1, near.year, near.year + 1]
        options = []
        for year in years:
            try:
                options.append(dt.date.fromisocalendar(year, week, 1))
            except ValueError:
                continue
        if options:
            monday = min(options, key=lambda d: abs((d - near).days))
            return monday, monday + dt.timedelta(days=6)
    return None


# -- tense (a heuristic: see the module's docstring) ---------------------------------------------------------

#: a period mention these words introduce is a reference point or a deadline, not the time of the event
NOT_WHEN = {"efter", "siden", "fra", "før", "inden", "senest", "til", "indtil", "frem"}
DEADLINE_CUE = re.compile(r"\b(senest|inden|før|deadline|tilmelding\w*|\w*frist\w*)\b[^.!?\n]{0,40}$",
                          re.IGNORECASE)
FUTURE = {"skal", "vil", "kommer", "bliver", "ventes", "forventes", "forventer", "planlægger", "glæder",
          "holdes", "afholdes", "begynder", "starter", "åbner"}
PAST = {"har", "havde", "var", "blev", "blevet", "været", "fik", "holdt", "kom", "gik", "gav", "tog", "så",
        "stod", "lå", "sagde", "fandt", "nåede", "mødtes", "afholdt", "begyndte", "startede", "åbnede"}
SUBJECTS = {"vi", "i", "de", "du", "man", "jeg", "han", "hun"}
_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+")


def _tokens(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


def _announces(sentence: str) -> bool:
    """The sentence speaks of its event as still to come: a future word, or a present-tense verb beside a
    subject pronoun ("holder vi", "vi holder"), and no past-tense word."""
    tokens = _tokens(sentence)
    if any(token in PAST or (len(token) > 5 and token.endswith("ede")) for token in tokens):
        return False
    if any(token in FUTURE for token in tokens):
        return True
    for index, token in enumerate(tokens):
        if token in SUBJECTS or (token == "i" and re.search(r"(?<![\w])I(?![\w])", sentence)):
            for neighbour in (tokens[index - 1] if index else "", tokens[index + 1] if index + 1 < len(tokens) else ""):
                if len(neighbour) > 2 and neighbour.endswith("r") and neighbour not in PAST:
                    return True
    return False


def _when_phrases(sentence: str, near: dt.date) -> Iterator[tuple[str, tuple[dt.date, dt.date]]]:
    """The periods a sentence places its event in ("i januar", "den 19. januar", "i foråret 2027"), not those
    after "efter", "siden", "inden", "senest" and the like."""
    months = "|".join(name for name in _months() if len(name) > 3)
    seasons = "|".join(SEASONS)
    phrase = re.compile(rf"\b(?P<what>(?:{months})(?:\s+\d{{4}})?|(?:{seasons})(?:\s+\d{{4}}(?:/\d{{2,4}})?)?"
                        rf"|uge\s+\d{{1,2}}(?:\s+\d{{4}})?)\b", re.IGNORECASE)
    taken: list[tuple[int, int]] = []

    def reference(start: int) -> bool:  # "efter demodagene i januar": a reference point, not the event's time
        return bool(NOT_WHEN & set(_tokens(sentence[:start])[-3:]))

    for mention in find_dates(sentence, near):
        if not reference(mention.start) and not DEADLINE_CUE.search(sentence[:mention.start]):
            yield mention.written, (mention.day, mention.day)
        taken.append((mention.start, mention.end))
    for match in phrase.finditer(sentence):
        if any(start <= match.start("what") < end for start, end in taken) or reference(match.start("what")):
            continue
        if (period := period_of(match.group("what"), near)) is not None:
            yield match.group("what"), period


# -- where each forum's text comes from ----------------------------------------------------------------------

def _source(message: Message, name: str, stakeholder: str, template_key: str, field: str) -> str:
    """The message field a forum's `field` comes from: its own forum text, its template's, else its group's
    (render.forum_text layers them the same way)."""
    for prefix, layer in ((f"forum_texts.{name}", message.forum_texts.get(name)),
                          (f"forum_texts.{template_key}", message.forum_texts.get(template_key)),
                          (f"groups.{stakeholder}", message.groups.get(stakeholder))):  # type: ignore[call-overload]
        if layer is not None and getattr(layer, field) is not None:
            return f"{prefix}.{field}"
    return field


def _prose(text: Text) -> Iterator[tuple[str, str]]:
    """(field below the text, prose) for every free text a reader may read."""
    for field in ("headline", "lead", "text", "hook"):
        if value := getattr(text, field):
            yield field, value
    if text.action is not None:
        yield "action.ask", text.action.ask
    if text.forward is not None:
        yield "forward.headline", text.forward.headline
        yield "forward.text", text.forward.text
    if text.invitation is not None:
        yield "invitation.what", text.invitation.what


def arrivals(plan: Plan, message: Message) -> dict[str, Arrival]:
    """The latest day each forum the message goes to gets its text (see the module's docstring)."""
    deadline = render.approval_deadline(plan, message)
    names = set(render.selected_fora(plan, message))
    day, why, why_da = deadline, "the approval deadline", "godkendelsesfristen"
    out: dict[str, Arrival] = {}
    for tier in plan.tiers:
        try:
            gate = deadlines.gate(plan, tier, message.date)
        except InputError:
            gate = None  # no meeting to wait for: `send` refuses that, naming the plan's field
        if gate is not None and gate > day:
            day = gate
            why = f"the gate of tier {tier.name}, `not_before`, holds it and the tiers after it"
            why_da = f"trinnet {tier.title} og trinnene efter det venter til da"
        for name in plan.active_fora(tier):
            if name not in names:
                continue
            forum = plan.fora[name]
            if forum.newsletter is not None:
                issue = render.newsletter_issue(forum, deadline)
                if issue is not None:
                    out[name] = Arrival(name, max(issue.date, day), f"the issue of {issue.date.isoformat()}",
                                        f"nummeret {render.danish_date(issue.date)}")
                continue
            out[name] = Arrival(name, day, why, why_da)
    return out


# -- the checks ----------------------------------------------------------------------------------------------

def _quote(text: str) -> str:
    """User text inside a finding: braces kept literal for str.format, and ": " (which separates a finding's
    what from its fix) written with a no-break space."""
    return text.replace("{", "{{").replace("}", "}}").replace(": ", ":\u00a0")


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def _working_days_after(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end` (0 when `end` is not after `start`)."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += deadlines.is_working_day(day)
    return count


def _earliest_deadline(arrival: dt.date) -> dt.date:
    day, counted = arrival, 0
    while counted < MIN_WORKING_DAYS:
        day += dt.timedelta(days=1)
        counted += deadlines.is_working_day(day)
    return day


#: a problem's texts: what (English), fix (English), what (Danish); "what" takes {day}, {fora}, {s}, {why}
#: and the Danish one {day_da}, {fora_da}
Problem = tuple[str, str, str]


def _deadline(label: str, label_da: str, date: dt.date, arrival: dt.date) -> Problem | None:
    """What is wrong with a deadline (`label`: what it is, with the date) given to a reader who gets the text on
    `arrival`, or None."""
    label, label_da = _quote(label), _quote(label_da)
    if date < arrival:
        relation, relation_da = "falls before", "ligger før"
    elif (have := _working_days_after(arrival, date)) < MIN_WORKING_DAYS:
        relation = (f"leaves {have} working day{'s' if have != 1 else ''} after")
        relation_da = f"giver kun {have} arbejdsdag{'e' if have != 1 else ''} efter"
    else:
        return None
    earliest = _earliest_deadline(arrival)
    return (f"{label} {relation} {{day}}, the day {{fora}} get{{s}} the text ({{why}})",
            f"set it to {earliest.isoformat()} or later (at least {MIN_WORKING_DAYS} working days "
            f"after the text arrives), or drop it",
            f"{label_da} {relation_da} {{day_da}}, hvor {{fora_da}} får teksten")


def date_findings(plan: Plan, message: Message, variants: list[render.Variant]) -> list[Finding]:
    """Deadlines, reply-by dates and events in each forum's text against the day its reader gets it, and the
    message's date against its approval deadline. No clock: the same message gives the same findings."""
    when = arrivals(plan, message)
    # (field, what it is about) -> every reader it reaches: one finding per field and subject, not per forum
    hits: dict[tuple[str, str], list[tuple[Arrival, str, Problem]]] = {}

    def hit(field: str, subject: str, severity: str, arrival: Arrival, problem: Problem) -> None:
        hits.setdefault((field, subject), []).append((arrival, severity, problem))

    for variant in variants:
        arrival = when.get(variant.forum)
        if arrival is None:
            continue
        forum = plan.fora[variant.forum]
        reads = _squash(checks.counted_text(variant))
        text = render.forum_text(message, variant.forum, forum)
        key = render.template_key(forum.template)

        def source(path: str) -> str:  # "action.by" -> "forum_texts.oc.action.by"
            field, _, below = path.partition(".")
            found = _source(message, variant.forum, forum.stakeholder, key, field)
            return f"{found}.{below}" if below else found

        dated: list[tuple[str, str, str, dt.date]] = []
        if text.action is not None and text.action.by is not None:
            dated.append((source("action.by"), "deadline", "Fristen", text.action.by))
        if text.invitation is not None:
            dated.append((source("invitation.reply_by"), "reply-by date", "Svarfristen",
                          text.invitation.reply_by))
        for field, kind, kind_da, date in dated:
            if _squash(render.danish_date(date)) not in reads:
                continue  # this forum's template does not show it
            if problem := _deadline(f"the {kind} {date.isoformat()}", f"{kind_da} {render.danish_date(date)}",
                                    date, arrival.day):
                hit(field, kind, "error", arrival, problem)
        if text.invitation is not None and text.invitation.date <= arrival.day:
            date = text.invitation.date
            if _squash(render.danish_date(date)) in reads:
                hit(source("invitation.date"), "event", "error", arrival,
                    (f"the invitation's date {date.isoformat()} is not after {{day}}, the day {{fora}} get{{s}} "
                     "the invitation ({why})", "move the event, or invite in an earlier message",
                     f"Invitationens dato, {render.danish_date(date)}, ligger ikke efter {{day_da}}, hvor {{fora_da}} "
                     "får invitationen"))

        for below, value in _prose(text):
            field = source(below)
            for mention in find_dates(value, message.date):
                if _squash(mention.written) not in reads:
                    continue
                if DEADLINE_CUE.search(value[max(0, mention.start - 60):mention.start]):
                    if problem := _deadline(
                            f"the deadline \u201c{mention.written}\u201d ({mention.day.isoformat()}) in the text",
                            f"Fristen »{mention.written}« i teksten", mention.day, arrival.day):
                        hit(field, mention.written, "error", arrival, problem)
            for sentence in readability.sentences(_unmarked(value)):
                _past_as_future(sentence, field, arrival, message.date, reads, hit)
        for index, step in enumerate(message.timeline):
            line = step.for_group(forum.stakeholder)
            period = period_of(step.when, message.date)
            if period is None or period[1] >= arrival.day or _squash(line) not in reads:
                continue
            if _announces(line):
                group_field = forum.stakeholder if getattr(step, forum.stakeholder, None) else "text"
                hit(f"timeline[{index}].{group_field}", "tense", "warning", arrival,
                    (f"the timeline step \u201c{_quote(step.when)} \u2013 {_quote(line)}\u201d reads as still to "
                     f"come, but {_quote(step.when)} has ended by {{day}}, the day {{fora}} get{{s}} the text "
                     "({why})",
                     "write it in the past tense (what happened), or update `when`",
                     f"Tidslinjens trin »{_quote(step.when)} \u2013 {_quote(line)}« lyder, som om det ligger "
                     f"forude, men {_quote(step.when.lower())} er forbi, når {{fora_da}} får teksten {{day_da}}"))
    out: list[Finding] = []
    for (field, _), reached in hits.items():
        # the reader who gets it last is the one the date fails most; name every reader who gets it that day
        last = max(arrival.day for arrival, _, _ in reached)
        same = [(arrival, severity, problem) for arrival, severity, problem in reached if arrival.day == last]
        first, severity, problem = same[0]
        names = ", ".join(dict.fromkeys(plan.fora[arrival.forum].title for arrival, _, _ in same))
        values = {"day": last.isoformat(), "fora": names, "s": "s" if len(same) == 1 else "", "why": first.why,
                  "day_da": f"den {render.danish_date(last)}", "fora_da": names}
        out.append(Finding(first.forum, severity, f"{problem[0].format(**values)}: {problem[1]}",
                           problem[2].format(**values) + ".", "delivery_date", field))
    return out + _message_date_findings(plan, message)


def _unmarked(markdown: str) -> str:
    """Markdown prose without its marks (headings, list bullets, emphasis), as the reader's text has it."""
    text = re.sub(r"(?m)^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s?)", "", markdown)
    return re.sub(r"\*\*|__|(?<!\w)[*_]|[*_](?!\w)|`", "", text)


Hit = Callable[[str, str, str, Arrival, Problem], None]


def _past_as_future(sentence: str, field: str, arrival: Arrival, near: dt.date, reads: str, hit: Hit) -> None:
    """A sentence that speaks of a period ended by the reader's day as still to come: a warning."""
    if _squash(sentence) not in reads:
        return
    for words, (_, last) in _when_phrases(sentence, near):
        if last < arrival.day and _announces(sentence):
            hit(field, f"tense {sentence}", "warning", arrival,
                (f"\u201c{_quote(sentence)}\u201d speaks of \u201c{_quote(words)}\u201d as still to come, but it "
                 "has passed by {day}, the day {fora} get{s} the text ({why})",
                 "write what happened, in the past tense, or leave it out",
                 f"»{_quote(sentence)}« omtaler {_quote(words)} som noget, der kommer, men det er forbi, når "
                 "{fora_da} får teksten {day_da}"))
            return


def _schedule(plan: Plan, message: Message) -> deadlines.ApprovalSchedule | None:
    try:
        return deadlines.schedule_for_message_date(plan, message.date)
    except InputError:
        return None  # no meetings forum or no meetings: the plan's own checks say so


def _message_date_findings(plan: Plan, message: Message) -> list[Finding]:
    """A message dated after its own approval deadline cannot be approved in time for its meeting."""
    schedule = _schedule(plan, message)
    if schedule is None or schedule.deadline.date() >= message.date:
        return []
    deadline = schedule.deadline.date()
    return [Finding(
        APPROVAL, "error",
        f"the message is dated {message.date.isoformat()}, after the approval deadline {deadline.isoformat()} "
        f"of the {plan.calendar.meetings_forum.upper()} meeting on {schedule.meeting.isoformat()}: date it "
        f"{deadline.isoformat()} or earlier for that meeting, or {schedule.meeting + dt.timedelta(days=1)} "
        "or later for the next one",
        f"Budskabet er dateret {render.danish_date(message.date)}, efter godkendelsesfristen "
        f"{render.danish_date(deadline)} for mødet {render.danish_date(schedule.meeting)}.",
        "approval_deadline", "date")]


def approval_findings(plan: Plan, message: Message, now: dt.datetime) -> list[Finding]:
    """The approval deadline against the runtime's clock (`now`, aware): passed means the request would go out
    with links that are dead on arrival, so the message needs the next meeting's round."""
    schedule = _schedule(plan, message)
    if schedule is None or not schedule.overdue(now):
        return []
    zone = schedule.deadline.tzinfo
    local = now.astimezone(zone)
    meetings = sorted(plan.fora[plan.calendar.meetings_forum].meetings)
    later = [deadlines.schedule_for(plan, meeting) for meeting in meetings if meeting > schedule.meeting]
    upcoming = next((s for s in later if not s.overdue(now)), None)
    if upcoming is None:
        fix = (f"add the next meetings under fora.{plan.calendar.meetings_forum}.meetings in the plan, then date "
               "the message for the next one")
    else:
        previous = max((s.meeting for s in later if s.meeting < upcoming.meeting), default=schedule.meeting)
        date = max(previous + dt.timedelta(days=1), local.date())
        fix = (f"set `date: {date.isoformat()}` (or later) for the meeting on {upcoming.meeting.isoformat()}, "
               f"whose approval deadline is {upcoming.deadline:%Y-%m-%d %H:%M}, and check its dates again")
    return [Finding(
        APPROVAL, "error",
        f"the approval deadline {schedule.deadline:%Y-%m-%d %H:%M} for the meeting on "
        f"{schedule.meeting.isoformat()} has passed (now {local:%Y-%m-%d %H:%M}); approval links would be "
        f"expired on arrival: {fix}",
        f"Godkendelsesfristen {render.danish_date(schedule.deadline.date())} kl. {schedule.deadline:%H.%M} for "
        f"mødet {render.danish_date(schedule.meeting)} er overskredet.",
        "approval_deadline", "date")]


def findings(plan: Plan, message: Message, variants: list[render.Variant],
             now: dt.datetime | None = None) -> list[Finding]:
    """Every date finding: the texts' dates against delivery, and, given the runtime's `now`, the approval
    deadline against the clock (`cascade.prepare` passes no `now`: after approval the cascade rightly runs on
    past the deadline)."""
    out = date_findings(plan, message, variants)
    if now is not None:
        out += approval_findings(plan, message, now)
    return out
