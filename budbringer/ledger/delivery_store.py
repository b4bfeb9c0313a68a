"""Deliveries: one row per delivery key (message, content hash, forum, channel), so a re-run, a retry or a
second run of the same message finds the row and never delivers twice. Every change of state is also appended
to `delivery_events`, so the history of a delivery can be read back. The rule (claim, retake, finish, settle)
is `attempts.Attempts`, the one notices are kept by too; the states are `states.State`."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa

from budbringer.delivery import Delivery, Receipt
from budbringer.ledger.attempts import RESOLUTIONS, Attempts, Event, entry, matching_keys, settlement, short_key
from budbringer.ledger.locks import Locks
from budbringer.ledger.schema import deliveries, delivery_events
from budbringer.ledger.states import State

__all__ = ["RESOLUTIONS", "DeliveryStore", "Record", "matching_keys", "settlement", "short_key"]


@dataclass(frozen=True)
class Record:
    """A delivery as the ledger knows it."""

    key: str
    message_id: str
    content_hash: str
    forum: str
    channel: str
    tier: str
    tier_index: int
    approval_id: int
    state: State
    attempts: int
    receipt: Receipt | None
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


class DeliveryStore:
    """The ledger's deliveries, on `engine`, held while worked on with `locks`. The delivery path's book
    (`cascade.Book`): hold, claim, retake, delivered, failed, uncertain, record."""

    def __init__(self, engine: sa.Engine, locks: Locks) -> None:
        self.engine, self.locks = engine, locks
        self.attempts = Attempts(engine, deliveries, delivery_events, "delivery")

    def hold(self, key: str) -> AbstractContextManager[bool]:
        return self.locks.hold(key)

    def claim(self, delivery: Delivery) -> tuple[Record, bool]:
        """Start an attempt, or find the earlier one.

        Returns the record and whether this caller now owns an attempt. When it does not, the record says
        what is known: delivered, uncertain, or an earlier attempt that never finished (a crash).
        """
        variant = delivery.variant
        owned = self.attempts.claim(delivery.key, {
            "message_id": delivery.message_id, "content_hash": variant.content_hash, "forum": variant.forum,
            "channel": delivery.channel, "tier": variant.tier, "tier_index": variant.tier_index,
            "approval_id": delivery.approval_id,
        }, again={"approval_id": delivery.approval_id})
        return self._known(delivery.key), owned

    def retake(self, record: Record) -> bool:
        """Take over an attempt that is known not to have delivered (after a lookup at the provider)."""
        return self.attempts.retake(record.key, record.attempts)

    def delivered(self, key: str, receipt: Receipt, detail: str = "") -> None:
        self.attempts.finish(key, State.DELIVERED, receipt=json.dumps(receipt.to_json()), error=None,
                             detail=detail or receipt.provider_id)

    def failed(self, key: str, error: str) -> None:
        self.attempts.finish(key, State.FAILED, error=error, detail=error)

    def uncertain(self, key: str, error: str) -> None:
        self.attempts.finish(key, State.UNCERTAIN, error=error, detail=error)

    def resolve(self, key: str, outcome: str, note: str = "", by: str = "") -> Record:
        """The operator settles an uncertain delivery after checking with the provider.

        `sent`: it arrived → delivered, with a receipt that says the operator settled it. `resend`: it did not
        arrive → failed, so the next run delivers it again. Only an uncertain delivery can be settled (a
        delivered one is done, a failed one is delivered again anyway, an attempting one may still be under
        way). Raises ValueError with what is wrong.
        """
        record = self.record(key)
        self.attempts.settle(key, outcome, record.channel if record else "", note, by)
        return self._known(key)

    def find_key(self, text: str) -> str:
        """A delivery's full key from its full key or its short key (as `status` shows it). ValueError if none
        or several match."""
        matches = self.attempts.find_keys(text)
        if len(matches) != 1:
            raise ValueError(f"{'no' if not matches else 'more than one'} delivery matches {text!r}: give the key "
                             "or the short key that `budbringer status` shows")
        return matches[0]

    def record(self, key: str) -> Record | None:
        return self.attempts.record(key, _record)

    def _known(self, key: str) -> Record:
        return self.attempts.known(key, _record)

    def records(self, message_id: str | None = None) -> list[Record]:
        query = deliveries.select().order_by(deliveries.c.message_id, deliveries.c.tier_index,
                                             deliveries.c.forum)
        if message_id:
            query = query.where(deliveries.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def events(self, key: str) -> list[Event]:
        return self.attempts.events(key)

    def delivered_hashes(self, message_id: str) -> set[str]:
        """Content hashes of this message that reached at least one forum (to catch edits after delivery)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.content_hash, deliveries.c.forum)
                                .where((deliveries.c.message_id == message_id)
                                       & (deliveries.c.state != State.FAILED))).all()
        return {f"{forum}={digest}" for digest, forum in rows}


def _record(row: sa.RowMapping) -> Record:
    return Record(**entry(row), message_id=row["message_id"], content_hash=row["content_hash"], forum=row["forum"],
                  channel=row["channel"], tier=row["tier"], tier_index=row["tier_index"],
                  approval_id=row["approval_id"])
