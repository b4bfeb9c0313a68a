"""Delivery and Receipt: one rendered variant to one forum over one channel, and the provider's answer."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from budbringer.render import Variant
from budbringer.clock import default_clock


@dataclass(frozen=True)
class Delivery:
    """One variant to one forum over one channel, under one approval.

    The key is stable across runs, retries and crashes: (message, content hash, forum, channel). It is what
    makes "exactly once" checkable: the ledger holds one row per key, and providers that can be searched are
    given the key (a mail header, a page name) so that an uncertain attempt can be looked up.
    """

    message_id: str
    variant: Variant
    channel: str
    approval_id: int

    @property
    def forum(self) -> str:
        return self.variant.forum

    @property
    def key(self) -> str:
        return delivery_key(self.message_id, self.variant.content_hash, self.forum, self.channel)

    @property
    def short_key(self) -> str:
        """A compact, filename- and URL-safe form of the key (used for page names and file names)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


def delivery_key(message_id: str, content_hash: str, forum: str, channel: str) -> str:
    return f"{message_id}/{content_hash[:16]}/{forum}/{channel}"


@dataclass(frozen=True)
class Receipt:
    """What the provider said when it took the delivery."""

    provider: str
    provider_id: str = ""
    url: str = ""
    delivered_at: dt.datetime = field(default_factory=default_clock)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "provider_id": self.provider_id,
            "url": self.url,
            "delivered_at": self.delivered_at.isoformat(),
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Receipt:
        return cls(
            provider=data["provider"],
            provider_id=data.get("provider_id", ""),
            url=data.get("url", ""),
            delivered_at=dt.datetime.fromisoformat(data["delivered_at"]),
            details=data.get("details", {}),
        )


@dataclass(frozen=True)
class Notice(Delivery):
    """A notice about an approval request (the request, a reminder, the escalation, a rejection) as an
    envelope: it takes the delivery path (`cascade.attempt`) with the notice's own key, so the channel marks and
    finds it by that key even when its text is rendered again (a reminder names who has decided so far)."""

    notice_key: str = ""

    @property
    def key(self) -> str:
        return self.notice_key
