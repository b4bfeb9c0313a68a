"""The tier engine in-process, in milliseconds: order, blocking, calendar gates, the override, the phases, and
"waiting" versus "not started" — the same engine the Prefect flow and the crash harness run, here with its
inline executor, the memory channel, a fixed clock and a ledger of the test's own (no Prefect, no today).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from budbringer import cascade, engine, runtime
from budbringer.adapters import memory
from budbringer.adapters.registry import REGISTRY
from budbringer.approval import Approval
from budbringer.cascade import Outcome
from budbringer.channel import Adapter, Registry
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import BudbringerError
from budbringer.ledger import Ledger
from tests.conftest import MESSAGE, memory_plan

TIERS = ["oc", "hmu_and_networks", "employees", "external"]
#: the message is dated 2026-11-23; the clock is set around a gate on 2026-12-14 (a gate the example's own
#: dates fit: a later one, 2027-01-14, would hand HMU its 18 December deadline too late, which
#: `cascade.prepare` refuses, docs/dates.md)
BEFORE_GATE = dt.datetime(2026, 12, 13, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 14th in Copenhagen: open
LONG_BEFORE = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
AFTER_GATE = dt.datetime(2027, 2, 1, 9, 0, tzinfo=dt.UTC)


class Recording(engine.InlineExecutor):
    """The inline executor, remembering each wave it was handed; and, beside it, what the engine told the
    operator: its notes (the log it was handed) and its progress lines, in one order with the waves."""

    def __init__(self, channels: Mapping[str, Adapter], ledger: Ledger) -> None:
        super().__init__(channels, ledger)
        self.releases: list[tuple[str, list[str]]] = []
        self.notes: list[str] = []
        self.events: list[str] = []  # "wave", "progress: …" in the order they happened

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        self.releases.append((tier, [d.forum for d in deliveries]))
        self.events.append("wave")
        return super().deliver(tier, deliveries)

    @property
    def phases(self) -> list[str]:
        return [n.split()[1].rstrip(":") for n in self.notes if n.startswith("Phase ")]

    @property
    def progress(self) -> list[str]:
        return [e.removeprefix("progress: ") for e in self.events if e.startswith("progress: ")]

    @contextmanager
    def listening(self) -> Iterator[logging.Logger]:
        """A logger to hand the engine, and the progress lines, both written down here while it runs."""
        recording = self

        class Notes(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                recording.notes.append(record.getMessage())

        class Progress(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                recording.events.append(f"progress: {record.getMessage()}")

        log = logging.getLogger(f"tests.engine.{id(self)}")
        log.setLevel(logging.DEBUG)
        notes, progress = Notes(), Progress()
        log.addHandler(notes)
        engine.PROGRESS.addHandler(progress)
        level = engine.PROGRESS.level
        engine.PROGRESS.setLevel(logging.INFO)
        try:
            yield log
        finally:
            log.removeHandler(notes)
            engine.PROGRESS.removeHandler(progress)
            engine.PROGRESS.setLevel(level)


def run_engine(run: runtime.Runtime, prepared: cascade.Prepared, approval: Approval,
               executor: Recording) -> list[Outcome]:
    """The engine as the flow runs it, with this executor, the run's clock and a logger the test reads."""
    with executor.listening() as log:
        return engine.run(prepared, approval, executor, run.clock, log)


def plan_with(folder: Path, refuse: list[str] | None = None, gates: dict[str, str] | None = None) -> Path:
    path = memory_plan(folder, refuse)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for tier in data["tiers"]:
        if tier["name"] in (gates or {}):
            tier["not_before"] = (gates or {})[tier["name"]]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def send(workdir: Path, plan: Path, now: dt.datetime, override: bool = False) -> tuple[list[Outcome], Recording]:
    """One send through the engine, as the flow runs it, at the fixed time `now`."""
    run = runtime.build(plan, REGISTRY, clock=lambda: now)
    prepared = cascade.prepare(run.plan, MESSAGE)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "Styregruppen 20/11", override,
                                       "OC-mødet er flyttet" if override else "")
    executor = Recording(run.channels, run.ledger)
    return run_engine(run, prepared, approval, executor), executor


def states(outcomes: list[Outcome]) -> dict[str, str]:
    return {o.forum: o.state for o in outcomes}


def test_tiers_go_out_in_the_plans_order_then_publish(workdir: Path) -> None:
    outcomes, executor = send(workdir, plan_with(workdir), LONG_BEFORE)
    assert set(states(outcomes).values()) == {"delivered"} and len(outcomes) == 12
    assert [tier for tier, _ in executor.releases] == TIERS
    assert executor.phases == ["cascade", "publish"]
    assert [d.variant.tier for d in memory.SENT] == sorted((d.variant.tier for d in memory.SENT), key=TIERS.index)
    again, _ = send(workdir, plan_with(workdir), LONG_BEFORE)  # a re-run delivers nothing twice
    assert set(states(again).values()) == {"already delivered"} and len(memory.SENT) == 12


def test_a_rerun_with_nothing_left_is_answered_from_the_ledger(workdir: Path) -> None:
    """`already_delivered`: the one test the command line and the flow both ask before doing any work."""
    plan = plan_with(workdir, gates={"employees": "2026-12-14"})
    run = runtime.build(plan, REGISTRY, clock=lambda: LONG_BEFORE)
    prepared = cascade.prepare(run.plan, MESSAGE)
    assert engine.already_delivered(prepared, run.ledger) is None  # nothing delivered yet
    send(workdir, plan, LONG_BEFORE)  # the cascade waits at its gate: work is left
    assert engine.already_delivered(prepared, run.ledger) is None
    send(workdir, plan, BEFORE_GATE)
    done = engine.already_delivered(prepared, run.ledger)
    assert done is not None and [o.forum for o in done] == [v.forum for v in prepared.variants]
    assert {o.state for o in done} == {"already delivered"} and all(o.receipt is not None for o in done)
    assert len(memory.SENT) == 12


def test_a_failure_blocks_every_later_tier_and_the_publishing(workdir: Path) -> None:
    outcomes, executor = send(workdir, plan_with(workdir, refuse=["network_sensum"]), LONG_BEFORE)
    found = states(outcomes)
    assert found["oc"] == "delivered" and found["hmu"] == "delivered" and found["network_sensum"] == "failed"
    assert {found[f] for f in ("intranet", "intranet_local", "website", "linkedin")} == {"not started"}
    assert [tier for tier, _ in executor.releases] == ["oc", "hmu_and_networks"]
    assert "tier employees not started: network_sensum not delivered" in executor.notes
    assert {d.forum for d in memory.SENT} == {"oc", "hmu", "network_quality", "network_health"}


def test_a_calendar_gate_holds_its_tier_and_the_rest_as_waiting(workdir: Path) -> None:
    plan = plan_with(workdir, gates={"employees": "2026-12-14"})
    outcomes, executor = send(workdir, plan, LONG_BEFORE)
    found = states(outcomes)
    assert {found[f] for f in ("oc", "hmu", "network_health")} == {"delivered"}
    assert {found[f] for f in ("intranet", "intranet_local", "website", "perspektiv")} == {"waiting"}
    assert executor.phases == ["cascade"]  # publish never started: the cascade only waits
    assert any("waits until 2026-12-14" in note for note in executor.notes)
    # The gate opens at 00:00 local time (Copenhagen) on its day: a later run delivers the rest, once.
    later, executor = send(workdir, plan, BEFORE_GATE)
    found = states(later)
    assert found["oc"] == "already delivered" and found["intranet"] == "delivered" and found["website"] == "delivered"
    assert [tier for tier, _ in executor.releases] == TIERS
    assert len(memory.SENT) == 12


def test_a_failure_before_a_gate_is_not_started_not_waiting(workdir: Path) -> None:
    plan = plan_with(workdir, refuse=["oc"], gates={"employees": "2026-12-14"})
    found = states(send(workdir, plan, LONG_BEFORE)[0])
    assert found["oc"] == "failed"
    assert {found[f] for f in ("hmu", "intranet", "website")} == {"not started"}


def test_the_chairs_override_releases_everything_at_once_gates_too(workdir: Path) -> None:
    plan = plan_with(workdir, gates={"hmu_and_networks": "meeting", "employees": "2026-12-14"})
    outcomes, executor = send(workdir, plan, LONG_BEFORE, override=True)
    assert set(states(outcomes).values()) == {"delivered"} and len(outcomes) == 12
    # One release of everything, handed over in waves of at most max_concurrency (4) deliveries per channel:
    # the mail channel carries five fora, so its fifth goes in a second wave.
    assert executor.phases == ["publish"] and [tier for tier, _ in executor.releases] == ["all", "all"]
    assert sum(1 for note in executor.notes if note.startswith("Order overridden")) == 1
    assert [len(fora) for _, fora in executor.releases] == [11, 1] and executor.releases[1][1] == ["network_health"]


def test_next_step_is_decided_from_the_outcomes_and_the_clock(workdir: Path) -> None:
    plan = plan_with(workdir, gates={"hmu_and_networks": "2026-12-14"})
    run = runtime.build(plan, REGISTRY)
    prepared = cascade.prepare(run.plan, MESSAGE)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "ref")
    first, second = engine.phases(cascade.deliveries(prepared, approval), override_order=False)
    assert (first.name, second.name) == ("cascade", "publish")
    assert {d.variant.phase for d in first.deliveries} == {"cascade"}
    day = prepared.message.date
    step = engine.next_step(run.plan, first, [], day, LONG_BEFORE)
    assert isinstance(step, engine.Release) and step.tier == "oc"
    done = [Outcome(d.key, d.forum, d.variant.tier, d.variant.tier_index, d.channel, "delivered")
            for d in step.deliveries]
    held = engine.next_step(run.plan, first, done, day, LONG_BEFORE)
    assert isinstance(held, engine.Hold) and held.gate
    assert {o.state for o in held.outcomes} == {"waiting"} and len(done) + len(held.outcomes) == len(first.deliveries)
    opened = engine.next_step(run.plan, first, done, day, AFTER_GATE)
    assert isinstance(opened, engine.Release) and opened.tier == "hmu_and_networks"
    assert engine.next_step(run.plan, first, done + list(held.outcomes), day, LONG_BEFORE) is None


def test_an_executor_that_loses_an_outcome_is_refused(workdir: Path) -> None:
    class Lossy(Recording):
        def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
            return super().deliver(tier, deliveries)[:-1]

    run = runtime.build(plan_with(workdir), REGISTRY, clock=lambda: LONG_BEFORE)
    prepared = cascade.prepare(run.plan, MESSAGE)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "ref")
    executor = Lossy(run.channels, run.ledger)
    with pytest.raises(BudbringerError, match="outcomes for"):
        run_engine(run, prepared, approval, executor)


def test_the_plan_is_checked_against_the_registry_handed_in(workdir: Path) -> None:
    from budbringer import plan as plan_
    from budbringer.adapters.outbox import OutboxAdapter
    from budbringer.channel import Registry, installed
    from budbringer.errors import InputError

    with pytest.raises(InputError, match="unknown channel type 'memory'") as refused:
        plan_.load(memory_plan(workdir), Registry([OutboxAdapter]))
    assert "use one of: outbox" in str(refused.value)
    loaded = plan_.load(memory_plan(workdir), REGISTRY)
    assert loaded.registry is REGISTRY and cascade.channels(loaded)["mail"].type == "memory"
    # Without one (a library caller), the channel types the installed package declares.
    assert installed().names() == REGISTRY.names()
    with pytest.raises(RuntimeError, match="registered twice"):
        Registry([OutboxAdapter, OutboxAdapter])


def test_the_runtime_reads_its_settings_once_and_keeps_one_channel_object_each(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_with(workdir)
    run = runtime.build(plan, REGISTRY, clock=lambda: LONG_BEFORE)
    assert run.settings.plan == plan.resolve() and run.settings.home == (workdir / ".budbringer").resolve()
    assert run.settings.ledger_url() == f"sqlite:///{(workdir / '.budbringer' / 'ledger.db').resolve()}"
    monkeypatch.setenv("BUDBRINGER_HOME", str(workdir / "elsewhere"))  # read once: a later change is not seen
    assert run.ledger.url == run.settings.ledger_url() and run.clock() == LONG_BEFORE
    channels = run.channels
    assert run.channels is channels and channels["mail"] is run.channels["mail"]
    run.close()
    assert run.channels is not channels  # built again after close


# a channel's concurrency -----------------------------------------------------------------------------------


class Gauge(memory.MemoryAdapter):
    """The memory channel, two at a time, measuring how many of its deliveries are in flight at once."""

    max_concurrency = 2
    in_flight: ClassVar[dict[str, int]] = {}
    most: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def deliver(self, delivery: Delivery) -> Receipt:
        with self.lock:
            self.in_flight[self.name] = self.in_flight.get(self.name, 0) + 1
            self.most[self.name] = max(self.most.get(self.name, 0), self.in_flight[self.name])
        try:
            time.sleep(0.05)  # long enough for every thread of a wave to be inside
            return super().deliver(delivery)
        finally:
            with self.lock:
                self.in_flight[self.name] -= 1


class Parallel(Recording):
    """Delivers each release it is handed all at once, one thread per delivery (as Prefect's task runner)."""

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        self.releases.append((tier, [d.forum for d in deliveries]))
        self.events.append("wave")
        with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
            return list(pool.map(self._one, deliveries))


def test_a_release_never_has_more_than_max_concurrency_deliveries_of_one_channel_in_flight(workdir: Path) -> None:
    Gauge.in_flight.clear()
    Gauge.most.clear()
    run = runtime.Runtime(runtime.Settings.read(plan_with(workdir)), Registry([Gauge]), clock=lambda: LONG_BEFORE)
    prepared = cascade.prepare(run.plan, MESSAGE)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "Styregruppen 20/11", True, "flyttet")
    executor = Parallel(run.channels, run.ledger)

    outcomes = run_engine(run, prepared, approval, executor)

    assert set(states(outcomes).values()) == {"delivered"} and len(outcomes) == 12
    assert Gauge.most["mail"] == 2  # five mail fora, released together: never more than two at once
    assert all(most <= 2 for most in Gauge.most.values())
    per_wave = [[f for f in fora if run.plan.fora[f].channel == "mail"] for _, fora in executor.releases]
    assert [len(mail) for mail in per_wave] == [2, 2, 1]
    # Three waves, one release: the progress lines (one per tier) come once, after the last wave has ended.
    assert executor.events[:3] == ["wave"] * 3 and len(executor.progress) == 4 and len(executor.events) == 7
    assert executor.progress[0].startswith("1. oc (") and executor.progress[0].endswith("1 delivered")
    assert [o.forum for o in outcomes] == [d.forum for d in cascade.deliveries(prepared, approval)]  # in order


def test_waves_keep_the_release_order_and_bound_each_channel(workdir: Path) -> None:
    run = runtime.build(plan_with(workdir), REGISTRY, clock=lambda: LONG_BEFORE)
    prepared = cascade.prepare(run.plan, MESSAGE)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "Styregruppen 20/11")
    deliveries = cascade.deliveries(prepared, approval)
    waves = engine.waves(run.plan, deliveries)
    assert [d for wave in waves for d in wave] != [] and sorted(d.key for w in waves for d in w) == sorted(
        d.key for d in deliveries)
    for wave in waves:
        channels = [d.channel for d in wave]
        assert all(channels.count(c) <= memory.MemoryAdapter.max_concurrency for c in channels)
        assert list(wave) == [d for d in deliveries if d in wave]  # the release's order within a wave
