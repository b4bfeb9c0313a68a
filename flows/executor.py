"""The engine's executor under Prefect: each release the engine hands it, `deliver` tasks (retried when
transient) in the send's own flow run, sliding: at most a channel's `max_concurrency` in flight, the channel's
next delivery submitted as soon as one of its tasks ends (no wave waits for its slowest; docs/benchmarks.md).
It only executes: the order, the bounds, the notes and the progress lines are the engine's
(`budbringer.engine.run`), and it never calls the engine back.

The phases run in the flow itself, not as subflows: a subflow cost about 1.5 s to start and end on the 2-core
machine (two of them were a third of the flow's time; docs/benchmarks.md) and showed nothing the tasks and the
tier lines in the run's log do not. `cascade.deliver` refuses any content the approval does not cover.

Who retries what: a channel retries a single HTTP call for seconds (tenacity, honouring Retry-After); the
delivery task retries a *transient* failure (nothing was delivered) for longer outages, twice, after 10 and
60 seconds. A permanent failure or an uncertain outcome is never retried here: the first needs a person to
fix something, the second must be looked up, not re-sent.

No rendered text is a task parameter: a `deliver` task gets the forum's name and the delivery's key, and looks
the delivery up in the send's `Deliveries` (the variants the runtime's prepared message holds, in this
process). So a message's size has no cap from Prefect (its parameters), and Prefect walks no variant when it
submits a task; one message to 1,000 fora is one send (docs/benchmarks.md).
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
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


class Deliveries:
    """The deliveries the engine has handed this executor, by key, in this process: what a `deliver` task looks
    its delivery up in. A plain object: Prefect does not walk it for task inputs, hash it or send it anywhere."""

    def __init__(self, deliveries: Iterable[Delivery] = ()) -> None:
        self._by_key: dict[str, Delivery] = {d.key: d for d in deliveries}

    def add(self, deliveries: Iterable[Delivery]) -> None:
        self._by_key.update((d.key, d) for d in deliveries)

    def __getitem__(self, key: str) -> Delivery:
        return self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)

    def __repr__(self) -> str:  # what Prefect would show of a parameter: never the texts
        return f"Deliveries({len(self._by_key)})"


@task(name="deliver", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=transient, persist_result=False, task_run_name="deliver-{forum}")
def deliver_task(forum: str, key: str, deliveries: Deliveries, run: runtime.Runtime) -> Outcome:
    """Deliver one variant (`forum`'s, by its delivery `key`) over the run's channel object (its retries too:
    the same sign-in, limiter and record of accepted parts)."""
    delivery = deliveries[key]
    adapter = run.channels[delivery.channel]
    ledger = run.ledger
    with limits.hold(adapter, delivery, ledger):
        outcome = cascade.deliver(delivery, adapter, ledger)
    logger = get_run_logger()
    if outcome.ok:
        logger.info("%s: %s", outcome.forum, outcome.state)
    else:
        logger.error("%s: %s — %s", outcome.forum, outcome.state, outcome.error)
    return outcome


class PrefectExecutor:
    """Delivers a release as `deliver` tasks, sliding per channel (`deliver_sliding`), and waits for them all;
    `deliver` (a wave, all at once) is what any executor does."""

    def __init__(self, run: runtime.Runtime) -> None:
        self.run = run
        self.handed = Deliveries()

    def deliver(self, tier: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        self.handed.add(deliveries)
        futures = [deliver_task.submit(d.forum, d.key, self.handed, self.run) for d in deliveries]
        wait(futures)
        return [_result(f, d) for f, d in zip(futures, deliveries, strict=True)]

    def deliver_sliding(self, tier: str, deliveries: Sequence[Delivery],
                        bound: Mapping[str, int]) -> list[Outcome]:
        """The release's first `bound[channel]` deliveries of each channel at once; then, as a task ends, the
        next of its channel (in the release's order): never more than the bound of one channel in flight."""
        self.handed.add(deliveries)
        left: dict[str, deque[Delivery]] = {}
        for delivery in deliveries:
            left.setdefault(delivery.channel, deque()).append(delivery)
        ended: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        futures: dict[str, Any] = {}

        def start(delivery: Delivery) -> None:
            future = deliver_task.submit(delivery.forum, delivery.key, self.handed, self.run)
            futures[delivery.key] = future
            future.add_done_callback(lambda _: ended.put(delivery))

        for channel, waiting in left.items():
            for _ in range(min(max(1, bound.get(channel, 1)), len(waiting))):
                start(waiting.popleft())
        for _ in deliveries:
            waiting = left[ended.get().channel]
            if waiting:
                start(waiting.popleft())
        wait(list(futures.values()))
        return [_result(futures[d.key], d) for d in deliveries]


def _result(future: Any, delivery: Delivery) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # the task gave up (e.g. transient failures past its retries)
        return cascade.failed(delivery, str(exc))
