"""Reach after sending: what each forum's delivery achieved, read from the provider at points after delivery.

A delivered forum is read at the plan's points (`reach: {points: [1, 7, 30]}`, days after its delivery). Each
channel says what its provider can tell (`Adapter.reach`, docs/reach.md): SharePoint page views, LinkedIn share
statistics, Meta insights, a newsletter editor's answer, a mail's recipients; the outbox says "not measured".
One reading per delivery and point is kept in the ledger (`ledger.reach_store`): a re-run of a collection
replaces nothing, and a provider that refuses (permission missing, post deleted, throttled) is recorded with its
reason and read again at the next point; it never stops the other forums' readings.

Pure and without Prefect: the flow (`flows/reach.py`) and `budbringer reach` call `collect` and the tables here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from budbringer.clock import Clock, default_clock
from budbringer.reach_reading import Measure, Reach, ReachReading, ReachRefused, ReachSubject

if TYPE_CHECKING:
    from budbringer.channel import Adapter
    from budbringer.ledger import Ledger, Record

__all__ = ["DEFAULT_POINTS", "NOT_MEASURED", "Collection", "Measure", "Reach", "ReachReading", "ReachRefused",
           "ReachSubject", "collect", "due_point", "read", "report_markdown", "table"]

log = logging.getLogger("budbringer.reach")

#: days after delivery at which a forum is read, unless the plan says otherwise
DEFAULT_POINTS: tuple[int, ...] = (1, 7, 30)
NOT_MEASURED = "not measured"


def due_point(delivered_at: dt.datetime, now: dt.datetime, points: Sequence[int]) -> int | None:
    """The latest point that has come (None before the first). An earlier point missed is not read late: its
    figures would be a later day's under its name."""
    age = now - delivered_at
    come = [p for p in points if age >= dt.timedelta(days=p)]
    return max(come) if come else None


@dataclass
class Collection:
    """What one collection did: readings stored now, and deliveries left (not due, or already read)."""

    at: dt.datetime
    stored: list[Reach] = field(default_factory=list)
    already: int = 0
    not_due: int = 0

    @property
    def refused(self) -> list[Reach]:
        return [r for r in self.stored if r.reading.measure is Measure.REFUSED]


def subject_of(record: Record, answers: Mapping[tuple[str, str], Any]) -> ReachSubject | None:
    """A delivered record as a reach subject; None unless it was delivered with a receipt."""
    if str(record.state) != "delivered" or record.receipt is None:
        return None
    answer = answers.get((record.message_id, record.forum))
    return ReachSubject(key=record.key, message_id=record.message_id, forum=record.forum, channel=record.channel,
                        receipt=record.receipt, delivered_at=record.finished_at or record.receipt.delivered_at,
                        answer=str(answer.answer) if answer else "", answer_note=answer.note if answer else "")


#: what a reading is held in: the flow takes the channel's shared provider limits (`flows/reach.py`)
Around = Callable[["Adapter", ReachSubject], AbstractContextManager[Any]]


def read(adapter: Adapter | None, subject: ReachSubject, around: Around | None = None) -> ReachReading:
    """Ask one channel; whatever goes wrong is a refusal with its reason, never an exception."""
    if adapter is None:
        return ReachReading.not_measured(f"channel {subject.channel!r} is no longer in the plan")
    try:
        with (around(adapter, subject) if around is not None and adapter.measures_reach else nullcontext()):
            return adapter.reach(subject)
    except ReachRefused as exc:
        return ReachReading.refused(exc.reason)
    except Exception as exc:  # noqa: BLE001 - one provider's fault must never stop the other forums' readings
        reason = getattr(exc, "reason", "") or f"{type(exc).__name__}: {str(exc)[:300]}"
        log.warning("reach of %s over %s: %s", subject.forum, subject.channel, reason)
        return ReachReading.refused(reason)


def collect(ledger: Ledger, channels: Mapping[str, Adapter], clock: Clock = default_clock,
            points: Sequence[int] = DEFAULT_POINTS, message_id: str | None = None,
            around: Around | None = None) -> Collection:
    """Read every delivered forum whose next point has come and store the reading, once per point. `around`:
    what each reading is held in (the flow's shared provider limits)."""
    now = clock()
    done = Collection(at=now)
    answers = {(a.message_id, a.forum): a for a in ledger.answers(message_id)}
    stored = {(r.key, r.point) for r in ledger.reach_store.readings(message_id)}
    for record in ledger.records(message_id):
        subject = subject_of(record, answers)
        if subject is None:
            continue
        point = due_point(subject.delivered_at, now, points)
        if point is None:
            done.not_due += 1
            continue
        if (subject.key, point) in stored:
            done.already += 1
            continue
        reading = read(channels.get(subject.channel), subject, around)
        reach = Reach(key=subject.key, message_id=subject.message_id, forum=subject.forum, channel=subject.channel,
                      point=point, read_at=clock(), delivered_at=subject.delivered_at, reading=reading)
        if ledger.reach_store.add(reach):
            done.stored.append(reach)
        else:
            done.already += 1
    return done


# What the table, the report and the page show --------------------------------------------------------------


def main_figure(reading: ReachReading) -> tuple[str, int] | None:
    """The one figure a chart draws for a reading: the first of the usual measures the provider gave."""
    for name in ("views", "impressions", "unique_viewers", "reach", "recipients", "accepted"):
        if name in reading.figures:
            return name, reading.figures[name]
    if reading.figures:
        name = sorted(reading.figures)[0]
        return name, reading.figures[name]
    return None


def latest_by_forum(readings: Iterable[Reach]) -> dict[str, list[Reach]]:
    """Each forum's readings in point order."""
    by_forum: dict[str, list[Reach]] = {}
    for reach in sorted(readings, key=lambda r: (r.forum, r.point, r.read_at)):
        by_forum.setdefault(reach.forum, []).append(reach)
    return by_forum


def previous_message(readings: Iterable[Reach], message_id: str) -> str | None:
    """The latest other message delivered in an earlier month than `message_id` ("last month's message")."""
    delivered: dict[str, dt.datetime] = {}
    for reach in readings:
        first = delivered.get(reach.message_id)
        delivered[reach.message_id] = min(first, reach.delivered_at) if first else reach.delivered_at
    if message_id not in delivered:
        return None
    month = (delivered[message_id].year, delivered[message_id].month)
    earlier = [(when, mid) for mid, when in delivered.items() if (when.year, when.month) < month]
    return max(earlier)[1] if earlier else None


def describe(reading: ReachReading) -> str:
    """A reading in one line of plain English (CLI, report)."""
    if reading.measure is Measure.NOT_MEASURED:
        return NOT_MEASURED + (f" ({reading.reason})" if reading.reason else "")
    if reading.measure is Measure.REFUSED:
        return f"refused: {reading.reason}"
    if not reading.figures:
        return "no figures yet" + (f" ({reading.reason})" if reading.reason else "")
    return ", ".join(f"{name} {value}" for name, value in sorted(reading.figures.items()))


def change(now: ReachReading, before: ReachReading | None) -> str:
    """The change of every figure both readings have: `views +12`."""
    if before is None or now.measure is not Measure.MEASURED or before.measure is not Measure.MEASURED:
        return "–"
    parts = [f"{name} {now.figures[name] - before.figures[name]:+d}" for name in sorted(now.figures)
             if name in before.figures]
    return ", ".join(parts) or "–"


def table(readings: Sequence[Reach], message_id: str) -> list[dict[str, str]]:
    """One row per forum of `message_id` (its latest point), with the change since its previous point and against
    the same forum at the same point of last month's message."""
    mine = [r for r in readings if r.message_id == message_id]
    earlier = previous_message(readings, message_id)
    theirs = {(r.forum, r.point): r for r in readings if r.message_id == earlier}
    rows = []
    for forum, series in latest_by_forum(mine).items():
        last = series[-1]
        before = series[-2].reading if len(series) > 1 else None
        last_month = theirs.get((forum, last.point))
        rows.append({
            "forum": forum, "channel": last.channel, "day": str(last.point),
            "read": last.read_at.strftime("%Y-%m-%d %H:%M"), "figures": describe(last.reading),
            "since previous point": change(last.reading, before),
            "against last month": (change(last.reading, last_month.reading) if last_month else "–")
            + (f" ({earlier})" if last_month else ""),
        })
    return rows


def report_markdown(collection: Collection, readings: Sequence[Reach]) -> str:
    """The collection's report (a Prefect artifact): what was read now, per forum, and what was refused."""
    lines = [f"# Reach collected {collection.at.strftime('%Y-%m-%d %H:%M %Z')}", "",
             f"{len(collection.stored)} reading(s) stored, {len(collection.refused)} refused, "
             f"{collection.already} already read at their point, {collection.not_due} not due yet.", ""]
    if collection.stored:
        lines += ["| message | forum | channel | day | figures |", "|---|---|---|---|---|"]
        for r in collection.stored:
            lines.append(f"| {r.message_id} | {r.forum} | {r.channel} | {r.point} | "
                         f"{describe(r.reading).replace('|', '/')} |")
    return "\n".join(lines) + "\n"
