"""The smtp adapter against aiosmtpd on 127.0.0.1: STARTTLS and implicit TLS with a trustme certificate, login."""

from __future__ import annotations

import os
import email
import email.policy
import logging
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError

from budbringer.adapters.mailformat import HEADER
from budbringer.adapters.outbox import OutboxAdapter
from budbringer.adapters.smtp import SmtpAdapter
from budbringer.errors import PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from tests.servers.ports import free_port
from tests.servers.smtp import PASSWORD, PASSWORD_ENV, RECIPIENTS, SENDER, USER, Relay, delivery

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def adapter(relay: Relay, ca_file: Path | None, **settings: object) -> SmtpAdapter:
    config = {"host": "127.0.0.1", "port": relay.port, "security": relay.security,
              "sender": SENDER, "username": USER, "password_env": PASSWORD_ENV, "timeout": 5,
              **({"ca_file": str(ca_file)} if ca_file else {}), **settings}
    return SmtpAdapter.from_config("smtp_mail", config, os.environ)  # type: ignore[return-value]


def test_delivers_over_tls_with_login(relay: Relay, ca_file: Path) -> None:
    item = delivery()
    receipt = adapter(relay, ca_file).deliver(item)

    [envelope] = relay.envelopes
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == list(RECIPIENTS)
    assert relay.logins and "refused" not in relay.logins[0]
    mail = relay.message()
    assert mail[HEADER] == item.key
    assert mail["Message-ID"] == f"<budbringer-{item.short_key}@socialomraadet.example>"
    assert mail["Subject"] == "Status på udbuddet – november 2026"
    assert mail["To"] == ", ".join(RECIPIENTS) and mail["From"] == SENDER
    assert mail.get_content_type() == "text/html"
    assert mail.get_content() == "<p>Forarbejdet er færdigt: æ ø å.</p>\n"
    assert all(byte < 128 for byte in envelope.original_content)  # 7-bit clean: any relay takes it
    assert receipt.provider == "smtp" and receipt.provider_id == "4XyZ1Q"
    assert receipt.details["refused"] == {} and receipt.details["recipients"] == 2


def test_the_outbox_writes_the_same_mail(relay: Relay, ca_file: Path, tmp_path: Path) -> None:
    item = delivery()
    adapter(relay, ca_file).deliver(item)
    outbox = OutboxAdapter.from_config("mail", {"path": str(tmp_path / "outbox"), "sender": SENDER}, os.environ)
    outbox.deliver(item)
    written = email.message_from_string(outbox.path_for(item).read_text(encoding="utf-8"),
                                        policy=email.policy.default)
    sent = relay.message()
    for header in ("From", "To", "Subject", HEADER):
        assert written[header] == sent[header]
    assert written.get_content() == sent.get_content()


def test_some_recipients_refused_is_delivered_and_says_so(relay: Relay, ca_file: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    relay.refuse_rcpt = {RECIPIENTS[1]: "550 5.1.1 No such user"}
    receipt = adapter(relay, ca_file).deliver(delivery())
    assert relay.envelopes[0].rcpt_tos == [RECIPIENTS[0]]
    assert receipt.details["refused"] == {RECIPIENTS[1]: "550 5.1.1 No such user"}
    assert f"refused {RECIPIENTS[1]}" in caplog.text


@pytest.mark.parametrize("setup,expected,text,received", [
    (lambda r: r.refuse_rcpt.update({a: "451 4.3.0 Try again later" for a in RECIPIENTS}), TransientDeliveryError,
     "refused every recipient", 0),
    (lambda r: r.refuse_rcpt.update({a: "550 5.1.1 No such user" for a in RECIPIENTS}), PermanentDeliveryError,
     "refused every recipient", 0),
    (lambda r: setattr(r, "data_reply", "554 5.7.1 Message rejected as spam"), PermanentDeliveryError,
     "refused the message: 554", 1),
    (lambda r: setattr(r, "data_reply", "452 4.3.1 Insufficient system storage"), TransientDeliveryError,
     "refused the message: 452", 1),
    (lambda r: setattr(r, "after_data", "drop"), UncertainDeliveryError, "may have been queued", 1),
    (lambda r: setattr(r, "after_data", "stall"), UncertainDeliveryError, "may have been queued", 1),
], ids=["4xx-rcpt", "5xx-rcpt", "5xx-data", "4xx-data", "dropped-after-data", "timeout-after-data"])
def test_faults(relay: Relay, ca_file: Path, setup, expected: type, text: str, received: int) -> None:  # noqa: ANN001
    setup(relay)
    item = delivery()
    with pytest.raises(expected, match=text) as raised:
        adapter(relay, ca_file, timeout=0.3).deliver(item)
    assert str(raised.value).startswith("smtp_mail → oc:")
    assert len(relay.envelopes) == received
    if expected is UncertainDeliveryError:
        assert f"<budbringer-{item.short_key}@socialomraadet.example>" in raised.value.fix


def test_wrong_password_is_permanent_and_never_shown(relay: Relay, ca_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = PASSWORD + "-old"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter(relay, ca_file).deliver(delivery())
    assert "refused the login: 535" in raised.value.reason and PASSWORD_ENV in raised.value.fix
    [problem] = adapter(relay, ca_file).preflight()
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    receipt = adapter(relay, ca_file).deliver(delivery())
    captured = capsys.readouterr()
    for text in (str(raised.value), str(problem), caplog.text, captured.out, captured.err, repr(adapter(relay, None)),
                 str(receipt.to_json())):
        assert PASSWORD not in text and wrong not in text
    assert relay.envelopes and len(relay.envelopes) == 1


def test_preflight(relay: Relay, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert adapter(relay, ca_file).preflight() == []
    [problem] = adapter(relay, None).preflight()  # the system trust store does not know the test CA
    assert "not trusted" in problem.what and "ca_file" in problem.fix
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(PermanentDeliveryError, match=f"{PASSWORD_ENV} is not set"):
        adapter(relay, ca_file).deliver(delivery())
    assert relay.envelopes == []


def test_relay_down_is_transient(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    relay = Relay(port=free_port())
    with pytest.raises(TransientDeliveryError, match="could not reach 127.0.0.1"):
        adapter(relay, ca_file).deliver(delivery())


def test_starttls_not_offered_is_permanent(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    state = Relay(port=free_port())
    controller = Controller(state, hostname="127.0.0.1", port=state.port)
    controller.start()
    try:
        with pytest.raises(PermanentDeliveryError, match="does not support"):
            adapter(state, ca_file, security="starttls").deliver(delivery())
    finally:
        controller.stop()
    assert state.envelopes == []


def test_no_login_over_an_unencrypted_connection() -> None:
    with pytest.raises(ValidationError, match="unencrypted"):
        SmtpAdapter.Settings.model_validate({"host": "relay", "sender": SENDER, "security": "none",
                                             "username": USER, "password_env": PASSWORD_ENV})
    with pytest.raises(ValidationError, match="password_env"):
        SmtpAdapter.Settings.model_validate({"host": "relay", "sender": SENDER, "username": USER})
    with pytest.raises(ValidationError, match="extra"):
        SmtpAdapter.Settings.model_validate({"host": "relay", "sender": SENDER, "password": "inline"})


def test_find_is_not_available() -> None:
    smtp = SmtpAdapter.from_config("smtp_mail", {"host": "relay.example", "sender": SENDER}, os.environ)
    with pytest.raises(NotImplementedError):
        smtp.find(delivery())
