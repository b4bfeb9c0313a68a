"""The clock: every decision that depends on "now" asks one (link expiry, deadlines, reminders, escalation,
newsletter issues, tier gates). The runtime holds the entry point's clock and hands it down; a test pins it with
time-machine or hands in a fixed one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

#: an aware "now"
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """Now, aware, in UTC (follows time_machine in tests)."""
    return dt.datetime.now(dt.UTC)


def default_clock() -> dt.datetime:
    """The clock whoever was handed none uses: `system_clock`, looked up at each call, so that a test can pin
    Budbringer's "now" (and only Budbringer's: a Prefect server in another process keeps the real time) by
    replacing `budbringer.clock.system_clock`."""
    return system_clock()
