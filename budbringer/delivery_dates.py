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

from budbringer import catalogue, checks, deadlines, findings as findings_, readability, render
from budbringer.catalogue import N_
from budbringer.checks import Finding
from budbringer.danish_dates import DEADLINE_CUE, _announces, _when_phrases, find_dates, period_of
from budbringer.errors import InputError
from budbringer.message import Message, Text
from budbringer.plan import Plan

__all__ = ["MIN_WORKING_DAYS", "Arrival", "approval_findings", "arrivals", "date_findings", "findings",
           "find_dates", "period_of"]

#: the fewest Danish working days a reader needs between getting a text and a deadline in it (the day of
#: arrival not counted, the deadline's day counted): a mail read on Thursday can be answered by Monday
MIN_WORKING_DAYS = 2
APPROVAL = findings_.APPROVAL  # the `forum` of findings about the approval itself


@dataclass(frozen=True)
class Arrival:
    """The latest day the plan lets one forum's reader get its text, and why (English, Danish)."""

    forum: str
    day: dt.date
    why: str
    why_da: str


# -- where each forum's text comes from ----------------------------------------------------------------------

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
    """User text inside an English finding: ": " (which separates a finding's what from its fix, errors.Problem)
    written with a no-break space."""
    return text.replace(": ", ":\u00a0")


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


@dataclass(frozen=True)
class Problem:
    """What is wrong with a date, before it is known which readers it reaches: a msgid of the catalogue and its
    values in English and in Danish. The readers' part ({day}, {fora}, {s}, {why}) is filled in last."""

    msgid: str
    en: dict[str, object]
    da: dict[str, object]

    def said(self, reader_en: dict[str, object], reader_da: dict[str, object]) -> tuple[str, str]:
        return (catalogue.say(self.msgid, "en", **self.en, **reader_en),
                catalogue.say(self.msgid, "da", **self.da, **reader_da))


FALLS_BEFORE = N_("{what} falls before {day}, the day {fora} get{s} the text ({why}): set it to {earliest} or later "
                  "(at least {days} working days after the text arrives), or drop it")
LEAVES_TOO_FEW = N_("{what} leaves {have} after {day}, the day {fora} get{s} the text ({why}): set it to {earliest} "
                    "or later (at least {days} working days after the text arrives), or drop it")
WORKING_DAY, WORKING_DAYS = N_("{count} working day"), N_("{count} working days")
DEADLINE, REPLY_BY = N_("the deadline {date}"), N_("the reply-by date {date}")
DEADLINE_IN_TEXT = N_("the deadline \u201c{written}\u201d ({date}) in the text")
INVITATION_TOO_EARLY = N_("the invitation's date {date} is not after {day}, the day {fora} get{s} the invitation "
                          "({why}): move the event, or invite in an earlier message")
TIMELINE_AS_FUTURE = N_("the timeline step \u201c{when} \u2013 {line}\u201d reads as still to come, but {when} has "
                        "ended by {day}, the day {fora} get{s} the text ({why}): write it in the past tense (what "
                        "happened), or update `when`")
SENTENCE_AS_FUTURE = N_("\u201c{sentence}\u201d speaks of \u201c{words}\u201d as still to come, but it has passed by "
                        "{day}, the day {fora} get{s} the text ({why}): write what happened, in the past tense, or "
                        "leave it out")


def _deadline(what: str, date: dt.date, arrival: dt.date, **values: object) -> Problem | None:
    """What is wrong with a deadline (`what`: a msgid naming it, with `date` and `values`) given to a reader who
    gets the text on `arrival`, or None."""
    en = {"what": catalogue.say(what, "en", date=date.isoformat(), **values)}
    da = {"what": catalogue.say(what, "da", date=render.danish_date(date), **values)}
    if date < arrival:
        msgid = FALLS_BEFORE
    elif (have := _working_days_after(arrival, date)) < MIN_WORKING_DAYS:
        msgid = LEAVES_TOO_FEW
        unit = WORKING_DAY if have == 1 else WORKING_DAYS
        en["have"], da["have"] = catalogue.say(unit, "en", count=have), catalogue.say(unit, "da", count=have)
    else:
        return None
    earliest = _earliest_deadline(arrival)
    en.update(earliest=earliest.isoformat(), days=MIN_WORKING_DAYS)
    da.update(earliest=render.danish_date(earliest), days=MIN_WORKING_DAYS)
    return Problem(msgid, en, da)


def date_findings(plan: Plan, message: Message, variants: list[render.Variant]) -> list[Finding]:
    """Deadlines, reply-by dates and events in each forum's text against the day its reader gets it, and the
    message's date against its approval deadline. No clock: the same message gives the same findings.

    One text per message field and what it is about, given to each forum it reaches (findings.for_author tells
    it once, naming them all); it names the readers who get the text last, the day the date fails most."""
    when = arrivals(plan, message)
    # (field, what it is about) -> every reader it reaches: one text per field and subject, not per forum
    hits: dict[tuple[str, str], list[tuple[Arrival, str, Problem]]] = {}

    def hit(field: str, subject: str, severity: str, arrival: Arrival, problem: Problem) -> None:
        hits.setdefault((field, subject), []).append((arrival, severity, problem))

    for variant in variants:
        arrival = when.get(variant.forum)
        if arrival is None:
            continue
        forum = plan.fora[variant.forum]
        reads = _squash(checks.counted_text(variant))
        text = render.forum_text(message, variant.forum, forum, plan)
        paths = {found.field: found.path for found in render.field_sources(plan, message, variant.forum)}

        def source(path: str) -> str:  # "action.by" -> "forum_texts.oc.action.by" (render.layers)
            field, _, below = path.partition(".")
            found = paths.get(field, field)
            return f"{found}.{below}" if below else found

        dated: list[tuple[str, str, str, dt.date]] = []
        if text.action is not None and text.action.by is not None:
            dated.append((source("action.by"), "deadline", DEADLINE, text.action.by))
        if text.invitation is not None:
            dated.append((source("invitation.reply_by"), "reply-by date", REPLY_BY, text.invitation.reply_by))
        for field, kind, what, date in dated:
            if _squash(render.danish_date(date)) not in reads:
                continue  # this forum's template does not show it
            if problem := _deadline(what, date, arrival.day):
                hit(field, kind, "error", arrival, problem)
        if text.invitation is not None and text.invitation.date <= arrival.day:
            date = text.invitation.date
            if _squash(render.danish_date(date)) in reads:
                hit(source("invitation.date"), "event", "error", arrival, Problem(
                    INVITATION_TOO_EARLY, {"date": date.isoformat()}, {"date": render.danish_date(date)}))

        for below, value in _prose(text):
            field = source(below)
            for mention in find_dates(value, message.date):
                if _squash(mention.written) not in reads:
                    continue
                if DEADLINE_CUE.search(value[max(0, mention.start - 60):mention.start]):
                    if problem := _deadline(DEADLINE_IN_TEXT, mention.day, arrival.day, written=mention.written):
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
                hit(f"timeline[{index}].{group_field}", "tense", "warning", arrival, Problem(
                    TIMELINE_AS_FUTURE, {"when": _quote(step.when), "line": _quote(line)},
                    {"when": step.when, "line": line, "when_lower": step.when.lower()}))
    out: list[Finding] = []
    for (field, _), reached in hits.items():
        # the reader who gets it last is the one the date fails most; name every reader who gets it that day
        last = max(arrival.day for arrival, _, _ in reached)
        same = [(arrival, severity, problem) for arrival, severity, problem in reached if arrival.day == last]
        first, severity, problem = same[0]
        titles = list(dict.fromkeys(plan.fora[arrival.forum].title for arrival, _, _ in same))
        text, text_da = problem.said(
            {"day": last.isoformat(), "fora": ", ".join(titles), "s": "s" if len(same) == 1 else "",
             "why": first.why},
            {"day": f"den {render.danish_date(last)}", "fora": catalogue.join(titles, "da"), "s": "", "why": ""})
        for forum_name in dict.fromkeys(arrival.forum for arrival, _, _ in reached):
            out.append(Finding(forum_name, severity, text, text_da, "delivery_date", field))
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
            hit(field, f"tense {sentence}", "warning", arrival, Problem(
                SENTENCE_AS_FUTURE, {"sentence": _quote(sentence), "words": _quote(words)},
                {"sentence": sentence, "words": words}))
            return


def _schedule(plan: Plan, message: Message) -> deadlines.ApprovalSchedule | None:
    try:
        return deadlines.schedule_for_message_date(plan, message.date)
    except InputError:
        return None  # no meetings forum or no meetings: the plan's own checks say so


DATED_AFTER_DEADLINE = N_("the message is dated {date}, after the approval deadline {deadline} of the {forum} meeting "
                          "on {meeting}: date it {deadline} or earlier for that meeting, or {next} or later for the "
                          "next one")
DEADLINE_PASSED = N_("the approval deadline {deadline} for the meeting on {meeting} has passed (now {now}); approval "
                     "links would be expired on arrival: {fix}")
NEXT_ROUND = N_("set `date: {date}` (or later) for the meeting on {meeting}, whose approval deadline is {deadline}, "
                "and check its dates again")
NO_ROUND_LEFT = N_("add the next meetings under fora.{forum}.meetings in the plan, then date the message for the "
                   "next one")


def _message_date_findings(plan: Plan, message: Message) -> list[Finding]:
    """A message dated after its own approval deadline cannot be approved in time for its meeting."""
    schedule = _schedule(plan, message)
    if schedule is None or schedule.deadline.date() >= message.date:
        return []
    deadline = schedule.deadline.date()
    following = schedule.meeting + dt.timedelta(days=1)
    said = Problem(DATED_AFTER_DEADLINE,
                   {"date": message.date.isoformat(), "deadline": deadline.isoformat(),
                    "forum": plan.calendar.meetings_forum.upper(), "meeting": schedule.meeting.isoformat(),
                    "next": following.isoformat()},
                   {"date": render.danish_date(message.date), "deadline": render.danish_date(deadline),
                    "forum": plan.calendar.meetings_forum.upper(), "meeting": render.danish_date(schedule.meeting),
                    "next": render.danish_date(following)}).said({}, {})
    return [Finding(APPROVAL, "error", *said, "approval_deadline", "date")]


def _at(moment: dt.datetime, lang: str) -> str:
    """"2027-01-07 09:00" / "7. januar 2027 kl. 09.00"."""
    return f"{moment:%Y-%m-%d %H:%M}" if lang == "en" else f"{render.danish_date(moment.date())} kl. {moment:%H.%M}"


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
    texts = []
    for lang in ("en", "da"):
        day = render.danish_date if lang == "da" else dt.date.isoformat
        if upcoming is None:
            fix = catalogue.say(NO_ROUND_LEFT, lang, forum=plan.calendar.meetings_forum)
        else:
            previous = max((s.meeting for s in later if s.meeting < upcoming.meeting), default=schedule.meeting)
            date = max(previous + dt.timedelta(days=1), local.date())
            fix = catalogue.say(NEXT_ROUND, lang, date=date.isoformat(), meeting=day(upcoming.meeting),
                                deadline=_at(upcoming.deadline, lang))
        texts.append(catalogue.say(DEADLINE_PASSED, lang, deadline=_at(schedule.deadline, lang),
                                   meeting=day(schedule.meeting), now=_at(local, lang), fix=fix))
    return [Finding(APPROVAL, "error", *texts, "approval_deadline", "date")]


def findings(plan: Plan, message: Message, variants: list[render.Variant],
             now: dt.datetime | None = None) -> list[Finding]:
    """Every date finding: the texts' dates against delivery, and, given the runtime's `now`, the approval
    deadline against the clock (`cascade.prepare` passes no `now`: after approval the cascade rightly runs on
    past the deadline)."""
    out = date_findings(plan, message, variants)
    if now is not None:
        out += approval_findings(plan, message, now)
    return out
