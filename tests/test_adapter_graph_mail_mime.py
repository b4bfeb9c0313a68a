"""graph_mail sends a notice with a written text (`Variant.text`) in MIME form: the same multipart/alternative
SMTP sends, base64-encoded with Content-Type: text/plain, found again after an unknown outcome by its
Message-ID (`internetMessageId`), as the extended property cannot ride along in MIME."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import os

import pytest

from budbringer.adapters.graph_mail import HEADER, GraphMailAdapter, mime_message_id
from budbringer.adapters.mailformat import build_mail
from budbringer.delivery import Delivery
from budbringer.errors import UncertainDeliveryError
from budbringer.render import Variant
from tests.servers.graph import M365, SENDER, is_lookup, is_send_mail
from tests.servers.https import Fault

FAST = {"attempts": 4, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
LOOKUP = {"enabled": True, "settle": 0.05, "checks": 3, "interval": 0.05, "resends": 3}
TEXT = "Kære Mette\n\nUdkastet »Nyt om vagtplanen« venter på din godkendelse senest torsdag kl. 12.\n"
HTML = "<p>Kære Mette</p><p>Udkastet <b>»Nyt om vagtplanen«</b> venter på din godkendelse senest torsdag kl. 12.</p>"


def adapter(**settings: object) -> GraphMailAdapter:
    return GraphMailAdapter.from_config("mail", {"sender": SENDER, "retry": FAST, **settings},  # type: ignore[return-value]
                                        os.environ)


def notice(recipients: tuple[str, ...] = ("mette.holm@socialomraadet.example",), text: str | None = TEXT) -> Delivery:
    variant = Variant(forum="godkender", forum_title="Godkender", tier="approval", tier_index=0, phase="approval",
                      medium="mail", channel="mail", template="approval_request.html.j2", stakeholder="approver",
                      subject="Til godkendelse: Nyt om vagtplanen", body=HTML, body_format="html",
                      summary="Venter på godkendelse.", link=None, recipients=recipients, text=text)
    return Delivery("2026-12-vagtplan", variant, "mail", approval_id=7)


def test_a_notice_with_text_goes_as_base64_mime_matching_smtps_mail(tenant: M365) -> None:
    item = notice()
    receipt = adapter().deliver(item)

    [request] = tenant.graph.send_requests()
    assert request.header("Content-Type") == "text/plain"
    mail = email.message_from_bytes(base64.b64decode(request.body, validate=True), policy=email.policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == TEXT  # MIME lines end in CRLF
    assert html.get_content().strip() == HTML
    assert mail["Message-ID"] == mime_message_id(item, SENDER) and mail[HEADER] == item.key
    # the parts are those SMTP sends (build_mail), apart from Date
    smtp = build_mail(item, SENDER, sent_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC), message_id=mail["Message-ID"])
    smtp = email.message_from_bytes(smtp.as_bytes(), policy=email.policy.default)  # as the relay receives it
    assert [p.get_content() for p in smtp.iter_parts()] == [p.get_content() for p in mail.iter_parts()]

    [stored] = tenant.graph.sent(SENDER)
    assert stored.recipients() == ["mette.holm@socialomraadet.example"]
    assert stored.message["subject"] == "Til godkendelse: Nyt om vagtplanen" and stored.header(HEADER) == item.key
    assert stored.internet_message_id == mail["Message-ID"]
    assert receipt.details["parts"][0]["sends"] == 1 and receipt.details["recipients"] == 1


def test_without_text_the_json_body_stays(tenant: M365) -> None:
    adapter().deliver(notice(text=None))
    [request] = tenant.graph.send_requests()
    assert request.json()["message"]["body"] == {"contentType": "HTML", "content": HTML}


def test_an_unknown_outcome_is_looked_up_by_message_id_and_not_sent_again(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status_after", is_send_mail, 503))
    item = notice()
    receipt = adapter(lookup=LOOKUP).deliver(item)
    assert len(tenant.graph.send_requests()) == 1 and len(tenant.graph.sent(SENDER)) == 1
    [look, *_] = [r for r in tenant.graph.requests if is_lookup(r)]
    assert look.query["$filter"] == [f"internetMessageId eq '{mime_message_id(item, SENDER)}'"]
    assert receipt.details["parts"][0]["found"]["internetMessageId"] == mime_message_id(item, SENDER)
    found = adapter(lookup=LOOKUP).find(item)
    assert found is not None and found.provider_id == mime_message_id(item, SENDER)


def test_an_unknown_outcome_that_did_not_send_sends_once_more(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status", is_send_mail, 503))
    adapter(lookup=LOOKUP).deliver(notice())
    assert len(tenant.graph.send_requests()) == 2 and len(tenant.graph.sent(SENDER)) == 1


def test_without_lookup_an_unknown_outcome_is_left_uncertain(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status_after", is_send_mail, 503))
    with pytest.raises(UncertainDeliveryError, match="HTTP 503"):
        adapter().deliver(notice())


def test_parts_have_their_own_message_ids_and_a_new_run_skips_the_sent_part(tenant: M365) -> None:
    people = tuple(f"leder{i}@socialomraadet.example" for i in range(3))
    item = notice(people)
    tenant.graph.faults.append(Fault("status", lambda r: is_send_mail(r) and b"2/2" in base64.b64decode(r.body),
                                     400, body={"error": {"code": "ErrorInvalidRecipients", "message": "bad"}}))
    with pytest.raises(UncertainDeliveryError):
        adapter(max_recipients=2, lookup=LOOKUP).deliver(item)
    adapter(max_recipients=2, lookup=LOOKUP).deliver(item)
    ids = [m.internet_message_id for m in tenant.graph.sent(SENDER)]
    assert ids == [mime_message_id(item, SENDER, 1, 2), mime_message_id(item, SENDER, 2, 2)]
    assert [m.recipients() for m in tenant.graph.sent(SENDER)] == [list(people[:2]), list(people[2:])]


def test_the_stand_in_refuses_what_graph_refuses(tenant: M365) -> None:
    client = adapter().graph
    response = client.session.post(f"{tenant.graph_url}/users/{SENDER}/sendMail", data=b"not base64!",
                                   headers={"Content-Type": "text/plain",
                                            "Authorization": f"Bearer {client.token('godkender')}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorMimeContentInvalidBase64String"
