"""The crash harness: the whole plan (Microsoft 365 mail and SharePoint, LinkedIn, the website webhook, the
newsletter submissions over Graph mail) against the local HTTPS servers, in a subprocess that the servers
SIGKILL on the k-th provider request they receive — before acting on it, or after acting and before
answering. Then the same send runs again, without a kill, and must leave every forum served exactly once
(counted on the servers' side) with a ledger that agrees.

Every provider request of a clean run is a kill point, twice (before / after acting): sign-in, preflight
lookups, every sendMail, every page lookup, create and publish, the LinkedIn post, the webhook POST. A kill
at the first request of a tier is the kill "between tiers". The subprocess runs `tests/crash_runner.py`: the
production runtime and tier engine (`budbringer.engine`, the loop the Prefect flow runs) with the engine's
in-process executor instead of Prefect's (a Prefect run per kill point would cost seconds each); the
production code has no test hooks: the servers do the killing (tests/servers/https.py KillSwitch). The world
and the loop live in tests/servers/crash.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.servers.crash import every_kill_point, world

pytestmark = pytest.mark.slow  # the crash harness (.ci/run runs it)


@pytest.mark.timeout(1800)  # 64 kill points; speed is measured in benchmarks, not here
def test_every_kill_point_holds(ca, tmp_path: Path) -> None:
    started = time.monotonic()
    with world(ca, tmp_path, "census") as w:
        clean, switch = w.run()
        assert clean.returncode == 0, clean.stderr[-3000:]
        assert w.wrong() == []
        census = list(switch.seen)
    assert len(census) >= 20, census  # sign-in, preflight, 7 mails, 3 × (find, create, publish), post, webhook

    found = every_kill_point(len(census), lambda name: world(ca, tmp_path, name))
    report = (f"crash harness: {found.held} of {found.points} kill points held ({len(census)} provider requests × "
              f"before/after acting; {found.by_operator} needed the operator's resolve) in "
              f"{time.monotonic() - started:.0f} s")
    print(report)
    (tmp_path / "report.txt").write_text(report + "\n" + "\n".join(census), encoding="utf-8")
    assert found.failures == [], "\n".join(found.failures)
    assert found.held == found.points
