"""The engine's executor under Prefect: each release the engine hands it, one `deliver` task per channel (a
*lane*; retried when transient) in the send's own flow run. Within a lane at most the channel's
`max_concurrency` deliveries are in flight and its next delivery starts as soon as one ends (no wave waits for
its slowest; docs/benchmarks.md). It only executes: the order, the bounds, the notes and the progress lines are
the engine's (`budbringer.engine.run`), and it never calls the engine back.

Prefect's work grows with the tiers and channels, not with the deliveries: a task run's states, its provider
limits (`limits.holding`: the lane's slots under one lease, rate places in batches) and its server writes are
per lane. A delivery costs the server only its log line ("hmu: delivered" in the lane's log), and the per-forum
report is the send's `deliveries-<message>` table (flows/send.py). One message to 1,000 fora is one send of a
few tasks per tier (docs/benchmarks.md, sixth round).

The phases run in the flow itself, not as subflows: a subflow cost about 1.5 s to start and end on the 2-core
machine (two of them were a third of the flow's time; docs/benchmarks.md) and showed nothing the tasks and the
tier lines in the run's log do not. `cascade.deliver` refuses any content the approval does not cover.

Who retries what: a channel retries a single HTTP call for seconds (tenacity, honouring Retry-After); the
lane's task retries its *transient* failures (nothing was delivered) for longer outages, twice, after 10 and
60 seconds, trying again only the deliveries that failed so. A permanent failure or an uncertain outcome is
never retried here: the first needs a person to fix something, the second must be looked up, not re-sent.

No rendered text is a task parameter: a lane is a plain object of this process (the variants the runtime's
prepared message holds), which Prefect neither walks, hashes nor sends anywhere. So a message's size has no cap
from Prefect (its parameters).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping, Sequence
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from budbringer import cascade, runtime
from budbringer.cascade import Outcome
from budbringer.delivery import Delivery
from budbringer.errors import TransientDeliveryError
from budbringer.flows import limits


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """A task's retry condition: retry only what failed transiently (nothing was delivered)."""
    try:
        state.result()
    except TransientDeliveryError:
        return True
    except Exception:
        return False
    return False


class Lane:
    """One channel's deliveries of a release: what one `deliver` task delivers, at most `bound` in flight at once.
    A plain object in this process: Prefect does not walk it for task inputs, hash it or send
    it anywhere. It keeps what its deliveries came to across the task's retries (`outcomes`), and which of them
    failed transiently (`transient`: tried again at the task's next retry)."""

    def __init__(self, tier: str, channel: str, deliveries: Sequence[Delivery], bound: int) -> None:
        self.tier, self.channel, self.bound = tier, channel, max(1, bound)
        self.deliveries = tuple(deliveries)
        self.outcomes: dict[str, Outcome] = {}
        self.transient: dict[str, str] = {}

    def pending(self) -> list[Delivery]:
        """What the next try delivers: what has no outcome yet, or failed transiently."""
        return [d for d in self.deliveries if d.key not in self.outcomes or d.key in self.transient]

    def outcome(self, delivery: Delivery, gave_up: str = "") -> Outcome:
        """The delivery's outcome in this run: a transient failure past the retries, or a task that gave up before
        it, ends "failed"."""
        got = self.outcomes.get(delivery.key)
        if got is not None and delivery.key not in self.transient:
            return got
        return cascade.failed(delivery, self.transient.get(delivery.key) or gave_up or "not delivered")

    def __str__(self) -> str:  # the task run's name in the UI: "deliver-hmu_and_networks-mail (4 fora)"
        count = len(self.deliveries)
        return f"{self.tier}-{self.channel} ({count} {'forum' if count == 1 else 'fora'})"

    def __repr__(self) -> str:  # what Prefect would show of a parameter: never the texts
        return f"Lane({self})"


@task(name="deliver", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=transient, persist_result=False, task_run_name="deliver-{lane}")
def deliver_lane(lane: Lane, run: runtime.Runtime) -> list[Outcome]:
    """Deliver one lane (one channel's deliveries of a release) over the run's channel object: its provider
    limits taken once for the lane (`limits.holding`), at most `lane.bound` deliveries in flight, the next
    started as soon as one ends; one log line per forum. A delivery that failed transiently is tried again at the
    task's retry (Prefect's, after 10 and 60 s) with the lane's other transient failures; what was delivered, or
    failed for good, is not tried again. Raises TransientDeliveryError while any failed transiently."""
    adapter = run.channels[lane.channel]
    ledger = run.ledger
    logger = get_run_logger()
    todo = lane.pending()
    with limits.holding(adapter, todo, ledger, min(lane.bound, len(todo)), str(lane)) as held:

        def one(delivery: Delivery) -> None:
            try:
                held.pace(delivery)
                outcome = cascade.deliver(delivery, adapter, ledger)
            except TransientDeliveryError as exc:
                lane.transient[delivery.key] = str(exc)
                lane.outcomes[delivery.key] = cascade.failed(delivery, str(exc))
                logger.warning("%s: failed transiently (tried again at the task's retry) — %s", delivery.forum, exc)
                return
            except Exception as exc:  # an unexpected error: the delivery gives up, as a task that raised would
                outcome = cascade.failed(delivery, str(exc))
            lane.transient.pop(delivery.key, None)
            lane.outcomes[delivery.key] = outcome
            if outcome.ok:
                logger.info("%s: %s", outcome.forum, outcome.state)
            else:
                logger.error("%s: %s — %s", outcome.forum, outcome.state, outcome.error)

        if held.slots == 1 or len(todo) == 1:
            for delivery in todo:
                one(delivery)
        else:  # Prefect's run context lives in context variables: each worker runs in a copy of this one's
            context = contextvars.copy_context()
            with ThreadPoolExecutor(max_workers=held.slots, thread_name_prefix=f"lane-{lane.channel}") as pool:
                for future in [pool.submit(context.copy().run, one, d) for d in todo]:
                    future.result()
    if lane.transient:
        raise TransientDeliveryError(lane.channel, str(lane), f"{len(lane.transient)} of {len(lane.deliveries)} "
                                     "deliveries failed transiently (nothing was delivered to them)",
                                     "the task tries them again")
    return [lane.outcome(d) for d in lane.deliveries]


class PrefectExecutor:
    """Delivers a release as one `deliver` task per channel (a `Lane`), all the release's lanes at once, and
    waits for them all. Within a lane at most the channel's bound is in flight and its next delivery starts as
    soon as one ends (`deliver_sliding`); `deliver` (a wave, all at once) is what any executor does."""

    def __init__(self, run: runtime.Runtime) -> None:
        self.run = run

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return self.deliver_sliding(tier, deliveries, {d.channel: len(deliveries) for d in deliveries})

    def deliver_sliding(self, tier: str, deliveries: Sequence[Delivery],
                        bound: Mapping[str, int]) -> list[Outcome]:
        """One lane per channel of the release, in the release's order within each; never more than
        `bound[channel]` of a channel in flight. One outcome per delivery, in the release's order."""
        by_channel: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_channel.setdefault(delivery.channel, []).append(delivery)
        lanes = [Lane(tier, channel, mine, bound.get(channel, 1)) for channel, mine in by_channel.items()]
        futures = [deliver_lane.submit(lane, self.run) for lane in lanes]
        wait(futures)
        ended: dict[str, Outcome] = {}
        for lane, future in zip(lanes, futures, strict=True):
            gave_up = _gave_up(future)
            ended.update((d.key, lane.outcome(d, gave_up)) for d in lane.deliveries)
        return [ended[d.key] for d in deliveries]


def _gave_up(future: Any) -> str:
    """Why a lane's task ended without its outcomes (its last transient failures, or an error before its
    deliveries), or "" when it completed."""
    try:
        future.result()
    except Exception as exc:  # noqa: BLE001 - the task gave up: its deliveries' outcomes say why
        return str(exc)
    return ""
