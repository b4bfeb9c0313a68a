"""A signed webhook (`type: webhook`, medium `web`): the website's CMS intake, a Power Automate HTTP trigger.

One POST of JSON per delivery (title, summary, HTML, link, message id, delivery key), signed with a secret
both sides share: `X-Budbringer-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, the timestamp
in `X-Budbringer-Timestamp` (Unix seconds). Any 2xx means delivered. docs/webhook.md is the receiver's side
of the contract: how to verify the signature, reject replays, and deduplicate by the delivery key.

That last part decides what a lost answer means. When the receiver deduplicates (`receiver_dedupes: true`,
the default and the documented contract), sending the same delivery again is harmless, so a timeout or a 5xx
is retried, and a delivery whose outcome is unknown is settled by sending it again. When it does not, a
timeout or a 5xx after sending is reported as uncertain for the operator to settle.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
from typing import ClassVar
from urllib.parse import urlsplit

import requests
from pydantic import Field, SecretStr, model_validator

from budbringer.adapters import http
from budbringer.adapters.base import Adapter, ChannelEnvironment, ChannelSettings
from budbringer.delivery import Delivery, Receipt
from budbringer.adapters import reach_readers
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import PermanentDeliveryError, Problem

SIGNATURE_HEADER = "X-Budbringer-Signature"
TIMESTAMP_HEADER = "X-Budbringer-Timestamp"
DELIVERY_HEADER = "X-Budbringer-Delivery"
MIN_SECRET_CHARS = 32


class WebhookSettings(ChannelSettings):
    url: str | None = Field(default=None, description="The receiver's https:// URL.")
    url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$",
                                description="Or the environment variable that holds the URL.")
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$",
                            description="The environment variable that holds the shared signing secret.")
    receiver_dedupes: bool = Field(default=True, description="The receiver drops a delivery key it has seen "
                                                             "(docs/webhook.md), so sending again is safe.")
    retry: http.Policy = http.Policy()
    reach_url: str | None = Field(default=None, description="Optional: the receiver's https:// URL that answers "
                                  "how far a delivery reached (docs/reach.md); unset: \"not measured\".")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set either `url` or `url_env` (the environment variable holding the URL)")
        if self.url is not None and urlsplit(self.url).scheme != "https":
            raise ValueError(f"url {self.url!r} must start with https://")
        if self.reach_url is not None and urlsplit(self.reach_url).scheme != "https":
            raise ValueError(f"reach_url {self.reach_url!r} must start with https://")
        return self


class WebhookEnvironment(ChannelEnvironment):
    """What a webhook reads from the variables its settings name (`url_env`, `secret_env`)."""

    url: str | None = Field(default=None, description="The receiver's URL, from the variable `url_env` names.")
    secret: SecretStr | None = Field(default=None, description="The signing secret, from `secret_env`'s variable.")


class WebhookAdapter(Adapter):
    type: ClassVar[str] = "webhook"
    label: ClassVar[str] = "webhook til hjemmesiden"
    media: ClassVar[frozenset[str]] = frozenset({"web"})
    Settings = WebhookSettings
    settings: WebhookSettings
    Environment = WebhookEnvironment
    environment: WebhookEnvironment

    def __init__(self, name: str, settings: WebhookSettings,
                 environment: WebhookEnvironment | None = None) -> None:
        super().__init__(name, settings, environment)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "budbringer"

    @property
    def url(self) -> str:
        if self.settings.url is not None:
            return self.settings.url
        return (self.environment.url or "").strip()

    def _secret(self) -> SecretStr:
        return self.environment.secret or SecretStr("")

    @classmethod
    def variables(cls, settings: ChannelSettings) -> dict[str, str]:
        """The variables the channel's settings name: the URL's (`url_env`) and the secret's (`secret_env`)."""
        assert isinstance(settings, WebhookSettings)
        return {"secret": settings.secret_env, **({"url": settings.url_env} if settings.url_env else {})}

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        url, secret = self.url, self._secret()
        if urlsplit(url).scheme != "https":
            raise PermanentDeliveryError(self.name, forum, f"the webhook URL is not set or not https:// ({url!r})",
                                         f"set {self.settings.url_env or 'url'} to the receiver's https:// URL")
        if not secret.get_secret_value():
            raise PermanentDeliveryError(self.name, forum, f"${self.settings.secret_env} is not set",
                                         "set it to the secret the receiver shares (docs/webhook.md)")
        body = payload(delivery)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            DELIVERY_HEADER: delivery.key,
        }
        try:
            response = http.call(self.session, "POST", url, channel=self.name, forum=forum,
                                 safe=self.settings.receiver_dedupes, policy=self.settings.retry,
                                 expect=tuple(range(200, 300)), data=body, headers=headers)
        except http.Refused as refused:
            raise self._explain(forum, refused) from None
        answer = _json(response)
        return Receipt(provider="webhook", provider_id=str(answer.get("id") or delivery.short_key),
                       url=str(answer.get("url") or ""),
                       details={"status": response.status_code, "duplicate": bool(answer.get("duplicate"))})

    def find(self, delivery: Delivery) -> Receipt | None:
        """A webhook receiver cannot be asked what it published. With `receiver_dedupes` it drops a key it has
        seen, so None (send again: at most one copy); without it NotImplementedError (the operator settles)."""
        if self.settings.receiver_dedupes:
            # The receiver cannot be asked, but it drops a delivery key it has seen: sending again is the
            # lookup, and at most one copy is published.
            return None
        raise NotImplementedError

    def reach(self, subject: ReachSubject) -> ReachReading:
        """With `reach_url`, a signed GET naming the delivery key (the signature over "<timestamp>.<key>"); the
        receiver answers `{"figures": {"views": 120, …}}` (docs/reach.md). Without it: not measured."""
        if not self.settings.reach_url:
            return ReachReading.not_measured("the website's receiver is not asked (no reach_url, docs/reach.md)")
        secret, timestamp = self._secret(), str(int(time.time()))
        headers = {TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: subject.key, "Accept": "application/json",
                   SIGNATURE_HEADER: signature(secret, timestamp, subject.key.encode("utf-8"))}
        body = reach_readers.get(self.session, self.settings.reach_url, headers=headers,
                                 params={"delivery_key": subject.key}, what="the website's receiver",
                                 permission=f"the secret in ${self.settings.secret_env}")
        figures = body.get("figures") if isinstance(body, dict) else None
        if not isinstance(figures, dict):
            return ReachReading.refused("the website's receiver answered without `figures`")
        return ReachReading.measured({str(k): int(v) for k, v in figures.items() if isinstance(v, int | float)})

    def preflight(self) -> list[Problem]:
        where = f"channels.{self.name}"
        problems: list[Problem] = []
        if urlsplit(self.url).scheme != "https":
            problems.append(Problem(where, self.settings.url_env or "url",
                                    f"the webhook URL is not set or not https:// ({self.url!r})",
                                    "set the receiver's https:// URL"))
        secret = self._secret().get_secret_value()
        if not secret:
            problems.append(Problem(where, self.settings.secret_env, "is not set",
                                    "set it to the secret the receiver shares (docs/webhook.md)"))
        elif len(secret) < MIN_SECRET_CHARS:
            problems.append(Problem(where, self.settings.secret_env,
                                    f"the secret is shorter than {MIN_SECRET_CHARS} characters",
                                    "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"))
        return problems

    def close(self) -> None:
        self.session.close()

    def _explain(self, forum: str, refused: http.Refused) -> PermanentDeliveryError:
        said = f"the receiver answered HTTP {refused.status} {refused.code} {refused.text}".strip()
        if refused.status in (401, 403):
            return PermanentDeliveryError(
                self.name, forum, said,
                f"check that the receiver and ${self.settings.secret_env} hold the same secret and that both "
                "clocks are right (the receiver accepts a timestamp within a few minutes)")
        if refused.status == 404:
            return PermanentDeliveryError(self.name, forum, said, "check the webhook URL")
        return PermanentDeliveryError(self.name, forum, said, "ask the receiver's owner what it expects")


def payload(delivery: Delivery) -> bytes:
    """The JSON body, as the exact bytes that are signed and sent."""
    variant = delivery.variant
    page = variant.body if variant.body_format == "html" else "".join(
        f"<p>{html.escape(part.strip())}</p>" for part in variant.body.split("\n\n") if part.strip())
    content = {
        "delivery_key": delivery.key,
        "message_id": delivery.message_id,
        "forum": variant.forum,
        "title": variant.subject,
        "summary": variant.summary,
        "html": page,
        "link": variant.link,
        "content_hash": variant.content_hash,
    }
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature(secret: SecretStr, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.get_secret_value().encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _json(response: requests.Response) -> dict[str, object]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
