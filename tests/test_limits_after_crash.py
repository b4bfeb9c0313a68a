"""A killed run never blocks the next one: provider limits after a SIGKILL (issue 17).

`budbringer send` runs the whole plan (tests/servers/crash.py's world: Microsoft 365 mail and SharePoint,
LinkedIn, the website webhook) as a Prefect flow in a subprocess. The local servers SIGKILL that process while
it holds a provider limit: at a Graph `sendMail` (the sending mailbox's limit) and at a LinkedIn post (the
organisation's). Then `budbringer send` runs again in the SAME `PREFECT_HOME`, as a user would:

- ephemeral (no `PREFECT_API_URL`): the killed command's temporary server took its leases with it; the re-run
  frees the slots nobody alive holds, says so in one line, and delivers the rest at once;
- against a real `prefect server start`: the killed run's lease runs out (flows/limits.py: 60 s, plus the
  repossessor's loop); the re-run says in one line what it waits for and delivers the rest when it is freed.

Either way every forum is served exactly once (counted on the servers' side), every ledger row is delivered,
the limit has no slot taken afterwards, and the re-run is far inside the 30 minutes it used to wait.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from budbringer.flows import limits
from tests.servers.crash import World, world
from tests.servers.graph import is_send_mail
from tests.servers.https import KillSwitch, Request
from tests.servers.prefect_server import BIN, PrefectServer, prefect_env
from tests.servers.waiting import wait_until

pytestmark = pytest.mark.slow

#: the re-run's own work (a temporary server on an existing database, the rest of the plan)
RERUN_SECONDS = 90
#: what the server may add: the lease, the repossessor's loop, the pause between tries (and a margin)
SERVER_EXTRA_SECONDS = limits.LEASE_SECONDS + limits.REPOSSESSOR_SECONDS + limits.POLL_SECONDS + 15


class KillAt(KillSwitch):
    """SIGKILL the `budbringer send` process at the first request that `match`es (not its temporary server,
    which a SIGKILL of the command leaves behind: the test stops it afterwards)."""

    def __init__(self, pid: int, match: Callable[[Request], bool], after: bool) -> None:
        super().__init__(pid, 0, after)
        self.match = match

    def trips(self, request: Request) -> bool:
        with self.lock:
            self.seen.append(f"{request.method} {request.path}")
            if self.fired_on is None and self.match(request):
                self.fired_on = self.seen[-1]
                return True
        return False


def _to_network_quality(w: World) -> Callable[[Request], bool]:
    [address] = [a for a, forum in w.mail_fora.items() if forum == "network_quality"]
    return lambda r: is_send_mail(r) and address in r.body.decode()


def _linkedin_post(r: Request) -> bool:
    return r.method == "POST" and r.path == "/rest/posts"


KILL_POINTS = {  # name → (where, after acting?, the limit held, its slots)
    # tier 2: HMU and the three networks go out together over one mailbox (4 slots): killed before Graph acts
    "graph-sendmail": (_to_network_quality, False, "budbringer-graph-mailbox-", 4),
    # the external tier: killed after LinkedIn posted and before it answered (the re-run finds the post)
    "linkedin-post": (lambda w: _linkedin_post, True, "budbringer-linkedin-org-", 1),
}


class Send:
    """`budbringer send` in a subprocess of its own session, output to a file (a temporary server it leaves
    behind would hold a pipe open)."""

    def __init__(self, w: World, env: dict[str, str], name: str) -> None:
        self.w, self.env, self.log = w, env, w.folder / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "budbringer"), "--plan", str(self.w.plan), "send", str(self.w.message),
                 "--approved-by", "Mette Lund", "--approval-ref", "Styregruppemøde 2026-11-20, punkt 3"],
                cwd=self.w.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self.process

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"send still running after {timeout:.0f} s:\n{self.output()[-3000:]}") from None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop_group(self) -> None:
        """Stop what the command left behind (its temporary server), by the session we started."""
        if self.process is None:
            return
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            wait_until(lambda: not _group_alive(group), 10, "the command's process group to stop", interval=0.2)
        except AssertionError:  # still there after 10 s: SIGKILL
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _slots(read: Callable[[], dict[str, int]], prefix: str) -> int:
    """The concurrency slots taken (not the `-rate` limits: their slots decay by themselves)."""
    return sum(active for name, active in read().items() if name.startswith(prefix) and not name.endswith("-rate"))


def _db_slots(home: Path) -> Callable[[], dict[str, int]]:
    def read() -> dict[str, int]:
        with sqlite3.connect(home / "prefect.db") as db:
            return dict(db.execute("SELECT name, active_slots FROM concurrency_limit_v2"))
    return read


def _server_slots(server: PrefectServer) -> Callable[[], dict[str, int]]:
    def read() -> dict[str, int]:
        found = server.post("/v2/concurrency_limits/filter", {})
        return {limit["name"]: limit["active_slots"] for limit in found}  # type: ignore[union-attr]
    return read


def _kill_then_send_again(w: World, env: dict[str, str], point: str, read_slots: Callable[[], dict[str, int]],
                          settle_seconds: float = 0.0) -> tuple[Send, float, int]:
    """Kill at `point`, then send again; returns the re-run, how long it took and the slots the kill left."""
    match, after, prefix, _ = KILL_POINTS[point]
    first, again = Send(w, env, "killed"), Send(w, env, "again")
    try:
        process = first.start()
        switch = KillAt(process.pid, match(w), after)
        w.arm(switch)
        try:
            code = first.wait(240)
        finally:
            w.arm(None)
        assert code == -signal.SIGKILL, f"not killed (exit {code}):\n{first.output()[-3000:]}"
        assert switch.fired_on, switch.seen
        # The state: the killed run's slot is still taken, and nothing will release it by itself.
        orphaned = _slots(read_slots, prefix)
        assert orphaned >= 1, read_slots()
        assert w.wrong() != []  # something is left to deliver (or to reconcile)

        started = time.monotonic()
        again.start()
        code = again.wait(RERUN_SECONDS + SERVER_EXTRA_SECONDS + 60)
        took = time.monotonic() - started
        assert code == 0, again.output()[-4000:]
    finally:
        first.stop_group()
        again.stop_group()
    assert w.wrong() == [], again.output()[-4000:]
    # No slot stays taken: at once (ephemeral), or when the killed run's leases run out (a server; the re-run
    # need not wait for them when it found slots free).
    wait_until(lambda: _slots(read_slots, prefix) == 0, settle_seconds, f"the {prefix}* slots to be free",
               interval=1, detail=read_slots)
    return again, took, orphaned


@pytest.fixture
def ephemeral_world(ca, tmp_path: Path) -> Iterator[tuple[World, dict[str, str], Path]]:
    with world(ca, tmp_path, "ephemeral") as w:
        home = w.folder / "prefect-home"
        env = {**prefect_env(home), **{k: v for k, v in w.env.items() if not k.startswith("PREFECT_")}}
        env["PREFECT_HOME"] = str(home)
        yield w, env, home


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_ephemeral_rerun_frees_a_killed_runs_limit_and_delivers_the_rest_once(
        ephemeral_world: tuple[World, dict[str, str], Path], point: str) -> None:
    w, env, home = ephemeral_world
    again, took, orphaned = _kill_then_send_again(w, env, point, _db_slots(home))

    prefix = KILL_POINTS[point][2]
    freed = [line for line in again.output().splitlines() if "held by a run that is gone" in line]
    # One line per limit the killed run held: the one killed at, and any other its tier had in flight (the
    # external tier sends LinkedIn and the newsletters' mail together), each said once.
    mine = [line for line in freed if prefix in line]
    named = [re.search(r"(budbringer-[a-z0-9-]+): freed", line) for line in freed]
    limits_freed = [found.group(1) for found in named if found]
    assert len(mine) == 1 and len(limits_freed) == len(set(limits_freed)), again.output()[-4000:]
    assert f"freed {orphaned} slot" in mine[0]
    assert took < RERUN_SECONDS, f"the re-run took {took:.0f} s"
    assert "waits for" not in again.output()  # nothing left to wait for once the gone run's slots are free


@pytest.fixture
def server_world(ca, tmp_path: Path) -> Iterator[tuple[World, dict[str, str], PrefectServer]]:
    home = tmp_path / "prefect-home"
    with PrefectServer(home) as server, world(ca, tmp_path, "server") as w:
        env = {**server.env(), **{k: v for k, v in w.env.items() if not k.startswith("PREFECT_")}}
        yield w, env, server


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_against_a_server_the_killed_runs_lease_runs_out_and_the_rerun_delivers_the_rest_once(
        server_world: tuple[World, dict[str, str], PrefectServer], point: str) -> None:
    w, env, server = server_world
    again, took, orphaned = _kill_then_send_again(w, env, point, _server_slots(server),
                                                  settle_seconds=limits.LEASE_SECONDS + limits.REPOSSESSOR_SECONDS + 15)

    prefix, size = KILL_POINTS[point][2:]
    said = [line for line in again.output().splitlines() if "waits for" in line and prefix in line]
    if orphaned >= size:  # every slot was left taken: the re-run had to wait for the lease, and said so
        assert said and "lease runs out" in said[0], again.output()[-4000:]
    assert len(said) <= 1, said  # one line when deliveries start waiting: not one per try or per delivery
    assert took < RERUN_SECONDS + SERVER_EXTRA_SECONDS, f"the re-run took {took:.0f} s"
