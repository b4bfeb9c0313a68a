"""Deadlines and reminders of the monthly OC briefing, in Danish working days (plain Python, no Prefect).

The plan's `calendar:` section (config/README.md) says how they follow from the OC meetings:

- the **deadline**: the briefing must reach OC `briefing_working_days_before` working days before the meeting;
  that is also the steering group's approval deadline (at `reminder_time`, local time);
- the **request**: the monthly run asks for approval `request_working_days_before_deadline` working days
  before the deadline;
- the **reminders**: to the approvers who have not decided, `reminders_working_days_before_deadline` working
  days before the deadline;
- the **escalation**: at the deadline the request goes to the chair (`escalate_to_chair`).

A **working day** is Monday to Friday and not a Danish public holiday, as the `holidays` package knows them
(`holidays.country_holidays("DK")`: New Year's Day, Maundy Thursday, Good Friday, Easter Sunday and Monday,
Ascension Day, Whit Sunday and Monday, Christmas Day and Boxing Day; Store Bededag until 2023 only, as it was
abolished from 2024). Also not working days here, though they are no public holidays: **24 December**
(juleaftensdag), **31 December** (nytårsaftensdag) and **5 June** (Grundlovsdag), which public offices keep
closed or half-closed. `holidays` lists these three only in its "optional" category, together with 1 May,
which is *not* a day off for everyone and stays a working day here (`EXTRA_DAYS_OFF`).

Every datetime here is aware, in the plan's `calendar.timezone` (Europe/Copenhagen). The flows call
`schedule_for_message_date(plan, today)` to know when to ask, remind and escalate, `ApprovalSchedule.due(now,
done)` to know what is due now, and `gate(plan, tier, message_date)` for a tier's calendar gate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from budbringer.errors import InputError, Problem
from budbringer.clock import default_clock

if TYPE_CHECKING:
    from budbringer.plan import Plan, Tier

__all__ = [
    "EXTRA_DAYS_OFF",
    "ApprovalSchedule",
    "Nudge",
    "gate",
    "gate_open",
    "is_working_day",
    "local_now",
    "next_meeting",
    "next_meeting_in_time",
    "schedule_for",
    "schedule_for_message_date",
    "working_days_before",
]

#: (month, day) that are no public holiday but no working day either: Christmas Eve, New Year's Eve, Grundlovsdag
EXTRA_DAYS_OFF: frozenset[tuple[int, int]] = frozenset({(12, 24), (12, 31), (6, 5)})

NudgeKind = Literal["reminder", "escalation"]
ESCALATION = "escalation"


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[dt.date]:
    # One object per year, built once: a shared, lazily expanding HolidayBase would be mutated on lookup.
    return frozenset(holidays.country_holidays("DK", years=year))


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, not a Danish public holiday, not 24 or 31 December, not 5 June."""
    if isinstance(day, dt.datetime):
        day = day.date()
    return (day.weekday() < 5 and (day.month, day.day) not in EXTRA_DAYS_OFF
            and day not in _public_holidays(day.year))


def working_days_before(day: dt.date, n: int) -> dt.date:
    """The date `n` working days before `day` (`day` itself is not counted, whether it is a working day or not).

    `n = 0` gives the latest working day on or before `day`.
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, not {n}")
    if isinstance(day, dt.datetime):
        day = day.date()
    one = dt.timedelta(days=1)
    if n == 0:
        while not is_working_day(day):
            day -= one
        return day
    counted = 0
    while counted < n:
        day -= one
        if is_working_day(day):
            counted += 1
    return day


def _zone(plan: Plan) -> ZoneInfo:
    try:
        return ZoneInfo(plan.calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError([Problem(str(plan.path), "calendar.timezone",
                                  f"{plan.calendar.timezone!r} is not a known time zone",
                                  "use an IANA name such as Europe/Copenhagen")]) from None


def local_now(plan: Plan) -> dt.datetime:
    """Now, aware, in the plan's time zone (follows time_machine in tests)."""
    return default_clock().astimezone(_zone(plan))


def _meetings(plan: Plan) -> list[dt.date]:
    name = plan.calendar.meetings_forum
    forum = plan.fora.get(name)
    if forum is None:
        raise InputError([Problem(str(plan.path), "calendar.meetings_forum", f"names the unknown forum {name!r}",
                                  f"name the forum whose meetings drive the briefing, one of: "
                                  f"{', '.join(sorted(plan.fora))}")])
    if not forum.meetings:
        raise InputError([Problem(str(plan.path), f"fora.{name}.meetings", f"forum {name!r} has no meeting dates",
                                  f"list its meetings as `meetings: [YYYY-MM-DD, …]` under fora.{name}")])
    return sorted(forum.meetings)


def next_meeting(plan: Plan, on_or_after: dt.date) -> dt.date | None:
    """The first meeting of `calendar.meetings_forum` on or after the day, or None when none is planned."""
    if isinstance(on_or_after, dt.datetime):
        on_or_after = on_or_after.date()
    return next((day for day in _meetings(plan) if day >= on_or_after), None)


@dataclass(frozen=True)
class Nudge:
    """Something due: a reminder to the approvers who have not decided, or the escalation to the chair.

    `key` is stable ("reminder-1", "reminder-2", …, in time order, and "escalation"): record it once done and
    pass it back in `done`, so a re-run or a resumed run never sends it twice.
    """

    kind: NudgeKind
    key: str
    at: dt.datetime


@dataclass(frozen=True)
class ApprovalSchedule:
    """When approval for the briefing of one meeting is asked for, reminded of, and escalated."""

    meeting: dt.date
    deadline: dt.datetime  # the approval deadline = when the briefing must reach the meetings forum
    request_at: dt.datetime  # when the monthly run asks for approval
    reminders: list[dt.datetime]  # in time order; keys reminder-1, reminder-2, …
    escalation_at: dt.datetime | None  # the deadline, or None when the plan does not escalate

    @property
    def nudges(self) -> list[Nudge]:
        """Every reminder and the escalation, in time order."""
        planned = [Nudge("reminder", f"reminder-{i}", at) for i, at in enumerate(self.reminders, start=1)]
        if self.escalation_at is not None:
            planned.append(Nudge("escalation", ESCALATION, self.escalation_at))
        return planned

    def due(self, now: dt.datetime, done: set[str]) -> list[Nudge]:
        """What is due at `now` and not yet in `done` (keys of nudges already sent).

        Before the deadline: the latest reminder whose time has come, unless it was sent; an earlier one that
        was missed (the run was down) is superseded by it, so approvers never get two reminders at once.
        From the deadline on: only the escalation, never a stale reminder.
        """
        _aware(now)
        if now >= self.deadline:
            if self.escalation_at is not None and now >= self.escalation_at and ESCALATION not in done:
                return [Nudge("escalation", ESCALATION, self.escalation_at)]
            return []
        passed = [nudge for nudge in self.nudges if nudge.kind == "reminder" and nudge.at <= now]
        if passed and passed[-1].key not in done:
            return [passed[-1]]
        return []

    def next_due_at(self, now: dt.datetime, done: set[str]) -> dt.datetime | None:
        """When the next nudge after `now` falls due (to sleep until then), or None when nothing is left."""
        _aware(now)
        later = [nudge.at for nudge in self.nudges if nudge.at > now and nudge.key not in done
                 and (nudge.kind == "escalation" or nudge.at < self.deadline)]
        return min(later, default=None)

    def overdue(self, now: dt.datetime) -> bool:
        """The deadline has passed."""
        _aware(now)
        return now >= self.deadline


def _aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("pass an aware datetime (e.g. deadlines.local_now(plan)), not a naive one")


def schedule_for(plan: Plan, meeting: dt.date) -> ApprovalSchedule:
    """The approval schedule for the briefing of the meeting on `meeting` (any date; usually a planned one)."""
    calendar = plan.calendar
    zone = _zone(plan)

    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, calendar.reminder_time, tzinfo=zone)

    deadline_day = working_days_before(meeting, calendar.briefing_working_days_before)
    request_day = working_days_before(deadline_day, calendar.request_working_days_before_deadline)
    reminder_days = sorted({working_days_before(deadline_day, n)
                            for n in calendar.reminders_working_days_before_deadline if n > 0})
    deadline = at(deadline_day)
    return ApprovalSchedule(
        meeting=meeting,
        deadline=deadline,
        request_at=at(request_day),
        reminders=[at(day) for day in reminder_days],
        escalation_at=deadline if calendar.escalate_to_chair else None,
    )


def next_meeting_in_time(plan: Plan, now: dt.datetime) -> ApprovalSchedule | None:
    """The schedule of the first planned meeting whose approval deadline is still ahead at `now`."""
    _aware(now)
    for meeting in _meetings(plan):
        schedule = schedule_for(plan, meeting)
        if schedule.deadline > now:
            return schedule
    return None


def schedule_for_message_date(plan: Plan, day: dt.date) -> ApprovalSchedule | None:
    """The schedule for the next meeting on or after `day`, or None when no meeting is planned from then on.

    The deadline may already have passed (a message written late in the month): see `overdue()`.
    """
    meeting = next_meeting(plan, day)
    return None if meeting is None else schedule_for(plan, meeting)


def gate(plan: Plan, tier: Tier | str, message_date: dt.date) -> dt.date | None:
    """The day a tier may not start before, or None when it has no calendar gate.

    `not_before: meeting`: the next meeting of `calendar.meetings_forum` on or after the message's date (an
    InputError when none is planned: a gated tier never goes out by mistake); a date: that date.
    """
    if isinstance(tier, str):
        found = next((t for t in plan.tiers if t.name == tier), None)
        if found is None:
            raise KeyError(f"no tier named {tier!r} in the plan")
        tier = found
    if isinstance(message_date, dt.datetime):
        message_date = message_date.date()
    if tier.not_before is None:
        return None
    if tier.not_before == "meeting":
        meeting = next_meeting(plan, message_date)
        if meeting is None:
            name = plan.calendar.meetings_forum
            raise InputError([Problem(
                str(plan.path), f"fora.{name}.meetings",
                f"has no meeting on or after {message_date.isoformat()}, and tier {tier.name!r} waits for it "
                "(not_before: meeting)",
                f"add the next meeting dates under fora.{name}.meetings (the chair's override can skip the gate)")])
        return meeting
    return tier.not_before


def gate_open(plan: Plan, tier: Tier | str, message_date: dt.date, now: dt.datetime) -> bool:
    """True when the tier's gate allows it to start at `now` (from 00:00 local time on the gate's day)."""
    _aware(now)
    day = gate(plan, tier, message_date)
    return day is None or now.astimezone(_zone(plan)).date() >= day
