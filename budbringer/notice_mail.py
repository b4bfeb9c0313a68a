"""A notice (the approval request, a reminder, the escalation, the rejection) as the mail a person opens.

The notice templates render an HTML fragment, as every variant does (`_layout.html.j2`), and the preview shows
it as such. Mailed, it is a whole document: `lang="da"`, the character set, and a viewport, so that a phone
shows it at its own width instead of a shrunken desktop page. Its written plain-text part (`Variant.text`,
from the template's `.txt.j2` sibling) travels beside it as multipart/alternative (adapters/mailformat.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape

from budbringer.ledger import Vote, VoteDecision
from budbringer.message import Message
from budbringer.plan import Plan
from budbringer.render import Variant

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def as_mail(variant: Variant) -> Variant:
    """The notice with its HTML body as a whole document with a viewport (once: a document is left as it is)."""
    if variant.body_format != "html" or variant.body.lstrip().lower().startswith("<!doctype"):
        return variant
    document = (f'<!DOCTYPE html>\n<html lang="da">\n<head>\n<meta charset="utf-8">\n{VIEWPORT}\n'
                f"<title>{escape(variant.subject)}</title>\n</head>\n<body>\n{variant.body.strip()}\n</body>\n</html>\n")
    return replace(variant, body=document)


@dataclass(frozen=True)
class Rejection:
    """One member's rejection as the author reads it: who, when (the plan's time zone), and the comment."""

    voter: str
    at: dt.datetime
    comment: str


def author(plan: Plan, message: Message) -> tuple[str, str]:
    """Whom a rejection goes to, and the name to greet: the message's `author:` (else the plan's contact), named
    by the message's contact or the plan's authors where one has that address; "" when none does."""
    address = message.author or plan.narrative.contact
    people = [message.contact, *(getattr(plan, "authors", None) or ())]  # `authors:` in the plan, once it has them
    name = next((p.name for p in people if p is not None and str(getattr(p, "email", "")).casefold()
                 == address.casefold()), "")
    return address, name


def rejection_context(plan: Plan, message: Message, votes: Sequence[Vote], author_url: str | None) -> dict[str, Any]:
    """What approval_rejected.*.j2 sees besides the request and the votes (templates/README.md)."""
    zone = ZoneInfo(plan.calendar.timezone)
    _, name = author(plan, message)
    return {"author_name": name, "author_url": author_url or "",
            "rejections": [Rejection(v.voter, v.at.astimezone(zone), v.comment) for v in votes
                           if v.decision == VoteDecision.REJECT]}
