"""Danish working days, the approval deadline of the monthly OC briefing, reminders, escalation and gates.

Every expected date here was worked out by hand from a calendar (weekdays noted), not by the code under test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
import time_machine
import yaml

from budbringer import deadlines, plan as plan_module
from budbringer.deadlines import Nudge, is_working_day, working_days_before
from budbringer.errors import InputError
from tests.conftest import PLAN, write_plan

CPH = ZoneInfo("Europe/Copenhagen")
D = dt.date


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CPH)


@pytest.fixture(scope="module")
def shipped() -> plan_module.Plan:
    return plan_module.load(PLAN)


def overlay(tmp_path: Path, data: dict) -> Path:
    return write_plan(tmp_path, data)


def tiers_with(**gates: object) -> list[dict]:
    """The shipped tiers, with `not_before` set on the named ones."""
    tiers = yaml.safe_load(PLAN.read_text(encoding="utf-8"))["tiers"]
    for tier in tiers:
        if tier["name"] in gates:
            tier["not_before"] = gates[tier["name"]]
    return tiers


def problems_of(path: Path) -> list:
    with pytest.raises(InputError) as caught:
        plan_module.load(path)
    return caught.value.problems


# --- working days -----------------------------------------------------------------------------------------

def test_weekends_are_not_working_days() -> None:
    assert is_working_day(D(2026, 11, 20))  # Friday
    assert not is_working_day(D(2026, 11, 21))  # Saturday
    assert not is_working_day(D(2026, 11, 22))  # Sunday
    assert is_working_day(D(2026, 11, 23))  # Monday


@pytest.mark.parametrize("day, why", [
    (D(2026, 1, 1), "Nytårsdag (Thursday)"),
    (D(2026, 4, 2), "Skærtorsdag 2026"),
    (D(2026, 4, 3), "Langfredag 2026"),
    (D(2026, 4, 6), "2. påskedag 2026"),
    (D(2026, 5, 14), "Kristi himmelfartsdag 2026"),
    (D(2026, 5, 25), "2. pinsedag 2026"),
    (D(2026, 6, 5), "Grundlovsdag 2026 (Friday; no public holiday, but a day off)"),
    (D(2026, 12, 24), "Juleaftensdag 2026 (Thursday)"),
    (D(2026, 12, 25), "Juledag 2026 (Friday)"),
    (D(2026, 12, 31), "Nytårsaftensdag 2026 (Thursday)"),
    (D(2027, 1, 1), "Nytårsdag 2027 (Friday)"),
    (D(2027, 3, 25), "Skærtorsdag 2027"),
    (D(2027, 3, 26), "Langfredag 2027"),
    (D(2027, 3, 29), "2. påskedag 2027"),
    (D(2027, 5, 6), "Kristi himmelfartsdag 2027"),
    (D(2027, 5, 17), "2. pinsedag 2027"),
    (D(2027, 12, 24), "Juleaftensdag 2027 (Friday)"),
    (D(2027, 12, 31), "Nytårsaftensdag 2027 (Friday)"),
])
def test_danish_days_off(day: dt.date, why: str) -> None:
    assert day.weekday() < 5, f"{day} should be a weekday for this test to mean anything"
    assert not is_working_day(day), why


def test_christmas_on_a_weekend_is_a_weekend() -> None:
    # 2026: 26 December is a Saturday; 2027: 25 and 26 December are Saturday and Sunday, 1 Jan 2028 a Saturday.
    for day in (D(2026, 12, 26), D(2027, 12, 25), D(2027, 12, 26), D(2028, 1, 1)):
        assert day.weekday() >= 5 and not is_working_day(day)
    assert holidays.country_holidays("DK", years=2027).get(D(2027, 12, 25)) is not None


@pytest.mark.parametrize("day, why", [
    (D(2026, 4, 7), "the Tuesday after Easter 2026"),
    (D(2026, 12, 28), "between Christmas and New Year 2026 (Monday)"),
    (D(2026, 12, 29), "between Christmas and New Year 2026"),
    (D(2026, 12, 30), "between Christmas and New Year 2026"),
    (D(2027, 1, 4), "the first Monday of 2027"),
    (D(2027, 3, 24), "the Wednesday before Easter 2027"),
    (D(2027, 3, 30), "the Tuesday after Easter 2027"),
    (D(2027, 4, 23), "Store Bededag 2027 would have been today: abolished from 2024"),
    (D(2027, 5, 7), "the Friday after Ascension is an ordinary working day"),
    (D(2027, 5, 3), "an ordinary Monday in May"),
    (D(2026, 5, 1), "1 May (and Store Bededag's date in 2026) is a working day here"),
])
def test_ordinary_working_days(day: dt.date, why: str) -> None:
    assert is_working_day(day), why


def test_store_bededag_is_no_holiday_from_2024() -> None:
    # What `holidays` says, asserted as fact: Store Bededag (26 days after Easter) was a holiday until 2023.
    assert holidays.country_holidays("DK", years=2023, language="da").get(D(2023, 5, 5)) == "Store bededag"
    assert not is_working_day(D(2023, 5, 5))
    for year, day in ((2024, D(2024, 4, 26)), (2025, D(2025, 5, 16)), (2027, D(2027, 4, 23))):
        assert day not in holidays.country_holidays("DK", years=year), year
        assert is_working_day(day), year


def test_what_holidays_calls_public_and_what_we_add() -> None:
    public = holidays.country_holidays("DK", years=2026)
    # Not public holidays in the package: the three days we add ourselves.
    for day in (D(2026, 12, 24), D(2026, 12, 31), D(2026, 6, 5)):
        assert day not in public
        assert (day.month, day.day) in deadlines.EXTRA_DAYS_OFF


def test_working_days_before() -> None:
    assert working_days_before(D(2026, 11, 23), 1) == D(2026, 11, 20)  # Monday → Friday
    assert working_days_before(D(2026, 11, 21), 0) == D(2026, 11, 20)  # Saturday → Friday
    assert working_days_before(D(2026, 11, 20), 0) == D(2026, 11, 20)  # a working day is itself
    assert working_days_before(D(2027, 3, 29), 0) == D(2027, 3, 24)  # Easter Monday → the Wednesday before
    assert working_days_before(D(2027, 3, 30), 1) == D(2027, 3, 24)  # skips 29, 28, 27, 26, 25 March
    assert working_days_before(D(2027, 1, 4), 1) == D(2026, 12, 30)  # skips 1 Jan and 31 Dec
    assert working_days_before(D(2026, 12, 28), 1) == D(2026, 12, 23)  # skips 27, 26, 25, 24 Dec
    with pytest.raises(ValueError):
        working_days_before(D(2026, 11, 23), -1)


# --- meetings and schedules ---------------------------------------------------------------------------------

def test_next_meeting(shipped: plan_module.Plan) -> None:
    assert deadlines.next_meeting(shipped, D(2026, 11, 20)) == D(2026, 12, 10)
    assert deadlines.next_meeting(shipped, D(2026, 12, 10)) == D(2026, 12, 10)  # on the day itself
    assert deadlines.next_meeting(shipped, D(2026, 12, 11)) == D(2027, 1, 14)
    assert deadlines.next_meeting(shipped, D(2027, 6, 11)) is None


def test_deadline_after_easter_2027(shipped: plan_module.Plan) -> None:
    """OC meets Thursday 8 April 2027. Deadline: 5 working days before = 7, 6, 5, 2 April, 1 April.
    Request: 5 working days before 1 April = 31, 30 March, (29 Easter Monday, 28, 27, 26 Good Friday,
    25 Maundy Thursday skipped), 24, 23, 22 March. Reminders: 2 and 1 working days before = 30 and 31 March."""
    schedule = deadlines.schedule_for(shipped, D(2027, 4, 8))
    assert schedule.meeting == D(2027, 4, 8)
    assert schedule.deadline == at(2027, 4, 1, 9, 0)
    assert schedule.deadline.utcoffset() == dt.timedelta(hours=2)  # summer time
    assert schedule.request_at == at(2027, 3, 22, 9, 0)
    assert schedule.reminders == [at(2027, 3, 30, 9, 0), at(2027, 3, 31, 9, 0)]
    assert schedule.escalation_at == schedule.deadline


def test_deadline_right_after_easter_2027_skips_the_holidays(tmp_path: Path) -> None:
    """A meeting on Thursday 1 April 2027: 31, 30 March, then Easter Monday 29, Good Friday 26 and Maundy
    Thursday 25 are skipped: 24, 23, 22 March. The deadline is Monday 22 March 2027."""
    plan = plan_module.load(overlay(tmp_path, {"fora": {"oc": {"meetings": [D(2027, 4, 1)]}}}))
    schedule = deadlines.schedule_for_message_date(plan, D(2027, 3, 1))
    assert schedule is not None and schedule.meeting == D(2027, 4, 1)
    assert schedule.deadline == at(2027, 3, 22, 9, 0)
    assert schedule.deadline.utcoffset() == dt.timedelta(hours=1)  # still winter time on 22 March
    assert schedule.request_at == at(2027, 3, 15, 9, 0)
    assert schedule.reminders == [at(2027, 3, 18, 9, 0), at(2027, 3, 19, 9, 0)]


def test_deadline_just_after_new_year_2027(shipped: plan_module.Plan) -> None:
    """OC meets Thursday 14 January 2027. Deadline: 13, 12, 11, 8, 7 January. Request: 5 working days before
    7 January = 6, 5, 4 January, (1 Jan New Year's Day, 31 Dec New Year's Eve skipped), 30, 29 December 2026."""
    schedule = deadlines.schedule_for(shipped, D(2027, 1, 14))
    assert schedule.deadline == at(2027, 1, 7, 9, 0)
    assert schedule.request_at == at(2026, 12, 29, 9, 0)
    assert schedule.reminders == [at(2027, 1, 5, 9, 0), at(2027, 1, 6, 9, 0)]


def test_deadline_across_christmas(tmp_path: Path) -> None:
    """A meeting on Thursday 7 January 2027: 6, 5, 4 January, (1 Jan, 31 Dec skipped), 30, 29 December 2026.
    Request 5 working days before 29 December: 28, (27, 26, 25, 24 skipped), 23, 22, 21, 18 December."""
    plan = plan_module.load(overlay(tmp_path, {"fora": {"oc": {"meetings": [D(2027, 1, 7)]}}}))
    schedule = deadlines.schedule_for(plan, D(2027, 1, 7))
    assert schedule.deadline == at(2026, 12, 29, 9, 0)
    assert schedule.request_at == at(2026, 12, 18, 9, 0)
    assert schedule.reminders == [at(2026, 12, 23, 9, 0), at(2026, 12, 28, 9, 0)]


def test_shipped_december_and_may_meetings(shipped: plan_module.Plan) -> None:
    # Thursday 10 Dec 2026: 9, 8, 7, 4, 3 December; request 2, 1 Dec, 30, 27, 26 Nov.
    december = deadlines.schedule_for(shipped, D(2026, 12, 10))
    assert december.deadline == at(2026, 12, 3, 9, 0)
    assert december.request_at == at(2026, 11, 26, 9, 0)
    # 6 May 2027 is Ascension Day itself; the count still runs back over working days: 5, 4, 3 May, 30, 29 April.
    may = deadlines.schedule_for(shipped, D(2027, 5, 6))
    assert may.deadline == at(2027, 4, 29, 9, 0)


def test_schedule_follows_the_calendar_settings(tmp_path: Path) -> None:
    plan = plan_module.load(overlay(tmp_path, {"calendar": {
        "briefing_working_days_before": 0, "request_working_days_before_deadline": 3,
        "reminders_working_days_before_deadline": [1], "reminder_time": "13:30", "escalate_to_chair": False}}))
    schedule = deadlines.schedule_for(plan, D(2027, 4, 8))
    assert schedule.deadline == at(2027, 4, 8, 13, 30)  # 0 days: the meeting day itself (a working day)
    assert schedule.request_at == at(2027, 4, 5, 13, 30)  # 7, 6, 5 April
    assert schedule.reminders == [at(2027, 4, 7, 13, 30)]
    assert schedule.escalation_at is None


def test_schedule_for_message_date(shipped: plan_module.Plan) -> None:
    schedule = deadlines.schedule_for_message_date(shipped, D(2026, 11, 20))
    assert schedule is not None and schedule.meeting == D(2026, 12, 10)
    assert deadlines.schedule_for_message_date(shipped, D(2027, 6, 11)) is None


# --- reminders and escalation under frozen time --------------------------------------------------------------

@pytest.fixture
def april(shipped: plan_module.Plan) -> deadlines.ApprovalSchedule:
    return deadlines.schedule_for(shipped, D(2027, 4, 8))


def due_at(schedule: deadlines.ApprovalSchedule, plan: plan_module.Plan, moment: dt.datetime,
           done: frozenset[str] = frozenset()) -> list[Nudge]:
    with time_machine.travel(moment, tick=False):
        now = deadlines.local_now(plan)
        assert now == moment
        return schedule.due(now, set(done))


def test_nothing_due_before_the_first_reminder(shipped, april) -> None:
    assert due_at(april, shipped, at(2027, 3, 22, 9, 0)) == []  # the request day
    assert due_at(april, shipped, at(2027, 3, 30, 8, 59)) == []


def test_reminders_fall_due_in_turn(shipped, april) -> None:
    first = Nudge("reminder", "reminder-1", at(2027, 3, 30, 9, 0))
    second = Nudge("reminder", "reminder-2", at(2027, 3, 31, 9, 0))
    assert due_at(april, shipped, at(2027, 3, 30, 9, 0)) == [first]
    assert due_at(april, shipped, at(2027, 3, 30, 15, 0), {"reminder-1"}) == []
    assert due_at(april, shipped, at(2027, 3, 31, 9, 0), {"reminder-1"}) == [second]
    assert due_at(april, shipped, at(2027, 4, 1, 8, 59, 59), {"reminder-1", "reminder-2"}) == []


def test_a_missed_reminder_is_superseded_not_sent_twice(shipped, april) -> None:
    # The run was down on 30 March: on 31 March only the second reminder goes out.
    assert [n.key for n in due_at(april, shipped, at(2027, 3, 31, 10, 0))] == ["reminder-2"]


def test_at_the_deadline_only_the_escalation(shipped, april) -> None:
    escalation = Nudge("escalation", "escalation", at(2027, 4, 1, 9, 0))
    # No reminder was ever sent: still only the escalation, never a stale reminder.
    assert due_at(april, shipped, at(2027, 4, 1, 9, 0)) == [escalation]
    assert due_at(april, shipped, at(2027, 4, 2, 12, 0), {"reminder-1"}) == [escalation]
    assert due_at(april, shipped, at(2027, 4, 2, 12, 0), {"escalation"}) == []
    assert april.overdue(at(2027, 4, 1, 9, 0)) and not april.overdue(at(2027, 4, 1, 8, 59))


def test_frozen_time_in_utc_is_compared_as_an_instant(shipped, april) -> None:
    # 07:00 UTC on 30 March 2027 is 09:00 in Copenhagen (summer time).
    with time_machine.travel(dt.datetime(2027, 3, 30, 7, 0, tzinfo=dt.timezone.utc), tick=False):
        now = deadlines.local_now(shipped)
        assert now.hour == 9 and now.tzinfo == CPH
        assert [n.key for n in april.due(now, set())] == ["reminder-1"]
        assert [n.key for n in april.due(dt.datetime.now(dt.timezone.utc), set())] == ["reminder-1"]


def test_no_escalation_when_the_plan_says_so(tmp_path: Path) -> None:
    plan = plan_module.load(overlay(tmp_path, {"calendar": {"escalate_to_chair": False}}))
    schedule = deadlines.schedule_for(plan, D(2027, 4, 8))
    assert schedule.nudges[-1].key == "reminder-2"
    assert due_at(schedule, plan, at(2027, 4, 1, 9, 0)) == []


def test_next_due_at(april) -> None:
    assert april.next_due_at(at(2027, 3, 22, 9, 0), set()) == at(2027, 3, 30, 9, 0)
    assert april.next_due_at(at(2027, 3, 30, 9, 0), {"reminder-1"}) == at(2027, 3, 31, 9, 0)
    assert april.next_due_at(at(2027, 3, 31, 9, 0), {"reminder-1", "reminder-2"}) == at(2027, 4, 1, 9, 0)
    assert april.next_due_at(at(2027, 4, 1, 9, 0), {"escalation"}) is None


def test_naive_now_is_refused(april) -> None:
    with pytest.raises(ValueError, match="aware"):
        april.due(dt.datetime(2027, 3, 30, 9, 0), set())


# --- calendar gates ------------------------------------------------------------------------------------------

def test_shipped_tiers_have_no_gate(shipped: plan_module.Plan) -> None:
    assert all(deadlines.gate(shipped, tier, D(2026, 11, 20)) is None for tier in shipped.tiers)


def test_gate_meeting_and_date(tmp_path: Path) -> None:
    plan = plan_module.load(overlay(tmp_path, {"tiers": tiers_with(hmu_and_networks="meeting",
                                                                   employees="2026-12-14")}))
    hmu = plan.tiers[1]
    assert hmu.not_before == "meeting" and plan.tiers[2].not_before == D(2026, 12, 14)
    assert deadlines.gate(plan, hmu, D(2026, 11, 20)) == D(2026, 12, 10)
    assert deadlines.gate(plan, "hmu_and_networks", D(2026, 12, 11)) == D(2027, 1, 14)
    assert deadlines.gate(plan, "employees", D(2026, 11, 20)) == D(2026, 12, 14)
    assert deadlines.gate(plan, "oc", D(2026, 11, 20)) is None
    assert not deadlines.gate_open(plan, hmu, D(2026, 11, 20), at(2026, 12, 9, 23, 59))
    assert deadlines.gate_open(plan, hmu, D(2026, 11, 20), at(2026, 12, 10, 0, 0))
    with pytest.raises(InputError) as caught:
        deadlines.gate(plan, hmu, D(2027, 6, 11))  # no meeting planned after 10 June 2027
    assert caught.value.problems[0].field == "fora.oc.meetings"


# --- validation of the plan's calendar ----------------------------------------------------------------------

def test_shipped_plan_uses_the_defaults(shipped: plan_module.Plan) -> None:
    assert shipped.calendar == plan_module.Calendar()
    assert shipped.calendar.reminder_time == dt.time(9, 0)


def test_unknown_key_in_calendar(tmp_path: Path) -> None:
    [problem] = problems_of(overlay(tmp_path, {"calendar": {"reminder_days": [3]}}))
    assert problem.field == "calendar.reminder_days" and "not a known field" in problem.what
    assert problem.file.endswith("plan.yaml") and problem.line is not None


def test_bad_timezone(tmp_path: Path) -> None:
    [problem] = problems_of(overlay(tmp_path, {"calendar": {"timezone": "Europe/Aarhus"}}))
    assert problem.field == "calendar.timezone"
    assert "'Europe/Aarhus' is not a known time zone" in problem.what and "Europe/Copenhagen" in problem.fix


def test_meetings_forum_without_meetings(tmp_path: Path) -> None:
    [problem] = problems_of(overlay(tmp_path, {"calendar": {"meetings_forum": "hmu"}}))
    assert problem.field == "fora.hmu.meetings" and "no meeting dates" in problem.what
    assert "calendar.meetings_forum" in problem.fix


def test_meetings_forum_unknown(tmp_path: Path) -> None:
    [problem] = problems_of(overlay(tmp_path, {"calendar": {"meetings_forum": "styregruppen"}}))
    assert problem.field == "calendar.meetings_forum" and "unknown forum" in problem.what


def test_oc_meetings_removed(tmp_path: Path) -> None:
    [problem] = problems_of(overlay(tmp_path, {"fora": {"oc": {"meetings": []}}}))
    assert problem.field == "fora.oc.meetings"


def test_reminders_must_come_after_the_request(tmp_path: Path) -> None:
    problems = problems_of(overlay(tmp_path, {"calendar": {"request_working_days_before_deadline": 3,
                                                           "reminders_working_days_before_deadline": [3, 1, 1]}}))
    assert [p.field for p in problems] == ["calendar.reminders_working_days_before_deadline[0]",
                                           "calendar.reminders_working_days_before_deadline[2]"]
    assert "no later than the request" in problems[0].what and "given twice" in problems[1].what


def test_reminder_time_unquoted(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(f"extends: {PLAN}\ncalendar:\n  reminder_time: 10:30\n", encoding="utf-8")
    [problem] = problems_of(path)
    assert problem.field == "calendar.reminder_time" and problem.line == 3
    assert "quotes" in problem.fix


def test_bad_not_before(tmp_path: Path) -> None:
    [problem] = problems_of(overlay(tmp_path, {"tiers": tiers_with(hmu_and_networks="the meeting")}))
    assert problem.field == "tiers[1].not_before"
    assert "neither `meeting` nor a date" in problem.what and "YYYY-MM-DD" in problem.fix
