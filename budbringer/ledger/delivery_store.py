"""Deliveries: one row per delivery key (message, content hash, forum, channel), so a re-run, a retry or a
second run of the same message finds the row and never delivers twice. Every change of state is also
appended to `delivery_events`, so the history of a delivery can be read back (states: `states.State`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from budbringer.delivery import Delivery, Receipt
from budbringer.ledger.database import _aware, now
from budbringer.ledger.schema import deliveries, delivery_events
from budbringer.ledger.states import Resolution, State

RESOLUTIONS = tuple(Resolution)


def short_key(key: str) -> str:
    """The short key `status` shows for a delivery or a notice (and `resolve` takes)."""
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def matching_keys(conn: sa.Connection, column: sa.Column, text: str) -> list[str]:
    """The keys in `column` whose short key starts with `text` (at least 6 characters)."""
    wanted = text.strip().lower()
    if len(wanted) < 6:
        return []
    return [key for (key,) in conn.execute(sa.select(column)) if short_key(key).startswith(wanted)]


def settlement(outcome: str, provider: str, earlier_error: str | None, note: str = "",
               by: str = "") -> tuple[State, dict[str, object], str]:
    """How the operator's `resolve` settles an uncertain delivery or notice: the new state, the columns to set,
    and the line that says who settled it. `sent`: delivered, with a receipt that says the operator settled it;
    `resend`: failed, so that the next run sends it again."""
    if outcome not in RESOLUTIONS:
        raise ValueError(f"settle a delivery as one of {', '.join(RESOLUTIONS)}, not {outcome!r}")
    from budbringer import settings

    who = by or settings.current().user or "the operator"
    detail = f"settled by {who} as {outcome}" + (f": {note}" if note else "")
    if outcome == Resolution.SENT:
        receipt = Receipt(provider=provider, provider_id="", details={
            "settled_by_operator": True, "by": who, "note": note, "earlier_error": earlier_error or ""})
        return State.DELIVERED, {"state": State.DELIVERED, "receipt": json.dumps(receipt.to_json()),
                                 "error": None}, detail
    return State.FAILED, {"state": State.FAILED, "error": f"{detail} (was: {earlier_error or 'uncertain'})"}, detail


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
    """The ledger's deliveries (a part of `Ledger`)."""

    engine: sa.Engine

    def claim(self, delivery: Delivery) -> tuple[Record, bool]:
        """Start an attempt, or find the earlier one.

        Returns the record and whether this caller now owns an attempt. When it does not, the record says
        what is known: delivered, uncertain, or an earlier attempt that never finished (a crash).
        """
        variant = delivery.variant
        stamp = now()
        try:
            with self.engine.begin() as conn:
                conn.execute(deliveries.insert().values(
                    key=delivery.key, message_id=delivery.message_id, content_hash=variant.content_hash,
                    forum=variant.forum, channel=delivery.channel, tier=variant.tier,
                    tier_index=variant.tier_index, approval_id=delivery.approval_id,
                    state=State.ATTEMPTING, attempts=1, started_at=stamp,
                ))
                self._event(conn, delivery.key, State.ATTEMPTING, "first attempt")
            return self.record(delivery.key), True  # type: ignore[return-value]
        except IntegrityError:
            pass
        existing = self.record(delivery.key)
        assert existing is not None
        if existing.state != State.FAILED:
            return existing, False
        # A failed delivery was not delivered: take it up again, unless another run just did.
        with self.engine.begin() as conn:
            taken = conn.execute(deliveries.update().where(
                (deliveries.c.key == delivery.key) & (deliveries.c.state == State.FAILED)
                & (deliveries.c.attempts == existing.attempts)
            ).values(state=State.ATTEMPTING, attempts=existing.attempts + 1, error=None, started_at=stamp,
                     approval_id=delivery.approval_id)).rowcount
            if taken:
                self._event(conn, delivery.key, State.ATTEMPTING, f"attempt {existing.attempts + 1}")
        return self.record(delivery.key), bool(taken)  # type: ignore[return-value]

    def retake(self, record: Record) -> bool:
        """Take over an attempt that is known not to have delivered (after a lookup at the provider)."""
        with self.engine.begin() as conn:
            taken = conn.execute(deliveries.update().where(
                (deliveries.c.key == record.key) & (deliveries.c.attempts == record.attempts)
                & deliveries.c.state.in_([State.ATTEMPTING, State.UNCERTAIN])
            ).values(state=State.ATTEMPTING, attempts=record.attempts + 1, started_at=now())).rowcount
            if taken:
                self._event(conn, record.key, State.ATTEMPTING, f"attempt {record.attempts + 1} after lookup")
        return bool(taken)

    def delivered(self, key: str, receipt: Receipt, detail: str = "") -> None:
        self._finish(key, State.DELIVERED, receipt=json.dumps(receipt.to_json()), error=None,
                     detail=detail or receipt.provider_id)

    def failed(self, key: str, error: str) -> None:
        self._finish(key, State.FAILED, error=error, detail=error)

    def uncertain(self, key: str, error: str) -> None:
        self._finish(key, State.UNCERTAIN, error=error, detail=error)

    def resolve(self, key: str, outcome: str, note: str = "", by: str = "") -> Record:
        """The operator settles an uncertain delivery after checking with the provider.

        `sent`: it arrived → delivered, with a receipt that says the operator settled it. `resend`: it did not
        arrive → failed, so the next run delivers it again. Only an uncertain delivery can be settled (a
        delivered one is done, a failed one is delivered again anyway, an attempting one may still be under
        way). Raises ValueError with what is wrong.
        """
        if outcome not in RESOLUTIONS:
            raise ValueError(f"settle a delivery as one of {', '.join(RESOLUTIONS)}, not {outcome!r}")
        record = self.record(key)
        if record is None:
            raise ValueError(f"no delivery {key!r} in the ledger")
        if record.state != State.UNCERTAIN:
            raise ValueError(f"{key} is {record.state.value}, not uncertain: only an uncertain delivery is settled")
        state, values, detail = settlement(outcome, record.channel, record.error, note, by)
        with self.engine.begin() as conn:
            settled = conn.execute(deliveries.update().where(
                (deliveries.c.key == key) & (deliveries.c.state == State.UNCERTAIN)
                & (deliveries.c.attempts == record.attempts)).values(finished_at=now(), **values)).rowcount
            if not settled:
                raise ValueError(f"{key} changed while it was being settled: look at `budbringer status` again")
            self._event(conn, key, state, detail)
        return self.record(key)  # type: ignore[return-value]

    def find_key(self, text: str) -> str:
        """A delivery's full key from its full key or its short key (as `status` shows it). ValueError if none
        or several match."""
        if self.record(text) is not None:
            return text
        with self.engine.connect() as conn:
            matches = matching_keys(conn, deliveries.c.key, text)
        if len(matches) != 1:
            raise ValueError(f"{'no' if not matches else 'more than one'} delivery matches {text!r}: give the key "
                             "or the short key that `budbringer status` shows")
        return matches[0]

    def _finish(self, key: str, state: State, *, detail: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.key == key)
                         .values(state=state, finished_at=now(), **values))
            self._event(conn, key, state, detail)

    @staticmethod
    def _event(conn: sa.Connection, key: str, state: State, detail: str) -> None:
        conn.execute(delivery_events.insert().values(key=key, at=now(), state=state, detail=detail[:2000]))

    def record(self, key: str) -> Record | None:
        with self.engine.connect() as conn:
            row = conn.execute(deliveries.select().where(deliveries.c.key == key)).mappings().first()
        return _record(row) if row else None

    def records(self, message_id: str | None = None) -> list[Record]:
        query = deliveries.select().order_by(deliveries.c.message_id, deliveries.c.tier_index,
                                             deliveries.c.forum)
        if message_id:
            query = query.where(deliveries.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def events(self, key: str) -> list[tuple[dt.datetime, State, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(delivery_events.c.at, delivery_events.c.state, delivery_events.c.detail)
                                .where(delivery_events.c.key == key).order_by(delivery_events.c.id)).all()
        return [(_aware(at), State(state), detail) for at, state, detail in rows]  # type: ignore[misc]

    def delivered_hashes(self, message_id: str) -> set[str]:
        """Content hashes of this message that reached at least one forum (to catch edits after delivery)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.content_hash, deliveries.c.forum)
                                .where((deliveries.c.message_id == message_id)
                                       & (deliveries.c.state != State.FAILED))).all()
        return {f"{forum}={digest}" for digest, forum in rows}


def _record(row: sa.RowMapping) -> Record:
    return Record(
        key=row["key"], message_id=row["message_id"], content_hash=row["content_hash"], forum=row["forum"],
        channel=row["channel"], tier=row["tier"], tier_index=row["tier_index"], approval_id=row["approval_id"],
        state=State(row["state"]), attempts=row["attempts"],
        receipt=Receipt.from_json(json.loads(row["receipt"])) if row["receipt"] else None,
        error=row["error"], started_at=_aware(row["started_at"]), finished_at=_aware(row["finished_at"]),
    )
