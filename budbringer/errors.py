"""Errors that Budbringer shows to a person.

Every error raised on bad input names the file, the field and the fix, so that an operator can act on it
without reading code. Delivery errors say whether the outcome is known: a permanent failure means the
provider refused (nothing was delivered), an uncertain one means it may have been delivered.
"""

from __future__ import annotations

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
    """A URL safe to print: the password of `user:password@host` and the values of credential-bearing query
    parameters (`sig=`, `token=`, …) replaced by ***. Anything that does not parse as a URL is returned as is."""
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
    query = parts.query
    if query:
        pairs = [part.partition("=") for part in query.split("&")]
        query = "&".join(f"{name}={MASK}" if unquote_plus(name).casefold() in SECRET_PARAMETERS else name + eq + value
                         for name, eq, value in pairs)
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to hide: as given (urlunsplit would drop the empty host of sqlite:////path)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_urls(text: str) -> str:
    """Every URL in a text masked (`mask_url`): for error texts and anything else shown to a person."""
    return _URL.sub(lambda match: mask_url(match.group(0)), text) if "://" in text else text


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
        return mask_urls(f"{where}: {self.field}: {self.what}\n    fix: {self.fix}")


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
        self.reason, self.fix = mask_urls(reason), mask_urls(fix)
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
