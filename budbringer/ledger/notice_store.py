"""Notices about an approval request (the request, reminders, the escalation, a rejection), each keyed so that
it is sent once however often a run is resumed or retried. They take the delivery states (`states.State`)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from budbringer.delivery import Receipt
from budbringer.ledger.database import now
from budbringer.ledger.schema import notices
from budbringer.ledger.states import NoticeKind, State


class NoticeStore:
    """The ledger's notices (a part of `Ledger`)."""

    engine: sa.Engine

    def claim_notice(self, key: str, message_id: str, request_id: int, kind: str) -> tuple[State, bool]:
        """Start sending a notice (request, reminder, escalation, rejection) once. Returns (state, owned).

        A notice that failed may be taken up again; one that was sent, or whose attempt never finished, is
        not sent again (a crash mid-send leaves it `attempting`: the approvers may have it already)."""
        NoticeKind.of(kind)  # ValueError for a kind that is none of ours
        try:
            with self.engine.begin() as conn:
                conn.execute(notices.insert().values(key=key, message_id=message_id, request_id=request_id,
                                                     kind=kind, state=State.ATTEMPTING, started_at=now()))
            return State.ATTEMPTING, True
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            taken = conn.execute(notices.update().where((notices.c.key == key) & (notices.c.state == State.FAILED))
                                 .values(state=State.ATTEMPTING, error=None, started_at=now())).rowcount
            state = conn.execute(sa.select(notices.c.state).where(notices.c.key == key)).scalar_one()
        return State(state), bool(taken)

    def notice_done(self, key: str, state: State, receipt: Receipt | None = None, error: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(notices.update().where(notices.c.key == key).values(
                state=state, finished_at=now(), error=error or None,
                receipt=json.dumps(receipt.to_json()) if receipt else None))

    def notices_for(self, request_id: int) -> dict[str, State]:
        """Kind → state of every notice of a request (e.g. {"request": "delivered", "reminder-1": ...})."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notices.c.kind, notices.c.state)
                                .where(notices.c.request_id == request_id)).all()
        return {kind: State(state) for kind, state in rows}
