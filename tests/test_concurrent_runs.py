"""Two runs of the same message at once never both deliver: on SQLite and on PostgreSQL.

`cascade.deliver` holds the delivery (a per-key flock beside the SQLite file, a session advisory lock on
PostgreSQL) before it claims the ledger row and until the provider has answered; a second run that finds it
held is told "another run is delivering this right now" (transient: it looks again later, and then finds it
delivered). A crashed holder releases it with its process (see tests/test_crash_harness.py).

Proven twice per database: threads with ledger engines of their own against a slow channel, and two
processes posting to a slow webhook receiver that does not deduplicate (counted on the server).
PostgreSQL: BUDBRINGER_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/); a
throwaway database is created and dropped. Skipped when unreachable, except under CI, where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa

from budbringer.adapters.base import Adapter
from budbringer import cascade
from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import TransientDeliveryError
from budbringer.ledger import Ledger, State
from tests.conftest import ROOT, web_variant as _variant
from tests.servers.https import Fault, HTTPSServer
from tests.servers.webhook import WebhookReceiver

SECRET = "5a" * 32


def _approved(url: str, tag: str) -> Delivery:
    variant = _variant(tag)
    approval = Ledger(url).record_approval(Approval(f"concurrent-{tag}", {variant.forum: variant.content_hash},
                                                    "Mette Lund", "ref"))
    return Delivery(f"concurrent-{tag}", variant, "website", approval.id)  # type: ignore[arg-type]


class SlowChannel(Adapter):
    """Takes a while to deliver, and counts what it delivered."""

    type: ClassVar[str] = "slow"
    media: ClassVar[frozenset[str]] = frozenset({"web"})

    def __init__(self) -> None:
        super().__init__("slow", None)  # type: ignore[arg-type]
        self.delivered: list[str] = []
        self.lock = threading.Lock()

    def deliver(self, delivery: Delivery) -> Receipt:
        time.sleep(0.3)
        with self.lock:
            self.delivered.append(delivery.key)
        return Receipt("slow", f"slow-{len(self.delivered)}")

    def find(self, delivery: Delivery) -> Receipt | None:
        with self.lock:
            return Receipt("slow", "found") if delivery.key in self.delivered else None


def _threads(url: str, runs: int = 6) -> None:
    item = _approved(url, f"threads-{uuid.uuid4().hex[:6]}")
    channel = SlowChannel()
    barrier = threading.Barrier(runs)
    results: list[str] = []

    def run() -> None:
        ledger = Ledger(url)
        ledger.engine = sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
        barrier.wait()
        try:
            results.append(cascade.deliver(item, channel, ledger).state)
        except TransientDeliveryError as exc:  # recorded, not asserted here: a thread's exception is lost
            results.append("busy" if "another run" in exc.reason else f"transient: {exc.reason}")
        finally:
            ledger.engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(results) == runs, results
    assert channel.delivered == [item.key]
    assert sorted(results).count("delivered") == 1, results
    assert set(results) <= {"delivered", "busy", "already delivered"}
    # A later run finds it delivered and sends nothing.
    assert cascade.deliver(item, channel, Ledger(url)).state == "already delivered"
    record = Ledger(url).record(item.key)
    assert record is not None and record.state == State.DELIVERED and record.attempts == 1


RUNNER = """
import os, sys, time
from budbringer.adapters.webhook import WebhookAdapter
from budbringer import cascade
from budbringer.delivery import Delivery
from budbringer.errors import TransientDeliveryError
from budbringer.ledger import Ledger
from tests.conftest import web_variant as _variant

tag, approval_id, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
item = Delivery("concurrent-" + tag, _variant(tag), "website", approval_id)
channel = WebhookAdapter.from_config("website", {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET",
                                                 "receiver_dedupes": False}, os.environ)
ledger = Ledger()
ledger.records()
print("ready", flush=True)  # everything imported and the ledger open: wait for the other run
while not os.path.exists(go):
    time.sleep(0.002)
try:
    print(cascade.deliver(item, channel, ledger).state)
except TransientDeliveryError as exc:
    print("busy" if "another run" in exc.reason else "transient: " + exc.reason)
"""


def _processes(url: str, ca, tmp_path: Path) -> None:
    tag = f"processes-{uuid.uuid4().hex[:6]}"
    item = _approved(url, tag)
    script = tmp_path / "concurrent_runner.py"
    script.write_text(RUNNER, encoding="utf-8")
    receiver = WebhookReceiver(SECRET)
    receiver.faults.append(Fault("delay", lambda r: r.method == "POST", seconds=1.0, times=5))
    with HTTPSServer(receiver, ca) as server:
        env = {**os.environ, "HOOK_URL": server.url + "/intake/budbringer", "HOOK_SECRET": SECRET,
               "BUDBRINGER_DATABASE_URL": url, "BUDBRINGER_HOME": str(tmp_path / ".budbringer"),
               "PYTHONPATH": str(ROOT)}
        go = tmp_path / "go"
        processes = [subprocess.Popen([sys.executable, str(script), tag, str(item.approval_id), str(go)],
                                      env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for _ in range(2)]
        # Both have imported everything and opened the ledger: let them deliver at the same moment.
        ready = [p.stdout.readline().strip() for p in processes]  # type: ignore[union-attr]
        go.touch()
        outputs = [p.communicate(timeout=60) for p in processes]
    assert ready == ["ready", "ready"], [err[-1500:] for _, err in outputs]
    states = sorted(out.strip() for out, _ in outputs)
    assert all(p.returncode == 0 for p in processes), [err[-1500:] for _, err in outputs]
    assert len(receiver.received("POST")) == 1, states
    assert states == ["busy", "delivered"], states
    record = Ledger(url).record(item.key)
    assert record is not None and record.state == State.DELIVERED


def test_threads_never_both_deliver_on_sqlite(sqlite_url: str) -> None:
    _threads(sqlite_url)


def test_processes_never_both_deliver_on_sqlite(sqlite_url: str, ca, tmp_path: Path) -> None:
    _processes(sqlite_url, ca, tmp_path)


@pytest.mark.postgres
def test_threads_never_both_deliver_on_postgresql(postgres_url: str) -> None:
    _threads(postgres_url)


@pytest.mark.postgres
def test_processes_never_both_deliver_on_postgresql(postgres_url: str, ca, tmp_path: Path) -> None:
    _processes(postgres_url, ca, tmp_path)


def test_a_crashed_holder_does_not_block_the_next_run(sqlite_url: str, tmp_path: Path) -> None:
    """The hold dies with its process: a run after a SIGKILL reconciles at once, it does not wait."""
    item = _approved(sqlite_url, f"crash-{uuid.uuid4().hex[:6]}")
    code = ("import os, signal, sys; from budbringer.ledger import Ledger; l = Ledger(sys.argv[1]); "
            "h = l.hold(sys.argv[2]); assert h.__enter__(); os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", code, sqlite_url, item.key], cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == -9
    with Ledger(sqlite_url).hold(item.key) as held:
        assert held
