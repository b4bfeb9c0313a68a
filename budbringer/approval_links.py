"""Personal signed links: one per steering-group member and approval request.

A link carries a token signed with itsdangerous (`URLSafeTimedSerializer`, salt per purpose). The token names
one member, the request and the approval hash it was made for, and the moment it expires (the request's
deadline). It proves who follows it as long as only that member has the mail; an edited message has another
approval hash and so voids every link made for the old content.

The secret comes from $BUDBRINGER_WEB_SECRET; without it, one is generated once and kept in the ledger's home
folder (`.budbringer/web-secret`, file mode 0600). It never appears in a log, a page or an exception.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from budbringer.ledger import ApprovalRequest
from budbringer.plan import Member, Plan
from budbringer.web_address import base_url as base_url
from budbringer.settings import Settings

#: itsdangerous salt: a token signed for the approval page is no use for any other purpose
APPROVAL_SALT = "budbringer.approval-link.v1"
#: a read-only link to the page without buttons (for the Prefect form's description and operators)
PREVIEW_SALT = "budbringer.preview-link.v1"
#: a link without a deadline is valid this long
DEFAULT_VALIDITY = dt.timedelta(days=14)
#: the hard outer bound that itsdangerous checks on the signature's own timestamp
MAX_AGE = dt.timedelta(days=120)
SECRET_FILE = "web-secret"


class LinkRefused(Exception):
    """A link that cannot be used; `kind` is expired, tampered, void, other-member or used."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(kind)


@dataclass(frozen=True)
class Claim:
    """What a valid link says: who follows it, for which request and content, until when."""

    member: str
    request_id: int
    message_id: str
    approval_hash: str
    expires: dt.datetime


def home() -> Path:
    """The ledger's home folder (the settings', `Settings.home_for`: one default, beside the plan)."""
    from budbringer import settings

    return settings.current().home_folder


def secret(given: Settings | None = None) -> str:
    """$BUDBRINGER_WEB_SECRET, else the secret generated once under the home folder (mode 0600). `given`: the
    entry point's settings, else the settings read now."""
    from budbringer import settings

    current = given or settings.current()
    if current.web_secret is not None and current.web_secret.get_secret_value().strip():
        return current.web_secret.get_secret_value().strip()
    path = current.home_folder / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


def expiry(plan: Plan, request: ApprovalRequest) -> dt.datetime:
    """Until when a decision on the request counts, and so its links work.

    Without a deadline: DEFAULT_VALIDITY after the request. With one: the deadline, when the plan refuses late
    decisions (`approval.late_decisions: refuse`); when it accepts them (the default), the end of the meeting
    day (the briefing's last use), as a late decision is then recorded and marked late."""
    if request.deadline is None:
        return request.requested_at + DEFAULT_VALIDITY
    if plan.approval.late_decisions == "refuse" or request.meeting is None:
        return request.deadline
    zone = request.deadline.tzinfo
    try:
        zone = ZoneInfo(plan.calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    return max(request.deadline, dt.datetime.combine(request.meeting + dt.timedelta(days=1), dt.time(), tzinfo=zone))


def is_late(request: ApprovalRequest, at: dt.datetime) -> bool:
    """A decision given at `at` came after the request's approval deadline."""
    return request.deadline is not None and at > request.deadline


def signed_data(serializer: URLSafeTimedSerializer, token: str, max_age: dt.timedelta) -> Any:
    """What a genuine token signed by `serializer` holds, at most `max_age` old; LinkRefused("expired" or
    "tampered") otherwise. The approvers', the authors' and the reach page's links all open here."""
    try:
        return serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise LinkRefused("expired") from None
    except BadSignature:
        raise LinkRefused("tampered") from None


class LinkSigner:
    """Signs and checks the links of one purpose (the salt): approval links name a member, preview links none."""

    def __init__(self, key: str | None = None, salt: str = APPROVAL_SALT) -> None:
        self.key = key  # None: the configured secret (read here, never shown)
        self._serializer = URLSafeTimedSerializer(key or secret(), salt=salt)

    @classmethod
    def for_preview(cls, key: str | None = None) -> LinkSigner:
        return cls(key, salt=PREVIEW_SALT)

    def __repr__(self) -> str:
        return "LinkSigner(<secret>)"

    def token(self, plan: Plan, request: ApprovalRequest, member: Member | None) -> str:
        return self._serializer.dumps({"m": member.name if member else "", "r": request.id, "i": request.message_id,
                                       "h": request.approval_hash, "x": int(expiry(plan, request).timestamp())})

    def url(self, plan: Plan, request: ApprovalRequest, member: Member) -> str:
        return f"{base_url(plan)}/godkend/{self.token(plan, request, member)}"

    def preview_url(self, plan: Plan, request: ApprovalRequest) -> str:
        return f"{base_url(plan)}/vis/{self.token(plan, request, None)}"

    def claim(self, token: str, now: dt.datetime) -> Claim:
        """The claim of a genuine token unexpired at `now` (the runtime's clock); LinkRefused("tampered" or
        "expired") otherwise."""
        data = signed_data(self._serializer, token, MAX_AGE)
        try:
            claim = Claim(member=str(data["m"]), request_id=int(data["r"]), message_id=str(data["i"]),
                          approval_hash=str(data["h"]), expires=dt.datetime.fromtimestamp(int(data["x"]), dt.UTC))
        except (KeyError, TypeError, ValueError):
            raise LinkRefused("tampered") from None
        if now >= claim.expires:
            raise LinkRefused("expired")
        return claim
