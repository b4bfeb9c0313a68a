"""Provider limits hold across runs: Prefect global concurrency limits taken by the `deliver` task (a lane).

Two flow runs started at once (threads, each in a copy of the caller's context: Prefect's settings live in a
context variable) deliver two different messages over channels that share one limit of concurrency 1: the
deliveries never overlap, and the limits exist on the server with the declared values. Without a shared limit
the same two runs do overlap, so the setup really runs them side by side. Plus the names and values the Graph
mail and LinkedIn adapters declare, which must be stable and secret-free.
"""

from __future__ import annotations

import os
import contextvars
import hashlib
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest

from budbringer.adapters.base import Adapter, ChannelSettings, SharedLimit
from budbringer.adapters.graph_mail import GraphMailAdapter
from budbringer.adapters.linkedin import LinkedInAdapter
from budbringer import runtime
from budbringer.adapters.registry import REGISTRY
from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger import Ledger
from budbringer.render import Variant
from tests.conftest import memory_plan
from tests.servers.waiting import wait_until

HOLD = 1.0  # seconds each delivery takes


class TimedSettings(ChannelSettings):
    limit: str = ""
    per_minute: int | None = None


class TimedChannel(Adapter):
    """Like the memory channel, but slow, recording when each delivery started and ended."""

    type: ClassVar[str] = "timed"
    media: ClassVar[frozenset[str]] = frozenset({"web"})
    Settings = TimedSettings
    settings: TimedSettings
    spans: ClassVar[list[tuple[str, float, float]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        if not self.settings.limit:
            return []
        return [SharedLimit(self.settings.limit, 1, self.settings.per_minute)]

    def deliver(self, delivery: Delivery) -> Receipt:
        start = time.monotonic()
        time.sleep(HOLD)
        with self.lock:
            self.spans.append((delivery.message_id, start, time.monotonic()))
        return Receipt("timed", f"timed-{delivery.message_id}")


def _approved(tag: str) -> Delivery:
    variant = Variant(forum="website", forum_title="Hjemmesiden", tier="external", tier_index=4, phase="publish",
                      medium="web", channel="website", template="x", stakeholder="citizens",
                      subject=f"Status {tag}", body=f"<p>Status {tag}</p>", body_format="html", summary="Status.",
                      link=None)
    approval = Ledger().record_approval(Approval(tag, {variant.forum: variant.content_hash}, "Mette Lund", "ref"))
    return Delivery(tag, variant, "website", approval.id)  # type: ignore[arg-type]


def _two_runs_at_once(workdir: Path, settings: dict) -> list[tuple[str, float, float]]:
    """Two flow runs, started together, each delivering its own message over its own channel object."""
    from prefect import flow

    from budbringer.flows.executor import Lane, deliver_lane

    started = threading.Barrier(2, timeout=60)

    @flow(name="shared-limit-probe")
    def probe(delivery: Delivery) -> str:
        started.wait()  # both runs exist (creating a run against SQLite takes a while): deliver at once
        [outcome] = deliver_lane(Lane("external", "website", [delivery], 1), runs[delivery.message_id])
        return outcome.state

    plan = str(memory_plan(workdir))
    tag = uuid.uuid4().hex[:8]
    deliveries = [_approved(f"limit-{tag}-{n}") for n in (1, 2)]
    # Two runtimes, each with its own channel object, as two workers would have: only the server-side limit
    # is shared.
    runs = {d.message_id: runtime.Runtime(runtime.Settings.read(plan), REGISTRY,
                                          channels={"website": TimedChannel.from_config("website", settings, os.environ)})
            for d in deliveries}
    TimedChannel.spans.clear()
    states: list[str] = []
    errors: list[BaseException] = []

    def run(delivery: Delivery) -> None:
        try:
            states.append(probe(delivery))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run, d)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert states == ["delivered", "delivered"]
    assert len(TimedChannel.spans) == 2
    return sorted(TimedChannel.spans, key=lambda span: span[1])


@pytest.mark.mechanism("limits")  # kept in plain pytest: a global concurrency limit shared by two runs
def test_two_runs_sharing_a_limit_of_one_never_overlap(prefect_api: None, workdir: Path) -> None:
    name = f"budbringer-test-mailbox-{uuid.uuid4().hex[:12]}"
    first, second = _two_runs_at_once(workdir, {"limit": name, "per_minute": 30})

    assert first[2] <= second[1], f"the deliveries overlapped: {first} and {second}"

    from prefect import get_client

    with get_client(sync_client=True) as client:
        slots = client.read_global_concurrency_limit_by_name(name)
        rate = client.read_global_concurrency_limit_by_name(f"{name}-rate")
    assert (slots.limit, slots.slot_decay_per_second, slots.active_slots) == (1, 0.0, 0)  # released after
    assert (rate.limit, rate.slot_decay_per_second) == (15, pytest.approx(15 / 60))


def test_without_a_shared_limit_the_same_runs_overlap(prefect_api: None, workdir: Path) -> None:
    first, second = _two_runs_at_once(workdir, {})
    assert second[1] < first[2], "the two runs did not run side by side: the test above would prove nothing"


# -- the limits the adapters declare ---------------------------------------------------------------------------

def _delivery(recipients: int) -> Delivery:
    variant = Variant(forum="oc", forum_title="OC-kredsen", tier="oc", tier_index=1, phase="cascade", medium="mail",
                      channel="mail", template="x", stakeholder="management", subject="Status",
                      body="<p>Status</p>", body_format="html", summary="Status.", link=None,
                      recipients=tuple(f"person{n}@example.org" for n in range(recipients)))
    return Delivery("2026-11-status-udbud", variant, "mail", 1)  # type: ignore[arg-type]


def test_graph_mail_declares_the_sending_mailboxs_limits() -> None:
    channel = GraphMailAdapter.from_config("mail", {"sender": "Budbringer@Region.example"}, os.environ)
    limits = channel.limits(_delivery(3))
    digest = hashlib.sha256(b"budbringer@region.example").hexdigest()[:12]
    assert limits == [SharedLimit(f"budbringer-graph-mailbox-{digest}", 4, 30, weight=1)]
    assert "budbringer" in limits[0].name and "region" not in limits[0].name  # the address is not shown
    assert limits[0].rate() == (15, pytest.approx(15 / 60))  # at most 15 + 60 × 15/60 = 30 in any minute
    # The same mailbox spelt otherwise is the same limit; another mailbox is another.
    other_case = GraphMailAdapter.from_config("mail2", {"sender": "budbringer@region.EXAMPLE"}, os.environ)
    assert other_case.limits(_delivery(1))[0].name == limits[0].name
    other = GraphMailAdapter.from_config("mail3", {"sender": "nyhedsbrev@region.example"}, os.environ)
    assert other.limits(_delivery(1))[0].name != limits[0].name
    # A list longer than 500 goes out in parts: each part is one message of the 30 a minute.
    assert channel.limits(_delivery(1200))[0].weight == 3
    tuned = GraphMailAdapter.from_config("mail4", {"sender": "budbringer@region.example", "messages_per_minute": 12,
                                                   "concurrent_requests": 2}, os.environ)
    assert (tuned.limits(_delivery(1))[0].concurrency, tuned.limits(_delivery(1))[0].per_minute) == (2, 12)


def test_linkedin_declares_one_post_at_a_time_per_organisation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDBRINGER_LINKEDIN_ORGANIZATION", raising=False)
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN", "not-a-real-token")
    delivery = _delivery(0)
    assert LinkedInAdapter.from_config("li", {}, os.environ).limits(delivery) == []  # deliver() refuses it anyway
    assert LinkedInAdapter.from_config("li", {"organization": "urn:li:organization:2414183"}, os.environ).limits(delivery) == [
        SharedLimit("budbringer-linkedin-org-2414183", 1, None)]
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_ORGANIZATION", "2414183")
    limits = LinkedInAdapter.from_config("li", {}, os.environ).limits(delivery)
    assert limits == [SharedLimit("budbringer-linkedin-org-2414183", 1, None)]
    assert "not-a-real-token" not in repr(limits)
    assert limits[0].rate() is None


def test_a_shared_limit_refuses_bad_names_and_values() -> None:
    with pytest.raises(ValueError):
        SharedLimit("budbringer-mailbox-Budbringer@region.example", 4)
    with pytest.raises(ValueError):
        SharedLimit("budbringer-x", 0)
    assert SharedLimit("budbringer-x", 1, 1).rate() == (1, pytest.approx(0.5 / 60))  # at most 1 in any minute


# -- slots whose holder is gone (flows/limits.py; the whole story in tests/test_limits_after_crash.py) ----------

def test_free_orphans_frees_only_what_no_live_holder_accounts_for(prefect_api: None, caplog: pytest.LogCaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import json as json_

    from prefect import get_client

    from budbringer.flows import limit_records

    name = f"budbringer-test-orphans-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(logging.getLogger("budbringer.limits"), "handlers", [caplog.handler])  # whatever Prefect's
    # logging config did to propagation
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 4)
        client.increment_concurrency_slots([name], 3, "concurrency")  # 3 taken: by whom?
    folder = limit_records.records_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # A gone holder's record: nobody holds its lock (its process died); it accounts for nothing.
    gone = folder / f"{uuid.uuid4().hex}.json"
    gone.write_text(json_.dumps({"names": [name], "slots": 1, "pid": 999999}), encoding="utf-8")

    with limit_records.record([name], 1):  # one live holder (this process, lock held)
        freed = limit_records.free_orphans([name])
        with get_client(sync_client=True) as client:
            active = client.read_global_concurrency_limit_by_name(name).active_slots
        assert freed == {name: 2} and active == 1  # the live holder's slot stays taken
        assert not gone.exists()
        assert limit_records.free_orphans([name]) == {}  # nothing left to free: never twice
    # (the handler may see a record twice: its own and, when Prefect's config lets it propagate, the root's)
    [line] = {r.getMessage() for r in caplog.records if "held by a run that is gone" in r.getMessage()}
    assert line == f"{name}: freed 2 slots held by a run that is gone (killed before it released them); 1 held by live runs"
    assert all(name not in p.read_text() for p in folder.glob("*.json"))  # the live record went with its holder


def test_a_holder_that_dies_while_others_wait_is_found_by_the_waiting_run(
        prefect_api: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ephemeral mode's look while waiting: the holder's lock goes (its process died), its slot stays counted;
    the waiting delivery (which is no holder itself) frees it and goes on, well before any timeout."""
    from prefect import get_client

    from budbringer.flows import limit_records, limits

    monkeypatch.setattr(limits, "ephemeral", lambda: True)  # the harness has an API URL; the logic is the same
    monkeypatch.setattr(limits, "FIRST_LOOK_SECONDS", 0.5)
    monkeypatch.setattr(limits, "LOOK_SECONDS", 1.0)
    monkeypatch.setattr(logging.getLogger("budbringer.limits"), "handlers", [caplog.handler])
    name = f"budbringer-test-dies-{uuid.uuid4().hex[:12]}"
    channel = TimedChannel.from_config("website", {"limit": name}, os.environ)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1)
        client.increment_concurrency_slots([name], 1, "concurrency")  # the other run's slot ...
    holder = limit_records.record([name], 1)  # ... and its record, locked while it lives
    holder.__enter__()
    got = threading.Event()

    def deliver() -> None:
        with limits.hold(channel, _delivery(1)):
            got.set()

    thread = threading.Thread(target=contextvars.copy_context().run, args=(deliver,), daemon=True)
    thread.start()
    wait_until(lambda: any("waits for" in r.getMessage() for r in caplog.records), 30,
               "the delivery to say what it waits for", interval=0.1)
    assert not got.is_set()  # the other run is alive: its slot is its own
    [waiting] = {r.getMessage() for r in caplog.records if "waits for" in r.getMessage()}
    assert f"{name} 1 of 1 (live holders on this machine: this run;" in waiting  # the test is that holder

    holder.__exit__(None, None, None)  # the holder goes without releasing its slot, as a killed run would
    assert got.wait(30), "the waiting delivery did not free the gone holder's slot"
    thread.join(10)
    freed = {r.getMessage() for r in caplog.records if "held by a run that is gone" in r.getMessage()}
    assert freed == {f"{name}: freed 1 slot held by a run that is gone (killed before it released them); "
                     "0 held by live runs"}
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0  # released after


class QuickLimited(TimedChannel):
    """A channel with a mailbox-like limit (2 at a time, a per-minute rate), delivering at once."""

    type: ClassVar[str] = "quick-limited"

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        return [SharedLimit(self.settings.limit, 2, 1000)]

    def deliver(self, delivery: Delivery) -> Receipt:
        return Receipt("quick", f"quick-{delivery.message_id}")


def test_a_lane_takes_its_limits_once_not_per_delivery(prefect_api: None, workdir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Five deliveries in one lane (bound 4): one slot request for 2 slots (the limit's size) under one lease, one
    rate request for the five places (within the burst), and every slot released after."""
    from prefect import flow, get_client

    from budbringer.flows import limits
    from budbringer.flows.executor import Lane, deliver_lane

    slot_requests: list[int] = []
    rate_requests: list[int] = []
    take, take_rate = limits._take, limits._take_rate
    monkeypatch.setattr(limits, "_take", lambda client, names, started, record, slots=1: (
        slot_requests.append(slots), take(client, names, started, record, slots))[1])
    monkeypatch.setattr(limits, "_take_rate", lambda name, slots: (rate_requests.append(slots),
                                                                   take_rate(name, slots))[1])
    name = f"budbringer-test-lane-{uuid.uuid4().hex[:12]}"
    channel = QuickLimited.from_config("website", {"limit": name}, os.environ)
    run = runtime.Runtime(runtime.Settings.read(memory_plan(workdir)), REGISTRY, channels={"website": channel})
    tag = uuid.uuid4().hex[:8]
    lane = Lane("external", "website", [_approved(f"lane-limits-{tag}-{n}") for n in range(5)], 4)

    @flow(name="lane-limits-probe")
    def probe() -> list[str]:
        return [o.state for o in deliver_lane(lane, run)]

    assert probe() == ["delivered"] * 5
    assert slot_requests == [2] and rate_requests == [5]
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0
