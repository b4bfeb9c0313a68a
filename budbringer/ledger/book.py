"""`Ledger`: the stores joined, on one engine (SQLite by default, or `BUDBRINGER_DATABASE_URL`)."""

from __future__ import annotations

import sqlalchemy as sa

from budbringer.ledger.answer_store import AnswerStore
from budbringer.ledger.approval_store import ApprovalStore
from budbringer.ledger.database import _engine, database_url
from budbringer.ledger.delivery_store import DeliveryStore
from budbringer.ledger.locks import Locks
from budbringer.ledger.notice_store import NoticeStore
from budbringer.ledger.session_store import SessionStore


class Ledger(ApprovalStore, DeliveryStore, NoticeStore, AnswerStore, SessionStore, Locks):
    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = _engine(self.url)

    def __repr__(self) -> str:
        return f"Ledger({sa.make_url(self.url).render_as_string(hide_password=True)!r})"
