"""What the Facebook Page and Instagram channels share: Meta's Graph API, its token, its errors, its throttling.

Both channels (adapters/facebook_page.py, adapters/instagram.py) talk to `{url}/{version}/…` with one Page
access token from `BUDBRINGER_META_PAGE_TOKEN`, sent as `Authorization: Bearer` (never in the query string:
a URL can end up in an exception or a log line). The base URL comes from `url:` or `BUDBRINGER_META_URL`
(default https://graph.facebook.com), so a test or a proxy can point it elsewhere. See docs/meta.md.

Meta answers errors as `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`, and the
code, not the HTTP status, says what happened (developers.facebook.com/docs/graph-api/guides/error-handling):

- 190 (OAuthException): the token expired or was revoked → permanent, with how to get a new one;
- 4, 17, 32, 613 (and 80001/80002, the Page and Instagram business-use-case limits): throttled, Meta did
  not act → wait and try again within the retry budget (honouring `estimated_time_to_regain_access` in
  `X-Business-Use-Case-Usage` when Meta sends it), then a TransientDeliveryError;
- 10 and 200–299: a permission is missing → permanent, naming the permission;
- anything else in a 4xx → permanent with Meta's own message.

5xx, timeouts and broken connections are adapters/http.py's business (an unsafe request that may have acted
becomes an UncertainDeliveryError, which the channel reconciles by looking the post up).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from typing import Any

import requests
from pydantic import Field, SecretStr

from budbringer.adapters import http
from budbringer.adapters.base import ChannelEnvironment, ChannelSettings
from budbringer.errors import PermanentDeliveryError, Problem, TransientDeliveryError, UncertainDeliveryError

log = logging.getLogger("budbringer.meta")

DEFAULT_URL = "https://graph.facebook.com"
ENV_URL = "BUDBRINGER_META_URL"
ENV_TOKEN = "BUDBRINGER_META_PAGE_TOKEN"
#: Meta keeps a Graph API version for about two years after the next one comes out
DEFAULT_VERSION = "v25.0"

TOKEN_EXPIRED = 190
THROTTLED = frozenset({4, 17, 32, 613, 80001, 80002})
PERMISSION = frozenset({10, *range(200, 300)})
DUPLICATE_POST = 506
TOKEN_HELP = ("a Page admin makes a new long-lived Page token (docs/meta.md: a long-lived user token, then "
              f"GET /me/accounts) and sets {ENV_TOKEN}; nothing was posted")


class MetaSettings(ChannelSettings):
    """Settings both Meta channels take."""

    url: str | None = Field(default=None, description=f"Graph API base URL; default ${ENV_URL}, else {DEFAULT_URL}.")
    version: str = Field(default=DEFAULT_VERSION, pattern=r"^v\d{1,3}\.\d$",
                         description="Graph API version (vNN.N); Meta retires a version about two years on.")
    lookup_count: int = Field(default=50, ge=1, le=100, description="Recent posts searched in a lookup.")
    lookup_days: float = Field(default=7.0, gt=0, le=60,
                               description="Only posts this recent count as ours in a lookup (a re-run after "
                                           "a crash comes sooner; an older post with the same text is not ours).")
    reconcile_delay: float = Field(default=2.0, ge=0, le=60,
                                   description="Seconds to wait before looking up an uncertain post.")
    retry: http.Policy = http.Policy()


class MetaEnvironment(ChannelEnvironment):
    """What both Meta channels read from the environment (once, by the entry point's settings)."""

    token: SecretStr | None = Field(default=None, validation_alias=ENV_TOKEN, description="The Page access token.")
    url: str | None = Field(default=None, validation_alias=ENV_URL,
                            description=f"Graph API base URL unless `url:` is set (default {DEFAULT_URL}).")


class GraphError(Exception):
    """Meta refused a request: its error code, subcode and message."""

    def __init__(self, status: int, code: int | None, subcode: int | None, message: str,
                 response: requests.Response) -> None:
        self.status, self.code, self.subcode, self.message, self.response = status, code, subcode, message, response
        super().__init__(f"HTTP {status} code {code}/{subcode}: {message}")

    @classmethod
    def of(cls, refused: http.Refused) -> GraphError:
        code = subcode = None
        message = refused.text
        try:
            error = refused.response.json().get("error", {})
            code = int(error["code"]) if "code" in error else None
            subcode = int(error["error_subcode"]) if "error_subcode" in error else None
            message = str(error.get("error_user_msg") or error.get("message") or message)[:500]
        except (ValueError, AttributeError, TypeError, KeyError):
            pass
        return cls(refused.status, code, subcode, message, refused.response)

    @property
    def said(self) -> str:
        sub = f", subcode {self.subcode}" if self.subcode else ""
        return f"Meta said (code {self.code}{sub}): {self.message}"


class Graph:
    """One channel's connection to Meta's Graph API."""

    def __init__(self, channel: str, settings: MetaSettings, environment: MetaEnvironment) -> None:
        self.channel = channel
        self.settings = settings
        self.environment = environment
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "budbringer"

    @property
    def base_url(self) -> str:
        return f"{self.root_url.rstrip('/')}/{self.settings.version}"

    @property
    def root_url(self) -> str:
        return (self.settings.url or self.environment.url or DEFAULT_URL).strip()

    def token(self, forum: str) -> SecretStr:
        value = self.environment.token.get_secret_value().strip() if self.environment.token else ""
        if not value:
            raise PermanentDeliveryError(self.channel, forum, f"${ENV_TOKEN} is not set",
                                         "make a long-lived Page token as docs/meta.md describes and set it")
        return SecretStr(value)

    def call(self, method: str, path: str, forum: str, *, safe: bool, params: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Graph request; throttling is waited out within the retry policy. Returns the JSON body.

        Raises GraphError (Meta refused, not throttling), TransientDeliveryError (nothing done, retries used
        up) or UncertainDeliveryError (an unsafe request may have acted)."""
        policy = self.settings.retry
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.token(forum).get_secret_value()}"}
        for attempt in range(1, policy.attempts + 1):
            try:
                response = http.call(self.session, method, f"{self.base_url}/{path}", channel=self.channel,
                                     forum=forum, safe=safe, policy=policy, expect=(200,), params=params,
                                     data=data, headers=headers)
            except http.Refused as refused:
                error = GraphError.of(refused)
                if error.code not in THROTTLED:
                    raise error from None
                wait = _throttle_wait(refused.response, attempt, policy)
                spent = time.monotonic() - started
                if attempt == policy.attempts or wait > policy.max_retry_after or spent + wait > policy.budget:
                    raise TransientDeliveryError(
                        self.channel, forum, f"Meta is throttling this app or Page ({error.said}); nothing was "
                        f"posted", _regain_text(wait)) from None
                log.warning("%s → %s: throttled by Meta (code %s); retrying in %.1f s (attempt %d of %d)",
                            self.channel, forum, error.code, wait, attempt, policy.attempts)
                time.sleep(wait)
                continue
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                if safe:
                    raise TransientDeliveryError(self.channel, forum, "Meta's answer could not be read",
                                                 "try again later")
                raise UncertainDeliveryError(self.channel, forum, "Meta's answer could not be read; the "
                                             "request may have acted", "look at the account and settle it")
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def explain(self, forum: str, error: GraphError, permission: str, looking_up: bool = False,
                ) -> PermanentDeliveryError:
        """Meta refused: say why and what to do. Throttling never gets here (it is transient)."""
        if error.code == TOKEN_EXPIRED or (error.code == 102 and not error.subcode):
            return PermanentDeliveryError(
                self.channel, forum, f"the Meta Page token has expired or was revoked ({error.said})", TOKEN_HELP)
        if error.code in PERMISSION:
            need = "pages_read_engagement" if looking_up and permission == "pages_manage_posts" else permission
            return PermanentDeliveryError(
                self.channel, forum, f"Meta refused the request for lack of a permission ({error.said})",
                f"the token needs {need}, and its user must be able to create content on the Page "
                f"(the CREATE_CONTENT task); see docs/meta.md")
        if error.code == 368:
            return PermanentDeliveryError(self.channel, forum, f"Meta has blocked posting for now ({error.said})",
                                          "a Page admin looks at the Page's notifications; nothing was posted")
        return PermanentDeliveryError(self.channel, forum, error.said,
                                      "fix the post or the channel settings; nothing was posted")

    def preflight(self, where: str, identity: tuple[str, str | None, str]) -> list[Problem]:
        """Token, the Page or account id (field, value, fix), and an https base URL."""
        problems: list[Problem] = []
        if not (self.environment.token and self.environment.token.get_secret_value().strip()):
            problems.append(Problem(where, ENV_TOKEN, "is not set",
                                    f"make a long-lived Page token as docs/meta.md describes, then set {ENV_TOKEN}"))
        field, value, fix = identity
        if not value:
            problems.append(Problem(where, field, "is not configured", fix))
        root = self.root_url
        if not root.startswith("https://"):
            problems.append(Problem(where, "url" if self.settings.url else ENV_URL, f"{root} is not an https:// URL",
                                    "use https:// (the token must never travel unencrypted)"))
        return problems

    def close(self) -> None:
        self.session.close()


def since(settings: MetaSettings) -> dt.datetime:
    """The oldest a post may be to count as ours in a lookup."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.lookup_days)


def parse_time(value: Any) -> dt.datetime | None:
    """Meta's times: `2026-11-28T10:00:00+0000`."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def same_text(a: str, b: str) -> bool:
    """The text we sent and the text Meta shows, alike but for whitespace."""
    return " ".join(a.split()) == " ".join(b.split())


def _throttle_wait(response: requests.Response, attempt: int, policy: http.Policy) -> float:
    """Meta's own estimate (minutes, in X-Business-Use-Case-Usage), else Retry-After, else backoff."""
    estimate = 0.0
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage", "") or "{}")
        for entries in usage.values():
            for entry in entries if isinstance(entries, list) else []:
                estimate = max(estimate, float(entry.get("estimated_time_to_regain_access", 0)) * 60)
    except (ValueError, AttributeError, TypeError):
        pass
    if estimate:
        return estimate
    after = http.retry_after(response)
    if after is not None:
        return after
    backoff = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 1))
    return backoff * (0.5 + random.random() / 2)


def _regain_text(wait: float) -> str:
    if wait >= 60:
        return f"Meta expects access again in about {wait / 60:.0f} minutes: run again after that"
    return "the run tries again later; if it keeps happening, post less often (docs/meta.md)"
