"""Errors that Budbringer shows to a person.

Every error raised on bad input names the file, the field and the fix, so that an operator can act on it
without reading code. Delivery errors say whether the outcome is known: a permanent failure means the
provider refused (nothing was delivered), an uncertain one means it may have been delivered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit, urlunsplit

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
#: query parameters that carry a credential (Power Automate and Azure SAS `sig`, OAuth `code`, API keys)
SECRET_PARAMETERS = frozenset({"sig", "signature", "token", "access_token", "id_token", "refresh_token", "code",
                               "key", "apikey", "api_key", "api-key", "secret", "client_secret", "password",
                               "pwd", "auth", "x-api-key"})
MASK = "***"


def mask_url(url: str) -> str:
    """A URL safe to print: the password of `user:password@host` and the values of credential-bearing query or
    fragment parameters (`sig=`, `token=`, …) replaced by ***. Anything that does not parse as a URL is returned
    as is, apart from those parameters."""
    url = _mask_parameters(url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username}:{MASK}@{netloc.rpartition('@')[2]}"
    elif parts.username is not None and "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"  # a bare user part is often a token
    if netloc == parts.netloc:
        return url  # nothing to hide: as given (urlunsplit would drop the empty host of sqlite:////path)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


#: `name=value` after `?`, `&` (also HTML's `&amp;`), `;` or `#`: a query's or a fragment's parameter
_PARAMETER = re.compile(r"(?P<lead>[?&;#]|&amp;)(?P<name>[A-Za-z0-9_.~%+-]+)=(?P<value>[^&#;\s'\"<>]*)")
#: `scheme://user:password@` where the password may hold spaces (which end a URL for `_URL`)
_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@:'\"<>]*):(?P<password>[^\s@'\"<>][^@\n'\"<>]{0,199}?)@"
                          r"(?=[^\s@]*[.:/\w])")
#: three base64url parts, the first a JSON header: a JSON Web Token (an ID or access token)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
#: a run of token characters long enough to be a key
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _mask_parameters(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        if unquote_plus(match["name"]).casefold() in SECRET_PARAMETERS and match["value"]:
            return f"{match['lead']}{match['name']}={MASK}"
        return match.group(0)
    return _PARAMETER.sub(one, text) if "=" in text else text


def _entropy(text: str) -> float:
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(token: str) -> bool:
    """A long run of token characters that reads as random: a key, a secret, a signature (not a word, a path
    part or a GUID, which tenant and client ids are)."""
    if token.startswith("/"):  # a path: its parts, each on its own
        return any(_random_looking(part) for part in token.split("/") if part)
    for part in _GUID.split(token):
        if len(part) < 32:
            continue
        digits, lower, upper = (any(c.isdigit() for c in part), any(c.islower() for c in part),
                                any(c.isupper() for c in part))
        if all(c in "0123456789abcdefABCDEF" for c in part):
            if digits and (lower or upper) and _entropy(part) >= 3.3:
                return True  # a hex key or digest
        elif digits and lower and upper and _entropy(part) >= 4.3:
            return True  # base64 or base62
    return False


def secret_reason(value: str) -> str | None:
    """Why a value looks like a secret, whatever it is called, or None: credentials in a URL (`user:password@`),
    a credential-bearing query or fragment parameter (`sig=`, `token=`, `secret=`, `password=`, …), a JSON Web
    Token, or a long random-looking string. The reason never quotes the value."""
    if _CREDENTIALS.search(value):
        return "a URL with a user name and password (user:password@)"
    for match in _PARAMETER.finditer(value):
        if unquote_plus(match["name"]).casefold() in SECRET_PARAMETERS and match["value"]:
            return f"a `{match['name']}=` parameter, which carries a credential"
    if _JWT.search(value):
        return "a token (JWT)"
    if any(_random_looking(t) for t in _TOKEN.findall(value)):
        return "a long random-looking string (a key or a signature)"
    try:
        if any(urlsplit(u).username for u in _URL.findall(value)):
            return "a URL with a user part (user@), often a token"
    except ValueError:
        pass
    return None


def mask_urls(text: str) -> str:
    """Every URL in a text masked (`mask_url`): for error texts and anything else shown to a person."""
    if "://" in text:
        text = _CREDENTIALS.sub(lambda match: f"{match['head']}:{MASK}@", text)
        text = _URL.sub(lambda match: mask_url(match.group(0)), text)
    return _mask_parameters(text)


def mask_secrets(text: str) -> str:
    """A text safe to show: every URL masked (`mask_urls`), and tokens (JWT) and long random-looking strings
    replaced by ***. For errors, `budbringer plan` and the /plan page."""
    text = _JWT.sub(MASK, mask_urls(text))
    return _TOKEN.sub(lambda match: MASK if _random_looking(match.group(0)) else match.group(0), text)


@dataclass
class Problem:
    """One thing wrong with the input: where it is, what is wrong, and what to do about it."""

    file: str
    field: str
    what: str
    fix: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return mask_secrets(f"{where}: {self.field}: {self.what}\n    fix: {self.fix}")


class BudbringerError(Exception):
    """Base of every error Budbringer raises on purpose."""


@dataclass
class InputError(BudbringerError):
    """The plan, a message or a template is wrong. Nothing has been sent."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found; nothing was sent:"
        return "\n".join([head, *(f"  - {problem}" for problem in self.problems)])


class LedgerError(BudbringerError):
    """The ledger cannot be used (unreachable, locked, corrupt, a bad URL). Nothing was sent."""


class ApprovalError(BudbringerError):
    """A delivery was attempted without an approval that covers its exact content."""


class DeliveryError(BudbringerError):
    """A channel could not deliver. Subclasses say whether the outcome is known."""

    def __init__(self, channel: str, forum: str, reason: str, fix: str = "") -> None:
        self.channel, self.forum, self.reason, self.fix = channel, forum, reason, fix
        self.reason, self.fix = mask_secrets(reason), mask_secrets(fix)
        text = f"{channel} → {forum}: {self.reason}"
        super().__init__(text + (f" ({self.fix})" if self.fix else ""))


class PermanentDeliveryError(DeliveryError):
    """The provider refused (400/401/403/404 and the like): nothing was delivered, retrying will not help."""


class TransientDeliveryError(DeliveryError):
    """The provider could not take it now (429, 503, a refused connection): nothing was delivered."""


class UncertainDeliveryError(DeliveryError):
    """The request may have reached the provider (a timeout after sending, a 5xx): it may have been delivered.

    Never re-sent blindly: reconciled with the provider where it can be looked up, otherwise shown to the
    operator to settle.
    """
