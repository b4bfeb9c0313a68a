"""The ledger: every approval and every delivery with its state and receipt, in SQL.

SQLite by default (`.budbringer/ledger.db` beside the plan, see `ledger_home`, or under $BUDBRINGER_HOME); `BUDBRINGER_DATABASE_URL` points it at
PostgreSQL (`postgresql+psycopg://…`) or anything SQLAlchemy speaks. Prefect's cache is no ledger: this is.

A delivery row is keyed by the delivery key (message, content hash, forum, channel), so a re-run, a retry or
a second run of the same message finds the row and never delivers twice; a notice row (an approval request,
reminder, escalation or rejection mail) by its notice key. Both are kept by one rule (`attempts`), with the
states of `states.State` and every change appended to `delivery_events` or `notice_events`:

    attempting → delivered        the provider took it (receipt kept)
    attempting → failed           the provider refused, or could not take it: nothing was delivered
    attempting → uncertain        it may have been delivered: looked up, or settled by the operator

One module per concern: `schema` (every table), `states` (every state, as enums), `attempts` (the rule),
`delivery_store`, `notice_store`, `approval_store` (approvals, requests and votes), `session_store` (the
approval pages' sign-ins), `answer_store` (editors' answers), `locks`, `database` (URL and engines) and
`migrate` (the schema version, Alembic; migrations in `migrations/`). `Ledger` (`book`) holds the stores as
attributes, each built with what it needs, and is what callers use. Everything is importable from here, the
stores on first use. docs/ledger.md has the details.
"""

from __future__ import annotations

import importlib

from typing import TYPE_CHECKING, Any

from budbringer.ledger.states import (
    Answer,
    DeliveryState,
    NoticeKind,
    NoticeOutcome,
    NoticeState,
    OutcomeState,
    RequestState,
    Resolution,
    State,
    VoteDecision,
)

if TYPE_CHECKING:  # for readers and type checkers; at run time each loads on first use (`__getattr__`)
    from budbringer.ledger.answer_store import ANSWERS, AnswerStore, EditorAnswer
    from budbringer.ledger.attempts import Attempts, Event
    from budbringer.ledger.approval_store import DECISIONS, ApprovalRequest, ApprovalStore, RequestClosed, Vote
    from budbringer.ledger.book import Ledger
    from budbringer.ledger.database import (
        _aware,
        _engine,
        _engines,
        _engines_lock,
        database_url,
        ledger_home,
        now,
    )
    from budbringer.ledger.delivery_store import RESOLUTIONS, DeliveryStore, Record
    from budbringer.ledger.migrate import SchemaError
    from budbringer.ledger.schema import (
        approval_requests,
        approval_votes,
        approvals,
        deliveries,
        delivery_events,
        editor_answers,
        metadata,
        notice_events,
        notices,
        reach_readings,
        web_sessions,
    )
    from budbringer.ledger.locks import Locks
    from budbringer.ledger.notice_store import NoticeBook, NoticeRecord, NoticeStore
    from budbringer.ledger.reach_store import ReachStore
    from budbringer.ledger.session_store import Account, SessionStore, WebSession

#: where each name lives: the stores load SQLAlchemy (0.2 s), which `check` and `preview` never need
_HOME = {
    **dict.fromkeys(["ANSWERS", "AnswerStore", "EditorAnswer"], "answer_store"),
    **dict.fromkeys(["DECISIONS", "ApprovalRequest", "ApprovalStore", "RequestClosed", "Vote"], "approval_store"),
    **dict.fromkeys(["Attempts", "Event"], "attempts"),
    "Ledger": "book",
    **dict.fromkeys(["_aware", "_engine", "_engines", "_engines_lock", "database_url", "ledger_home", "now"],
                    "database"),
    **dict.fromkeys(["RESOLUTIONS", "DeliveryStore", "Record"], "delivery_store"),
    "SchemaError": "migrate",
    **dict.fromkeys(["approval_requests", "approval_votes", "approvals", "deliveries", "delivery_events",
                     "editor_answers", "metadata", "notice_events", "notices", "reach_readings", "web_sessions"],
                    "schema"),
    "ReachStore": "reach_store",
    **dict.fromkeys(["Account", "SessionStore", "WebSession"], "session_store"),
    "Locks": "locks",
    **dict.fromkeys(["NoticeBook", "NoticeRecord", "NoticeStore"], "notice_store"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'budbringer.ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"budbringer.ledger.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ANSWERS", "DECISIONS", "RESOLUTIONS",
    "Account", "Answer", "ApprovalRequest", "Attempts", "DeliveryState", "EditorAnswer", "Event", "Ledger",
    "NoticeBook", "NoticeKind", "NoticeOutcome", "NoticeRecord", "NoticeState", "NoticeStore", "OutcomeState", "Record",
    "ReachStore", "RequestClosed", "RequestState", "Resolution", "SchemaError", "State", "Vote", "VoteDecision", "WebSession",
    "approval_requests", "approval_votes", "approvals", "database_url", "ledger_home", "deliveries", "delivery_events",
    "editor_answers", "metadata", "notice_events", "notices", "now", "reach_readings", "web_sessions",
    "_aware", "_engine", "_engines", "_engines_lock",
]
