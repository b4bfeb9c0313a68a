"""The ledger's commands: `status` (every delivery, notice, approval and editor's answer), `mark` (a newsletter
editor's answer), `resolve` (settle an uncertain delivery or notice) and `db` (the schema and the backup). None
of them imports Prefect."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from budbringer.cli.entry import EXIT_OK, EXIT_PROBLEM, runtime
from budbringer.errors import BudbringerError, InputError
from budbringer.ledger.states import RequestState, Resolution, State, VoteDecision

if TYPE_CHECKING:  # the stores load SQLAlchemy, which these commands import only when they run
    from budbringer.ledger import NoticeRecord

if TYPE_CHECKING:
    from budbringer.ledger import Ledger


def cmd_status(args: argparse.Namespace) -> int:
    from budbringer.report import record_rows, table

    message_id = args.message
    if message_id and Path(message_id).is_file():
        from budbringer import message as message_

        message_id = message_.load(message_id).id
    ledger = runtime(args).ledger
    records = ledger.records(message_id)
    waiting = 0 if message_id else _print_requests_to_follow(ledger, args)
    if records or not (waiting or (message_id and ledger.request(message_id) is not None)):
        print(table(record_rows(records)))
    else:
        print(f"{message_id}: no deliveries yet" if message_id else "deliveries: none yet")
    print_uncertain(records, ledger.uncertain_notices(message_id))
    if message_id:
        for approval in ledger.approvals_for(message_id):
            line = (f"approval {approval.id}: {approval.approved_by} ({approval.reference}) at "
                    f"{approval.approved_at:%Y-%m-%d %H:%M} UTC, hash {approval.hash[:12]}")
            if approval.override_order:
                line += f"; order overridden: {approval.override_reason}"
            print(line)
    if message_id:
        _print_request(ledger, message_id, args)
    for answer in ledger.answers(message_id):
        print(f"editor's answer: {answer.message_id} {answer.forum}: {answer.answer} on {answer.marked_at:%Y-%m-%d}"
              + (f" ({answer.note})" if answer.note else ""))
    return EXIT_OK


def _print_requests_to_follow(ledger: Ledger, args: argparse.Namespace) -> int:
    """Every message whose latest approval request is open (overdue ones first) or rejected, one line each, before
    the deliveries: what someone must act on. Returns how many."""
    from budbringer.approval_request import local
    from budbringer.ledger import RequestState

    requests = ledger.latest_requests((RequestState.OPEN, RequestState.REJECTED))
    if not requests:
        return 0
    run = runtime(args)
    try:
        plan = run.plan
    except BudbringerError:
        plan = None
    now = run.clock()

    def shown(moment: dt.datetime) -> str:
        return f"{local(plan, moment) if plan else moment:%Y-%m-%d %H:%M %Z}"

    overdue, rejected, open_ = [], [], []
    for request in requests:
        votes = ledger.votes(request.id)
        if request.state == RequestState.REJECTED:
            by = (", ".join(f"{v.voter}: {v.comment}" for v in votes if v.decision == VoteDecision.REJECT)
                  or request.comment)
            when = f" on {shown(request.decided_at)}" if request.decided_at else ""
            rejected.append(f"  {request.message_id}: REJECTED{when} ({by}); edit it and send it again")
            continue
        decided = {v.voter.casefold() for v in votes}
        waiting = [m.name for m in plan.approval.members if m.name.casefold() not in decided] if plan else []
        line = (f"; not decided: {', '.join(waiting)}" if waiting else "") + (
            f"; approved by {', '.join(v.voter for v in votes)}, more needed" if votes else "")
        if request.deadline is not None and now > request.deadline:
            overdue.append(f"  {request.message_id}: OVERDUE, open since {shown(request.requested_at)}, the deadline "
                           f"{shown(request.deadline)} has passed{line}")
        else:
            due = f", deadline {shown(request.deadline)}" if request.deadline else ""
            open_.append(f"  {request.message_id}: waiting for approval since {shown(request.requested_at)}{due}{line}")
    print("Approval requests to follow (`budbringer status MESSAGE` for one in full):")
    for line in overdue + rejected + open_:
        print(line)
    print()
    return len(requests)


def _print_request(ledger: object, message_id: str, args: argparse.Namespace) -> None:
    """The message's latest approval request: its state, the deadline, who has decided (how, and a
    rejection's comment) and who has not."""
    from budbringer.approval_links import is_late
    from budbringer.approval_request import SOURCES, Status, local

    request = ledger.request(message_id)  # type: ignore[attr-defined]
    if request is None:
        return
    try:
        plan = runtime(args).plan
    except BudbringerError:
        plan = None
    deadline = local(plan, request.deadline) if plan and request.deadline else request.deadline
    print(f"approval request {request.id} ({request.state}), hash {request.approval_hash[:12]}"
          + (f", deadline {deadline:%Y-%m-%d %H:%M %Z}" if deadline else ""))
    votes = ledger.votes(request.id)  # type: ignore[attr-defined]
    for vote in votes:
        how = SOURCES.get(vote.source, vote.source)
        if vote.signer is not None:  # the Entra ID account that signed in for it
            how += f" as {vote.signer.upn or '?'}, object id {vote.signer.oid}, tenant {vote.signer.tid}"
        late = ", late" if is_late(request, vote.at) else ""
        line = f"  {vote.voter}: {vote.decision} ({how}, {vote.at:%Y-%m-%d %H:%M} UTC{late})"
        print(line + (f": {vote.comment}" if vote.comment else ""))
    if plan is not None and request.decided_at is not None and is_late(request, request.decided_at):
        print(f"  LATE: {Status(request, votes).late_note(plan)}")
    if plan is not None and request.state == RequestState.OPEN:
        decided = {v.voter.casefold() for v in votes}
        waiting = [m.name for m in plan.approval.members if m.name.casefold() not in decided]
        if waiting:
            print(f"  not decided: {', '.join(waiting)}")
    if request.state == RequestState.REJECTED and request.comment:
        print(f"  rejected: {request.comment}")


def cmd_mark(args: argparse.Namespace) -> int:
    """Record whether a newsletter's editor accepted or declined a submission that was delivered."""
    from budbringer.errors import Problem
    from budbringer.ledger import State

    message_id = args.message
    if Path(message_id).is_file():
        from budbringer import message as message_

        message_id = message_.load(message_id).id
    run = runtime(args)
    plan = run.plan
    newsletters = sorted(name for name, forum in plan.fora.items() if forum.newsletter is not None)
    forum = plan.fora.get(args.forum)
    if forum is None or forum.newsletter is None:
        raise InputError([Problem(str(plan.path), "fora", f"{args.forum!r} is not a newsletter forum of the plan",
                                  f"use one of: {', '.join(newsletters)}")])
    ledger = run.ledger
    submitted = [r for r in ledger.records(message_id) if r.forum == args.forum]
    if not any(r.state == State.DELIVERED for r in submitted):
        state = submitted[-1].state.value if submitted else "not sent"
        raise BudbringerError(f"{message_id} was not delivered to {args.forum} ({state}): there is no submission "
                              f"to answer; `budbringer status {message_id}` shows what was delivered")
    answer = ledger.record_answer(message_id, args.forum, args.answer, args.note.strip())
    print(f"recorded: {forum.title} {answer.answer} {message_id} on {answer.marked_at:%Y-%m-%d}"
          + (f" ({answer.note})" if answer.note else ""))
    return EXIT_OK


def cmd_resolve(args: argparse.Namespace) -> int:
    """Settle an uncertain delivery: `sent` records it as delivered, `resend` lets the next run deliver it."""
    ledger = runtime(args).ledger
    try:
        try:
            key = ledger.find_key(args.delivery)
        except ValueError as no_delivery:
            notice = ledger.find_notice_key(args.delivery)
            if notice is None:
                raise no_delivery from None
            return _settled_notice(ledger.resolve_notice(notice, args.outcome, args.note.strip()), args.outcome)
        record = ledger.resolve(key, args.outcome, args.note.strip())
    except ValueError as exc:
        raise BudbringerError(str(exc)) from None
    if args.outcome == Resolution.SENT:
        print(f"settled: {record.forum} ({record.channel}) is recorded as delivered by the operator; {key}")
    else:
        print(f"settled: {record.forum} ({record.channel}) was not delivered; the next `budbringer send` of "
              f"{record.message_id} delivers it again; {key}")
    return EXIT_OK


def _settled_notice(record: NoticeRecord, outcome: str) -> int:
    from budbringer.ledger.states import NoticeKind

    kind, message_id, key = record.kind, record.message_id, record.key
    if outcome == Resolution.SENT:
        print(f"settled: the {kind} notice of {message_id} is recorded as delivered by the operator; {key}")
    else:
        again = ("the approval reminders run" if NoticeKind.of(kind) in (NoticeKind.REMINDER, NoticeKind.ESCALATION)
                 else f"the next `budbringer send` of {message_id}")
        print(f"settled: the {kind} notice of {message_id} was not delivered; {again} sends it again; {key}")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    """`db upgrade` brings the ledger ($BUDBRINGER_DATABASE_URL, else SQLite) to head; `db current` shows it."""
    import sqlalchemy as sa

    from budbringer.ledger import database, migrate

    engine = database.new_engine(args.settings.ledger_url())
    try:
        if args.db_command == "upgrade":
            print(f"ledger {migrate.shown(engine)}: {migrate.upgrade(engine)}")
            return EXIT_OK
        text, at_head = migrate.describe(engine)
        print(f"ledger {migrate.shown(engine)}: {text}")
        return EXIT_OK if at_head else EXIT_PROBLEM
    except sa.exc.DBAPIError as exc:  # unreachable, refused: one line, no traceback
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        raise BudbringerError(f"ledger {migrate.shown(engine)}: {type(exc.orig).__name__}: {first}") from None
    finally:
        engine.dispose()


def cmd_db_backup(args: argparse.Namespace) -> int:
    """`db backup FILE`: SQLite's online backup of the ledger; for PostgreSQL, the pg_dump command to run."""
    from budbringer.ledger import database
    from budbringer.ledger.backup import backup

    url = args.settings.ledger_url()
    if url.startswith("sqlite"):
        from budbringer.ledger import Ledger

        Ledger(url).close()  # an old ledger is refused here (`db upgrade` first), as by every other command
    else:
        database.new_engine(url).dispose()  # a URL that cannot be used says so first (no connection is made)
    written = backup(url, Path(args.file))
    print(f"ledger backed up to {written.resolve()} ({written.stat().st_size:,} bytes); restore it by stopping "
          "every budbringer command and copying it over ledger.db (removing ledger.db-wal and ledger.db-shm)")
    return EXIT_OK


def print_uncertain(records: Sequence, notices: Sequence = ()) -> None:  # type: ignore[type-arg]
    """Each uncertain delivery and notice with its short key and how to settle it (`budbringer resolve`)."""
    from budbringer.ledger.attempts import short_key

    for record in records:
        if record.state == State.UNCERTAIN:
            short = short_key(record.key)
            print(f"uncertain: {record.message_id} {record.forum} ({record.channel}), delivery {short}: "
                  f"{record.error or 'outcome unknown'}\n    check with the provider, then: budbringer resolve "
                  f"{short} sent|resend")
    for notice in notices:
        short = short_key(notice.key)
        print(f"uncertain: {notice.message_id} the {notice.kind} notice (approval), notice {short}: "
              f"{notice.error or 'outcome unknown'}\n    look in the sending mailbox's Sent Items or ask its "
              f"recipient, then: budbringer resolve {short} sent|resend")


