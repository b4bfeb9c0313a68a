"""Waiting on a condition instead of sleeping a fixed time: poll until it holds, fail clearly when it never does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05,
               detail: Callable[[], object] | None = None) -> T:
    """Call `condition` until it returns something truthy, and return that. After `timeout` seconds, fail with
    "timed out after N s waiting for <what>" (and `detail()`, e.g. a server's log tail, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(interval)
