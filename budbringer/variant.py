"""A variant: a message rendered for one forum and channel, the unit that is approved, delivered and receipted.
Plain data (rendering makes it, budbringer.render); its content hash is what the approver approved."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variant:
    """A message rendered for one forum: exactly the content that will be delivered (and approved)."""

    forum: str
    forum_title: str
    tier: str
    tier_index: int
    phase: str
    medium: str
    channel: str
    template: str
    stakeholder: str
    subject: str
    body: str
    body_format: str  # "html" or "text"
    summary: str
    link: str | None
    recipients: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    image_url: str | None = None
    image_alt: str | None = None
    #: a mail's plain-text alternative to its HTML body, written as text (a notice's `.txt.j2` sibling); not
    #: approved content, so not in the hash
    text: str | None = None

    @property
    def content_hash(self) -> str:
        """A hash of everything the approver read. Recipients and sites are plan facts, not content."""
        content: dict[str, Any] = {
            "forum": self.forum,
            "medium": self.medium,
            "subject": self.subject,
            "body": self.body,
            "format": self.body_format,
            "summary": self.summary,
            "link": self.link,
        }
        if self.image_url is not None:  # only then: hashes of messages without an image stay as they were
            content["image"] = {"url": self.image_url, "alt": self.image_alt}
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
