"""Kill points on the Facebook Page and Instagram channels, with the crash harness's current interface.

The shipped plan with both Meta fora switched on (every other forum on the outbox) runs in a subprocess
(`tests/crash_runner.py`, the production engine without Prefect); the Meta emulator SIGKILLs it on the k-th
request it receives (tests/servers/https.py KillSwitch), before acting on it or after acting and before
answering. Every Meta request of a clean run is a kill point, twice: the Facebook post and its permalink
read; Instagram's quota read, container, status polls, media_publish and permalink read. Then the same send
runs again without a kill and must leave one Facebook post and one Instagram post, with a ledger that agrees.
An attempt the channel cannot settle by itself is settled as the operator would (`budbringer resolve`, after
looking at the Page), and counted. The world and the loop live in tests/servers/crash.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.servers.crash import KillPoints, every_kill_point, meta_world

pytestmark = pytest.mark.slow  # the crash harness (.ci/run runs it)

BUDGET_SECONDS = 240


def test_every_meta_kill_point_holds(ca, tmp_path: Path) -> None:
    started = time.monotonic()
    with meta_world(ca, tmp_path, "census") as w:
        clean, switch = w.run()
        assert clean.returncode == 0, clean.stderr[-3000:]
        assert w.wrong() == []
        census = list(switch.seen)
        outcomes = {o["forum"]: o["state"] for o in json.loads(clean.stdout.strip().splitlines()[-1])}
    assert outcomes["facebook"] == outcomes["instagram"] == "delivered"
    edges = [line.rsplit("/", 1)[-1] for line in census]
    assert "feed" in edges and "media" in edges and "media_publish" in edges and "content_publishing_limit" in edges
    assert len(census) >= 7, census

    def within_budget(found: KillPoints) -> None:
        assert time.monotonic() - started < BUDGET_SECONDS, f"too slow: {found.held} of {found.points} done"

    found = every_kill_point(len(census), lambda name: meta_world(ca, tmp_path, name), within_budget)
    print(f"meta crash harness: {found.held} of {found.points} kill points held ({len(census)} Meta requests × "
          f"before/after acting; {found.by_operator} needed the operator's resolve) in "
          f"{time.monotonic() - started:.0f} s")
    assert found.failures == [], "\n".join(found.failures)
    assert found.by_operator == 0  # every Meta kill point is settled by a lookup, none by a person
