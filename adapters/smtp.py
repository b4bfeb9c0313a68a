"""Mail over SMTP (`type: smtp`), for organisations that relay their mail through an SMTP server.

The message is the same one the outbox writes (adapters/mailformat.py): HTML or text, the delivery key in
`X-Budbringer-Delivery`, and a Message-ID derived from the key. The connection is STARTTLS (`security:
starttls`, port 587), implicit TLS (`tls`, port 465) or, for a relay on the same machine, none; login is
optional, with the password read from the environment variable named by `password_env` (never from the
plan), held as a SecretStr; the login name is `username`, or read from the variable named by `username_env`.
`host` and `port` may come from the environment too, as `${BUDBRINGER_SMTP_HOST}` and
`${BUDBRINGER_SMTP_PORT:-587}` in the plan (expanded when the plan is loaded; see config/README.md), so one
plan points at a test relay or the production relay by its environment.

The transfer is done step by step so that each failure says what is known:

| where it fails                          | meaning                             | raised                      |
|-----------------------------------------|-------------------------------------|-----------------------------|
| connect, TLS, EHLO, a 4xx before DATA   | nothing was sent                    | TransientDeliveryError      |
| login refused, 5xx before or at DATA    | refused: nothing was sent           | PermanentDeliveryError      |
| connection lost or timeout during DATA  | the relay may have queued it        | UncertainDeliveryError      |

This adapter does not retry by itself: a transient failure is the Prefect task's to retry (it means nothing
was sent), and an uncertain one is never retried. An SMTP relay cannot be asked what it queued, so `find()`
is not available: an uncertain SMTP delivery is settled by the operator (the Message-ID is in the error).
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import smtplib
import ssl
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from budbringer.adapters.addressing import MailOrNewsletter
from budbringer.adapters.base import Adapter, ChannelEnvironment, ChannelSettings, ForumAddressing
from budbringer.adapters.mailformat import HEADER, build_mail, domain_of, stable_message_id
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import (
    DeliveryError,
    PermanentDeliveryError,
    Problem,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from budbringer.plan import Email

log = logging.getLogger("budbringer.smtp")

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class SmtpSettings(ChannelSettings):
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535, description="Default: 587, 465 or 25 by `security`.")
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: Email
    username: str | None = None
    username_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                     description="Name of the environment variable that holds the login name.")
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                     description="Name of the environment variable that holds the password.")
    ca_file: str | None = Field(default=None, description="CA bundle to trust instead of the system's.")
    timeout: float = Field(default=30.0, gt=0)
    local_hostname: str | None = None

    @model_validator(mode="after")
    def _login(self) -> SmtpSettings:
        if self.username and self.username_env:
            raise ValueError("give either `username` or `username_env` (the environment variable holding it)")
        login = self.username or self.username_env
        if login and not self.password_env:
            raise ValueError("`username` needs `password_env`, the name of the environment variable holding the "
                             "password")
        if self.password_env and not login:
            raise ValueError("`password_env` needs `username` or `username_env`")
        if login and self.security == "none":
            raise ValueError("a login over `security: none` would send the password unencrypted: use starttls or tls")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]


class SmtpEnvironment(ChannelEnvironment):
    """What an SMTP channel reads from the variables its settings name (`username_env`, `password_env`)."""

    username: str | None = Field(default=None, description="The login name, from `username_env`'s variable.")
    password: SecretStr | None = Field(default=None, description="The password, from `password_env`'s variable.")


class SmtpAdapter(Adapter):
    type: ClassVar[str] = "smtp"
    label: ClassVar[str] = "mail (SMTP)"
    Addressing: ClassVar[builtins.type[ForumAddressing]] = MailOrNewsletter
    media: ClassVar[frozenset[str]] = frozenset({"mail", "submission"})
    max_concurrency: ClassVar[int] = 2
    Settings = SmtpSettings
    settings: SmtpSettings
    Environment = SmtpEnvironment
    environment: SmtpEnvironment

    @classmethod
    def variables(cls, settings: ChannelSettings) -> dict[str, str]:
        """The variables the channel's settings name for the login."""
        assert isinstance(settings, SmtpSettings)
        return {field: name for field, name in (("username", settings.username_env),
                                                ("password", settings.password_env)) if name}

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    @property
    def _login_name(self) -> str:
        """The login as the operator wrote it: the name, or where it is read from (never the password)."""
        env = self.settings.username_env
        return self.settings.username or (f"the login name in ${env}" if env else "")

    def _username(self, forum: str) -> str | None:
        name = self.settings.username_env
        if not name:
            return self.settings.username
        value = (self.environment.username or "").strip()
        if not value:
            raise PermanentDeliveryError(self.name, forum, f"the environment variable {name} is not set",
                                         f"set {name} to the SMTP login name (`username_env` of the channel)")
        return value

    def _password(self, forum: str) -> SecretStr | None:
        name = self.settings.password_env
        if not name:
            return None
        if self.environment.password is None:
            raise PermanentDeliveryError(self.name, forum, f"the environment variable {name} is not set",
                                         f"set {name} to the SMTP password of {self._login_name}")
        return self.environment.password

    # delivering ------------------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        recipients = delivery.variant.recipients
        if not recipients:
            raise PermanentDeliveryError(self.name, forum, "the forum has no recipients",
                                         "list its addresses under the forum's `recipients`")
        message_id = stable_message_id(delivery, domain_of(self.settings.sender))
        mail = build_mail(delivery, self.settings.sender, sent_at=dt.datetime.now(dt.UTC), message_id=message_id)
        payload = mail.as_string().encode("ascii")  # the str generator writes 7-bit clean MIME: any relay takes it
        connection = self._open(forum)
        try:
            return self._transfer(connection, delivery, payload, message_id)
        finally:
            _quit(connection)

    def _open(self, forum: str) -> smtplib.SMTP:
        """Connect, secure and log in. Anything failing here sent nothing."""
        settings = self.settings
        username = self._username(forum)
        password = self._password(forum)
        context = ssl.create_default_context(cafile=settings.ca_file)
        connection: smtplib.SMTP | None = None
        try:
            if settings.security == "tls":
                connection = smtplib.SMTP_SSL(settings.host, settings.effective_port, timeout=settings.timeout,
                                              local_hostname=settings.local_hostname, context=context)
            else:
                connection = smtplib.SMTP(settings.host, settings.effective_port, timeout=settings.timeout,
                                          local_hostname=settings.local_hostname)
            connection.ehlo()
            if settings.security == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if username and password is not None:
                connection.login(username, password.get_secret_value())
            return connection
        except BaseException as exc:
            if connection is not None:
                _quit(connection)
            raise self._before_data(exc, forum, password) from None

    def _before_data(self, exc: BaseException, forum: str, password: SecretStr | None) -> BaseException:
        """Classify a failure that happened before any message data was sent."""
        secret = password.get_secret_value() if password else ""

        def text(value: object) -> str:
            out = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            return out.replace(secret, "***") if secret else out

        where = self._where
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return PermanentDeliveryError(self.name, forum, f"{where} refused the login: {exc.smtp_code} "
                                          f"{text(exc.smtp_error)}", f"check the login name ({self._login_name}) "
                                          f"and the password in {self.settings.password_env}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PermanentDeliveryError(self.name, forum, f"{where} does not support {text(exc) or 'that'}",
                                          "use `security: tls`, or a relay that offers STARTTLS and AUTH")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentDeliveryError(self.name, forum, f"{where}'s TLS certificate is not trusted: "
                                          f"{exc.verify_message}", "set `ca_file`, or fix the server's certificate")
        if isinstance(exc, smtplib.SMTPResponseException):
            kind = TransientDeliveryError if 400 <= exc.smtp_code < 500 else PermanentDeliveryError
            return kind(self.name, forum, f"{where} answered {exc.smtp_code} {text(exc.smtp_error)}",
                        "nothing was sent")
        if isinstance(exc, (smtplib.SMTPException, OSError)):
            return TransientDeliveryError(self.name, forum, f"could not reach {where}: {type(exc).__name__}: "
                                          f"{text(exc)}", "nothing was sent; the run retries later")
        return exc

    def _transfer(self, connection: smtplib.SMTP, delivery: Delivery, payload: bytes, message_id: str) -> Receipt:
        forum, sender = delivery.forum, self.settings.sender
        recipients = delivery.variant.recipients
        try:
            code, answer = connection.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, sender)
            refused: dict[str, str] = {}
            for address in recipients:
                code, answer = connection.rcpt(address)
                if code not in (250, 251):
                    refused[address] = f"{code} {answer.decode(errors='replace')}"
            if len(refused) == len(recipients):
                temporary = all(reason.startswith("4") for reason in refused.values())
                kind = TransientDeliveryError if temporary else PermanentDeliveryError
                raise kind(self.name, forum, f"{self._where} refused every recipient: "
                           + "; ".join(f"{a}: {r}" for a, r in refused.items()),
                           "nothing was sent; check the forum's recipients")
        except DeliveryError:
            raise
        except BaseException as exc:
            raise self._before_data(exc, forum, None) from None
        try:
            code, answer = connection.data(payload)
            if code != 250:  # smtplib raises only for a refused DATA command, not for a refused message
                raise smtplib.SMTPDataError(code, answer)
        except smtplib.SMTPDataError as exc:  # refused at DATA or after the data: not queued
            kind = TransientDeliveryError if 400 <= exc.smtp_code < 500 else PermanentDeliveryError
            raise kind(self.name, forum, f"{self._where} refused the message: {exc.smtp_code} "
                       f"{_text(exc.smtp_error)}", "nothing was sent") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            raise UncertainDeliveryError(
                self.name, forum, f"the connection to {self._where} broke while the message was sent "
                f"({type(exc).__name__}); it may have been queued",
                f"check the relay's log or the recipients for Message-ID {message_id} ({HEADER}: "
                f"{delivery.key}), then settle it") from None
        answer_text = answer.decode(errors="replace")
        if refused:
            log.error("%s → %s: sent, but %s refused %s", self.name, forum, self._where, ", ".join(refused))
        log.info("%s → %s: %s accepted the message (%s)", self.name, forum, self._where, answer_text)
        return Receipt(provider="smtp", provider_id=_queue_id(answer_text) or message_id,
                       details={"relay": self._where, "message_id": message_id, "answer": f"{code} {answer_text}",
                                "recipients": len(recipients) - len(refused), "refused": refused})

    # checking --------------------------------------------------------------------------------------------

    def find(self, delivery: Delivery) -> Receipt | None:
        """An SMTP relay cannot be asked what it queued: the operator settles an uncertain delivery."""
        raise NotImplementedError

    def preflight(self) -> list[Problem]:
        """Connect, secure and log in (then quit): a wrong host, certificate or password shows here."""
        try:
            connection = self._open("(preflight)")
        except DeliveryError as exc:
            return [Problem(f"channels.{self.name}", "connection", exc.reason, exc.fix)]
        _quit(connection)
        return []


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _queue_id(answer: str) -> str:
    marker = "queued as "
    return answer.split(marker, 1)[1].split()[0] if marker in answer else ""


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
