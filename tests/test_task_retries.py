"""Prefect's task retries on the delivery task, against the session's Prefect API.

The `deliver` task (a lane: one channel's deliveries of a release) retries a transient failure (nothing was
delivered) twice, after 10 and 60 seconds, and never retries anything else. The run here keeps the task's retry count and condition and only shortens the delays
(`with_options`), so the mechanism runs in a second: a channel that fails transiently once is tried again by
Prefect and delivers once; a permanent failure is tried once.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import ClassVar

import pytest

from budbringer import runtime
from budbringer.adapters.registry import REGISTRY
from budbringer.adapters.base import Adapter
from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import PermanentDeliveryError, TransientDeliveryError
from budbringer.ledger import Ledger, State
from tests.conftest import memory_plan, web_variant


class FlakyChannel(Adapter):
    """Fails the first `failures` deliveries (transiently or for good), then delivers; counts every try."""

    type: ClassVar[str] = "flaky"
    media: ClassVar[frozenset[str]] = frozenset({"web"})
    tries: ClassVar[list[str]] = []
    failures: ClassVar[int] = 1
    permanent: ClassVar[bool] = False

    def deliver(self, delivery: Delivery) -> Receipt:
        self.tries.append(delivery.key)
        if len(self.tries) <= self.failures:
            error = PermanentDeliveryError if self.permanent else TransientDeliveryError
            raise error(self.name, delivery.forum, "the receiver answered 503", "try again later")
        return Receipt("flaky", f"flaky-{len(self.tries)}")


def _approved(tag: str) -> Delivery:
    variant = web_variant(tag)
    approval = Ledger().record_approval(Approval(tag, {variant.forum: variant.content_hash}, "Mette Lund", "ref"))
    return Delivery(tag, variant, "website", approval.id)  # type: ignore[arg-type]


def _run(workdir: Path, monkeypatch: pytest.MonkeyPatch, permanent: bool) -> tuple[Delivery, str, list[str]]:
    """One flow run that delivers one variant through the lane task (delays shortened): the delivery, the
    outcome's state, and the states the task went through."""
    from prefect import flow, get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from budbringer.flows.executor import Lane, deliver_lane

    FlakyChannel.tries, FlakyChannel.permanent = [], permanent
    channel = FlakyChannel.from_config("website", {}, os.environ)
    run = runtime.Runtime(runtime.Settings.read(memory_plan(workdir)), REGISTRY, channels={"website": channel})
    quick = deliver_lane.with_options(retry_delay_seconds=[0.1, 0.1])  # the count and the condition stay

    @flow(name="retry-probe")
    def probe(delivery: Delivery) -> str:
        lane = Lane("external", "website", [delivery], 1)
        state = quick(lane, run, return_state=True)
        return lane.outcome(delivery, "" if state.is_completed() else "the task gave up").state

    delivery = _approved(f"retry-{uuid.uuid4().hex[:8]}")
    state = probe(delivery, return_state=True)
    with get_client(sync_client=True) as client:
        [task_run] = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[
            state.state_details.flow_run_id])))
        history = [s.name for s in client.read_task_run_states(task_run.id)]
    return delivery, state.result(), history


def test_the_delivery_task_keeps_its_retry_policy() -> None:
    from budbringer.flows.executor import deliver_lane

    assert (deliver_lane.retries, deliver_lane.retry_delay_seconds) == (2, [10, 60])
    assert deliver_lane.retry_condition_fn is not None


@pytest.mark.mechanism("retries")  # kept in plain pytest: Prefect retries a transient failure of the task
def test_a_transient_failure_is_retried_by_prefect_and_delivered_once(
        prefect_api: None, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    delivery, result, history = _run(workdir, monkeypatch, permanent=False)

    assert result == "delivered"
    assert FlakyChannel.tries == [delivery.key, delivery.key]  # the same delivery, tried again by Prefect
    assert "AwaitingRetry" in history and history[-1] == "Completed", history
    record = Ledger().record(delivery.key)
    assert record is not None and record.state == State.DELIVERED and record.attempts == 2

    # A permanent failure is not retried: one try, recorded as failed.
    delivery, result, history = _run(workdir, monkeypatch, permanent=True)
    assert result == "failed" and FlakyChannel.tries == [delivery.key]
    assert "AwaitingRetry" not in history, history
    record = Ledger().record(delivery.key)
    assert record is not None and record.state == State.FAILED and record.attempts == 1


class MixedChannel(FlakyChannel):
    """Per delivery: the first fails transiently once, the second fails for good, the rest deliver."""

    type: ClassVar[str] = "mixed"
    transient_once: ClassVar[str] = ""
    refused: ClassVar[str] = ""

    def deliver(self, delivery: Delivery) -> Receipt:
        self.tries.append(delivery.key)
        if delivery.key == self.transient_once and self.tries.count(delivery.key) == 1:
            raise TransientDeliveryError(self.name, delivery.forum, "the receiver answered 503", "try again later")
        if delivery.key == self.refused:
            raise PermanentDeliveryError(self.name, delivery.forum, "the receiver answered 400", "fix the text")
        return Receipt("mixed", f"mixed-{len(self.tries)}")


@pytest.mark.mechanism("retries")  # kept in plain pytest: a lane's retry takes only its transient failures
def test_a_lane_retries_only_its_transient_failures(prefect_api: None, workdir: Path) -> None:
    """One lane of four deliveries on one channel: one fails transiently once, one for good, two deliver. Prefect
    retries the lane's task once, and the retry tries only the transient one again: nothing is sent twice, the
    permanent failure is not tried again, and the outcomes are in the lane's order."""
    from prefect import flow, get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from budbringer.flows.executor import Lane, deliver_lane

    tag = uuid.uuid4().hex[:8]
    deliveries = [_approved(f"lane-{tag}-{n}") for n in range(4)]
    MixedChannel.tries = []
    MixedChannel.transient_once, MixedChannel.refused = deliveries[1].key, deliveries[2].key
    channel = MixedChannel.from_config("website", {}, os.environ)
    run = runtime.Runtime(runtime.Settings.read(memory_plan(workdir)), REGISTRY, channels={"website": channel})
    quick = deliver_lane.with_options(retry_delay_seconds=[0.1, 0.1])
    lane = Lane("external", "website", deliveries, 2)

    @flow(name="lane-retry-probe")
    def probe() -> list[str]:
        return [o.state for o in quick(lane, run)]

    state = probe(return_state=True)
    assert state.result() == ["delivered", "delivered", "failed", "delivered"]
    keys = [d.key for d in deliveries]
    assert sorted(MixedChannel.tries) == sorted([keys[0], keys[1], keys[1], keys[2], keys[3]])
    assert MixedChannel.tries[-1] == keys[1]  # the retry: the transient one alone
    with get_client(sync_client=True) as client:
        [task_run] = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[
            state.state_details.flow_run_id])))
        history = [s.name for s in client.read_task_run_states(task_run.id)]
    assert task_run.name == "deliver-external-website (4 fora)"
    assert history.count("AwaitingRetry") == 1 and history[-1] == "Completed", history
    records = {key: Ledger().record(key) for key in keys}
    assert [r.state if r else None for r in records.values()] == [State.DELIVERED, State.DELIVERED, State.FAILED,
                                                                   State.DELIVERED]
    assert [r.attempts if r else None for r in records.values()] == [1, 2, 1, 1]
