"""An SMTP relay on 127.0.0.1 (aiosmtpd): STARTTLS or implicit TLS with a trustme certificate, login, and knobs
for refusals and faults. conftest.py's `relay` fixture runs one per test, both ways.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from budbringer.delivery import Delivery
from budbringer.render import Variant
from tests.servers.ports import free_port

USER, PASSWORD_ENV = "budbringer", "BUDBRINGER_TEST_SMTP_PASSWORD"
PASSWORD = "smtp-secret-7f3a9c1e5b"
SENDER = "kommunikation@socialomraadet.example"
RECIPIENTS = ("oc-kredsen@socialomraadet.example", "hmu@socialomraadet.example")


@dataclass
class Relay:
    """What aiosmtpd received, and how it should answer."""

    envelopes: list = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)  # address → reply
    data_reply: str = "250 2.0.0 Ok: queued as 4XyZ1Q"
    after_data: str = ""  # "drop" or "stall"
    port: int = 0
    security: str = "starttls"  # or "tls" (implicit): how the `relay` fixture runs it

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        if self.after_data == "drop":
            server.transport.close()
            return "421 closing"
        if self.after_data == "stall":
            await asyncio.sleep(1.0)
        return self.data_reply

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
            and auth_data.password == PASSWORD.encode()
        self.logins.append(mechanism if ok else f"{mechanism} refused")
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself

    def message(self, index: int = -1) -> email.message.EmailMessage:
        return email.message_from_bytes(self.envelopes[index].original_content, policy=email.policy.default)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@contextmanager
def running_relay(ca: trustme.CA, security: str) -> Iterator[Relay]:
    """A relay that wants a login (USER, PASSWORD), over STARTTLS (`starttls`) or implicit TLS (`tls`)."""
    state = Relay(port=free_port(), security=security)
    common = {"hostname": "127.0.0.1", "port": state.port, "authenticator": state.authenticate,
              "auth_required": True}
    if security == "starttls":
        controller = Controller(state, tls_context=server_context(ca), require_starttls=True, **common)
    else:  # implicit TLS: the whole session is encrypted, so AUTH needs no STARTTLS
        controller = Controller(state, ssl_context=server_context(ca), auth_require_tls=False, **common)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


def delivery(recipients: tuple[str, ...] = RECIPIENTS) -> Delivery:
    variant = Variant(forum="oc", forum_title="OC-kredsen", tier="oc", tier_index=1, phase="cascade", medium="mail",
                      channel="smtp_mail", template="oc_briefing.html.j2", stakeholder="management",
                      subject="Status på udbuddet – november 2026", body="<p>Forarbejdet er færdigt: æ ø å.</p>\n",
                      body_format="html", summary="Forarbejdet er færdigt.", link=None, recipients=recipients)
    return Delivery("2026-11-status-udbud", variant, "smtp_mail", approval_id=1)
