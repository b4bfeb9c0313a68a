"""`Ledger`: the stores on one engine (SQLite by default, or `BUDBRINGER_DATABASE_URL`), and the one object
callers hold. Each store is an attribute built with what it needs, no more: the deliveries and the notices
take the engine and the locks, the others the engine. The methods below are the stores' own, named as callers
have always called them; a new caller may as well use the store (`ledger.notice_store.events(key)`)."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from pathlib import Path

import sqlalchemy as sa

from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger.answer_store import AnswerStore, EditorAnswer
from budbringer.ledger.approval_store import ApprovalRequest, ApprovalStore, Vote
from budbringer.ledger.attempts import Event
from budbringer.ledger.database import _engine, database_url, release
from budbringer.ledger.delivery_store import DeliveryStore, Record
from budbringer.ledger.locks import Locks
from budbringer.ledger.notice_store import NoticeBook, NoticeRecord, NoticeStore
from budbringer.ledger.reach_store import ReachStore
from budbringer.ledger.session_store import Account, SessionStore, WebSession
from budbringer.ledger.states import RequestState, State
from budbringer.reach_reading import Reach


class Ledger:
    def __init__(self, url: str | None = None, home: Path | None = None) -> None:
        """`url`: the runtime's (`Settings.ledger_url`), else the settings'; `home`: the settings' home folder,
        where the locks of a ledger that is no SQLite file go (else the entry point's settings say)."""
        self.url = url or database_url()
        self.engine = _engine(self.url)
        self.locks = Locks(self.engine, (lambda: home) if home is not None else None)
        self.delivery_store = DeliveryStore(self.engine, self.locks)
        self.notice_store = NoticeStore(self.engine, self.locks)
        self.approval_store = ApprovalStore(self.engine)
        self.answer_store = AnswerStore(self.engine)
        self.session_store = SessionStore(self.engine)
        self.reach_store = ReachStore(self.engine)
        self._closed = False

    def close(self) -> None:
        """Let the engine go: the last ledger on it disposes it (its connections and their file descriptors).
        Closing twice is harmless; a closed ledger still works, on connections opened afresh."""
        if not self._closed:
            self._closed = True
            release(self.url, self.engine)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({sa.make_url(self.url).render_as_string(hide_password=True)!r})"

    # Deliveries (`DeliveryStore`): the delivery path's book (`cascade.Book`), and what `status` and `resolve` read.

    def hold(self, key: str) -> AbstractContextManager[bool]:
        return self.locks.hold(key)

    def claim(self, delivery: Delivery) -> tuple[Record, bool]:
        return self.delivery_store.claim(delivery)

    def retake(self, record: Record) -> bool:
        return self.delivery_store.retake(record)

    def delivered(self, key: str, receipt: Receipt, detail: str = "") -> None:
        self.delivery_store.delivered(key, receipt, detail)

    def failed(self, key: str, error: str) -> None:
        self.delivery_store.failed(key, error)

    def uncertain(self, key: str, error: str) -> None:
        self.delivery_store.uncertain(key, error)

    def resolve(self, key: str, outcome: str, note: str = "", by: str = "") -> Record:
        return self.delivery_store.resolve(key, outcome, note, by)

    def find_key(self, text: str) -> str:
        return self.delivery_store.find_key(text)

    def record(self, key: str) -> Record | None:
        return self.delivery_store.record(key)

    def records(self, message_id: str | None = None) -> list[Record]:
        return self.delivery_store.records(message_id)

    def events(self, key: str) -> list[Event]:
        return self.delivery_store.events(key)

    def delivered_hashes(self, message_id: str) -> set[str]:
        return self.delivery_store.delivered_hashes(message_id)

    # Notices (`NoticeStore`).

    def notice_book(self, request_id: int, kind: str) -> NoticeBook:
        return self.notice_store.book(request_id, kind)

    def notices_for(self, request_id: int) -> dict[str, State]:
        return self.notice_store.states(request_id)

    def notice_record(self, key: str) -> NoticeRecord | None:
        return self.notice_store.record(key)

    def notice_events(self, key: str) -> list[Event]:
        return self.notice_store.events(key)

    def uncertain_notices(self, message_id: str | None = None) -> list[NoticeRecord]:
        return self.notice_store.uncertain(message_id)

    def find_notice_key(self, text: str) -> str | None:
        return self.notice_store.find_key(text)

    def resolve_notice(self, key: str, outcome: str, note: str = "", by: str = "") -> NoticeRecord:
        return self.notice_store.resolve(key, outcome, note, by)

    # Approvals, requests and votes (`ApprovalStore`).

    def record_approval(self, approval: Approval) -> Approval:
        return self.approval_store.record_approval(approval)

    def approval(self, approval_id: int) -> Approval | None:
        return self.approval_store.approval(approval_id)

    def approvals_for(self, message_id: str) -> list[Approval]:
        return self.approval_store.approvals_for(message_id)

    def open_request(self, message_id: str, approval_hash: str, title: str, meeting: dt.date | None,
                     deadline: dt.datetime | None) -> tuple[ApprovalRequest, bool]:
        return self.approval_store.open_request(message_id, approval_hash, title, meeting, deadline)

    def request(self, message_id: str, approval_hash: str | None = None) -> ApprovalRequest | None:
        return self.approval_store.request(message_id, approval_hash)

    def open_requests(self) -> list[ApprovalRequest]:
        return self.approval_store.open_requests()

    def latest_requests(self, states: tuple[RequestState, ...]) -> list[ApprovalRequest]:
        return self.approval_store.latest_requests(states)

    def waiting_run(self, request_id: int, flow_run_id: str | None) -> None:
        self.approval_store.waiting_run(request_id, flow_run_id)

    def vote(self, request_id: int, voter: str, decision: str, comment: str, source: str,
             signer: Account | None = None) -> bool:
        return self.approval_store.vote(request_id, voter, decision, comment, source, signer)

    def votes(self, request_id: int) -> list[Vote]:
        return self.approval_store.votes(request_id)

    def decide(self, request_id: int, state: RequestState | str, comment: str = "",
               approval_id: int | None = None, votes_seen: int | None = None,
               approval: Approval | None = None) -> Approval | bool:
        return self.approval_store.decide(request_id, state, comment, approval_id, votes_seen, approval)

    # Editors' answers (`AnswerStore`) and the approval pages' sessions (`SessionStore`).

    def record_answer(self, message_id: str, forum: str, answer: str, note: str = "") -> EditorAnswer:
        return self.answer_store.record_answer(message_id, forum, answer, note)

    def answers(self, message_id: str | None = None) -> list[EditorAnswer]:
        return self.answer_store.answers(message_id)

    def open_session(self, token: str, member: str, account: Account, seconds: int,
                     at: dt.datetime | None = None) -> WebSession:
        return self.session_store.open_session(token, member, account, seconds, at)

    def web_session(self, token: str, at: dt.datetime | None = None) -> WebSession | None:
        return self.session_store.web_session(token, at)

    def end_session(self, token: str) -> bool:
        return self.session_store.end_session(token)

    # Reach after sending (`ReachStore`): one reading per delivery and point.

    def add_reach(self, reach: Reach) -> bool:
        return self.reach_store.add(reach)

    def reach(self, message_id: str | None = None) -> list[Reach]:
        return self.reach_store.readings(message_id)
