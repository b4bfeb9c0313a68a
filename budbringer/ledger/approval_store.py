"""Approvals, and approval inside a run: a request for the approval of one exact content (its approval hash)
and the approvers' decisions on it (states: `states.RequestState`, `states.VoteDecision`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from budbringer import comment as comment_
from budbringer.approval import Approval
from budbringer.ledger.database import _aware, now
from budbringer.ledger.schema import approval_requests, approval_votes, approvals
from budbringer.ledger.session_store import Account
from budbringer.ledger.states import RequestState, VoteDecision

DECISIONS = tuple(VoteDecision)


class RequestClosed(Exception):
    """The request was decided (or replaced) before this vote could be recorded: nothing was recorded."""

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        super().__init__(f"approval request {request_id} is no longer open")


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
    state: RequestState
    decided_at: dt.datetime | None
    comment: str
    approval_id: int | None


@dataclass(frozen=True)
class Vote:
    voter: str
    decision: VoteDecision
    comment: str
    source: str
    at: dt.datetime
    signer: Account | None = None  # the account that signed in (source "sign-in")


class ApprovalStore:
    """The ledger's approvals, approval requests and votes, on `engine`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record_approval(self, approval: Approval) -> Approval:
        with self.engine.begin() as conn:
            new_id = _insert_approval(conn, approval)
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

    def open_request(self, message_id: str, approval_hash: str, title: str, meeting: dt.date | None,
                     deadline: dt.datetime | None) -> tuple[ApprovalRequest, bool]:
        """The request for approval of exactly this content, opened once. Returns it and whether it is new.

        Opening a request for new content voids the open requests for the message's earlier content: an
        edited message needs a new approval."""
        with self.engine.begin() as conn:
            existing = conn.execute(approval_requests.select().where(
                (approval_requests.c.message_id == message_id)
                & (approval_requests.c.approval_hash == approval_hash))).mappings().first()
            if existing and existing["state"] != RequestState.VOID:
                return _request(existing), False
            conn.execute(approval_requests.update().where(
                (approval_requests.c.message_id == message_id) & (approval_requests.c.state == RequestState.OPEN)
                & (approval_requests.c.approval_hash != approval_hash)
            ).values(state=RequestState.VOID, decided_at=now(),
                     comment="the message changed; a new request replaced this"))
            if existing:  # the message went back to content asked about before: ask again (its votes stand)
                conn.execute(approval_requests.update().where(approval_requests.c.id == existing["id"])
                             .values(state=RequestState.OPEN, decided_at=None, comment="", requested_at=now()))
        if existing:
            return self.request(message_id, approval_hash), False  # type: ignore[return-value]
        try:
            with self.engine.begin() as conn:
                conn.execute(approval_requests.insert().values(
                    message_id=message_id, approval_hash=approval_hash, title=title, requested_at=now(),
                    meeting=meeting, deadline=deadline.astimezone(dt.UTC) if deadline else None,
                    state=RequestState.OPEN, comment=""))
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
            rows = conn.execute(approval_requests.select().where(approval_requests.c.state == RequestState.OPEN)
                                .order_by(approval_requests.c.id)).mappings().all()
        return [_request(row) for row in rows]

    def latest_requests(self, states: tuple[RequestState, ...]) -> list[ApprovalRequest]:
        """Each message's latest request, where that one is in one of `states` (oldest first): a rejection a
        later request of the same message has followed is no longer news."""
        latest = sa.select(sa.func.max(approval_requests.c.id)).group_by(approval_requests.c.message_id)
        query = (approval_requests.select().where(approval_requests.c.id.in_(latest))
                 .where(approval_requests.c.state.in_([RequestState(s) for s in states]))
                 .order_by(approval_requests.c.id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_request(row) for row in rows]

    def waiting_run(self, request_id: int, flow_run_id: str | None) -> None:
        """Remember which flow run waits for this request's decision (so `approve` can resume it)."""
        with self.engine.begin() as conn:
            conn.execute(approval_requests.update().where(approval_requests.c.id == request_id)
                         .values(flow_run_id=flow_run_id))

    def vote(self, request_id: int, voter: str, decision: str, comment: str, source: str,
             signer: Account | None = None) -> bool:
        """Record one approver's decision (with the Entra ID account that signed in for it, if one did) while the
        request is open; False if this approver had already decided this request. Raises RequestClosed when the
        request was closed first: the check and the insert are one transaction that holds the request's row
        (`_hold_open`), so a vote is never recorded under a closed request, and a request is never closed past a
        vote it did not count (`decide`'s `votes_seen`)."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        try:
            with self.engine.begin() as conn:
                if not _hold_open(conn, request_id):
                    raise RequestClosed(request_id)
                conn.execute(approval_votes.insert().values(request_id=request_id, voter=voter, decision=decision,
                                                            comment=comment_.clean(comment), source=source,
                                                            at=now(), signer_oid=signer.oid if signer else None,
                                                            signer_tid=signer.tid if signer else None,
                                                            signer_upn=signer.upn[:320] if signer else None))
            return True
        except IntegrityError:
            return False

    def votes(self, request_id: int) -> list[Vote]:
        with self.engine.connect() as conn:
            rows = conn.execute(approval_votes.select().where(approval_votes.c.request_id == request_id)
                                .order_by(approval_votes.c.id)).mappings().all()
        return [Vote(voter=r["voter"], decision=VoteDecision(r["decision"]), comment=comment_.clean(r["comment"] or ""),
                     source=r["source"], at=_aware(r["at"]),
                     signer=Account(r["signer_oid"], r["signer_tid"] or "", r["signer_upn"] or "")
                     if r["signer_oid"] else None) for r in rows]

    def decide(self, request_id: int, state: RequestState | str, comment: str = "",
               approval_id: int | None = None, votes_seen: int | None = None,
               approval: Approval | None = None) -> Approval | bool:
        """Close an open request as approved or rejected; False if it was no longer open, or (with `votes_seen`)
        if a vote came in after the caller counted the votes: the caller looks again.

        With `approval`, the approval is recorded in the same transaction and the request points at it (returned),
        so an approval is never left behind for a request that another decision closed."""
        state = RequestState(state)  # ValueError for anything that is no request state
        with self.engine.begin() as conn:
            if not _hold_open(conn, request_id):
                return False
            if votes_seen is not None and conn.execute(
                    sa.select(sa.func.count()).select_from(approval_votes)
                    .where(approval_votes.c.request_id == request_id)).scalar_one() != votes_seen:
                return False
            if approval is not None:
                approval_id = _insert_approval(conn, approval)
            conn.execute(approval_requests.update().where(approval_requests.c.id == request_id)
                         .values(state=state, decided_at=now(), comment=comment_.clean(comment),
                                 approval_id=approval_id))
        if approval is not None:
            return self.approval(approval_id)  # type: ignore[return-value]
        return True


def _hold_open(conn: sa.Connection, request_id: int) -> bool:
    """Whether the request is open, holding its row for the rest of the transaction: an update that changes
    nothing, as the transaction's first write, takes PostgreSQL's row lock and SQLite's write lock, so a vote
    and a decision on one request follow each other, and each sees what the other committed."""
    return bool(conn.execute(approval_requests.update().where(
        (approval_requests.c.id == request_id) & (approval_requests.c.state == RequestState.OPEN)
    ).values(state=approval_requests.c.state)).rowcount)


def _insert_approval(conn: sa.Connection, approval: Approval) -> int:
    return conn.execute(approvals.insert().values(
        message_id=approval.message_id, approval_hash=approval.hash,
        variant_hashes=json.dumps(approval.variant_hashes, sort_keys=True),
        approved_by=approval.approved_by, reference=approval.reference,
        approved_at=approval.approved_at, override_order=approval.override_order,
        override_reason=approval.override_reason,
    )).inserted_primary_key[0]


def _approval(row: sa.RowMapping) -> Approval:
    return Approval(
        id=row["id"], message_id=row["message_id"], variant_hashes=json.loads(row["variant_hashes"]),
        approved_by=row["approved_by"], reference=row["reference"], approved_at=_aware(row["approved_at"]),
        override_order=bool(row["override_order"]), override_reason=row["override_reason"] or "",
    )


def _request(row: sa.RowMapping) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"], message_id=row["message_id"], approval_hash=row["approval_hash"],
        title=row["title"] or "", requested_at=_aware(row["requested_at"]), meeting=row["meeting"],
        deadline=_aware(row["deadline"]),
        flow_run_id=row["flow_run_id"], state=RequestState(row["state"]), decided_at=_aware(row["decided_at"]),
        comment=comment_.clean(row["comment"] or ""), approval_id=row["approval_id"])
