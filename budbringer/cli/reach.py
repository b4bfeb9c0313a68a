"""`budbringer reach [MESSAGE]`: what each forum's delivery reached, as the ledger has it (docs/reach.md).

A table per message: one row per delivered forum, its latest reading (the day after delivery it was read at),
the change since its previous point and against the same forum at the same point of last month's message.
Forums not read yet say when their first reading is due, or "not measured" for a channel that cannot tell (the
outbox). `--collect` reads what is due first, in this process, as the `budbringer-reach` deployment does. Runs
no flow: imports no Prefect.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from budbringer.cli.entry import EXIT_OK, runtime

if TYPE_CHECKING:
    from budbringer.runtime import Runtime


def cmd_reach(args: argparse.Namespace) -> int:
    from budbringer import reach
    from budbringer.report import table

    run = runtime(args)
    message_id = args.message
    if message_id and Path(message_id).is_file():
        from budbringer import message as message_

        message_id = message_.load(message_id).id
    points = run.plan.reach.points
    if args.collect:
        done = reach.collect(run.ledger, run.channels, run.clock, points, message_id)
        print(f"collected {len(done.stored)} reading(s) ({len(done.refused)} refused), {done.already} already "
              f"read at their point, {done.not_due} not due yet")
    records = [r for r in run.ledger.records(message_id) if str(r.state) == "delivered"]
    readings = run.ledger.reach()
    messages = sorted({r.message_id for r in records})
    if not messages:
        print(f"{message_id}: no deliveries yet" if message_id else "reach: no deliveries yet")
        return EXIT_OK
    for mid in messages:
        rows = reach.table(readings, mid)
        read = {row["forum"] for row in rows}
        for record in records:
            if record.message_id != mid or record.forum in read:
                continue
            rows.append({"forum": record.forum, "channel": record.channel, "day": "–", "read": "–",
                         "figures": _unread(run, record.channel, record.finished_at, points),
                         "since previous point": "–", "against last month": "–"})
        print(f"{mid}:")
        print(table(sorted(rows, key=lambda row: row["forum"])))
    return EXIT_OK


def _unread(run: Runtime, channel: str, delivered_at: dt.datetime | None, points: list[int]) -> str:
    """A forum without a reading: "not measured" for a channel that cannot tell, else when it is first read."""
    from budbringer.reach import NOT_MEASURED

    configured = run.plan.channels.get(channel)
    kind = run.registry.get(configured.type) if configured is not None else None
    if kind is None or not kind.measures_reach:
        return NOT_MEASURED
    if delivered_at is None:
        return "not read yet"
    return f"not read yet (day {points[0]}: {(delivered_at + dt.timedelta(days=points[0])):%Y-%m-%d %H:%M})"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """`sub`: the command's subparsers (argparse's `_SubParsersAction`, private and generic)."""
    reach = sub.add_parser("reach", parents=[common],
                           help="what each forum's delivery reached: figures per forum, change since the previous "
                                "point and against last month's message")
    reach.add_argument("message", nargs="?", help="a message id or file (default: every delivered message)")
    reach.add_argument("--collect", action="store_true",
                       help="read what is due now first (as the budbringer-reach deployment does)")
    reach.set_defaults(run=cmd_reach)
