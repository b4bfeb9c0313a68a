"""The channel contract (`budbringer.channel.Adapter`), the same cases for every adapter type in the registry,
each against its real local server: Graph (mail, SharePoint news, and a newsletter over Graph mail), LinkedIn,
Meta (Facebook Page, Instagram) and the webhook receiver on local HTTPS (tests/servers/), SMTP on aiosmtpd over
TLS, the outbox in a tmp dir, and the memory channel in the process.

The cases: `deliver` returns a Receipt; when the answer of a successful delivery is lost (the ledger still has
the attempt open), the next delivery with the same key finds it by the channel's lookup and sends nothing (or
the receiver drops the duplicate, or the channel documents that it cannot be asked and the delivery is left
uncertain); `limits()` returns valid SharedLimits; the settings reject an unknown key; no secret shows in a repr.

Parametrized over `REGISTRY`: an adapter type added without a case here fails `test_every_adapter_type_has_a_case`
and each case below.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from budbringer import cascade
from budbringer import plan as plan_
from budbringer.adapters import memory
from budbringer.adapters.base import Adapter, ForumAddressing, SharedLimit
from budbringer.adapters.facebook_page import FacebookPageAdapter
from budbringer.adapters.graph_mail import GraphMailAdapter
from budbringer.adapters.instagram import InstagramAdapter
from budbringer.adapters.mailformat import HEADER
from budbringer.adapters.newsletter import NewsletterAdapter
from budbringer.adapters.registry import REGISTRY
from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger import Ledger, State
from budbringer.render import Variant
from tests.conftest import ROOT
from tests.servers.ports import free_port
from tests.servers.faults import (  # noqa: F401 - `servers` and `env` are fixtures
    CHANNELS,
    LINKEDIN_TOKEN,
    LOOKUP,
    RETRY,
    SITE,
    WEBHOOK_SECRET,
    Servers,
    _mails,
    _pages,
    _posts,
    _published,
    env,
    servers,
)
from tests.servers.graph import SENDER
from tests.servers.https import HTTPSServer
from tests.servers.meta import ACCOUNT, PAGE, MetaEmulator

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

META_TOKEN = "EAAG-contract-token-never-logged-77e1"
SMTP_USER, SMTP_PASSWORD_ENV, SMTP_PASSWORD = "budbringer", "BUDBRINGER_CONTRACT_SMTP_PASSWORD", "smtp-contract-9b2d4f"
META_FAST = {"attempts": 3, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 0.2,
             "connect_timeout": 2.0, "read_timeout": 0.5}
M365_PLAN = ROOT / "config" / "plan.m365.yaml"
FINDS, DEDUPES, CANNOT_ASK = "finds", "receiver drops the duplicate", "cannot be asked"


# The local servers no fixture of tests/servers starts for a whole module: Meta, and an SMTP relay -------------

@dataclass
class Relay:
    envelopes: list = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as 7QcT2Z"

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
              and auth_data.password == SMTP_PASSWORD.encode())
        return AuthResult(success=ok, handled=False)


@dataclass
class Local:
    """Every provider of the contract, up for the whole module."""

    https: Servers
    meta: HTTPSServer
    relay: Relay
    ca_file: Path


@pytest.fixture(scope="module")
def local(servers: Servers, ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    ca_file = tmp_path_factory.mktemp("contract-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    port = free_port()
    relay = Relay(port=port)
    controller = Controller(relay, hostname="127.0.0.1", port=port, ssl_context=context,
                            authenticator=relay.authenticate, auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        with HTTPSServer(MetaEmulator(META_TOKEN), ca) as meta:
            yield Local(servers, meta, relay, ca_file)
    finally:
        controller.stop()


@pytest.fixture
def world(local: Local, env: Servers, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Local:
    """The environment that points every channel at its local server, with fresh state for the test."""
    emulator = local.meta.emulator
    assert isinstance(emulator, MetaEmulator)
    emulator.reset()
    local.relay.envelopes.clear()
    monkeypatch.setenv("BUDBRINGER_META_URL", local.meta.url)
    monkeypatch.setenv("BUDBRINGER_META_PAGE_TOKEN", META_TOKEN)
    monkeypatch.setenv("BUDBRINGER_META_PAGE_ID", PAGE)
    monkeypatch.setenv("BUDBRINGER_META_IG_USER_ID", ACCOUNT)
    monkeypatch.setenv(SMTP_PASSWORD_ENV, SMTP_PASSWORD)
    return local


# One case per adapter type ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """How to build the channel from plan settings, the delivery it takes, how many copies its provider holds,
    what a lookup after a lost answer does, and the secrets it is given (which no repr may show)."""

    settings: Callable[[Local], dict[str, Any]]
    delivery: Callable[[str], Delivery]
    copies: Callable[[Local, Delivery], int]
    lookup: str
    secrets: Callable[[Local], list[str]]
    name: str = "channel"
    bind: Callable[[Adapter, Local], None] | None = None


def variant(medium: str, channel: str, tag: str, **extra: Any) -> Variant:
    text = f"Status på udbuddet ({tag}): vi er godt i gang."
    return Variant(forum=extra.pop("forum", "forum"), forum_title="Forum", tier="t", tier_index=1, phase="cascade",
                   medium=medium, channel=channel, template="x", stakeholder="employees", subject=f"Status {tag}",
                   body=text if medium == "post" else f"<p>{text}</p>",
                   body_format="text" if medium == "post" else "html", summary="Status.", link=None, **extra)


def mail(channel: str) -> Callable[[str], Delivery]:
    return lambda tag: Delivery(f"contract-{tag}", variant("mail", channel, tag,
                                                           recipients=("oc-kredsen@socialomraadet.example",)),
                                channel, approval_id=0)


def of(medium: str, channel: str, **extra: Any) -> Callable[[str], Delivery]:
    return lambda tag: Delivery(f"contract-{tag}", variant(medium, channel, tag, **extra), channel, approval_id=0)


def _outbox_copies(world: Local, d: Delivery) -> int:
    return sum(1 for p in Path("outbox").rglob("*") if p.is_file() and d.key in p.read_text(encoding="utf-8"))


def _smtp_copies(world: Local, d: Delivery) -> int:
    import email
    import email.policy

    return sum(1 for e in world.relay.envelopes
               if email.message_from_bytes(e.original_content, policy=email.policy.default)[HEADER] == d.key)


def _facebook_copies(world: Local, d: Delivery) -> int:
    return sum(1 for p in world.meta.emulator.page_posts() if d.message_id[9:] in p["message"])  # type: ignore[attr-defined]


def _instagram_copies(world: Local, d: Delivery) -> int:
    return sum(1 for m in world.meta.emulator.published_media() if d.message_id[9:] in m["caption"])  # type: ignore[attr-defined]


def _bind_newsletter(adapter: Adapter, world: Local) -> None:
    """A newsletter delivers over the plan's mail channel: Graph mail here, as in config/plan.m365.yaml."""
    transport = GraphMailAdapter.from_config("m365_mail", {"sender": SENDER, "retry": RETRY, "lookup": LOOKUP}, os.environ)
    adapter.bind(plan_.load(M365_PLAN), {"m365_mail": transport, adapter.name: adapter})


def _graph_secret(world: Local) -> list[str]:
    return [world.https.tenant.secret]


CASES: dict[str, Case] = {
    "outbox": Case(lambda w: {"path": "outbox"}, mail("outbox"), _outbox_copies, FINDS, lambda w: []),
    "memory": Case(lambda w: {}, mail("memory"),
                   lambda w, d: sum(1 for s in memory.SENT if s.key == d.key), FINDS, lambda w: []),
    "linkedin": Case(lambda w: {"retry": RETRY, "reconcile_delay": 0.0}, of("post", "linkedin"),
                     lambda w, d: _posts(w.https, d), FINDS, lambda w: [LINKEDIN_TOKEN]),
    "webhook": Case(lambda w: {"url_env": "BUDBRINGER_MATRIX_WEBHOOK_URL",
                               "secret_env": "BUDBRINGER_MATRIX_WEBHOOK_SECRET", "retry": RETRY},
                    of("web", "website"), lambda w, d: _published(w.https, d), DEDUPES,
                    lambda w: [WEBHOOK_SECRET]),
    "newsletter": Case(lambda w: {"transport": "m365_mail"},
                       of("submission", "m365_newsletter", forum="midtnyt",
                          recipients=("midtnyt-redaktion@regionmidtjylland.example",)),
                       lambda w, d: _mails(w.https, d), FINDS, _graph_secret, name="m365_newsletter",
                       bind=_bind_newsletter),
    "graph_mail": Case(lambda w: {"sender": SENDER, "retry": RETRY, "lookup": LOOKUP}, mail("mail"),
                       lambda w, d: _mails(w.https, d), FINDS, _graph_secret),
    "sharepoint_news": Case(lambda w: {"retry": RETRY, "confirm_after": 0.02}, of("page", "intranet", sites=(SITE,)),
                            lambda w, d: _pages(w.https, d), FINDS, _graph_secret),
    "smtp": Case(lambda w: {"host": "127.0.0.1", "port": w.relay.port, "security": "tls", "sender": SENDER,
                            "username": SMTP_USER, "password_env": SMTP_PASSWORD_ENV, "timeout": 5,
                            "ca_file": str(w.ca_file)},
                 mail("smtp_mail"), _smtp_copies, CANNOT_ASK, lambda w: [SMTP_PASSWORD]),
    "facebook_page": Case(lambda w: {"retry": META_FAST, "reconcile_delay": 0.0}, of("post", "facebook_api"),
                          _facebook_copies, FINDS, lambda w: [META_TOKEN]),
    "instagram": Case(lambda w: {"retry": META_FAST, "reconcile_delay": 0.0, "poll_interval": 0.01,
                                 "container_wait": 0.3},
                      of("post", "instagram_api", image_url="https://www.rm.dk/billeder/medarbejder-og-borger.jpg",
                         image_alt="En medarbejder og en borger taler sammen ved et køkkenbord."),
                      _instagram_copies, FINDS, lambda w: [META_TOKEN]),
}

TYPES = REGISTRY.names()


def case_of(type_name: str) -> Case:
    if type_name not in CASES:
        pytest.fail(f"adapter type {type_name!r} is in the registry but has no case in tests/test_channel_contract.py:"
                    " add one (its local server, a delivery, how to count copies, its lookup, its secrets)")
    return CASES[type_name]


def build(type_name: str, world: Local) -> tuple[Adapter, Case]:
    case = case_of(type_name)
    cls = REGISTRY.get(type_name)
    assert cls is not None
    adapter = cls.from_config(case.name, case.settings(world), os.environ)
    if case.bind is not None:
        case.bind(adapter, world)
    return adapter, case


def approved(ledger: Ledger, delivery: Delivery) -> Delivery:
    """The delivery under an approval recorded for exactly its content (as `cascade.deliver` requires)."""
    approval = ledger.record_approval(Approval(delivery.message_id, {delivery.forum: delivery.variant.content_hash},
                                               "Mette Lund", "Styregruppen, kontrakttest"))
    assert approval.id is not None
    return Delivery(delivery.message_id, delivery.variant, delivery.channel, approval.id)


# The cases ---------------------------------------------------------------------------------------------------

def test_every_adapter_type_has_a_case() -> None:
    assert sorted(CASES) == TYPES, "every adapter type in the registry needs a contract case, and no case more"


@pytest.mark.parametrize("type_name", TYPES)
def test_deliver_returns_a_receipt_and_a_lost_answer_is_found_not_sent_again(type_name: str, world: Local) -> None:
    adapter, case = build(type_name, world)
    ledger = Ledger()
    delivery = approved(ledger, case.delivery(type_name))
    try:
        with ledger.hold(delivery.key):
            record, owned = ledger.claim(delivery)
            assert owned and record.state == State.ATTEMPTING
            receipt = adapter.deliver(delivery)  # the provider took it; the answer never reaches the ledger
        assert isinstance(receipt, Receipt) and receipt.provider
        assert case.copies(world, delivery) == 1

        again = cascade.deliver(delivery, adapter, ledger)  # the same key, the next attempt

        if case.lookup == FINDS:
            assert again.state == "already delivered" and isinstance(again.receipt, Receipt)
            assert "found at the provider" in ledger.events(delivery.key)[-1][2]
        elif case.lookup == DEDUPES:
            assert adapter.find(delivery) is None  # it cannot be asked; sending again is safe
            assert again.state == "delivered"
        else:
            own = vars(type(adapter)).get("find")
            assert own is not None and (own.__doc__ or "").strip(), \
                f"{type_name} cannot look a delivery up: its find() must say so in its docstring"
            with pytest.raises(NotImplementedError):
                adapter.find(delivery)
            assert again.state == "uncertain" and ledger.record(delivery.key).state == State.UNCERTAIN  # type: ignore[union-attr]
        assert case.copies(world, delivery) == 1  # never a second copy
        if case.lookup != CANNOT_ASK:
            assert cascade.deliver(delivery, adapter, ledger).state == "already delivered"
            assert case.copies(world, delivery) == 1
    finally:
        adapter.close()


@pytest.mark.parametrize("type_name", TYPES)
def test_limits_are_valid_shared_limits_without_secrets(type_name: str, world: Local) -> None:
    adapter, case = build(type_name, world)
    delivery = case.delivery(type_name)
    limits = adapter.limits(delivery)
    assert isinstance(limits, list) and all(isinstance(limit, SharedLimit) for limit in limits)
    for limit in limits:
        assert re.fullmatch(r"budbringer-[a-z0-9][a-z0-9-]{0,100}", limit.name)
        assert limit.concurrency >= 1 and limit.weight >= 1 and (limit.per_minute is None or limit.per_minute >= 1)
        assert SharedLimit(limit.name, limit.concurrency, limit.per_minute, limit.weight) == limit
        assert not [s for s in case.secrets(world) if s in limit.name]
        assert "@" not in limit.name  # no address either
    if isinstance(adapter, NewsletterAdapter):  # a composite channel takes its transport's limits
        assert adapter.transport is not None
        assert limits == adapter.transport.limits(adapter.submission(delivery)[0]) != []


@pytest.mark.parametrize("type_name", TYPES)
def test_settings_reject_an_unknown_key(type_name: str, world: Local) -> None:
    case = case_of(type_name)
    cls = REGISTRY.get(type_name)
    assert cls is not None and cls.Settings.model_config.get("extra") == "forbid"
    with pytest.raises(ValidationError, match="unknown_setting"):
        cls.from_config(case.name, {**case.settings(world), "unknown_setting": 1}, os.environ)


@pytest.mark.parametrize("type_name", TYPES)
def test_no_secret_in_a_repr_before_or_after_delivering(type_name: str, world: Local) -> None:
    adapter, case = build(type_name, world)
    secrets = case.secrets(world)
    try:
        before = repr(adapter) + repr(adapter.settings)
        adapter.deliver(case.delivery(f"{type_name}-repr"))  # tokens fetched, connections open
        after = repr(adapter) + repr(adapter.settings) + str(vars(adapter.settings))
        assert adapter.name in before and type(adapter).__name__ in before
        assert not [s for s in secrets if s in before or s in after]
    finally:
        adapter.close()


@pytest.mark.parametrize("type_name", TYPES)
def test_declares_its_danish_label_and_its_forum_fields(type_name: str) -> None:
    """What the plan, the plan document and the web pages read from the registry, and nowhere else: the label
    (Danish, shown to authors and approvers) and the addressing model (every field described; unknown keys
    refused; an empty addressing asks nothing of a forum)."""
    cls = REGISTRY.get(type_name)
    assert cls is not None
    assert cls.label.strip() and cls.label != cls.type, f"{type_name}: give the channel a Danish `label`"
    assert REGISTRY.label(type_name) == cls.label
    assert issubclass(cls.Addressing, ForumAddressing)
    assert all(info.description for info in cls.Addressing.model_fields.values()), \
        f"{type_name}: describe every addressing field (docs/adding-a-channel.md)"
    assert not set(cls.Addressing.model_fields) & set(plan_.Forum.model_fields), \
        f"{type_name}: an addressing field may not shadow a field every forum has"
    with pytest.raises(ValidationError):
        cls.Addressing.model_validate({"not_a_field": 1})


def test_the_plan_document_labels_every_channel_from_the_registry() -> None:
    """Every channel type of the m365 plan shows with its adapter's label, none with its bare type name."""
    from budbringer.web import plan_document

    loaded = plan_.load(M365_PLAN, REGISTRY)
    document = plan_document.markdown_document(loaded)
    for channel in loaded.channels.values():
        assert REGISTRY.label(channel.type) in document
