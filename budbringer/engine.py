"""The tier engine: what the cascade releases next, decided from the plan, the outcomes so far and a clock.

The rules, in one place (plain Python, no Prefect):

- **phases**: the internal cascade (`phase: cascade` tiers) first; the external channels (`phase: publish`)
  only after every internal delivery succeeded. Otherwise the external ones are "not started", or "waiting"
  when the cascade only waits for a calendar gate.
- **order**: tier by tier in the plan's order; a tier only after every delivery of the tiers before it was
  delivered (**blocking**: one failure leaves every later tier "not started").
- **calendar gates**: a tier with `not_before` waits until its day (`deadlines.gate_open`, judged at the
  injected clock's now); it and every later tier are then "waiting", and a later run delivers them.
- **the chair's override**: every tier at once, gates too, in one release.
- **a channel's concurrency**: a release hands the executor at most `Adapter.max_concurrency` deliveries of
  one channel at a time (`waves`); a bigger release goes in waves, each after the one before has ended.

The engine runs behind a small `Executor`: it says *what* to release; the executor delivers a release (the
Prefect executor in `flows/send.py` as retried tasks in the send's flow run; `InlineExecutor`
here, one delivery after another, for the fast tests and the crash harness). Both run this module's loop,
so no copy of it exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from budbringer import deadlines
from budbringer.cascade import Outcome, by_tier, deliver, not_started, waiting
from budbringer.channel import Adapter
from budbringer.delivery import Delivery
from budbringer.errors import BudbringerError
from budbringer.ledger import Ledger, OutcomeState
from budbringer.plan import Plan

#: an aware "now" (the runtime's clock; a test's fixed time)
Clock = Callable[[], dt.datetime]

CASCADE, PUBLISH = "cascade", "publish"


@dataclass(frozen=True)
class Phase:
    """One part of a send: the internal cascade or the publishing, or everything at once (the override)."""

    name: str  # cascade | publish
    deliveries: tuple[Delivery, ...]
    release_all: bool = False


@dataclass(frozen=True)
class Release:
    """Deliver these now, together: one tier (or, under the override, everything left)."""

    tier: str
    deliveries: tuple[Delivery, ...]
    note: str


@dataclass(frozen=True)
class Hold:
    """Deliver nothing more in this phase: every delivery left gets `outcomes` (waiting or not started)."""

    outcomes: tuple[Outcome, ...]
    reason: str
    gate: bool  # True: waiting for a calendar gate (a later run delivers); False: blocked by a failure


class Executor(Protocol):
    """How a phase and its releases are carried out; the engine decides which and in what order."""

    def run_phase(self, phase: Phase) -> list[Outcome]:
        """Carry out one phase by calling `run_tiers(plan, phase, message_date, clock, self)`."""

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Deliver one release; one outcome per delivery, in order (a delivery given up on is "failed")."""

    def note(self, level: int, text: str) -> None:
        """Tell the operator (the run's log)."""

    def released(self, tier: str, outcomes: Sequence[Outcome]) -> None:
        """A release has ended (all its waves): its outcomes, in order (the Prefect executor's progress line)."""


def phases(deliveries: Sequence[Delivery], override_order: bool) -> list[Phase]:
    """The phases of a send, in order: everything at once under the override, else cascade then publish."""
    if override_order:
        return [Phase(PUBLISH, tuple(deliveries), release_all=True)]
    return [Phase(CASCADE, tuple(d for d in deliveries if d.variant.phase == CASCADE)),
            Phase(PUBLISH, tuple(d for d in deliveries if d.variant.phase == PUBLISH))]


def next_step(plan: Plan, phase_: Phase, outcomes: Sequence[Outcome], message_date: dt.date,
              now: dt.datetime) -> Release | Hold | None:
    """What to do next in a phase, given the outcomes so far: release a tier, hold the rest, or nothing (done)."""
    seen = {o.key for o in outcomes}
    left = [tier for tier in by_tier(phase_.deliveries) if not any(d.key in seen for d in tier)]
    if not left:
        return None
    if phase_.release_all:
        return Release("all", tuple(d for tier in left for d in tier),
                       "Order overridden by the chair: every tier is released at once, calendar gates too")
    tier = left[0]
    name = tier[0].variant.tier
    blocked = [o for o in outcomes if not o.ok]
    if blocked:
        reason = f"tier {name} not started: {', '.join(o.forum for o in blocked)} not delivered"
        return Hold(tuple(not_started(d, reason) for rest in left for d in rest), reason, gate=False)
    if not deadlines.gate_open(plan, name, message_date, now):
        reason = (f"tier {name} waits until {deadlines.gate(plan, name, message_date):%Y-%m-%d} (its calendar "
                  "gate); run again from then")
        return Hold(tuple(waiting(d, reason) for rest in left for d in rest), reason, gate=True)
    return Release(name, tuple(tier), f"Tier {name}: {', '.join(d.forum for d in tier)}")


def run_tiers(plan: Plan, phase_: Phase, message_date: dt.date, clock: Clock, executor: Executor) -> list[Outcome]:
    """One phase, release after release, until every delivery of it has an outcome."""
    outcomes: list[Outcome] = []
    while (step := next_step(plan, phase_, outcomes, message_date, clock())) is not None:
        if isinstance(step, Hold):
            executor.note(logging.WARNING if step.gate else logging.ERROR, step.reason)
            outcomes += step.outcomes
            continue
        executor.note(logging.WARNING if phase_.release_all else logging.INFO, step.note)
        got: dict[str, Outcome] = {}
        for wave in waves(plan, step.deliveries):
            delivered = executor.deliver(step.tier, wave)
            if [o.key for o in delivered] != [d.key for d in wave]:
                raise BudbringerError(f"the executor returned {len(delivered)} outcomes for {len(wave)} "
                                      f"deliveries of tier {step.tier}")
            got.update((o.key, o) for o in delivered)
        ended = [got[d.key] for d in step.deliveries]
        executor.released(step.tier, ended)
        outcomes += ended
    return outcomes


def waves(plan: Plan, deliveries: Sequence[Delivery]) -> list[tuple[Delivery, ...]]:
    """A release in waves that each hold at most `max_concurrency` deliveries of one channel (the channel
    type's class attribute, per channel of the plan); the release's order is kept within each wave."""
    seen: dict[str, int] = {}
    out: list[list[Delivery]] = []
    for delivery in deliveries:
        number = seen.get(delivery.channel, 0)
        seen[delivery.channel] = number + 1
        index = number // max_concurrency(plan, delivery.channel)
        while len(out) <= index:
            out.append([])
        out[index].append(delivery)
    return [tuple(wave) for wave in out]


def max_concurrency(plan: Plan, channel: str) -> int:
    """How many deliveries of one channel may be in flight at once (`Adapter.max_concurrency`)."""
    settings = plan.channels.get(channel)
    cls: type[Adapter] | None = plan.registry.get(settings.type) if settings is not None else None
    return max(1, cls.max_concurrency) if cls is not None else 1


def run(deliveries: Sequence[Delivery], override_order: bool, executor: Executor) -> list[Outcome]:
    """A whole send: the phases in order; publishing only after the internal cascade delivered everything."""
    first, *rest = phases(deliveries, override_order)
    outcomes = executor.run_phase(first)
    for later in rest:
        if all(o.ok for o in outcomes):
            outcomes += executor.run_phase(later)
            continue
        reason = "the internal cascade did not finish: nothing was published"
        executor.note(logging.ERROR, reason)
        gated = any(o.state == OutcomeState.WAITING for o in outcomes)
        outcomes += [waiting(d, reason) if gated else not_started(d, reason) for d in later.deliveries]
    return outcomes


class InlineExecutor:
    """Every release in this process, one delivery after another, no retries: the fast tests and the crash
    harness. A transient failure or an unexpected error ends that delivery "failed" (the Prefect executor
    retries the transient ones)."""

    def __init__(self, plan: Plan, message_date: dt.date, clock: Clock, channels: Mapping[str, Adapter],
                 ledger: Ledger, log: logging.Logger | None = None) -> None:
        self.plan, self.message_date, self.clock = plan, message_date, clock
        self.channels, self.ledger = channels, ledger
        self.log = log or logging.getLogger("budbringer")

    def run_phase(self, phase_: Phase) -> list[Outcome]:
        return run_tiers(self.plan, phase_, self.message_date, self.clock, self)

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return [self._one(d) for d in deliveries]

    def _one(self, delivery: Delivery) -> Outcome:
        try:
            return deliver(delivery, self.channels[delivery.channel], self.ledger)
        except Exception as exc:  # as the Prefect executor reports a task that gave up
            return failed(delivery, str(exc))

    def note(self, level: int, text: str) -> None:
        self.log.log(level, text)

    def released(self, tier: str, outcomes: Sequence[Outcome]) -> None:
        pass  # the fast tests and the crash harness need no progress line


def failed(delivery: Delivery, error: str) -> Outcome:
    """A delivery whose attempt gave up (its task raised): failed, with what it said."""
    variant = delivery.variant
    return Outcome(delivery.key, variant.forum, variant.tier, variant.tier_index, delivery.channel,
                   OutcomeState.FAILED, error=error)
