"""The ledger: every approval and every delivery with its state and receipt, in SQL.

SQLite by default (`.budbringer/ledger.db` beside the plan, see `ledger_home`, or under $BUDBRINGER_HOME);
`BUDBRINGER_DATABASE_URL` points it at
PostgreSQL (`postgresql+psycopg://…`) or anything SQLAlchemy speaks. Prefect's cache is no ledger: this is.

A delivery row is keyed by the delivery key (message, content hash, forum, channel), so a re-run, a retry or
a second run of the same message finds the row and never delivers twice. States:

    attempting → delivered        the provider took it (receipt kept)
    attempting → failed           the provider refused, or could not take it: nothing was delivered
    attempting → uncertain        it may have been delivered: reconciled, or settled by the operator

Every change of state is also appended to `delivery_events`, so the history of a delivery can be read back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt


class State(StrEnum):
    ATTEMPTING = "attempting"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


metadata = sa.MetaData()

approvals = sa.Table(
    "approvals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("approval_hash", sa.String(64), nullable=False),
    sa.Column("variant_hashes", sa.Text, nullable=False),
    sa.Column("approved_by", sa.String(500), nullable=False),
    sa.Column("reference", sa.String(500), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("override_order", sa.Boolean, nullable=False, default=False),
    sa.Column("override_reason", sa.Text, nullable=False, default=""),
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("forum", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("tier", sa.String(100), nullable=False),
    sa.Column("tier_index", sa.Integer, nullable=False),
    sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

delivery_events = sa.Table(
    "delivery_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


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


def database_url() -> str:
    if os.environ.get("BUDBRINGER_DATABASE_URL"):
        return os.environ["BUDBRINGER_DATABASE_URL"]
    home = ledger_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from budbringer.errors import LedgerError

        raise LedgerError(f"the ledger's folder {home} cannot be created ({exc.strerror}): set BUDBRINGER_HOME to "
                          "a folder you can write to, or BUDBRINGER_DATABASE_URL") from None
    return f"sqlite:///{(home / 'ledger.db').resolve()}"


def ledger_home(plan_file: Path | None = None) -> Path:
    """Where the SQLite ledger lives unless BUDBRINGER_DATABASE_URL says otherwise — never just the working
    folder, so a send from another folder finds the same ledger (docs/security.md):
    $BUDBRINGER_HOME; else $BUDBRINGER_DIR/.budbringer (the checkout a worker runs in); else beside the plan
    (`--plan`, $BUDBRINGER_PLAN, ./config/plan.yaml): the project folder that holds `config/plan.yaml`, or the
    plan's own folder; for the packaged plan, the user's data folder."""
    if os.environ.get("BUDBRINGER_HOME"):
        return Path(os.environ["BUDBRINGER_HOME"])
    if os.environ.get("BUDBRINGER_DIR"):
        return Path(os.environ["BUDBRINGER_DIR"]) / ".budbringer"
    from budbringer.plan import DEFAULT_PLAN, plan_path

    plan = (plan_file or plan_path()).resolve()
    if plan == DEFAULT_PLAN.resolve():
        data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(data) / "budbringer"
    folder = plan.parent
    return (folder.parent if folder.name == "config" else folder) / ".budbringer"


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> sa.Engine:
    with _engines_lock:
        if url not in _engines:
            if url.startswith("sqlite"):
                engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

                @sa.event.listens_for(engine, "connect")
                def _pragmas(connection, _record):  # type: ignore[no-untyped-def]
                    cursor = connection.cursor()
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA foreign_keys=ON")
                    cursor.close()
            else:
                engine = sa.create_engine(url, pool_pre_ping=True)
            metadata.create_all(engine)
            _engines[url] = engine
        return _engines[url]


class Ledger:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = _engine(self.url)

    def __repr__(self) -> str:
        return f"Ledger({sa.make_url(self.url).render_as_string(hide_password=True)!r})"

    # approvals -----------------------------------------------------------------------------------------

    def record_approval(self, approval: Approval) -> Approval:
        with self.engine.begin() as conn:
            result = conn.execute(approvals.insert().values(
                message_id=approval.message_id, approval_hash=approval.hash,
                variant_hashes=json.dumps(approval.variant_hashes, sort_keys=True),
                approved_by=approval.approved_by, reference=approval.reference,
                approved_at=approval.approved_at, override_order=approval.override_order,
                override_reason=approval.override_reason,
            ))
            new_id = result.inserted_primary_key[0]
        return self.approval(new_id)  # type: ignore[return-value]

    def approval(self, approval_id: int) -> Approval | None:
        with self.engine.connect() as conn:
            row = conn.execute(approvals.select().where(approvals.c.id == approval_id)).mappings().first()
        return _approval(row) if row else None

    def approvals_for(self, message_id: str) -> list[Approval]:
        with self.engine.connect() as conn:
            rows = conn.execute(approvals.select().where(approvals.c.message_id == message_id)
                                .order_by(approvals.c.id)).mappings().all()
        return [_approval(row) for row in rows]

    # deliveries ----------------------------------------------------------------------------------------

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
        who = by or os.environ.get("USER") or os.environ.get("USERNAME") or "the operator"
        detail = f"settled by {who} as {outcome}" + (f": {note}" if note else "")
        with self.engine.begin() as conn:
            if outcome == "sent":
                receipt = Receipt(provider=record.channel, provider_id="", details={
                    "settled_by_operator": True, "by": who, "note": note, "earlier_error": record.error or ""})
                values: dict[str, object] = {"state": State.DELIVERED, "receipt": json.dumps(receipt.to_json()),
                                             "error": None}
                state = State.DELIVERED
            else:
                values = {"state": State.FAILED, "error": f"{detail} (was: {record.error or 'uncertain'})"}
                state = State.FAILED
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
        import hashlib

        wanted = text.strip().lower()
        with self.engine.connect() as conn:
            keys = [row[0] for row in conn.execute(sa.select(deliveries.c.key))]
        matches = [key for key in keys if len(wanted) >= 6
                   and hashlib.sha256(key.encode()).hexdigest()[:16].startswith(wanted)]
        if len(matches) != 1:
            raise ValueError(f"{'no' if not matches else 'more than one'} delivery matches {text!r}: give the key "
                             "or the short key that `budbringer status` shows")
        return matches[0]

    def hold(self, key: str) -> AbstractContextManager[bool]:
        """Hold the right to work on one delivery while this process lives: yields False when another run
        holds it now. Released at the end, or by the operating system / the database when the process dies,
        so a crashed run never blocks the next one (see budbringer.cascade.deliver)."""
        if self.engine.dialect.name == "postgresql":
            return _pg_hold(self.engine, key)
        folder = (Path(self.engine.url.database).resolve().parent if self.engine.dialect.name == "sqlite"
                  and self.engine.url.database not in (None, "", ":memory:")
                  else Path(os.environ.get("BUDBRINGER_HOME", ".budbringer")).resolve())
        return _file_hold(folder / "locks", key)

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

    def events(self, key: str) -> list[tuple[dt.datetime, str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(delivery_events.c.at, delivery_events.c.state, delivery_events.c.detail)
                                .where(delivery_events.c.key == key).order_by(delivery_events.c.id)).all()
        return [(_aware(at), state, detail) for at, state, detail in rows]  # type: ignore[misc]

    def delivered_hashes(self, message_id: str) -> set[str]:
        """Content hashes of this message that reached at least one forum (to catch edits after delivery)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.content_hash, deliveries.c.forum)
                                .where((deliveries.c.message_id == message_id)
                                       & (deliveries.c.state != State.FAILED))).all()
        return {f"{forum}={digest}" for digest, forum in rows}

    # approval requests, votes and notices (approval inside a run) ------------------------------------

    def open_request(self, message_id: str, approval_hash: str, title: str, meeting: dt.date | None,
                     deadline: dt.datetime | None) -> tuple[ApprovalRequest, bool]:
        """The request for approval of exactly this content, opened once. Returns it and whether it is new.

        Opening a request for new content voids the open requests for the message's earlier content: an
        edited message needs a new approval."""
        with self.engine.begin() as conn:
            existing = conn.execute(approval_requests.select().where(
                (approval_requests.c.message_id == message_id)
                & (approval_requests.c.approval_hash == approval_hash))).mappings().first()
            if existing and existing["state"] != "void":
                return _request(existing), False
            conn.execute(approval_requests.update().where(
                (approval_requests.c.message_id == message_id) & (approval_requests.c.state == "open")
                & (approval_requests.c.approval_hash != approval_hash)
            ).values(state="void", decided_at=now(), comment="the message changed; a new request replaced this"))
            if existing:  # the message went back to content asked about before: ask again (its votes stand)
                conn.execute(approval_requests.update().where(approval_requests.c.id == existing["id"])
                             .values(state="open", decided_at=None, comment="", requested_at=now()))
        if existing:
            return self.request(message_id, approval_hash), False  # type: ignore[return-value]
        try:
            with self.engine.begin() as conn:
                conn.execute(approval_requests.insert().values(
                    message_id=message_id, approval_hash=approval_hash, title=title, requested_at=now(),
                    meeting=meeting, deadline=deadline.astimezone(dt.UTC) if deadline else None,
                    state="open", comment=""))
            created = True
        except IntegrityError:  # another run opened it at the same moment
            created = False
        return self.request(message_id, approval_hash), created  # type: ignore[return-value]

    def request(self, message_id: str, approval_hash: str | None = None) -> ApprovalRequest | None:
        """The request for this content, or (without a hash) the message's latest request."""
        query = approval_requests.select().where(approval_requests.c.message_id == message_id)
        if approval_hash:
            query = query.where(approval_requests.c.approval_hash == approval_hash)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(approval_requests.c.id.desc())).mappings().first()
        return _request(row) if row else None

    def open_requests(self) -> list[ApprovalRequest]:
        with self.engine.connect() as conn:
            rows = conn.execute(approval_requests.select().where(approval_requests.c.state == "open")
                                .order_by(approval_requests.c.id)).mappings().all()
        return [_request(row) for row in rows]

    def waiting_run(self, request_id: int, flow_run_id: str | None) -> None:
        """Remember which flow run waits for this request's decision (so `approve` can resume it)."""
        with self.engine.begin() as conn:
            conn.execute(approval_requests.update().where(approval_requests.c.id == request_id)
                         .values(flow_run_id=flow_run_id))

    def vote(self, request_id: int, voter: str, decision: str, comment: str, source: str) -> bool:
        """Record one approver's decision; False if this approver had already decided this request."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        try:
            with self.engine.begin() as conn:
                conn.execute(approval_votes.insert().values(request_id=request_id, voter=voter, decision=decision,
                                                            comment=comment, source=source, at=now()))
            return True
        except IntegrityError:
            return False

    def votes(self, request_id: int) -> list[Vote]:
        with self.engine.connect() as conn:
            rows = conn.execute(approval_votes.select().where(approval_votes.c.request_id == request_id)
                                .order_by(approval_votes.c.id)).mappings().all()
        return [Vote(voter=r["voter"], decision=r["decision"], comment=r["comment"] or "", source=r["source"],
                     at=_aware(r["at"])) for r in rows]  # type: ignore[arg-type]

    def decide(self, request_id: int, state: str, comment: str = "", approval_id: int | None = None) -> bool:
        """Close an open request as approved or rejected; False if it was no longer open."""
        with self.engine.begin() as conn:
            changed = conn.execute(approval_requests.update().where(
                (approval_requests.c.id == request_id) & (approval_requests.c.state == "open")
            ).values(state=state, decided_at=now(), comment=comment, approval_id=approval_id)).rowcount
        return bool(changed)

    def claim_notice(self, key: str, message_id: str, request_id: int, kind: str) -> tuple[str, bool]:
        """Start sending a notice (request, reminder, escalation, rejection) once. Returns (state, owned).

        A notice that failed may be taken up again; one that was sent, or whose attempt never finished, is
        not sent again (a crash mid-send leaves it `attempting`: the approvers may have it already)."""
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
        return state, bool(taken)

    def notice_done(self, key: str, state: State, receipt: Receipt | None = None, error: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(notices.update().where(notices.c.key == key).values(
                state=state, finished_at=now(), error=error or None,
                receipt=json.dumps(receipt.to_json()) if receipt else None))

    def notices_for(self, request_id: int) -> dict[str, str]:
        """Kind → state of every notice of a request (e.g. {"request": "delivered", "reminder-1": ...})."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notices.c.kind, notices.c.state)
                                .where(notices.c.request_id == request_id)).all()
        return {kind: state for kind, state in rows}

    # editors' answers to newsletter submissions --------------------------------------------------------

    def record_answer(self, message_id: str, forum: str, answer: str, note: str = "") -> EditorAnswer:
        """Record what a newsletter's editor said about a submission. A later answer replaces an earlier one
        in `answers()`; every answer stays in the table."""
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, not {answer!r}")
        with self.engine.begin() as conn:
            new_id = conn.execute(editor_answers.insert().values(
                message_id=message_id, forum=forum, answer=answer, note=note, marked_at=now(),
            )).inserted_primary_key[0]
            row = conn.execute(editor_answers.select().where(editor_answers.c.id == new_id)).mappings().one()
        return _answer(row)

    def answers(self, message_id: str | None = None) -> list[EditorAnswer]:
        """The latest answer for each (message, forum), in message and forum order."""
        query = editor_answers.select().order_by(editor_answers.c.id)
        if message_id:
            query = query.where(editor_answers.c.message_id == message_id)
        latest: dict[tuple[str, str], EditorAnswer] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                answer = _answer(row)
                latest[(answer.message_id, answer.forum)] = answer
        return [latest[key] for key in sorted(latest)]


RESOLUTIONS = ("sent", "resend")


@contextmanager
def _file_hold(folder: Path, key: str) -> Iterator[bool]:
    """An exclusive flock on a file per delivery key: conflicts between processes and between threads."""
    import fcntl
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _pg_hold(engine: sa.Engine, key: str) -> Iterator[bool]:
    """A PostgreSQL session advisory lock on the key's hash, held on a connection of its own."""
    import hashlib

    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:
        held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:n)"), {"n": number}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:n)"), {"n": number})
                conn.commit()


def _approval(row: sa.RowMapping) -> Approval:
    return Approval(
        id=row["id"], message_id=row["message_id"], variant_hashes=json.loads(row["variant_hashes"]),
        approved_by=row["approved_by"], reference=row["reference"], approved_at=_aware(row["approved_at"]),
        override_order=bool(row["override_order"]), override_reason=row["override_reason"] or "",
    )


def _record(row: sa.RowMapping) -> Record:
    return Record(
        key=row["key"], message_id=row["message_id"], content_hash=row["content_hash"], forum=row["forum"],
        channel=row["channel"], tier=row["tier"], tier_index=row["tier_index"], approval_id=row["approval_id"],
        state=State(row["state"]), attempts=row["attempts"],
        receipt=Receipt.from_json(json.loads(row["receipt"])) if row["receipt"] else None,
        error=row["error"], started_at=_aware(row["started_at"]), finished_at=_aware(row["finished_at"]),
    )


# Editors' answers: a newsletter is edited by people, who accept or decline a submission after it was
# delivered (`budbringer mark`). Kept apart from `deliveries`: the delivery succeeded either way.

ANSWERS = ("accepted", "declined")

editor_answers = sa.Table(
    "editor_answers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("forum", sa.String(100), nullable=False),
    sa.Column("answer", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class EditorAnswer:
    message_id: str
    forum: str
    answer: str
    note: str
    marked_at: dt.datetime


def _answer(row: sa.RowMapping) -> EditorAnswer:
    return EditorAnswer(message_id=row["message_id"], forum=row["forum"], answer=row["answer"],
                        note=row["note"] or "", marked_at=_aware(row["marked_at"]))  # type: ignore[arg-type]


# Approval inside a run: a request for the approval of one exact content (its approval hash), the approvers'
# decisions, and the notices sent about it (the request, reminders, the escalation, a rejection) — each
# notice keyed so that it is sent once however often a run is resumed or retried.

DECISIONS = ("approve", "reject")

approval_requests = sa.Table(
    "approval_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("approval_hash", sa.String(64), nullable=False),
    sa.Column("title", sa.String(300), nullable=False, default=""),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("meeting", sa.Date, nullable=True),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
    sa.Column("flow_run_id", sa.String(64), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),  # open, approved, rejected, void
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=True),
    sa.UniqueConstraint("message_id", "approval_hash", name="one_request_per_content"),
)

approval_votes = sa.Table(
    "approval_votes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("approval_requests.id"), nullable=False, index=True),
    sa.Column("voter", sa.String(200), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("request_id", "voter", name="one_vote_per_approver"),
)

notices = sa.Table(
    "notices", metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("approval_requests.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class ApprovalRequest:
    id: int
    message_id: str
    approval_hash: str
    title: str
    requested_at: dt.datetime
    meeting: dt.date | None
    deadline: dt.datetime | None
    flow_run_id: str | None
    state: str
    decided_at: dt.datetime | None
    comment: str
    approval_id: int | None


@dataclass(frozen=True)
class Vote:
    voter: str
    decision: str
    comment: str
    source: str
    at: dt.datetime


def _request(row: sa.RowMapping) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"], message_id=row["message_id"], approval_hash=row["approval_hash"],
        title=row["title"] or "", requested_at=_aware(row["requested_at"]), meeting=row["meeting"],
        deadline=_aware(row["deadline"]),
        flow_run_id=row["flow_run_id"], state=row["state"], decided_at=_aware(row["decided_at"]),
        comment=row["comment"] or "", approval_id=row["approval_id"])  # type: ignore[arg-type]
