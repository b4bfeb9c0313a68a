"""The fault matrix: every HTTPS channel × every fault, through `cascade.deliver` and a real ledger, against the
local HTTPS emulators (tests/servers). docs/exactly-once.md holds the same table with the reasons.

For each cell: the fault is put on the request that *acts* (sendMail, the page create, the post create, the
webhook POST); the first run must end in the expected state with the expected number of copies at the
provider (0 or 1, never 2); then the fault is gone and the next run must end with exactly one copy and the
ledger saying delivered — reconciling an uncertain delivery with the provider where it can be looked up, and
otherwise leaving it uncertain until the operator settles it (`Ledger.resolve`, as `budbringer resolve` does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from budbringer.adapters.base import Adapter
from budbringer.adapters.sharepoint_news import page_name
from budbringer import cascade
from budbringer.approval import Approval
from budbringer.delivery import Delivery
from budbringer.errors import TransientDeliveryError
from budbringer.ledger import Ledger, State
from tests.servers.faults import (  # noqa: F401 - env and servers are fixtures
    CHANNELS,
    FAULTS,
    SITE,
    Servers,
    _delivery,
    _is_post,
    env,
    servers,
)

D, T, P, U = "delivered", "failed-transient", "failed-permanent", "uncertain"
# adapter → fault → (state after the first run, copies at the provider after it). After an uncertain first
# run, the next run either reconciles by itself (the channel can be looked up) or the operator settles it.
EXPECTED: dict[str, dict[str, tuple[str, int]]] = {
    "graph_mail": {"429 Retry-After": (D, 1), "429": (D, 1), "503 burst": (D, 1), "timeout before acting": (D, 1),
                   "timeout after acting": (D, 1), "reset before acting": (D, 1), "reset after acting": (D, 1),
                   "202 Retry-After": (D, 1), "401": (P, 0), "400": (P, 0)},
    "graph_mail, no lookup": {"429 Retry-After": (U, 0), "429": (U, 0), "503 burst": (U, 0),
                              "timeout before acting": (U, 0), "timeout after acting": (U, 1),
                              "reset before acting": (U, 0), "reset after acting": (U, 1),
                              "202 Retry-After": (D, 1), "401": (P, 0), "400": (P, 0)},
    "sharepoint_news": {"429 Retry-After": (D, 1), "429": (D, 1), "503 burst": (T, 0),
                        "timeout before acting": (D, 1), "timeout after acting": (D, 1),
                        "reset before acting": (D, 1), "reset after acting": (D, 1), "202 Retry-After": (D, 1),
                        "401": (P, 0), "400": (P, 0)},
    "linkedin": {"429 Retry-After": (D, 1), "429": (D, 1), "503 burst": (U, 0), "timeout before acting": (D, 1),
                 "timeout after acting": (D, 1), "reset before acting": (D, 1), "reset after acting": (D, 1),
                 "202 Retry-After": (D, 1), "401": (P, 0), "400": (P, 0)},
    "webhook": {"429 Retry-After": (D, 1), "429": (D, 1), "503 burst": (T, 0), "timeout before acting": (D, 1),
                "timeout after acting": (D, 1), "reset before acting": (D, 1), "reset after acting": (D, 1),
                "202 Retry-After": (D, 1), "401": (P, 0), "400": (P, 0)},
    "webhook, no dedupe": {"429 Retry-After": (D, 1), "429": (D, 1), "503 burst": (U, 0),
                           "timeout before acting": (U, 0), "timeout after acting": (U, 1),
                           "reset before acting": (U, 0), "reset after acting": (U, 1), "202 Retry-After": (D, 1),
                           "401": (P, 0), "400": (P, 0)},
}
#: channels whose uncertain deliveries the next run settles by asking the provider
LOOKS_UP = {"graph_mail", "sharepoint_news", "linkedin", "webhook"}


def _run(delivery: Delivery, adapter: Adapter, ledger: Ledger) -> str:
    try:
        outcome = cascade.deliver(delivery, adapter, ledger)
    except TransientDeliveryError:
        return T
    return {"delivered": D, "already delivered": "already delivered", "failed": P, "uncertain": U}[outcome.state]


CELLS = [(channel, fault) for channel in EXPECTED for fault in FAULTS]


@pytest.mark.parametrize(("channel", "fault"), CELLS, ids=[f"{c}-{f}".replace(" ", "_") for c, f in CELLS])
def test_fault_matrix(env: Servers, tmp_path: Path, channel: str, fault: str) -> None:
    spec, (first_state, first_copies) = CHANNELS[channel], EXPECTED[channel][fault]
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    item = _delivery(channel, fault)
    approval = ledger.record_approval(Approval(item.message_id, {item.forum: item.variant.content_hash},
                                               "Mette Lund", "Styregruppemøde 2026-11-20, punkt 3"))
    item = Delivery(item.message_id, item.variant, item.channel, approval.id)  # type: ignore[arg-type]
    emulators: list[Any] = [env.tenant.graph, env.linkedin.emulator, env.webhook.emulator]
    target = env.tenant.graph if spec.medium in ("mail", "page") else (
        env.linkedin.emulator if spec.medium == "post" else env.webhook.emulator)
    injected = FAULTS[fault](spec.acts)
    planned = injected.times
    with target.lock:
        target.faults.append(injected)

    assert _run(item, spec.adapter(), ledger) == first_state
    assert injected.times < planned, "the fault was never injected"
    assert spec.copies(env, item) == first_copies
    record = ledger.record(item.key)
    assert record is not None
    assert record.state == {D: State.DELIVERED, T: State.FAILED, P: State.FAILED, U: State.UNCERTAIN}[first_state]

    # The next run, the fault gone (a later run, a Prefect retry, or the operator fixed a permanent cause).
    for emulator in emulators:
        with emulator.lock:
            emulator.faults.clear()
    second = _run(item, spec.adapter(), ledger)
    if first_state == D:
        assert second == "already delivered"
    elif first_state == U and channel not in LOOKS_UP:
        assert second == U  # never guessed: the operator checks the provider and settles it
        ledger.resolve(item.key, "sent" if first_copies else "resend", note=f"checked after {fault}")
        third = _run(item, spec.adapter(), ledger)
        assert third == ("already delivered" if first_copies else D)
    else:
        assert second == D
    assert spec.copies(env, item) == 1
    final = ledger.record(item.key)
    assert final is not None and final.state == State.DELIVERED
    if channel == "sharepoint_news":
        [page] = [p for p in env.tenant.graph.site(SITE).pages.values() if p["name"] == page_name(item)]
        assert page["publishingState"]["level"] == "published"


def test_resolve_refuses_what_is_not_uncertain_and_finds_short_keys(env: Servers, tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    item = _delivery("webhook, no dedupe", "resolve")
    approval = ledger.record_approval(Approval(item.message_id, {item.forum: item.variant.content_hash},
                                               "Mette Lund", "ref"))
    item = Delivery(item.message_id, item.variant, item.channel, approval.id)  # type: ignore[arg-type]
    env.webhook.emulator.faults.append(FAULTS["timeout after acting"](_is_post))
    assert _run(item, CHANNELS["webhook, no dedupe"].adapter(), ledger) == U
    assert ledger.find_key(item.short_key) == item.key
    assert ledger.find_key(item.short_key[:8]) == item.key
    with pytest.raises(ValueError, match="sent, resend"):
        ledger.resolve(item.key, "maybe")
    settled = ledger.resolve(item.key, "sent", note="seen on the website 10:42")
    assert settled.state == State.DELIVERED and settled.receipt is not None
    assert settled.receipt.details["settled_by_operator"] is True
    assert settled.receipt.details["note"] == "seen on the website 10:42"
    with pytest.raises(ValueError, match="not uncertain"):
        ledger.resolve(item.key, "resend")
    assert [state for _, state, _ in ledger.events(item.key)] == ["attempting", "uncertain", "delivered"]
