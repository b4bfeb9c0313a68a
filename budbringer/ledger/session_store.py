"""The approval pages' sign-in sessions: opened at a sign-in, ended at a sign-out.

The browser's cookie carries a random token; the ledger keeps only its SHA-256, the member, the account that
signed in (`Account`) and until when the session counts. A session is good while it has not ended and has
not expired, so a cookie copied before a sign-out is refused after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from budbringer.ledger.database import _aware, now
from budbringer.ledger.schema import web_sessions


@dataclass(frozen=True)
class Account:
    """An Entra ID account as its ID token named it: object id and tenant id (what identifies it), and the
    user principal name it had at the time (for people to read; it can change)."""

    oid: str
    tid: str
    upn: str


@dataclass(frozen=True)
class WebSession:
    member: str
    account: Account
    started_at: dt.datetime
    expires_at: dt.datetime


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """Sign-in sessions of the approval pages, on `engine`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def open_session(self, token: str, member: str, account: Account, seconds: int,
                     at: dt.datetime | None = None) -> WebSession:
        """A sign-in of `member` with `account` at `at` (the runtime's clock; default now), good for `seconds`."""
        started = at or now()
        with self.engine.begin() as conn:
            conn.execute(web_sessions.insert().values(
                id=_key(token), member=member, oid=account.oid, tid=account.tid, upn=account.upn[:320],
                started_at=started, expires_at=started + dt.timedelta(seconds=seconds)))
        return WebSession(member, account, started, started + dt.timedelta(seconds=seconds))

    def web_session(self, token: str, at: dt.datetime | None = None) -> WebSession | None:
        """The session this token opened, while it counts at `at` (default now): not ended and not expired."""
        with self.engine.connect() as conn:
            row = conn.execute(web_sessions.select().where(web_sessions.c.id == _key(token))).mappings().first()
        if row is None or row["ended_at"] is not None or _aware(row["expires_at"]) <= (at or now()):
            return None
        return WebSession(row["member"], Account(row["oid"], row["tid"], row["upn"]), _aware(row["started_at"]),
                          _aware(row["expires_at"]))

    def end_session(self, token: str) -> bool:
        """Sign out: the session no longer counts, whoever presents its cookie. False if it had ended."""
        with self.engine.begin() as conn:
            changed = conn.execute(web_sessions.update().where(
                (web_sessions.c.id == _key(token)) & web_sessions.c.ended_at.is_(None)).values(ended_at=now()))
        return bool(changed.rowcount)
