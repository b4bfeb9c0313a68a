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
