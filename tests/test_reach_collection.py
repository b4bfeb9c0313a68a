"""Collecting reach into the ledger (SQLite and PostgreSQL): once per delivery and point, a refusal recorded and
read again at the next point while the other forums' figures are stored, and the table `budbringer reach` shows."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from budbringer.adapters.linkedin import LinkedInAdapter
from budbringer.adapters.newsletter import NewsletterAdapter
from budbringer.adapters.outbox import OutboxAdapter
from budbringer.channel import Adapter
from budbringer.delivery import Receipt
from budbringer.ledger import Ledger
from budbringer.reach import Measure, collect, due_point, report_markdown, table
from budbringer.render import Variant
from tests.reach_support import linkedin_stand_in, record_delivered, sent_variant
from tests.servers.linkedin import LinkedInEmulator

MESSAGE = "2027-03-superbrugere"
EARLIER = "2027-02-demodage"
ORGANIZATION = "4711"
TOKEN = "AQX-collect-token-never-logged"
DAY = dt.timedelta(days=1)


@pytest.fixture
def linkedin(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkedInEmulator]:
    with linkedin_stand_in(ca, monkeypatch, TOKEN, ORGANIZATION) as emulator:
        yield emulator


@pytest.fixture
def channels(linkedin: LinkedInEmulator, tmp_path: Path) -> Iterator[dict[str, Adapter]]:
    built = {"linkedin_api": LinkedInAdapter.from_config("linkedin_api", {}, os.environ),
             "nyhedsbrev": NewsletterAdapter.from_config("nyhedsbrev", {}),
             "outbox": OutboxAdapter.from_config("outbox", {"path": str(tmp_path / "outbox")})}
    yield built
    for adapter in built.values():
        adapter.close()


def variant(forum: str, channel: str, message: str) -> Variant:
    return sent_variant(forum, channel, f"{message} {forum}", f"Superbrugerne er klar ({message}, {forum}).",
                        forum_title=forum.upper(), tier="external", tier_index=4, summary="Klar.")


def deliver(ledger: Ledger, message: str, receipts: dict[tuple[str, str], Receipt]) -> None:
    """Record `message` as delivered to each (forum, channel) with its receipt, at the clock's now."""
    record_delivered(ledger, message, receipts, lambda forum, channel: variant(forum, channel, message),
                     approved_by="Jonas Holm")


def test_due_point_is_the_latest_point_that_has_come() -> None:
    at = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC)
    assert due_point(at, at + 0.5 * DAY, (1, 7, 30)) is None
    assert due_point(at, at + DAY, (1, 7, 30)) == 1
    assert due_point(at, at + 8 * DAY, (1, 7, 30)) == 7
    assert due_point(at, at + 400 * DAY, (1, 7, 30)) == 30


def test_a_refusal_is_recorded_and_read_again_at_the_next_point_while_the_others_are_stored(
        database_url: str, channels: dict[str, Adapter], linkedin: LinkedInEmulator,
        example_clock: dt.datetime) -> None:
    ledger = Ledger(database_url)
    urn = linkedin.add_post("Superbrugerne er klar.")
    deliver(ledger, MESSAGE, {("linkedin", "linkedin_api"): Receipt("linkedin", urn),
                              ("midtnyt", "nyhedsbrev"): Receipt("graph_mail", details={"issue": "2027-03-10"}),
                              ("arkiv", "outbox"): Receipt("outbox", "outbox/x.md")})
    ledger.record_answer(MESSAGE, "midtnyt", "accepted", "3.100 læsere")
    delivered = example_clock.astimezone(dt.UTC)

    assert collect(ledger, channels, lambda: delivered + DAY / 2).not_due == 3  # nothing before the first point

    linkedin.statistics_allowed = False  # the token's member is no organisation administrator (yet)
    first = collect(ledger, channels, lambda: delivered + DAY + dt.timedelta(hours=1))
    by_forum = {r.forum: r for r in first.stored}
    assert {r.point for r in first.stored} == {1} and len(first.stored) == 3
    assert by_forum["linkedin"].reading.measure is Measure.REFUSED
    assert "rw_organization_admin" in by_forum["linkedin"].reading.reason
    assert dict(by_forum["midtnyt"].figures) == {"accepted": 1, "readers": 3100}
    assert by_forum["arkiv"].reading.measure is Measure.NOT_MEASURED

    again = collect(ledger, channels, lambda: delivered + DAY + dt.timedelta(hours=5))  # a re-run: nothing new
    assert (again.stored, again.already) == ([], 3)
    assert len(ledger.reach(MESSAGE)) == 3
    assert not any(TOKEN in r.reading.reason for r in ledger.reach(MESSAGE))

    linkedin.statistics_allowed = True
    linkedin.statistics[urn] = {"impressionCount": 950, "uniqueImpressionsCount": 700, "clickCount": 31}
    week = collect(ledger, channels, lambda: delivered + 7 * DAY + dt.timedelta(hours=2))
    assert {(r.forum, r.point) for r in week.stored} == {("linkedin", 7), ("midtnyt", 7), ("arkiv", 7)}
    readings = ledger.reach(MESSAGE)
    assert len(readings) == 6 and len({(r.key, r.point) for r in readings}) == 6  # added a point, no duplicate
    linkedin_week = next(r for r in readings if r.forum == "linkedin" and r.point == 7)
    assert linkedin_week.figures["impressions"] == 950 and linkedin_week.read_at > linkedin_week.delivered_at
    assert "| linkedin | linkedin_api | 7 |" in report_markdown(week, readings)


def test_the_table_shows_change_since_the_previous_point_and_against_last_month(
        sqlite_url: str, channels: dict[str, Adapter], linkedin: LinkedInEmulator,
        example_clock: dt.datetime) -> None:
    ledger = Ledger(sqlite_url)
    old = linkedin.add_post("Demodage i februar.")
    new = linkedin.add_post("Superbrugerne er klar.")
    now = example_clock.astimezone(dt.UTC)
    deliver(ledger, EARLIER, {("linkedin", "linkedin_api"): Receipt("linkedin", old),
                              ("arkiv", "outbox"): Receipt("outbox", "outbox/a.md")})
    linkedin.statistics[old] = {"impressionCount": 400}
    collect(ledger, channels, lambda: now + DAY + dt.timedelta(hours=1), message_id=EARLIER)

    import time_machine

    with time_machine.travel(now + 35 * DAY, tick=False):  # next month's message
        deliver(ledger, MESSAGE, {("linkedin", "linkedin_api"): Receipt("linkedin", new),
                                  ("arkiv", "outbox"): Receipt("outbox", "outbox/b.md")})
    later = now + 35 * DAY
    linkedin.statistics[new] = {"impressionCount": 500}
    collect(ledger, channels, lambda: later + DAY + dt.timedelta(hours=1), message_id=MESSAGE)
    linkedin.statistics[new] = {"impressionCount": 620}
    collect(ledger, channels, lambda: later + 7 * DAY + dt.timedelta(hours=1), message_id=MESSAGE)
    linkedin.statistics[old] = {"impressionCount": 450}
    collect(ledger, channels, lambda: now + 7 * DAY + dt.timedelta(hours=1), message_id=EARLIER)

    rows = {row["forum"]: row for row in table(ledger.reach(), MESSAGE)}
    assert rows["linkedin"]["day"] == "7"
    assert "impressions +120" in rows["linkedin"]["since previous point"]
    assert "impressions +170" in rows["linkedin"]["against last month"] and EARLIER in rows["linkedin"]["against last month"]
    assert rows["arkiv"]["figures"].startswith("not measured")
