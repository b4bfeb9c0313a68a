"""Personal signed links to the author's page (budbringer/web/author.py): one per author in the plan.

A token names the author and the moment it expires, signed with the same secret as the approvers' links but
with its own itsdangerous salt: an author's link is no approval link (nor a preview link), and an approval link
opens no author's page. The page checks that the author the token names is still in the plan's `authors:`.

`author_url(plan, message_id)` gives the address of a message's page for a mail (the rejection mail's
`author_url`): a personal link when the message's contact is one of the plan's authors, else the page's address
behind sign-in (`/skriv`), which shows who may open it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itsdangerous import URLSafeTimedSerializer

from budbringer import approval_links
from budbringer.approval_links import LinkRefused
from budbringer.plan import Author, Plan

#: itsdangerous salt: a token signed for the author's page is no use for any other purpose
AUTHOR_SALT = "budbringer.author-link.v1"
#: how long a link printed by `budbringer link --author` works unless told otherwise
DEFAULT_VALIDITY = dt.timedelta(days=60)
#: the hard outer bound that itsdangerous checks on the signature's own timestamp
MAX_AGE = dt.timedelta(days=400)
#: the pages' path: /skriv/<token>/… (web/author.py)
PREFIX = "/skriv"


@dataclass(frozen=True)
class AuthorClaim:
    author: str
    expires: dt.datetime


class AuthorSigner:
    """Signs and checks author links."""

    def __init__(self, key: str | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(key or approval_links.secret(), salt=AUTHOR_SALT)

    def __repr__(self) -> str:
        return "AuthorSigner(<secret>)"

    def token(self, author: Author, now: dt.datetime, validity: dt.timedelta = DEFAULT_VALIDITY) -> str:
        return self._serializer.dumps({"a": author.name, "x": int((now + min(validity, MAX_AGE)).timestamp())})

    def url(self, plan: Plan, author: Author, now: dt.datetime, validity: dt.timedelta = DEFAULT_VALIDITY,
            message_id: str | None = None) -> str:
        page = f"/budskab/{message_id}" if message_id else ""
        return f"{approval_links.base_url(plan)}{PREFIX}/{self.token(author, now, validity)}{page}"

    def claim(self, token: str, now: dt.datetime) -> AuthorClaim:
        """The claim of a genuine, unexpired author token; LinkRefused("tampered" or "expired") otherwise."""
        data = approval_links.signed_data(self._serializer, token, MAX_AGE)
        try:
            claim = AuthorClaim(str(data["a"]), dt.datetime.fromtimestamp(int(data["x"]), dt.UTC))
        except (KeyError, TypeError, ValueError):
            raise LinkRefused("tampered") from None
        if not claim.author:
            raise LinkRefused("tampered")
        if now >= claim.expires:
            raise LinkRefused("expired")
        return claim


def author_url(plan: Plan, message_id: str, now: dt.datetime, contact_email: str = "",
               signer: AuthorSigner | None = None) -> str:
    """The address of the message's page on the author's page, for a mail to its author: a personal link when
    `contact_email` (the message's contact) is one of the plan's authors, else `/skriv` behind sign-in."""
    author = plan.author(contact_email) if contact_email else None
    if author is None:
        return f"{approval_links.base_url(plan)}{PREFIX}"
    return (signer or AuthorSigner()).url(plan, author, now, message_id=message_id)
