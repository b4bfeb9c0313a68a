"""The tier engine in-process, in milliseconds: order, blocking, calendar gates, the override, the phases, and
"waiting" versus "not started" — the same engine the Prefect flow and the crash harness run, here with its
inline executor, the memory channel, a fixed clock and a ledger of the test's own (no Prefect, no today).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from budbringer import cascade, engine, runtime
from budbringer.adapters import memory
from budbringer.adapters.registry import REGISTRY
from budbringer.cascade import Outcome
from budbringer.delivery import Delivery
from budbringer.errors import BudbringerError
from tests.conftest import MESSAGE, memory_plan

TIERS = ["oc", "hmu_and_networks", "employees", "external"]
#: the message is dated 2026-11-23; the clock is set around a gate on 2027-01-14
BEFORE_GATE = dt.datetime(2027, 1, 13, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 14th in Copenhagen: open
LONG_BEFORE = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
AFTER_GATE = dt.datetime(2027, 2, 1, 9, 0, tzinfo=dt.UTC)


class Recording(engine.InlineExecutor):
    """The inline executor, remembering each release and phase it was asked for."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.releases: list[tuple[str, list[str]]] = []
        self.phases: list[str] = []
        self.notes: list[str] = []

    def run_phase(self, phase: engine.Phase) -> list[Outcome]:
        self.phases.append(phase.name)
        return super().run_phase(phase)

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        self.releases.append((tier, [d.forum for d in deliveries]))
        return super().deliver(tier, deliveries)

    def note(self, level: int, text: str) -> None:
        self.notes.append(text)


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
    executor = Recording(run.plan, prepared.message.date, run.clock, run.channels, run.ledger)
    return engine.run(cascade.deliveries(prepared, approval), approval.override_order, executor), executor


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


def test_a_failure_blocks_every_later_tier_and_the_publishing(workdir: Path) -> None:
    outcomes, executor = send(workdir, plan_with(workdir, refuse=["network_sensum"]), LONG_BEFORE)
    found = states(outcomes)
    assert found["oc"] == "delivered" and found["hmu"] == "delivered" and found["network_sensum"] == "failed"
    assert {found[f] for f in ("intranet", "intranet_local", "website", "linkedin")} == {"not started"}
    assert [tier for tier, _ in executor.releases] == ["oc", "hmu_and_networks"]
    assert "tier employees not started: network_sensum not delivered" in executor.notes
    assert {d.forum for d in memory.SENT} == {"oc", "hmu", "network_quality", "network_health"}


def test_a_calendar_gate_holds_its_tier_and_the_rest_as_waiting(workdir: Path) -> None:
    plan = plan_with(workdir, gates={"employees": "2027-01-14"})
    outcomes, executor = send(workdir, plan, LONG_BEFORE)
    found = states(outcomes)
    assert {found[f] for f in ("oc", "hmu", "network_health")} == {"delivered"}
    assert {found[f] for f in ("intranet", "intranet_local", "website", "perspektiv")} == {"waiting"}
    assert executor.phases == ["cascade"]  # publish never started: the cascade only waits
    assert any("waits until 2027-01-14" in note for note in executor.notes)
    # The gate opens at 00:00 local time (Copenhagen) on its day: a later run delivers the rest, once.
    later, executor = send(workdir, plan, BEFORE_GATE)
    found = states(later)
    assert found["oc"] == "already delivered" and found["intranet"] == "delivered" and found["website"] == "delivered"
    assert [tier for tier, _ in executor.releases] == TIERS
    assert len(memory.SENT) == 12


def test_a_failure_before_a_gate_is_not_started_not_waiting(workdir: Path) -> None:
    plan = plan_with(workdir, refuse=["oc"], gates={"employees": "2027-01-14"})
    found = states(send(workdir, plan, LONG_BEFORE)[0])
    assert found["oc"] == "failed"
    assert {found[f] for f in ("hmu", "intranet", "website")} == {"not started"}


def test_the_chairs_override_releases_everything_at_once_gates_too(workdir: Path) -> None:
    plan = plan_with(workdir, gates={"hmu_and_networks": "meeting", "employees": "2027-01-14"})
    outcomes, executor = send(workdir, plan, LONG_BEFORE, override=True)
    assert set(states(outcomes).values()) == {"delivered"} and len(outcomes) == 12
    assert executor.phases == ["publish"] and len(executor.releases) == 1
    assert executor.releases[0][0] == "all" and len(executor.releases[0][1]) == 12


def test_next_step_is_decided_from_the_outcomes_and_the_clock(workdir: Path) -> None:
    plan = plan_with(workdir, gates={"hmu_and_networks": "2027-01-14"})
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
    executor = Lossy(run.plan, prepared.message.date, run.clock, run.channels, run.ledger)
    with pytest.raises(BudbringerError, match="outcomes for"):
        engine.run(cascade.deliveries(prepared, approval), False, executor)


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
    assert run.settings.database_url == f"sqlite:///{(workdir / '.budbringer' / 'ledger.db').resolve()}"
    monkeypatch.setenv("BUDBRINGER_HOME", str(workdir / "elsewhere"))  # read once: a later change is not seen
    assert run.ledger.url == run.settings.database_url and run.clock() == LONG_BEFORE
    channels = run.channels
    assert run.channels is channels and channels["mail"] is run.channels["mail"]
    run.close()
    assert run.channels is not channels  # built again after close
