"""`Ledger`: the stores joined, on one engine (SQLite by default, or `BUDBRINGER_DATABASE_URL`)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from budbringer.ledger.answer_store import AnswerStore
from budbringer.ledger.approval_store import ApprovalStore
from budbringer.ledger.database import _engine, database_url
from budbringer.ledger.delivery_store import DeliveryStore
from budbringer.ledger.locks import Locks
from budbringer.ledger.notice_store import NoticeStore
from budbringer.ledger.session_store import SessionStore


class Ledger(ApprovalStore, DeliveryStore, NoticeStore, AnswerStore, SessionStore, Locks):
    def __init__(self, url: str | None = None, home: Path | None = None) -> None:
        """`url`: the runtime's (`Settings.ledger_url`), else the settings'; `home`: the settings' home folder,
        where the locks of a ledger that is no SQLite file go."""
        self.url = url or database_url()
        self.engine = _engine(self.url)
        self._home = home

    @property
    def home(self) -> Path:  # type: ignore[override]  # Locks declares the attribute; here it is read on demand
        if self._home is None:
            from budbringer import settings

            self._home = settings.current().home_folder
        return self._home

    def __repr__(self) -> str:
        return f"Ledger({sa.make_url(self.url).render_as_string(hide_password=True)!r})"
