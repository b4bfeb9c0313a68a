"""The tier engine: it drives a send, from the plan of work to the last outcome; an executor only delivers.

The rules, in one place (plain Python, no Prefect):

- **phases**: the internal cascade (`phase: cascade` tiers) first; the external channels (`phase: publish`)
  only after every internal delivery succeeded. Otherwise the external ones are "not started", or "waiting"
  when the cascade only waits for a calendar gate.
- **order**: tier by tier in the plan's order; a tier only after every delivery of the tiers before it was
  delivered (**blocking**: one failure leaves every later tier "not started").
- **calendar gates**: a tier with `not_before` waits until its day (`deadlines.gate_open`, judged at the
  injected clock's now); it and every later tier are then "waiting", and a later run delivers them.
- **the chair's override**: every tier at once, gates too, in one release.
- **a channel's concurrency**: at most `Adapter.max_concurrency` deliveries of one channel are in flight at
  once. A `Sliding` executor (the Prefect one) is handed the whole release with each channel's bound, and
  starts a channel's next delivery as soon as one of its deliveries ends; any other executor is handed the
  release in waves (`waves`), each after the one before has ended.
- **nothing to do**: `already_delivered` answers a re-run whose every delivery the ledger holds as delivered
  (the command line answers from it without starting Prefect; the flow returns with it before any approval).

One way through, and no call goes back up: `run` decides every step and hands each wave to an `Executor`,
whose one method delivers the wave and returns its outcomes (the Prefect executor in `flows/executor.py`, as
retried tasks in the send's flow run; `InlineExecutor` here, one delivery after another, for the fast tests and
the crash harness). The executor never calls the engine; the engine tells the operator itself (`log`, and one
progress line per tier on `budbringer.progress`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from budbringer import cascade, deadlines
from budbringer.approval import Approval
from budbringer.cascade import Outcome, Prepared, by_tier, deliver, failed, not_started, waiting
from budbringer.channel import Adapter
from budbringer.delivery import Delivery, delivery_key
from budbringer.errors import BudbringerError
from budbringer.ledger import Ledger, OutcomeState, State
from budbringer.plan import Plan

if TYPE_CHECKING:  # the stores load SQLAlchemy on first use
    from budbringer.ledger import Ledger

#: an aware "now" (the runtime's clock; a test's fixed time)
Clock = Callable[[], dt.datetime]
#: where the engine tells the operator: a logger, or a flow run's logger (a LoggerAdapter)
Log: TypeAlias = "logging.Logger | logging.LoggerAdapter[Any]"

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
    """Delivers what the engine hands it; it decides nothing and calls nothing back."""

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Deliver one wave of a release, together; one outcome per delivery, in order (a delivery given up on
        is "failed")."""


@runtime_checkable
class Sliding(Executor, Protocol):
    """An executor that bounds a channel's deliveries in flight itself: it is handed a whole release at once."""

    def deliver_sliding(self, tier: str, deliveries: Sequence[Delivery],
                        bound: Mapping[str, int]) -> list[Outcome]:
        """Deliver a whole release, never more than `bound[channel]` deliveries of one channel in flight,
        starting a channel's next delivery as one of its deliveries ends (no wave waits for its slowest); one
        outcome per delivery, in order."""


#: one line per tier as its deliveries finish: the terminal's progress (`budbringer send`) and the run's log
PROGRESS = logging.getLogger("budbringer.progress")


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


def run_tiers(plan: Plan, phase_: Phase, message_date: dt.date, clock: Clock, executor: Executor,
              log: Log) -> list[Outcome]:
    """One phase, release after release, until every delivery of it has an outcome."""
    log.info("Phase %s: %d deliveries", phase_.name, len(phase_.deliveries))
    outcomes: list[Outcome] = []
    while (step := next_step(plan, phase_, outcomes, message_date, clock())) is not None:
        if isinstance(step, Hold):
            log.log(logging.WARNING if step.gate else logging.ERROR, step.reason)
            outcomes += step.outcomes
            continue
        log.log(logging.WARNING if phase_.release_all else logging.INFO, step.note)
        got: dict[str, Outcome] = {}
        for wave, delivered in _handed(plan, executor, step):
            if [o.key for o in delivered] != [d.key for d in wave]:
                raise BudbringerError(f"the executor returned {len(delivered)} outcomes for {len(wave)} "
                                      f"deliveries of tier {step.tier}")
            got.update((o.key, o) for o in delivered)
        ended = [got[d.key] for d in step.deliveries]
        progress(plan, ended)
        outcomes += ended
    return outcomes


def _handed(plan: Plan, executor: Executor, step: Release) -> Iterator[tuple[Sequence[Delivery], list[Outcome]]]:
    """Hand a release to the executor: whole to a `Sliding` one (with each channel's bound), else wave by wave;
    yields what was handed and its outcomes."""
    if isinstance(executor, Sliding):
        bound = {d.channel: max_concurrency(plan, d.channel) for d in step.deliveries}
        yield step.deliveries, executor.deliver_sliding(step.tier, step.deliveries, bound)
        return
    for wave in waves(plan, step.deliveries):
        yield wave, executor.deliver(step.tier, wave)


def progress(plan: Plan, outcomes: Sequence[Outcome]) -> None:
    """A release has ended (all its waves): one line per tier (the chair's release of everything: each tier),
    "2. hmu_and_networks (HMU og netværkene): 4 delivered" — what a communications officer follows."""
    for name in dict.fromkeys(o.tier for o in outcomes):
        mine = [o for o in outcomes if o.tier == name]
        title = next((t.title for t in plan.tiers if t.name == name), name)
        counts = Counter(o.state for o in mine)
        PROGRESS.info("%s. %s (%s): %s", mine[0].tier_index, name, title,
                      ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))


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


def run(prepared: Prepared, approval: Approval, executor: Executor, clock: Clock,
        log: Log | None = None) -> list[Outcome]:
    """A whole send of an approved message: the plan of work (its deliveries, the phases), then the phases in
    order, publishing only after the internal cascade delivered everything. `log`: where the engine tells the
    operator (a flow run's logger; else the `budbringer` logger)."""
    log = log if log is not None else logging.getLogger("budbringer")
    plan, day = prepared.plan, prepared.message.date
    first, *rest = phases(cascade.deliveries(prepared, approval), approval.override_order)
    outcomes = run_tiers(plan, first, day, clock, executor, log)
    for later in rest:
        if all(o.ok for o in outcomes):
            outcomes += run_tiers(plan, later, day, clock, executor, log)
            continue
        reason = "the internal cascade did not finish: nothing was published"
        log.error(reason)
        gated = any(o.state == OutcomeState.WAITING for o in outcomes)
        outcomes += [waiting(d, reason) if gated else not_started(d, reason) for d in later.deliveries]
    return outcomes


def already_delivered(prepared: Prepared, ledger: Ledger) -> list[Outcome] | None:
    """A re-run with nothing to do: when the ledger holds every delivery of this exact content as delivered,
    their outcomes ("already delivered", in the plan's order); else None. The one test both the command line
    (answering without starting Prefect) and the flow (before asking for any approval) use."""
    wanted = {delivery_key(prepared.message.id, v.content_hash, v.forum, v.channel): v for v in prepared.variants}
    if not wanted:
        return None
    done = {r.key: r for r in ledger.records(prepared.message.id) if r.state == State.DELIVERED}
    if not wanted.keys() <= done.keys():
        return None
    return [Outcome(key, v.forum, v.tier, v.tier_index, v.channel, OutcomeState.ALREADY_DELIVERED, done[key].receipt)
            for key, v in wanted.items()]


class InlineExecutor:
    """Every wave in this process, one delivery after another, no retries: the fast tests and the crash
    harness. A transient failure or an unexpected error ends that delivery "failed" (the Prefect executor
    retries the transient ones)."""

    def __init__(self, channels: Mapping[str, Adapter], ledger: Ledger) -> None:
        self.channels, self.ledger = channels, ledger

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return [self._one(d) for d in deliveries]

    def _one(self, delivery: Delivery) -> Outcome:
        try:
            return deliver(delivery, self.channels[delivery.channel], self.ledger)
        except Exception as exc:  # as the Prefect executor reports a task that gave up
            return failed(delivery, str(exc))
