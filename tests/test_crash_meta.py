"""Kill points on the Facebook Page and Instagram channels, with the crash harness's current interface.

The shipped plan with both Meta fora switched on (every other forum on the outbox) runs in a subprocess
(`tests/crash_runner.py`, the cascade's steps without Prefect); the Meta emulator SIGKILLs it on the k-th
request it receives (tests/servers/https.py KillSwitch), before acting on it or after acting and before
answering. Every Meta request of a clean run is a kill point, twice: the Facebook post and its permalink
read; Instagram's quota read, container, status polls, media_publish and permalink read. Then the same send
runs again without a kill and must leave one Facebook post and one Instagram post, with a ledger that agrees.
An attempt the channel cannot settle by itself is settled as the operator would (`budbringer resolve`, after
looking at the Page), and counted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from budbringer.ledger import Ledger, State
from tests.conftest import PLAN, ROOT
from tests.servers.https import HTTPSServer, KillSwitch
from tests.servers.meta import ACCOUNT, PAGE, MetaEmulator
from tests.test_meta_end_to_end import MESSAGE_ID, TOKEN, meta_env, meta_message

FAST = {"attempts": 3, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
BUDGET_SECONDS = 240


def crash_plan(folder: Path) -> Path:
    common = {"retry": FAST, "reconcile_delay": 0.0}
    path = folder / "plan.crash-meta.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(PLAN),
        "channels": {"facebook_api": {"type": "facebook_page", **common},
                     "instagram_api": {"type": "instagram", "poll_interval": 0.02, "container_wait": 5, **common}},
        "fora": {"facebook": {"enabled": True, "channel": "facebook_api"},
                 "instagram": {"enabled": True, "channel": "instagram_api"}},
    }), encoding="utf-8")
    return path


@dataclass
class World:
    folder: Path
    plan: Path
    message: Path
    meta: MetaEmulator
    env: dict[str, str]

    def run(self, kill_at: int | None = None, after: bool = False) -> tuple[subprocess.CompletedProcess, KillSwitch]:
        process = subprocess.Popen([sys.executable, "-m", "tests.crash_runner", str(self.plan), str(self.message)],
                                   cwd=self.folder, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        switch = KillSwitch(process.pid, kill_at or 10**9, after)
        self.meta.kill_switch = switch
        try:
            out, err = process.communicate(timeout=90)
        finally:
            self.meta.kill_switch = None
        return subprocess.CompletedProcess(process.args, process.returncode, out, err), switch

    def ledger(self) -> Ledger:
        return Ledger(f"sqlite:///{(self.folder / '.budbringer' / 'ledger.db').resolve()}")

    def served(self) -> dict[str, int]:
        return {"facebook": len(self.meta.page_posts()), "instagram": len(self.meta.published_media())}


@contextmanager
def world(ca, base: Path, name: str) -> Iterator[World]:
    folder = base / name
    folder.mkdir()
    emulator = MetaEmulator(TOKEN, PAGE, ACCOUNT)
    with HTTPSServer(emulator, ca) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDBRINGER_", "PREFECT_"))}
        env.update(meta_env(server.url))
        env.update({"BUDBRINGER_HOME": str(folder / ".budbringer"), "PYTHONPATH": str(ROOT),
                    "REQUESTS_CA_BUNDLE": os.environ["REQUESTS_CA_BUNDLE"]})
        yield World(folder, crash_plan(folder), meta_message(folder), emulator, env)


def wrong_after(w: World) -> list[str]:
    wrong = [f"{forum}: {count} posts" for forum, count in w.served().items() if count != 1]
    records = {r.forum: r for r in w.ledger().records(MESSAGE_ID)}
    wrong += [f"ledger: {r.forum} is {r.state.value}: {r.error}" for r in records.values()
              if r.state != State.DELIVERED]
    for forum, items, key in (("facebook", w.meta.page_posts(), "id"), ("instagram", w.meta.published_media(), "id")):
        receipt = records[forum].receipt if forum in records else None
        if items and (receipt is None or receipt.provider_id != items[0][key]):
            wrong.append(f"{forum}: the ledger's receipt is not the post ({receipt})")
    return wrong


def settle_uncertain(w: World) -> int:
    """The operator looks at the Page and the account and settles what the channel could not."""
    ledger, served, settled = w.ledger(), w.served(), 0
    for record in ledger.records(MESSAGE_ID):
        if record.state == State.UNCERTAIN:
            ledger.resolve(record.key, "sent" if served.get(record.forum) else "resend", note="crash harness")
            settled += 1
    return settled


def test_every_meta_kill_point_holds(ca, tmp_path: Path) -> None:
    started = time.monotonic()
    with world(ca, tmp_path, "census") as w:
        clean, switch = w.run()
        assert clean.returncode == 0, clean.stderr[-3000:]
        assert wrong_after(w) == []
        census = list(switch.seen)
        outcomes = {o["forum"]: o["state"] for o in json.loads(clean.stdout.strip().splitlines()[-1])}
    assert outcomes["facebook"] == outcomes["instagram"] == "delivered"
    edges = [line.rsplit("/", 1)[-1] for line in census]
    assert "feed" in edges and "media" in edges and "media_publish" in edges and "content_publishing_limit" in edges
    assert len(census) >= 7, census

    points = [(k, after) for k in range(1, len(census) + 1) for after in (False, True)]
    held, failures, by_operator = 0, [], 0
    for k, after in points:
        with world(ca, tmp_path, f"kill-{k}-{'after' if after else 'before'}") as w:
            killed, switch = w.run(kill_at=k, after=after)
            where = f"kill {'after' if after else 'before'} request {k} ({switch.fired_on})"
            if killed.returncode != -signal.SIGKILL:
                failures.append(f"{where}: not killed (exit {killed.returncode}): {killed.stderr[-500:]}")
                continue
            again, _ = w.run()
            if settle_uncertain(w):
                by_operator += 1
                again, _ = w.run()
            wrong = wrong_after(w)
            if again.returncode != 0 or wrong:
                failures.append(f"{where}: exit {again.returncode}; {wrong}; {again.stderr[-800:]}")
            else:
                held += 1
        assert time.monotonic() - started < BUDGET_SECONDS, f"too slow: {held} of {len(points)} done"
    print(f"meta crash harness: {held} of {len(points)} kill points held ({len(census)} Meta requests × "
          f"before/after acting; {by_operator} needed the operator's resolve) in {time.monotonic() - started:.0f} s")
    assert failures == [], "\n".join(failures)
    assert by_operator == 0  # every Meta kill point is settled by a lookup, none by a person
