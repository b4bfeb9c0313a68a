"""Notices about an approval request (the request, reminders, the escalation, a rejection), each keyed so that
it is sent once however often a run is resumed or retried. They take the delivery states (`states.State`) and
the delivery path: `NoticeBook` is the notices' side of `cascade.attempt`, as `DeliveryStore` is the deliveries'."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from budbringer.delivery import Delivery, Receipt
from budbringer.ledger.database import _aware, now
from budbringer.ledger.delivery_store import Record, matching_keys, settlement
from budbringer.ledger.schema import notices
from budbringer.ledger.states import NoticeKind, State


class NoticeStore:
    """The ledger's notices (a part of `Ledger`)."""

    engine: sa.Engine

    def claim_notice(self, key: str, message_id: str, request_id: int, kind: str) -> tuple[State, bool]:
        """Start sending a notice (request, reminder, escalation, rejection) once. Returns (state, owned).

        A notice that failed may be taken up again. One that was sent is done; one whose attempt never finished
        (a crash mid-send leaves it `attempting`) or ended `uncertain` may have reached the approvers already:
        it is not owned here, and `cascade.attempt` looks it up at the channel before any resend."""
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

    def uncertain_notices(self, message_id: str | None = None) -> list[Record]:
        """The notices whose outcome is unknown (a message's, or all): the operator settles them (`resolve`)."""
        query = sa.select(notices.c.key).where(notices.c.state == State.UNCERTAIN)
        if message_id:
            query = query.where(notices.c.message_id == message_id)
        with self.engine.connect() as conn:
            keys = [key for (key,) in conn.execute(query.order_by(notices.c.started_at))]
        return [record for key in keys if (record := self.notice_record(key)) is not None]

    def find_notice_key(self, text: str) -> str | None:
        """A notice's full key from its full key or its short key (as `status` shows it); None if no notice
        matches, ValueError if several do."""
        with self.engine.connect() as conn:
            if conn.execute(sa.select(notices.c.key).where(notices.c.key == text)).first() is not None:
                return text
            matches = matching_keys(conn, notices.c.key, text)
        if len(matches) > 1:
            raise ValueError(f"more than one notice matches {text!r}: give more of the short key")
        return matches[0] if matches else None

    def resolve_notice(self, key: str, outcome: str, note: str = "", by: str = "") -> Record:
        """The operator settles an uncertain notice (an approval request, reminder, escalation or rejection
        mail) after looking in the approvers' or the sending mailbox: `sent` records it as delivered; `resend`
        as failed, so that the next run that sends it (the send waiting for approval, the reminders) sends it
        again. Only an uncertain notice is settled. Raises ValueError with what is wrong."""
        record = self.notice_record(key)
        if record is None:
            raise ValueError(f"no notice {key!r} in the ledger")
        if record.state != State.UNCERTAIN:
            raise ValueError(f"{key} is {record.state.value}, not uncertain: only an uncertain notice is settled")
        _, values, _ = settlement(outcome, "notice", record.error, note, by)
        with self.engine.begin() as conn:
            settled = conn.execute(notices.update().where((notices.c.key == key)
                                                          & (notices.c.state == State.UNCERTAIN))
                                   .values(finished_at=now(), **values)).rowcount
        if not settled:
            raise ValueError(f"{key} changed while it was being settled: look at `budbringer status` again")
        return self.notice_record(key)  # type: ignore[return-value]

    def notice_record(self, key: str) -> Record | None:
        """A notice as a delivery `Record` (its kind as the forum), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(notices.select().where(notices.c.key == key)).mappings().first()
        if row is None:
            return None
        return Record(key=row["key"], message_id=row["message_id"], content_hash="", forum=row["kind"], channel="",
                      tier="approval", tier_index=0, approval_id=0, state=State(row["state"]), attempts=1,
                      receipt=Receipt.from_json(json.loads(row["receipt"])) if row["receipt"] else None,
                      error=row["error"], started_at=_aware(row["started_at"]),
                      finished_at=_aware(row["finished_at"]))

    def notice_book(self, request_id: int, kind: str) -> NoticeBook:
        """One notice's side of the delivery path (`cascade.attempt`)."""
        return NoticeBook(self, request_id, kind)


class NoticeBook:
    """The ledger's record of one notice, in the shape `cascade.attempt` drives a delivery's: claim it, finish
    it as delivered, failed or uncertain, take it up again after a lookup found it did not arrive, and hold it
    while one process works on it (the ledger's `hold`, as for deliveries)."""

    def __init__(self, ledger: NoticeStore, request_id: int, kind: str) -> None:
        self.ledger, self.request_id, self.kind = ledger, request_id, kind

    def hold(self, key: str) -> AbstractContextManager[bool]:
        return self.ledger.hold(key)  # type: ignore[attr-defined]

    def claim(self, delivery: Delivery) -> tuple[Record, bool]:
        _, owned = self.ledger.claim_notice(delivery.key, delivery.message_id, self.request_id, self.kind)
        return self.record(delivery.key), owned  # type: ignore[return-value]

    def retake(self, record: Record) -> bool:
        """Take up again a notice that a lookup at the channel found had not arrived (held: see `hold`)."""
        with self.ledger.engine.begin() as conn:
            taken = conn.execute(notices.update().where((notices.c.key == record.key)
                                                        & (notices.c.state == record.state))
                                 .values(state=State.ATTEMPTING, error=None, started_at=now())).rowcount
        return bool(taken)

    def delivered(self, key: str, receipt: Receipt, detail: str = "") -> None:
        self.ledger.notice_done(key, State.DELIVERED, receipt)

    def failed(self, key: str, error: str) -> None:
        self.ledger.notice_done(key, State.FAILED, error=error)

    def uncertain(self, key: str, error: str) -> None:
        self.ledger.notice_done(key, State.UNCERTAIN, error=error)

    def record(self, key: str) -> Record | None:
        return self.ledger.notice_record(key)
