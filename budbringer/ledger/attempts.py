"""The one rule deliveries and notices are kept by: a row per key with its state and its attempt number, and
every change of state appended to an events table, so the history can be read back.

    claim     a new key is inserted `attempting` (attempt 1); a `failed` one is taken up again (attempt n+1);
              anything else is reported, not owned (delivered: done; attempting or uncertain: it may have
              arrived, so the caller looks it up at the channel before any resend)
    retake    after a lookup found nothing: `attempting` or `uncertain` → `attempting` (attempt n+1)
    finish    `delivered`, `failed` or `uncertain`, only from a state that may change to it (`State.may_become`)
    settle    the operator's `resolve`: `uncertain` → `delivered` (sent) or `failed` (resend)

Every change is a compare-and-set on (key, state, attempt number), so of two runs that race for the same row
exactly one wins. `DeliveryStore` and `NoticeStore` each keep one `Attempts`, and read their rows back through it
(`Attempts.record`, `Attempts.known`, with the columns the rule keeps read by `entry`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from budbringer.delivery import Receipt
from budbringer.ledger.database import _aware, now
from budbringer.ledger.states import Resolution, State

RESOLUTIONS = tuple(Resolution)

R = TypeVar("R")


class Event(NamedTuple):
    """One change of a delivery's or a notice's state."""

    at: dt.datetime
    state: State
    detail: str


def short_key(key: str) -> str:
    """The short key `status` shows for a delivery or a notice (and `resolve` takes)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def matching_keys(conn: sa.Connection, column: sa.Column[str], text: str) -> list[str]:
    """The keys in `column` whose short key starts with `text` (at least 6 characters)."""
    wanted = text.strip().lower()
    if len(wanted) < 6:
        return []
    return [key for (key,) in conn.execute(sa.select(column)) if short_key(key).startswith(wanted)]


def entry(row: sa.RowMapping) -> dict[str, Any]:
    """The columns every record of attempts has (key, state, attempt number, receipt, error, start and end),
    read from a row: a store's record is these and its own columns."""
    return {"key": row["key"], "state": State(row["state"]), "attempts": row["attempts"],
            "receipt": Receipt.from_json(json.loads(row["receipt"])) if row["receipt"] else None,
            "error": row["error"], "started_at": _aware(row["started_at"]), "finished_at": _aware(row["finished_at"])}


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


class Attempts:
    """The attempts at one kind of envelope: `table` (keyed by `key`, with `state`, `attempts`, `error`,
    `started_at`, `finished_at`) and `events` (`key`, `at`, `state`, `detail`). `noun` names one in errors."""

    def __init__(self, engine: sa.Engine, table: sa.Table, events: sa.Table, noun: str) -> None:
        self.engine, self.table, self.events_table, self.noun = engine, table, events, noun

    def claim(self, key: str, values: Mapping[str, object], again: Mapping[str, object] | None = None) -> bool:
        """Insert the row (`values`) as attempt 1, or take a failed one up again (setting `again` too). Whether
        this caller now owns an attempt."""
        stamp = now()
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(key=key, state=State.ATTEMPTING, attempts=1,
                                                        started_at=stamp, **values))
                self._event(conn, key, State.ATTEMPTING, "first attempt")
            return True
        except IntegrityError:
            pass
        state, attempts = self._state(key)
        if state != State.FAILED:
            return False
        # A failed attempt delivered nothing: take it up again, unless another run just did.
        return self._take(key, (State.FAILED,), attempts, f"attempt {attempts + 1}",
                          error=None, started_at=stamp, **(again or {}))

    def retake(self, key: str, attempts: int) -> bool:
        """Take over an attempt that a lookup at the provider found had not arrived (attempting or uncertain)."""
        return self._take(key, (State.ATTEMPTING, State.UNCERTAIN), attempts,
                          f"attempt {attempts + 1} after lookup", started_at=now())

    def _take(self, key: str, states: tuple[State, ...], attempts: int, detail: str, **values: object) -> bool:
        t = self.table
        with self.engine.begin() as conn:
            taken = conn.execute(t.update().where(
                (t.c.key == key) & t.c.state.in_(states) & (t.c.attempts == attempts)
            ).values(state=State.ATTEMPTING, attempts=attempts + 1, **values)).rowcount
            if taken:
                self._event(conn, key, State.ATTEMPTING, detail)
        return bool(taken)

    def finish(self, key: str, state: State, *, detail: str, **values: object) -> None:
        """End the attempt as `state`. ValueError (nothing changed) when the row is in a state that may not
        change to it (`State.may_become`), e.g. a delivered one."""
        t = self.table
        with self.engine.begin() as conn:
            changed = conn.execute(t.update().where((t.c.key == key) & t.c.state.in_(State.before(state)))
                                   .values(state=state, finished_at=now(), **values)).rowcount
            if changed:
                self._event(conn, key, state, detail)
                return
        current = self._state(key)[0] if self.exists(key) else "missing"
        raise ValueError(f"{self.noun} {key} is {current}: it cannot become {state}")

    def settle(self, key: str, outcome: str, provider: str, note: str = "", by: str = "") -> State:
        """The operator settles an uncertain one (`resolve`): the state it now has. ValueError with what is
        wrong: not there, not uncertain, or changed meanwhile."""
        if outcome not in RESOLUTIONS:
            raise ValueError(f"settle a {self.noun} as one of {', '.join(RESOLUTIONS)}, not {outcome!r}")
        if not self.exists(key):
            raise ValueError(f"no {self.noun} {key!r} in the ledger")
        current, attempts = self._state(key)
        if current != State.UNCERTAIN:
            raise ValueError(f"{key} is {current.value}, not uncertain: only an uncertain {self.noun} is settled")
        with self.engine.connect() as conn:
            error: str | None = conn.execute(sa.select(self.table.c.error).where(self.table.c.key == key)).scalar_one()
        state, values, detail = settlement(outcome, provider, error, note, by)
        t = self.table
        with self.engine.begin() as conn:
            settled = conn.execute(t.update().where(
                (t.c.key == key) & (t.c.state == State.UNCERTAIN) & (t.c.attempts == attempts)
            ).values(finished_at=now(), **values)).rowcount
            if not settled:
                raise ValueError(f"{key} changed while it was being settled: look at `budbringer status` again")
            self._event(conn, key, state, detail)
        return state

    def find_keys(self, text: str) -> list[str]:
        """The full key `text` if it is one, else the keys whose short key starts with it."""
        if self.exists(text):
            return [text]
        with self.engine.connect() as conn:
            return matching_keys(conn, self.table.c.key, text)

    def record(self, key: str, read: Callable[[sa.RowMapping], R]) -> R | None:
        """The row of `key` as `read` makes it a record (the store's), or None when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(self.table.select().where(self.table.c.key == key)).mappings().first()
        return read(row) if row else None

    def known(self, key: str, read: Callable[[sa.RowMapping], R]) -> R:
        """The record of `key`; LookupError when there is none."""
        record = self.record(key, read)
        if record is None:
            raise LookupError(f"no {self.noun} {key!r} in the ledger")
        return record

    def exists(self, key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.table.c.key).where(self.table.c.key == key)).first() is not None

    def events(self, key: str) -> list[Event]:
        e = self.events_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(e.c.at, e.c.state, e.c.detail).where(e.c.key == key)
                                .order_by(e.c.id)).mappings().all()
        return [Event(_aware(row["at"]), State(row["state"]), row["detail"]) for row in rows]

    def _state(self, key: str) -> tuple[State, int]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table.c.state, self.table.c.attempts)
                               .where(self.table.c.key == key)).mappings().one()
        return State(row["state"]), row["attempts"]

    def _event(self, conn: sa.Connection, key: str, state: State, detail: str) -> None:
        conn.execute(self.events_table.insert().values(key=key, at=now(), state=state, detail=detail[:2000]))
