"""The Prefect executor's sliding release, against a real Prefect server: a channel never has more than its
`max_concurrency` deliveries in flight, and its next delivery starts as soon as one ends, not when the
slowest of a wave has ended (docs/benchmarks.md, "Fifth round")."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import ClassVar

from budbringer import cascade, engine, runtime
from budbringer.adapters import memory
from budbringer.channel import Registry
from budbringer.delivery import Delivery, Receipt
from tests.conftest import MESSAGE
from tests.test_engine import LONG_BEFORE, plan_with

#: the forum whose delivery is slow: the first of its tier's four mail fora
SLOW, SLOW_SECONDS = "hmu", 4.0


class Timed(memory.MemoryAdapter):
    """The memory channel, two at a time, writing down when each of its deliveries was in flight."""

    max_concurrency = 2
    spans: ClassVar[dict[str, tuple[str, float, float]]] = {}
    lock = threading.Lock()

    def deliver(self, delivery: Delivery) -> Receipt:
        started = time.monotonic()
        time.sleep(SLOW_SECONDS if delivery.forum == SLOW else 0.05)
        receipt = super().deliver(delivery)
        with self.lock:
            self.spans[delivery.forum] = (self.name, started, time.monotonic())
        return receipt


def most_in_flight(spans: list[tuple[float, float]]) -> int:
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def test_a_channel_slides_its_deliveries_and_never_exceeds_its_bound(prefect_api: None, workdir: Path) -> None:
    from prefect import flow

    from budbringer.flows.executor import PrefectExecutor

    Timed.spans.clear()
    run = runtime.Runtime(runtime.Settings.read(plan_with(workdir)), Registry([Timed]), clock=lambda: LONG_BEFORE)
    prepared = cascade.prepare(run.plan, MESSAGE)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "Styregruppen 20/11")

    @flow(name="sliding-test")
    def send() -> list[cascade.Outcome]:
        return engine.run(prepared, approval, PrefectExecutor(run), run.clock)

    outcomes = send()

    assert {o.state for o in outcomes} == {"delivered"} and len(outcomes) == 12
    assert [o.forum for o in outcomes] == [d.forum for d in cascade.deliveries(prepared, approval)]  # in order
    by_channel: dict[str, list[tuple[float, float]]] = {}
    for channel, started, ended in Timed.spans.values():
        by_channel.setdefault(channel, []).append((started, ended))
    assert all(most_in_flight(spans) <= 2 for spans in by_channel.values())
    # The slow one's tier: its other three mail fora went out while it was still in flight (in waves of two,
    # the third and fourth would have waited for it).
    slow_channel, slow_start, slow_end = Timed.spans[SLOW]
    tier = [o.forum for o in outcomes if o.tier == "hmu_and_networks" and o.channel == slow_channel]
    others = [Timed.spans[f] for f in tier if f != SLOW]
    assert len(others) == 3 and all(ended < slow_end for _, _, ended in others)
    # Tier order: the next tier started only after every delivery of this one had ended.
    later = [started for f, (_, started, _) in Timed.spans.items()
             if next(o.tier for o in outcomes if o.forum == f) in ("employees", "external")]
    assert later and min(later) >= slow_end
