"""Notices about an approval request (the request, reminders, the escalation, a rejection): records of their
own, one row per notice key with its channel, state and attempt number, and every change of state appended to
`notice_events`. They are kept by the rule deliveries are kept by (`attempts.Attempts`: claim, retake after a
lookup, finish, settle) with the same states (`states.State`), so a notice is sent once however often a run
is resumed or retried. `NoticeBook` puts one notice on the delivery path (`cascade.attempt`)."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa

from budbringer.delivery import Delivery, Receipt
from budbringer.ledger.attempts import Attempts, Event, entry
from budbringer.ledger.locks import Locks
from budbringer.ledger.schema import notice_events, notices
from budbringer.ledger.states import NoticeKind, State


@dataclass(frozen=True)
class NoticeRecord:
    """A notice as the ledger knows it. `kind` as stored: `request:mette-lund`, `reminder-1:jens-kragh`,
    `escalation:mette-lund`, `rejection` (`family` is its `NoticeKind`)."""

    key: str
    message_id: str
    request_id: int
    kind: str
    channel: str
    state: State
    attempts: int
    receipt: Receipt | None
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def family(self) -> NoticeKind:
        return NoticeKind.of(self.kind)


class NoticeStore:
    """The ledger's notices, on `engine`, held while sent with `locks` (as deliveries are)."""

    def __init__(self, engine: sa.Engine, locks: Locks) -> None:
        self.engine, self.locks = engine, locks
        self.attempts = Attempts(engine, notices, notice_events, "notice")

    def claim(self, key: str, message_id: str, request_id: int, kind: str,
              channel: str = "") -> tuple[NoticeRecord, bool]:
        """Start sending a notice once. Returns the record and whether this caller now owns an attempt.

        A notice that failed is taken up again (the next attempt). One that was delivered is done; one whose
        attempt never finished (a crash mid-send leaves it `attempting`) or ended `uncertain` may have reached
        its recipients already: it is not owned here, and `cascade.attempt` looks it up at the channel before
        any resend (`retake`)."""
        NoticeKind.of(kind)  # ValueError for a kind that is none of ours
        owned = self.attempts.claim(key, {"message_id": message_id, "request_id": request_id, "kind": kind,
                                          "channel": channel})
        return self._known(key), owned

    def retake(self, record: NoticeRecord) -> bool:
        """Take up again a notice that a lookup at the channel found had not arrived (held: see `hold`)."""
        return self.attempts.retake(record.key, record.attempts)

    def finish(self, key: str, state: State, receipt: Receipt | None = None, error: str = "",
               detail: str = "") -> None:
        """End the attempt as delivered (with its receipt), failed or uncertain (with the error)."""
        self.attempts.finish(key, state, error=error or None,
                             receipt=json.dumps(receipt.to_json()) if receipt else None,
                             detail=detail or error or (receipt.provider_id if receipt else ""))

    def states(self, request_id: int) -> dict[str, State]:
        """Kind → state of every notice of a request (e.g. {"request:mette-lund": "delivered", ...})."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notices.c.kind, notices.c.state)
                                .where(notices.c.request_id == request_id)).mappings().all()
        return {row["kind"]: State(row["state"]) for row in rows}

    def uncertain(self, message_id: str | None = None) -> list[NoticeRecord]:
        """The notices whose outcome is unknown (a message's, or all): the operator settles them (`resolve`)."""
        query = notices.select().where(notices.c.state == State.UNCERTAIN)
        if message_id:
            query = query.where(notices.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query.order_by(notices.c.started_at)).mappings()]

    def find_key(self, text: str) -> str | None:
        """A notice's full key from its full key or its short key (as `status` shows it); None if no notice
        matches, ValueError if several do."""
        matches = self.attempts.find_keys(text)
        if len(matches) > 1:
            raise ValueError(f"more than one notice matches {text!r}: give more of the short key")
        return matches[0] if matches else None

    def resolve(self, key: str, outcome: str, note: str = "", by: str = "") -> NoticeRecord:
        """The operator settles an uncertain notice (an approval request, reminder, escalation or rejection
        mail) after looking in the approvers' or the sending mailbox: `sent` records it as delivered; `resend`
        as failed, so that the next run that sends it (the send waiting for approval, the reminders) sends it
        again. Only an uncertain notice is settled. Raises ValueError with what is wrong."""
        record = self.record(key)
        self.attempts.settle(key, outcome, (record.channel if record else "") or "notice", note, by)
        return self._known(key)

    def record(self, key: str) -> NoticeRecord | None:
        return self.attempts.record(key, _record)

    def _known(self, key: str) -> NoticeRecord:
        return self.attempts.known(key, _record)

    def events(self, key: str) -> list[Event]:
        return self.attempts.events(key)

    def book(self, request_id: int, kind: str) -> NoticeBook:
        """One notice's side of the delivery path (`cascade.attempt`)."""
        return NoticeBook(self, request_id, kind)


class NoticeBook:
    """One notice in the shape `cascade.attempt` drives a delivery's (`cascade.Book`): hold it while one process
    works on it, claim it, finish it as delivered, failed or uncertain, take it up again after a lookup found it
    had not arrived."""

    def __init__(self, store: NoticeStore, request_id: int, kind: str) -> None:
        self.store, self.request_id, self.kind = store, request_id, kind

    def hold(self, key: str) -> AbstractContextManager[bool]:
        return self.store.locks.hold(key)

    def claim(self, delivery: Delivery) -> tuple[NoticeRecord, bool]:
        return self.store.claim(delivery.key, delivery.message_id, self.request_id, self.kind, delivery.channel)

    def retake(self, record: NoticeRecord) -> bool:
        return self.store.retake(record)

    def delivered(self, key: str, receipt: Receipt, detail: str = "") -> None:
        self.store.finish(key, State.DELIVERED, receipt, detail=detail)

    def failed(self, key: str, error: str) -> None:
        self.store.finish(key, State.FAILED, error=error)

    def uncertain(self, key: str, error: str) -> None:
        self.store.finish(key, State.UNCERTAIN, error=error)

    def record(self, key: str) -> NoticeRecord | None:
        return self.store.record(key)


def _record(row: sa.RowMapping) -> NoticeRecord:
    return NoticeRecord(**entry(row), message_id=row["message_id"], request_id=row["request_id"], kind=row["kind"],
                        channel=row["channel"] or "")
