"""The graph_mail adapter against a local Graph and sign-in emulator (real HTTPS on 127.0.0.1, trustme CA).

Assertions are on what the servers received: request bodies, headers, counts, and the mails in the mailbox.
"""

from __future__ import annotations

import os
import datetime as dt
import email.utils
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
import requests

from budbringer.adapters import graph, http
from budbringer.adapters.graph_mail import (
    HEADER,
    PROPERTY_ID,
    GraphMailAdapter,
    sendmail_body,
)
from budbringer.delivery import Delivery
from budbringer.errors import PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from budbringer.render import Variant
from tests.servers.graph import (
    M365,
    SENDER,
    Schema,
    certificate_pem,
    is_lookup,
    is_send_mail,
)
from tests.servers.https import Fault
from tests.servers.ports import free_port

FAST = {"attempts": 4, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
LOOKUP = {"enabled": True, "settle": 0.05, "checks": 3, "interval": 0.05, "resends": 3}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits adapters.http would sleep, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(http, "time", SimpleNamespace(sleep=recorded.append))
    return recorded


def adapter(name: str = "mail", **settings: object) -> GraphMailAdapter:
    config = {"sender": SENDER, "retry": FAST, **settings}
    return GraphMailAdapter.from_config(name, config, os.environ)  # type: ignore[return-value]


def one_run(*channels: GraphMailAdapter) -> None:
    """Bind the channels as one run's (`cascade.channels`) does: they share the sign-in and the mailbox limiter."""
    run = {channel.name: channel for channel in channels}
    for channel in channels:
        channel.bind(None, run)  # type: ignore[arg-type]  # graph_mail's bind reads no plan


def delivery(recipients: tuple[str, ...] = ("oc-kredsen@socialomraadet.example",), forum: str = "oc",
             message: str = "2026-11-status-udbud", body: str = "<p>Status: forarbejdet er færdigt.</p>") -> Delivery:
    variant = Variant(forum=forum, forum_title="OC-kredsen", tier="oc", tier_index=1, phase="cascade",
                      medium="mail", channel="mail", template="oc_briefing.html.j2", stakeholder="management",
                      subject="Status på udbuddet – november 2026", body=body, body_format="html",
                      summary="Forarbejdet er færdigt.", link=None, recipients=recipients)
    return Delivery(message, variant, "mail", approval_id=1)


def addresses(count: int) -> tuple[str, ...]:
    return tuple(f"medarbejder{i:04d}@socialomraadet.example" for i in range(count))


# the happy path ----------------------------------------------------------------------------------------------

def test_one_send_mail_with_the_documented_body(tenant: M365) -> None:
    item = delivery(("oc-kredsen@socialomraadet.example", "hmu@socialomraadet.example"))
    receipt = adapter().deliver(item)

    [request] = tenant.graph.send_requests()
    assert request.path == f"/v1.0/users/{SENDER}/sendMail"
    token = request.header("Authorization").removeprefix("Bearer ")
    assert token in tenant.login.tokens
    assert request.header("client-request-id")
    body = request.json()
    assert body == {
        "message": {
            "subject": "Status på udbuddet – november 2026",
            "body": {"contentType": "HTML", "content": "<p>Status: forarbejdet er færdigt.</p>"},
            "toRecipients": [{"emailAddress": {"address": "oc-kredsen@socialomraadet.example"}},
                             {"emailAddress": {"address": "hmu@socialomraadet.example"}}],
            "internetMessageHeaders": [{"name": "x-budbringer-delivery", "value": item.key}],
            "singleValueExtendedProperties": [{"id": PROPERTY_ID, "value": item.key}],
        },
        "saveToSentItems": True,
    }
    assert Schema().action("sendMail@graph.user", body) == []
    [mail] = tenant.graph.sent(SENDER)
    assert mail.header(HEADER) == item.key and mail.recipients() == ["oc-kredsen@socialomraadet.example",
                                                                    "hmu@socialomraadet.example"]
    assert receipt.provider == "graph_mail" and receipt.provider_id
    assert receipt.details["recipients"] == 2 and receipt.details["parts"][0]["sends"] == 1


def test_one_token_per_run_for_every_delivery_and_channel(tenant: M365) -> None:
    first, second = adapter("mail"), adapter("approval_mail")
    one_run(first, second)
    for number in range(3):
        first.deliver(delivery(message=f"m{number}"))
    second.deliver(delivery(message="m9"))
    assert len(tenant.graph.send_requests()) == 4
    assert len(tenant.login.token_requests()) == 1
    discovery = [r for r in tenant.login.received("GET") if r.path.endswith("openid-configuration")]
    assert len(discovery) == 1
    token_form = parse_qs(tenant.login.token_requests()[0].body.decode())
    assert token_form["grant_type"] == ["client_credentials"]
    assert token_form["scope"] == ["https://graph.microsoft.com/.default"]


def test_more_than_500_recipients_go_in_parts(tenant: M365) -> None:
    item = delivery(addresses(1201))
    receipt = adapter().deliver(item)

    requests_ = tenant.graph.send_requests()
    assert [len(r.json()["message"]["toRecipients"]) for r in requests_] == [500, 500, 201]
    headers = [{h["name"]: h["value"] for h in r.json()["message"]["internetMessageHeaders"]} for r in requests_]
    assert [h["x-budbringer-part"] for h in headers] == ["1/3", "2/3", "3/3"]
    assert all(h["x-budbringer-delivery"] == item.key for h in headers)
    keys = [r.json()["message"]["singleValueExtendedProperties"][0]["value"] for r in requests_]
    assert keys == [f"{item.key}#1/3", f"{item.key}#2/3", f"{item.key}#3/3"]
    sent = tenant.graph.sent(SENDER)
    assert sorted(a for m in sent for a in m.recipients()) == sorted(addresses(1201))
    assert receipt.details["recipients"] == 1201 and len(receipt.details["parts"]) == 3


def test_certificate_credential(tenant: M365, ca, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, certificate = certificate_pem(ca, tmp_path)
    tenant.app.secret = None
    tenant.app.certificate_pem = certificate
    monkeypatch.delenv(graph.ENV_SECRET)
    monkeypatch.setenv(graph.ENV_CERT, str(path))

    adapter().deliver(delivery())

    form = parse_qs(tenant.login.token_requests()[0].body.decode())
    assert "client_secret" not in form
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert len(tenant.graph.sent(SENDER)) == 1


# faults --------------------------------------------------------------------------------------------------------

def _http_date(seconds: float) -> str:
    return email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds), usegmt=True)


CASES = [
    # id, faults on sendMail, settings, expected outcome, sendMail requests seen, mails in the mailbox
    # A 429 on sendMail has been seen where the mail went out: looked up (or uncertain), never blindly re-sent.
    ("429-retry-after-seconds", [Fault("status", is_send_mail, 429, {"Retry-After": "7"})], {"lookup": LOOKUP},
     "delivered", 2, 1),
    ("429-retry-after-date", [Fault("status", is_send_mail, 429, {"Retry-After": _http_date(30)})],
     {"lookup": LOOKUP}, "delivered", 2, 1),
    ("429-but-sent", [Fault("status_after", is_send_mail, 429, {"Retry-After": "7"})], {"lookup": LOOKUP},
     "delivered", 1, 1),
    ("429-without-lookup", [Fault("status", is_send_mail, 429, {"Retry-After": "7"})], {}, UncertainDeliveryError,
     1, 0),
    ("503-burst-not-sent", [Fault("status", is_send_mail, 503, times=3)], {"lookup": LOOKUP}, "delivered", 4, 1),
    ("503-but-sent", [Fault("status_after", is_send_mail, 503)], {"lookup": LOOKUP}, "delivered", 1, 1),
    ("503-without-lookup", [Fault("status", is_send_mail, 503)], {}, UncertainDeliveryError, 1, 0),
    ("slow-answer", [Fault("delay", is_send_mail, seconds=0.6)],
     {"lookup": {**LOOKUP, "settle": 0.6}, "retry": {**FAST, "read_timeout": 0.2}}, "delivered", 1, 1),
    ("drop-before-acting", [Fault("drop_before", is_send_mail)], {"lookup": LOOKUP}, "delivered", 2, 1),
    ("drop-after-acting", [Fault("drop_after", is_send_mail)], {"lookup": LOOKUP}, "delivered", 1, 1),
    ("drop-after-acting-without-lookup", [Fault("drop_after", is_send_mail)], {}, UncertainDeliveryError, 1, 1),
    ("401", [Fault("status", is_send_mail, 401, body={"error": {"code": "InvalidAuthenticationToken",
                                                                "message": "Access token has expired."}})],
     {"lookup": LOOKUP}, PermanentDeliveryError, 1, 0),
    ("429-for-ever", [Fault("status", is_send_mail, 429, {"Retry-After": "1"}, times=99)], {"lookup": LOOKUP},
     TransientDeliveryError, 4, 0),
    ("lookup-fails-too", [Fault("status", is_send_mail, 503), Fault("status", is_lookup, 403, times=99)],
     {"lookup": LOOKUP}, UncertainDeliveryError, 1, 0),
]


@pytest.mark.parametrize("faults,settings,expected,sends,mails",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_faults(tenant: M365, waits: list[float], faults: list[Fault], settings: dict, expected: object,
                sends: int, mails: int) -> None:
    tenant.graph.faults.extend(faults)
    item = delivery()
    if expected == "delivered":
        receipt = adapter(**settings).deliver(item)
        assert receipt.details["parts"][0]["key"] == item.key
    else:
        with pytest.raises(expected) as raised:  # type: ignore[call-overload]
            adapter(**settings).deliver(item)
        assert str(raised.value).startswith("mail → oc:")
    assert len(tenant.graph.send_requests()) == sends
    assert len(tenant.graph.sent(SENDER)) == mails
    assert all(r.json() == tenant.graph.send_requests()[0].json() for r in tenant.graph.send_requests())


def test_retry_after_is_honoured_in_seconds_and_as_a_date(tenant: M365, waits: list[float],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from budbringer.adapters import graph_mail

    slept: list[float] = []
    monkeypatch.setattr(graph_mail, "time", SimpleNamespace(sleep=slept.append, monotonic=time.monotonic))
    tenant.graph.faults.append(Fault("status", is_send_mail, 429, {"Retry-After": "7"}))
    tenant.graph.faults.append(Fault("status", is_send_mail, 429, {"Retry-After": _http_date(30)}))
    adapter(retry={**FAST, "max_retry_after": 120}, lookup=LOOKUP).deliver(delivery())
    # Each 429 is looked up first (settle 0.05 s, then 3 looks), then the rest of Retry-After is waited.
    resend_waits = [w for w in slept if w > 1]
    assert resend_waits[0] == pytest.approx(7.0 - LOOKUP["settle"])
    assert 27.5 <= resend_waits[1] <= 30.0
    assert len(tenant.graph.send_requests()) == 3 and len(tenant.graph.sent(SENDER)) == 1


def test_uncertain_without_lookup_says_how_to_settle_it(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status", is_send_mail, 503))
    item = delivery()
    with pytest.raises(UncertainDeliveryError) as raised:
        adapter().deliver(item)
    text = str(raised.value)
    assert "HTTP 503" in text and f"{HEADER}: {item.key}" in text and "lookup" in text


def test_a_mail_filed_late_is_still_found(tenant: M365) -> None:
    tenant.graph.filing_delay = 0.15
    tenant.graph.faults.append(Fault("status_after", is_send_mail, 503))
    receipt = adapter(lookup={**LOOKUP, "checks": 5}).deliver(delivery())
    assert len(tenant.graph.send_requests()) == 1
    assert receipt.details["parts"][0]["found"]["id"].startswith("AAMkAG")
    assert len([r for r in tenant.graph.requests if is_lookup(r)]) >= 2


def test_not_found_after_every_resend_is_transient(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status", is_send_mail, 503, times=99))
    with pytest.raises(TransientDeliveryError, match="sent 2 times and not found"):
        adapter(lookup={**LOOKUP, "resends": 1}).deliver(delivery())
    assert len(tenant.graph.send_requests()) == 2 and tenant.graph.sent(SENDER) == []


def test_the_lookup_is_filtered_by_the_server(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status_after", is_send_mail, 503))
    item = delivery()
    adapter(lookup=LOOKUP).deliver(item)
    lookup = next(r for r in tenant.graph.requests if is_lookup(r))
    assert lookup.path == f"/v1.0/users/{SENDER}/messages"
    assert lookup.query["$filter"] == [f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROPERTY_ID}' and "
                                       f"ep/value eq '{item.key}')"]


@pytest.mark.parametrize("status,roles,sender,fix", [
    (401, None, SENDER, "BUDBRINGER_GRAPH_TENANT_ID"),
    (403, {"Sites.ReadWrite.All"}, SENDER, "grant the application permission Mail.Send"),
    (404, None, "nobody@socialomraadet.example", "check `sender`"),
])
def test_refusals_name_the_channel_forum_code_and_fix(tenant: M365, status: int, roles: set | None, sender: str,
                                                      fix: str) -> None:
    mail = adapter(sender=sender)
    if status == 401:
        mail.graph.token("oc")  # msal keeps this token in its cache ...
        tenant.login.revoke()  # ... but Graph no longer accepts it
    if roles is not None:
        tenant.app.roles = roles
    with pytest.raises(PermanentDeliveryError) as raised:
        mail.deliver(delivery())
    error = raised.value
    assert (error.channel, error.forum) == ("mail", "oc")
    assert f"HTTP {status}" in error.reason
    code = {401: "InvalidAuthenticationToken", 403: "ErrorAccessDenied", 404: "ErrorInvalidUser"}[status]
    assert code in error.reason
    assert fix in error.fix
    assert tenant.graph.sent() == []


def test_graph_unreachable_is_transient_and_nothing_was_sent(tenant: M365, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(graph.ENV_GRAPH_URL, f"https://127.0.0.1:{port}/v1.0")
    with pytest.raises(TransientDeliveryError, match="nothing was delivered"):
        adapter().deliver(delivery())


def test_the_emulator_rejects_a_body_graph_would_reject(tenant: M365) -> None:
    token = adapter().graph.token("oc")
    body = sendmail_body(delivery(), ("a@socialomraadet.example",))
    body["message"]["bogus"] = True
    answer = requests.post(f"{tenant.graph_url}/users/{SENDER}/sendMail", json=body,
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == ("The property 'bogus' does not exist on type "
                                                 "'microsoft.graph.message'.")
    answer = requests.get(f"{tenant.graph_url}/users/{SENDER}/mailFolders", timeout=5,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest"


# a mail in parts, when a later part fails --------------------------------------------------------------------

def test_a_failed_later_part_never_reads_as_nothing_delivered(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status", lambda r: is_send_mail(r) and "2/2" in r.body.decode(), 400,
                                     body={"error": {"code": "ErrorInvalidRecipients", "message": "bad address"}}))
    with pytest.raises(UncertainDeliveryError, match="parts 1–1 of 2 were delivered; part 2 failed"):
        adapter(max_recipients=2).deliver(delivery(addresses(4)))
    assert len(tenant.graph.sent(SENDER)) == 1


def test_a_retry_sends_only_the_missing_parts(tenant: M365, waits: list[float]) -> None:
    tenant.graph.faults.append(Fault("status", lambda r: is_send_mail(r) and "2/2" in r.body.decode(), 429,
                                     {"Retry-After": "1"}, times=4))
    mail = adapter(max_recipients=2, lookup=LOOKUP)
    item = delivery(addresses(4))
    with pytest.raises(TransientDeliveryError, match="parts 1–1 of 2 were delivered"):
        mail.deliver(item)
    mail.deliver(item)  # as a Prefect task retry would, in the same process
    assert len(tenant.graph.sent(SENDER)) == 2

    # A new run (a new channel object: nothing remembered) finds the parts in the mailbox and sends nothing again.
    assert adapter(max_recipients=2, lookup=LOOKUP).find(item) is not None
    before = len(tenant.graph.send_requests())
    adapter(max_recipients=2, lookup=LOOKUP).deliver(item)
    assert len(tenant.graph.send_requests()) == before and len(tenant.graph.sent(SENDER)) == 2


def test_a_new_process_skips_the_parts_already_in_the_mailbox(tenant: M365) -> None:
    item = delivery(addresses(4))
    tenant.graph.faults.append(Fault("status", lambda r: is_send_mail(r) and "2/2" in r.body.decode(), 400,
                                     body={"error": {"code": "ErrorInvalidRecipients", "message": "bad"}}))
    with pytest.raises(UncertainDeliveryError):
        adapter(max_recipients=2, lookup=LOOKUP).deliver(item)
    assert adapter(max_recipients=2, lookup=LOOKUP).find(item) is None  # part 2 is missing
    adapter(max_recipients=2, lookup=LOOKUP).deliver(item)
    parts = [m.property(PROPERTY_ID) for m in tenant.graph.sent(SENDER)]
    assert parts == [f"{item.key}#1/2", f"{item.key}#2/2"]


# find() and preflight() ------------------------------------------------------------------------------------------

def test_find(tenant: M365) -> None:
    item = delivery()
    with pytest.raises(NotImplementedError):
        adapter().find(item)
    assert adapter(lookup=LOOKUP).find(item) is None
    adapter(lookup=LOOKUP).deliver(item)
    found = adapter(lookup=LOOKUP).find(item)
    assert found is not None and found.provider_id.endswith("@emulator.prod.outlook.com>")


def test_preflight_signs_in_and_checks_the_lookup(tenant: M365) -> None:
    assert adapter().preflight() == []
    assert adapter(lookup=LOOKUP).preflight() == []
    assert tenant.graph.send_requests() == []
    tenant.app.roles = {"Mail.Send"}
    [problem] = adapter(lookup=LOOKUP).preflight()
    assert problem.field == "lookup" and "Mail.Read" in problem.fix
    tenant.app.roles = {"Mail.Send", "Mail.Read"}
    [problem] = adapter(lookup=LOOKUP, sender="nobody@socialomraadet.example").preflight()
    assert "check `sender`" in problem.fix


def test_preflight_finds_a_wrong_secret_before_anything_is_sent(tenant: M365,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(graph.ENV_SECRET, "not-the-secret")
    [problem] = adapter().preflight()
    assert problem.file == "channels.mail" and problem.field == "credentials"
    assert "invalid_client" in problem.what and "AADSTS7000215" in problem.what
    assert graph.ENV_SECRET in problem.fix
    assert tenant.graph.requests == []


def test_preflight_names_every_missing_setting_without_network(tenant: M365,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (graph.ENV_TENANT, graph.ENV_CLIENT, graph.ENV_SECRET):
        monkeypatch.delenv(name)
    problems = adapter().preflight()
    assert [p.field for p in problems] == [graph.ENV_TENANT, graph.ENV_CLIENT, graph.ENV_SECRET]
    assert all(p.file == "environment" and "docs/microsoft365.md" in p.fix for p in problems)
    assert tenant.login.requests == [] and tenant.graph.requests == []


def test_preflight_unknown_tenant(tenant: M365, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(graph.ENV_TENANT, "00000000-0000-0000-0000-000000000000")
    [problem] = adapter().preflight()
    assert "AADSTS90002" in problem.what and graph.ENV_TENANT in problem.fix


def test_the_credentials_are_read_once_when_the_channel_is_built(tenant: M365,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mail = adapter()
    monkeypatch.setenv(graph.ENV_SECRET, "changed-" + tenant.secret)
    monkeypatch.delenv(graph.ENV_CLIENT)
    mail.deliver(delivery())  # signs in with what the environment said when the run built the channel
    assert len(tenant.graph.sent(SENDER)) == 1
    assert [p.field for p in adapter().preflight()] == [graph.ENV_CLIENT]  # a channel built now reads it anew
    assert len(tenant.login.token_requests()) == 1


# secrets ---------------------------------------------------------------------------------------------------------

def test_the_secret_and_the_token_never_show(tenant: M365, caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    mail = adapter(lookup=LOOKUP)
    texts.append(repr(mail))
    receipt = mail.deliver(delivery())
    texts.append(json.dumps(receipt.to_json()))
    credentials, _ = graph.GraphCredentials.from_env(os.environ)
    texts += [repr(credentials), str(credentials), repr(mail.graph.tokens)]
    tenant.graph.faults.append(Fault("status", is_send_mail, 503, times=99))
    with pytest.raises(TransientDeliveryError) as raised:
        adapter(lookup={**LOOKUP, "resends": 0}).deliver(delivery(message="m2"))
    texts.append(str(raised.value))
    monkeypatch.setenv(graph.ENV_SECRET, "wrong-" + tenant.secret)
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(delivery(message="m3"))
    refused = str(raised.value)
    texts.append(refused)
    texts += [str(p) for p in adapter().preflight()]
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    tokens = list(tenant.login.tokens)
    assert tokens and "invalid_client" in refused
    for text in texts:
        assert tenant.secret not in text
        assert all(token.split(".")[-1] not in text for token in tokens)
