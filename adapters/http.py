"""HTTP calls for the channels that speak HTTPS (Graph, SharePoint, LinkedIn, webhooks), with one retry policy.

This layer owns short faults, for seconds: 429 and 503/504 wait as `Retry-After` says (seconds or an HTTP
date), other retryable faults back off exponentially with jitter, all within a bounded budget. It decides
what a fault *means* for the delivery:

- the request never left (connection refused, DNS, connect timeout): nothing was delivered → retry, then
  TransientDeliveryError;
- 429: throttled, the provider did not act → retry, then TransientDeliveryError; except where the provider
  is known to act on a request it answers 429 (Graph's sendMail: `throttle_may_act=True`), where a 429 on an
  unsafe request is an unknown outcome like a 503;
- 5xx or a read timeout on a *safe* request (a lookup, or a create guarded by a lookup) → retry, then
  TransientDeliveryError;
- 5xx or a read timeout on an *unsafe* request (one that may have acted and cannot be repeated blindly) →
  UncertainDeliveryError at once: the caller reconciles with the provider or leaves it to the operator;
- 400/401/403/404/409/422 → `Refused`, which the adapter turns into a PermanentDeliveryError with the
  provider's code, message and the fix.

Longer outages are the Prefect task's retries (see flows/send.py); they act only on TransientDeliveryError,
so the two layers never multiply an unsafe request.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from budbringer.errors import TransientDeliveryError, UncertainDeliveryError

log = logging.getLogger("budbringer.http")

RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Policy:
    """How hard to try one call: attempts, the whole budget in seconds, and the backoff."""

    attempts: int = 5
    budget: float = 120.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


class Refused(Exception):
    """The provider refused the request (4xx other than 429): retrying will not help."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.code, self.text = provider_error(response)
        super().__init__(f"HTTP {self.status} {self.code}: {self.text}".strip())


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None, response: requests.Response | None = None):
        super().__init__(reason)
        self.reason, self.wait, self.response = reason, wait, response


def provider_error(response: requests.Response) -> tuple[str, str]:
    """Graph: {"error": {"code", "message"}}; LinkedIn: {"code"/"serviceErrorCode", "message"}."""
    try:
        body = response.json()
    except ValueError:
        return "", (response.text or response.reason or "")[:300]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code", "")), str(body["error"].get("message", ""))[:500]
    if isinstance(body, dict):
        code = body.get("code") or body.get("serviceErrorCode") or body.get("error") or ""
        text = body.get("message") or body.get("error_description") or ""
        return str(code), str(text)[:500]
    return "", json.dumps(body)[:300]


def retry_after(response: requests.Response | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait, from `Retry-After` as seconds or as an HTTP date; None if absent or unreadable."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class MaybeActed(UncertainDeliveryError):
    """An unsafe request may have acted; `wait` is the provider's Retry-After (seconds), if it gave one."""

    def __init__(self, channel: str, forum: str, reason: str, fix: str = "", wait: float | None = None) -> None:
        super().__init__(channel, forum, reason, fix)
        self.wait = wait


def call(session: requests.Session, method: str, url: str, *, channel: str, forum: str, safe: bool,
         policy: Policy = Policy(), expect: tuple[int, ...] = (200, 201, 202, 204), throttle_may_act: bool = False,
         **kwargs: Any) -> requests.Response:
    """One HTTP call under the retry policy. Returns the response with an expected status.

    Raises Refused (4xx), TransientDeliveryError (nothing delivered, retries used up) or
    UncertainDeliveryError (an unsafe request may have acted; a MaybeActed when the provider answered).
    """
    kwargs.setdefault("timeout", (policy.connect_timeout, policy.read_timeout))

    def attempt() -> requests.Response:
        try:
            response = session.request(method, url, **kwargs)
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
            raise _Retry(f"could not connect: {type(exc).__name__}") from None
        except requests.ConnectionError as exc:
            if safe or _never_sent(exc):
                raise _Retry(f"connection failed: {_short(exc)}") from None
            raise UncertainDeliveryError(channel, forum, f"the connection broke after the request was sent "
                                         f"({_short(exc)}); it may have been delivered",
                                         "check with the provider, then settle it with `budbringer status`") from None
        except requests.Timeout:
            if safe:
                raise _Retry("no answer in time") from None
            raise UncertainDeliveryError(channel, forum, f"no answer within {policy.read_timeout:.0f} s after "
                                         "the request was sent; it may have been delivered",
                                         "check with the provider, then settle it") from None
        if response.status_code in expect:
            return response
        if response.status_code in RETRY_STATUSES:
            if not safe and (response.status_code != 429 or throttle_may_act):
                code, text = provider_error(response)
                raise MaybeActed(channel, forum, f"HTTP {response.status_code} {code} {text}".strip()
                                 + "; the provider may have acted", "check with the provider",
                                 wait=retry_after(response))
            raise _Retry(f"HTTP {response.status_code}", retry_after(response), response)
        if 400 <= response.status_code < 500:
            raise Refused(response)
        raise UncertainDeliveryError(channel, forum, f"unexpected HTTP {response.status_code}",
                                     "check with the provider")

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.wait is not None:
            return min(exc.wait, policy.max_retry_after)
        backoff = min(policy.backoff_max, policy.backoff_initial * 2 ** (state.attempt_number - 1))
        return backoff * (0.5 + random.random() / 2)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s → %s: %s; retrying in %.1f s (attempt %d of %d)", channel, forum,
                    getattr(exc, "reason", exc), state.next_action.sleep if state.next_action else 0,
                    state.attempt_number, policy.attempts)

    retrying = Retrying(
        retry=retry_if_exception_type(_Retry),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.budget),
        wait=wait,
        before_sleep=before_sleep,
        sleep=time.sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _Retry as exc:
        after = retry_after(exc.response)
        when = f"; the provider asks to wait {after:.0f} s" if after else ""
        raise TransientDeliveryError(channel, forum, f"{exc.reason} after {policy.attempts} attempts{when}",
                                     "nothing was delivered; the run retries later, or run it again") from None


def _never_sent(exc: requests.ConnectionError) -> bool:
    """A refused or unreachable connection means the request never left."""
    text = str(exc)
    return any(s in text for s in ("Connection refused", "Name or service not known", "NewConnectionError",
                                   "Failed to establish a new connection"))


def _short(exc: Exception) -> str:
    return str(exc).split("(Caused by")[-1].strip(" )")[:200]
