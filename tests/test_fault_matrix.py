"""The fault matrix: every HTTPS channel × every fault, through `cascade.deliver` and a real ledger, against the
local HTTPS emulators (tests/servers). docs/exactly-once.md holds the same table with the reasons.

For each cell: the fault is put on the request that *acts* (sendMail, the page create, the post create, the
webhook POST); the first run must end in the expected state with the expected number of copies at the
provider (0 or 1, never 2); then the fault is gone and the next run must end with exactly one copy and the
ledger saying delivered — reconciling an uncertain delivery with the provider where it can be looked up, and
otherwise leaving it uncertain until the operator settles it (`Ledger.resolve`, as `budbringer resolve` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from budbringer.adapters import graph, graph_mail, sharepoint_news
from budbringer.adapters.base import Adapter
from budbringer.adapters.graph_mail import GraphMailAdapter
from budbringer.adapters.linkedin import LinkedInAdapter, little_text
from budbringer.adapters.sharepoint_news import SharePointNewsAdapter, page_name
from budbringer.adapters.webhook import WebhookAdapter
from budbringer import cascade
from budbringer.approval import Approval
from budbringer.delivery import Delivery
from budbringer.errors import TransientDeliveryError
from budbringer.ledger import Ledger, State
from budbringer.render import Variant
from tests.servers.graph import M365, SENDER, is_page_create, is_send_mail, m365
from tests.servers.https import Fault, HTTPSServer, Request
from tests.servers.linkedin import LinkedInEmulator
from tests.servers.webhook import WebhookReceiver

SITE = "socialomraadet.sharepoint.example/sites/intranet"
LINKEDIN_TOKEN = "AQX-matrix-token-never-logged-5d1e"
ORGANIZATION = "2414183"
WEBHOOK_SECRET = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
READ_TIMEOUT, HANG = 0.3, 0.6
RETRY = {"attempts": 3, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
         "connect_timeout": 2.0, "read_timeout": READ_TIMEOUT}
LOOKUP = {"enabled": True, "settle": 0.02, "checks": 2, "interval": 0.02, "resends": 3}

FAULTS: dict[str, Callable[[Callable[[Request], bool]], Fault]] = {
    "429 Retry-After": lambda m: Fault("status", m, 429, {"Retry-After": "1"}),
    "429": lambda m: Fault("status", m, 429),
    "503 burst": lambda m: Fault("status", m, 503, times=3),
    "timeout before acting": lambda m: Fault("hang_before", m, seconds=HANG),
    "timeout after acting": lambda m: Fault("hang_after", m, seconds=HANG),
    "reset before acting": lambda m: Fault("reset_before", m),
    "reset after acting": lambda m: Fault("reset_after", m),
    "202 Retry-After": lambda m: Fault("status_after", m, 202, {"Retry-After": "5"}),
    "401": lambda m: Fault("status", m, 401, body={"error": {"code": "InvalidAuthenticationToken",
                                                             "message": "Access token has expired."},
                                                   "status": 401, "code": "EXPIRED_ACCESS_TOKEN",
                                                   "message": "The token used in the request has expired"}),
    "400": lambda m: Fault("status", m, 400, body={"error": {"code": "BadRequest", "message": "bad body"},
                                                   "status": 400, "code": "ILLEGAL_ARGUMENT",
                                                   "message": "bad body"}),
}

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


@dataclass
class Servers:
    tenant: M365
    linkedin: HTTPSServer
    webhook: HTTPSServer


@pytest.fixture(scope="module")
def servers(ca) -> Iterator[Servers]:
    graph.forget_tokens()
    with m365(ca, sites=(SITE,)) as tenant, \
            HTTPSServer(LinkedInEmulator(LINKEDIN_TOKEN, ORGANIZATION), ca) as linkedin, \
            HTTPSServer(WebhookReceiver(WEBHOOK_SECRET), ca) as webhook:
        yield Servers(tenant, linkedin, webhook)
    graph.forget_tokens()


@pytest.fixture
def env(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Servers:
    for name, value in servers.tenant.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_URL", servers.linkedin.url)
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN", LINKEDIN_TOKEN)
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_ORGANIZATION", ORGANIZATION)
    monkeypatch.delenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", raising=False)
    monkeypatch.setenv("BUDBRINGER_MATRIX_WEBHOOK_URL", servers.webhook.url + "/intake/budbringer")
    monkeypatch.setenv("BUDBRINGER_MATRIX_WEBHOOK_SECRET", WEBHOOK_SECRET)
    for emulator in (servers.tenant.graph, servers.linkedin.emulator, servers.webhook.emulator):
        with emulator.lock:
            emulator.faults.clear()
    graph_mail.forget_process_state()
    sharepoint_news.forget_sites()
    return servers


@dataclass
class Channel:
    """One column of the matrix: how to build the adapter, which request acts, how to count copies."""

    adapter: Callable[[], Adapter]
    medium: str
    acts: Callable[[Request], bool]
    copies: Callable[[Servers, Delivery], int]


def _mails(s: Servers, d: Delivery) -> int:
    return sum(1 for m in s.tenant.graph.sent(SENDER) if m.header(graph_mail.HEADER) == d.key)


def _pages(s: Servers, d: Delivery) -> int:
    return sum(1 for p in s.tenant.graph.site(SITE).pages.values() if p["name"] == page_name(d))


def _posts(s: Servers, d: Delivery) -> int:
    commentary = little_text(d.variant.body.strip())
    return sum(1 for p in s.linkedin.emulator.created() if p["commentary"] == commentary)  # type: ignore[attr-defined]


def _published(s: Servers, d: Delivery) -> int:
    return sum(1 for p in s.webhook.emulator.published if p["delivery_key"] == d.key)  # type: ignore[attr-defined]


def _is_post(request: Request) -> bool:
    return request.method == "POST"


def _webhook(dedupes: bool) -> Callable[[], Adapter]:
    return lambda: WebhookAdapter.from_config("website", {
        "url_env": "BUDBRINGER_MATRIX_WEBHOOK_URL", "secret_env": "BUDBRINGER_MATRIX_WEBHOOK_SECRET",
        "receiver_dedupes": dedupes, "retry": RETRY})


CHANNELS: dict[str, Channel] = {
    "graph_mail": Channel(lambda: GraphMailAdapter.from_config("mail", {"sender": SENDER, "retry": RETRY,
                                                                         "lookup": LOOKUP}),
                          "mail", is_send_mail, _mails),
    "graph_mail, no lookup": Channel(lambda: GraphMailAdapter.from_config("mail", {"sender": SENDER,
                                                                                    "retry": RETRY}),
                                     "mail", is_send_mail, _mails),
    "sharepoint_news": Channel(lambda: SharePointNewsAdapter.from_config("intranet", {"retry": RETRY,
                                                                                      "confirm_after": 0.02}),
                               "page", is_page_create, _pages),
    "linkedin": Channel(lambda: LinkedInAdapter.from_config("linkedin", {"retry": RETRY, "reconcile_delay": 0.0}),
                        "post", lambda r: r.method == "POST" and r.path == "/rest/posts", _posts),
    "webhook": Channel(_webhook(True), "web", _is_post, _published),
    "webhook, no dedupe": Channel(_webhook(False), "web", _is_post, _published),
}


def _delivery(channel: str, fault: str) -> Delivery:
    tag = f"{channel}/{fault}"
    medium = CHANNELS[channel].medium
    body = (f"Status på udbuddet ({tag}): vi er godt i gang." if medium == "post"
            else f"<p>Status på udbuddet ({tag}): vi er godt i gang.</p>")
    variant = Variant(forum="forum", forum_title="Forum", tier="t", tier_index=1, phase="cascade", medium=medium,
                      channel=channel, template="x", stakeholder="employees", subject=f"Status {tag}", body=body,
                      body_format="text" if medium == "post" else "html", summary="Status.", link=None,
                      recipients=("oc-kredsen@socialomraadet.example",) if medium == "mail" else (),
                      sites=(SITE,) if medium == "page" else ())
    message_id = "fm-" + "".join(c if c.isalnum() else "-" for c in tag)
    return Delivery(message_id, variant, channel, approval_id=0)


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
    graph_mail.forget_process_state()
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
