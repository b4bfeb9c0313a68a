"""The webhook channel against the receiver documented in docs/webhook.md, over real HTTPS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator

import pytest
import requests
from pydantic import ValidationError

from budbringer.adapters.webhook import WebhookAdapter
from budbringer.delivery import Delivery
from budbringer.errors import PermanentDeliveryError, UncertainDeliveryError
from budbringer.render import Variant
from tests.servers.https import Fault, HTTPSServer
from tests.servers.waiting import wait_until
from tests.servers.webhook import Headers, WebhookReceiver

SECRET = "4f1c0d2b9e8a7f6c5d4e3b2a19081726354f6e7d8c9b0a1f2e3d4c5b6a798081"
URL_ENV, SECRET_ENV = "BUDBRINGER_TEST_WEBHOOK_URL", "BUDBRINGER_TEST_WEBHOOK_SECRET"
FAST = {"attempts": 3, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 0.1,
        "connect_timeout": 2.0, "read_timeout": 0.4}


def web_variant(title: str = "Status på udbuddet", body: str = "<p>Vi er godt i gang.</p>\n") -> Variant:
    return Variant(forum="website", forum_title="Socialområdets hjemmeside", tier="external", tier_index=4,
                   phase="publish", medium="web", channel="website_webhook", template="website_news.html.j2",
                   stakeholder="citizens", subject=title, body=body, body_format="html",
                   summary="Vi er i gang med at finde et nyt, fælles it-system.",
                   link="https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/")


def delivery(**variant: str) -> Delivery:
    return Delivery("2026-11-status-udbud", web_variant(**variant), "website_webhook", approval_id=1)


@pytest.fixture(scope="module")
def server(ca) -> Iterator[HTTPSServer]:
    with HTTPSServer(WebhookReceiver(SECRET), ca) as running:
        yield running


@pytest.fixture
def receiver(server: HTTPSServer, monkeypatch: pytest.MonkeyPatch) -> WebhookReceiver:
    return server.fresh(WebhookReceiver, monkeypatch, {URL_ENV: server.url + "/intake/budbringer", SECRET_ENV: SECRET})


def adapter(**settings: object) -> WebhookAdapter:
    channel = WebhookAdapter.from_config("website_webhook",
                                         {"url_env": URL_ENV, "secret_env": SECRET_ENV, "retry": FAST, **settings}, os.environ)
    assert isinstance(channel, WebhookAdapter)
    return channel


def test_delivers_signed_json_that_the_documented_receiver_accepts(receiver: WebhookReceiver) -> None:
    item = delivery()
    receipt = adapter().deliver(item)

    [request] = receiver.received("POST")
    assert request.header("Content-Type") == "application/json; charset=utf-8"
    timestamp = request.header("X-Budbringer-Timestamp")
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.header("X-Budbringer-Signature") == f"sha256={expected}"
    assert request.header("X-Budbringer-Delivery") == item.key
    assert json.loads(request.body) == {
        "delivery_key": item.key,
        "message_id": "2026-11-status-udbud",
        "forum": "website",
        "title": "Status på udbuddet",
        "summary": "Vi er i gang med at finde et nyt, fælles it-system.",
        "html": "<p>Vi er godt i gang.</p>\n",
        "link": "https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/",
        "content_hash": item.variant.content_hash,
    }
    assert receiver.answers == [(201, {"id": "page-1", "url": "https://www.socialomraadet.example/nyheder/page-1"})]
    assert (receipt.provider, receipt.provider_id, receipt.url) == (
        "webhook", "page-1", "https://www.socialomraadet.example/nyheder/page-1")
    assert [p["delivery_key"] for p in receiver.published] == [item.key]


def test_the_documented_receiver_refuses_forged_altered_and_replayed_requests(receiver: WebhookReceiver) -> None:
    adapter().deliver(delivery())
    [sent] = receiver.received("POST")
    verify, rejected = receiver.doc["verify"], receiver.doc["Rejected"]
    headers = Headers(sent.headers)
    stamp = int(headers.get("X-Budbringer-Timestamp"))

    assert verify(headers, sent.body, SECRET.encode(), now=stamp + 10)["title"] == "Status på udbuddet"
    altered = sent.body.replace("godt i gang".encode(), "færdige".encode())
    cases = {
        "altered body": (headers, altered, SECRET.encode(), stamp),
        "wrong secret": (headers, sent.body, b"another secret", stamp),
        "replayed after the window": (headers, sent.body, SECRET.encode(), stamp + 301),
        "no timestamp": (Headers({k: v for k, v in sent.headers.items() if "Timestamp" not in k}), sent.body,
                         SECRET.encode(), stamp),
    }
    for name, (h, body, secret, now) in cases.items():
        with pytest.raises(rejected):
            verify(h, body, secret, now=now)
        assert name

    # The same request played again inside the window: the delivery key is known, nothing is published.
    replay = requests.post(os.environ[URL_ENV], data=sent.body, headers=dict(sent.headers), timeout=5)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert len(receiver.published) == 1


@pytest.mark.parametrize(("name", "fault", "answers"), [
    # the receiver did nothing and said 500: sent again, published once
    ("500", Fault("status", status=500, body={"error": "busy"}), [201]),
    # it published, then said 500: sent again, the receiver recognises the key
    ("500 after publishing", Fault("status_after", status=500), [201, 200]),
    # the answer would come too late: sent again; of the two copies the receiver publishes one
    ("timeout", Fault("delay", seconds=0.8), [201, 200]),
    ("503 with Retry-After", Fault("status", status=503, headers={"Retry-After": "0"}), [201]),
    ("429", Fault("status", status=429, headers={"Retry-After": "0"}), [201]),
])
def test_a_lost_answer_is_sent_again_and_published_once(receiver: WebhookReceiver, name: str, fault: Fault,
                                                        answers: list[int]) -> None:
    receiver.faults.append(fault)
    item = delivery(title=f"Status ({name})")
    receipt = adapter().deliver(item)

    assert [p["delivery_key"] for p in receiver.published] == [item.key]
    if name == "timeout":
        wait_until(lambda: len(receiver.answers) == 2, 3, "the receiver to answer the timed-out copy too")
    assert [status for status, _ in receiver.answers] == answers
    assert receipt.provider_id == "page-1"
    if name != "timeout":  # after a timeout, whichever copy the receiver takes first is the new one
        assert receipt.details["duplicate"] is (answers[-1] == 200)
    # every attempt is freshly signed and carries the same key
    assert {r.header("X-Budbringer-Delivery") for r in receiver.received("POST")} == {item.key}


def test_a_receiver_that_cannot_dedupe_leaves_a_lost_answer_uncertain(receiver: WebhookReceiver) -> None:
    receiver.faults.append(Fault("status_after", status=502))
    channel = adapter(receiver_dedupes=False)
    with pytest.raises(UncertainDeliveryError, match="HTTP 502"):
        channel.deliver(delivery())
    assert len(receiver.received("POST")) == 1  # not sent again
    with pytest.raises(NotImplementedError):
        channel.find(delivery())
    assert adapter().find(delivery()) is None  # with dedupe, sending again is the lookup


def test_a_wrong_secret_stops_with_the_fix(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    wrong = "0" * 64
    monkeypatch.setenv(SECRET_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    channel = adapter()
    with pytest.raises(PermanentDeliveryError) as raised:
        channel.deliver(delivery())
    assert "HTTP 401" in str(raised.value) and "same secret" in raised.value.fix
    assert len(receiver.received("POST")) == 1
    assert receiver.published == []
    shown = str(raised.value) + caplog.text + repr(channel)
    assert wrong not in shown and SECRET not in shown


def test_settings_and_preflight(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="https://"):
        WebhookAdapter.Settings.model_validate({"url": "http://cms.example/intake", "secret_env": SECRET_ENV})
    with pytest.raises(ValidationError, match="either `url` or `url_env`"):
        WebhookAdapter.Settings.model_validate({"secret_env": SECRET_ENV})
    with pytest.raises(ValidationError, match="secret"):
        WebhookAdapter.Settings.model_validate({"url": "https://cms.example/intake", "secret": "x"})

    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert [p.field for p in adapter().preflight()] == [URL_ENV, SECRET_ENV]
    monkeypatch.setenv(URL_ENV, "https://cms.example/intake")
    monkeypatch.setenv(SECRET_ENV, "kort")
    [short] = adapter().preflight()
    assert "shorter than 32" in short.what and "kort" not in str(short)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert adapter().preflight() == []
