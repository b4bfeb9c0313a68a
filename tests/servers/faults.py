"""The HTTPS providers and channels of the fault matrix (tests/test_fault_matrix.py), shared with the security
tests: the local emulators for a module, the environment that points the channels at them, one column per
channel (how to build it, which request acts, how to count the copies a provider holds) and the faults."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from budbringer.adapters import graph, graph_mail
from budbringer.adapters.base import Adapter
from budbringer.adapters.graph_mail import GraphMailAdapter
from budbringer.adapters.linkedin import LinkedInAdapter, little_text
from budbringer.adapters.sharepoint_news import SharePointNewsAdapter, page_name
from budbringer.adapters.webhook import WebhookAdapter
from budbringer.delivery import Delivery
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

@dataclass
class Servers:
    tenant: M365
    linkedin: HTTPSServer
    webhook: HTTPSServer


@pytest.fixture(scope="module")
def servers(ca) -> Iterator[Servers]:
    with m365(ca, sites=(SITE,)) as tenant, \
            HTTPSServer(LinkedInEmulator(LINKEDIN_TOKEN, ORGANIZATION), ca) as linkedin, \
            HTTPSServer(WebhookReceiver(WEBHOOK_SECRET), ca) as webhook:
        yield Servers(tenant, linkedin, webhook)


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
        "receiver_dedupes": dedupes, "retry": RETRY}, os.environ)


CHANNELS: dict[str, Channel] = {
    "graph_mail": Channel(lambda: GraphMailAdapter.from_config("mail", {"sender": SENDER, "retry": RETRY,
                                                                         "lookup": LOOKUP}, os.environ),
                          "mail", is_send_mail, _mails),
    "graph_mail, no lookup": Channel(lambda: GraphMailAdapter.from_config("mail", {"sender": SENDER,
                                                                                    "retry": RETRY}, os.environ),
                                     "mail", is_send_mail, _mails),
    "sharepoint_news": Channel(lambda: SharePointNewsAdapter.from_config("intranet", {"retry": RETRY,
                                                                                      "confirm_after": 0.02}, os.environ),
                               "page", is_page_create, _pages),
    "linkedin": Channel(lambda: LinkedInAdapter.from_config("linkedin", {"retry": RETRY, "reconcile_delay": 0.0}, os.environ),
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
