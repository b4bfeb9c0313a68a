"""The steering group's commands: `approve` (one approver's decision, on the command line) and `web` (the
approval pages). `approve` loads Prefect only to resume a run that waits for the decision; `web` serves pages
whose decisions resume it (both through `prefect_tier.flows()`, flows/commands.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from budbringer.cli.entry import EXIT_OK, runtime
from budbringer.cli.prefect_tier import flows
from budbringer.errors import ApprovalError


def cmd_approve(args: argparse.Namespace) -> int:
    """Record one approver's decision, then resume the run that waits for it (if one does)."""
    from budbringer import approval_request, cascade
    from budbringer.approval_request import Decision

    args.by = args.by or args.settings.approver
    if not (args.by or "").strip():
        raise ApprovalError("who decides? pass --by NAME (as in the plan's member list) or set $BUDBRINGER_APPROVER")
    if args.reject and not args.comment.strip():
        raise ApprovalError("a rejection needs --comment TEXT: the author is told what to change")
    path = Path(args.message)
    if not path.is_file() and (Path("messages") / f"{args.message}.md").is_file():
        path = Path("messages") / f"{args.message}.md"  # the message id, as the approval request shows it
    run = runtime(args)
    prepared = cascade.prepare(run.plan, path, run.settings.environ)
    ledger = run.ledger
    request = approval_request.current(prepared, ledger)
    decision = Decision(approval_request.REJECT if args.reject else approval_request.APPROVE, args.by.strip(),
                        args.comment.strip())
    earlier = _earlier_vote(prepared, ledger, request, decision.by)
    status = approval_request.decide(prepared, ledger, request, decision, source="cli")
    if earlier is not None:
        return _already_recorded(prepared, status, earlier, decision)
    if status.approval is not None:
        print(f"{prepared.message.id} is approved by {status.approval.approved_by} (approval {status.approval.id}, "
              f"hash {status.approval.hash[:12]})"
              + (f"; {status.late_note(prepared.plan)}" if status.late else ""))
    elif status.rejected:
        print(f"{prepared.message.id} is rejected: {status.request.comment}. Nothing will be sent.")
    else:
        print(f"{decision.by}'s approval of {prepared.message.id} is recorded; still needed: {status.needed}")
    resumed = None
    if request.flow_run_id:  # a run waits for the decision: only then is Prefect loaded
        resumed = flows().resume(request.flow_run_id, decision)  # None: no Prefect server is configured
        if resumed is not None:
            print(resumed)
    if resumed is None and status.decided:
        print(f"No run is waiting: `budbringer send {args.message}` continues"
              + (" (and tells the author)." if status.rejected else "."))
    return EXIT_OK


def _earlier_vote(prepared: Any, ledger: Any, request: Any, by: str) -> Any:
    """The decision this member already made on the request (a member decides once; the first stands)."""
    member = prepared.plan.approval.member(by)
    if member is None:
        return None  # `decide` refuses them, with the member list
    return next((v for v in ledger.votes(request.id) if v.voter.casefold() == member.name.casefold()), None)


def _already_recorded(prepared: Any, status: Any, vote: Any, decision: Any) -> int:
    """`approve` a second time: the same decision is already recorded (exit 0); another one is refused, since
    the first decision stands (exit 1)."""
    message_id = prepared.message.id
    what = {"approve": "approval", "reject": "rejection"}.get(str(vote.decision), str(vote.decision))
    when = f"{vote.at:%Y-%m-%d %H:%M} UTC"
    if str(vote.decision) == decision.decision:
        where = f"still needed: {status.needed}" if status.needed else f"the request is {status.request.state}"
        print(f"already recorded: {vote.voter}'s {what} of {message_id} ({when}); nothing changed; {where}")
        return EXIT_OK
    raise ApprovalError(f"{vote.voter} already decided on {message_id} ({what}, {when}); the first decision "
                        "stands, a member decides once: to change it, edit the message and send it again for a "
                        "new approval")


def cmd_link(args: argparse.Namespace) -> int:
    """Print an author's personal link to the author's page (budbringer.author_links)."""
    import datetime as dt

    from budbringer import approval_links, author_links
    from budbringer.errors import InputError, Problem

    run = runtime(args)
    plan = run.plan
    author = plan.author(args.author)
    if author is None:
        known = ", ".join(a.name for a in plan.authors) or "(none: add `authors:` to the plan)"
        raise InputError([Problem(str(plan.path), "authors", f"names no author {args.author!r}",
                                  f"use one of: {known}; or add the author (name, email) under `authors:`")])
    if args.days < 1 or args.days > 400:
        raise InputError([Problem("budbringer link", "--days", f"{args.days} is out of range",
                                  "give a number of days from 1 to 400")])
    key = None
    if plan.approval.web_secret_block and run.settings.web_secret is None:
        key = flows().link_secret(plan)  # the Prefect Secret block that signs the approvers' links too
    signer = author_links.AuthorSigner(key or approval_links.secret(run.settings))
    print(signer.url(plan, author, run.clock(), dt.timedelta(days=args.days), args.message))
    return EXIT_OK


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the approval pages until Ctrl-C; decisions resume the waiting run (through flows/web)."""
    from budbringer import web_address

    run = runtime(args)
    warning = web_address.warning(run.plan)  # bad plan: one clear line now, not on the first request
    if warning:
        print(warning, file=sys.stderr)
    # the secrets are resolved (and checked) here; the pages use this command's runtime
    web = flows().web_server(run, args.messages, args.host, args.port)
    print(f"approval pages on http://{args.host}:{args.port}/ (the plan at /plan); Ctrl-C stops")
    web.run()
    return EXIT_OK
