"""The `budbringer` command. `--help`, `check`, `preview`, `status` and `plan` never import Prefect."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from budbringer.errors import ApprovalError, BudbringerError, InputError

EXIT_OK, EXIT_PROBLEM = 0, 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.plan = getattr(args, "plan", None)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_PROBLEM
    try:
        return args.run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except BudbringerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own (absent) --plan must not overwrite one given before the subcommand.
    common.add_argument("--plan", default=argparse.SUPPRESS, metavar="PATH",
                        help="the plan (default: $BUDBRINGER_PLAN, else config/plan.yaml)")
    parser = argparse.ArgumentParser(
        prog="budbringer", parents=[common],
        description="Run a communication plan: approval, then the cascade in the plan's order, then publish.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", parents=[common], help="validate plan and message, render every variant")
    check.add_argument("message", help="the message file (Markdown with front matter)")
    check.set_defaults(run=cmd_check)

    preview = sub.add_parser("preview", parents=[common], help="write every variant as HTML with an index page")
    preview.add_argument("message")
    preview.add_argument("--out", default=None, help="folder (default: preview/<message id>)")
    preview.set_defaults(run=cmd_preview)

    send = sub.add_parser(
        "send", parents=[common], help="send a message through every tier (asking for approval if not given)",
        description="Send a message through every tier. With --approved-by and --approval-ref it was approved in "
                    "the steering group's meeting; without them the run asks the steering group for approval "
                    "and waits for it (with a Prefect server), or sends the request and stops (without one): "
                    "run `budbringer approve`, then send again.")
    send.add_argument("message")
    send.add_argument("--approved-by", default=None, metavar="NAME",
                      help="the chair, members (comma-separated) or the steering group")
    send.add_argument("--approval-ref", default=None, metavar="REF", help="where the approval is recorded")
    send.add_argument("--override-order", action="store_true",
                      help="the chair's override: release every tier at once (needs --reason)")
    send.add_argument("--reason", default="", help="why the order is overridden")
    send.set_defaults(run=cmd_send)

    status = sub.add_parser("status", parents=[common], help="the ledger: every delivery and its state")
    status.add_argument("message", nargs="?", help="a message id or file (default: all)")
    status.set_defaults(run=cmd_status)

    mark = sub.add_parser("mark", parents=[common], help="record a newsletter editor's answer to a submission")
    mark.add_argument("message", help="a message id or file")
    mark.add_argument("forum", help="the newsletter's forum in the plan (e.g. midtnyt, perspektiv)")
    mark.add_argument("answer", choices=["accepted", "declined"])
    mark.add_argument("--note", default="", help="what the editor said (e.g. the issue it will be in)")
    mark.set_defaults(run=cmd_mark)

    resolve = sub.add_parser("resolve", parents=[common],
                             help="settle an uncertain delivery after checking with the provider")
    resolve.add_argument("delivery", help="the delivery's key, or its short key as `status` shows it")
    resolve.add_argument("outcome", choices=["sent", "resend"],
                         help="sent: it arrived (recorded as delivered); resend: it did not (the next run sends it)")
    resolve.add_argument("--note", default="", help="what you checked (e.g. 'found in Sent Items 10:42')")
    resolve.set_defaults(run=cmd_resolve)

    approve = sub.add_parser("approve", parents=[common], help="approve or reject a message waiting for approval",
                             description="Record an approver's decision on a message whose approval was requested "
                                         "(and resume the run that waits for it).")
    approve.add_argument("message", help="the message file, or its id (messages/ID.md); its content must be "
                                                    "what was sent for approval")
    approve.add_argument("--by", default=os.environ.get("BUDBRINGER_APPROVER"), metavar="NAME",
                         help="who decides, as in the plan's member list (default: $BUDBRINGER_APPROVER)")
    approve.add_argument("--reject", action="store_true", help="reject the message (needs --comment)")
    approve.add_argument("--comment", default="", help="what should change (told to the author)")
    approve.set_defaults(run=cmd_approve)

    serve = sub.add_parser("serve", parents=[common],
                           help="serve the deployments of prefect.yaml from this process (small installs)")
    serve.add_argument("--message", default="messages/2026-11-status-udbud.md",
                       help="the default message of the manual and preview deployments")
    serve.add_argument("--limit", type=int, default=None, help="at most this many flow runs at once")
    serve.add_argument("--web-host", default="127.0.0.1", help="address of the approval pages (default: 127.0.0.1)")
    serve.add_argument("--web-port", type=int, default=8400, help="port of the approval pages (default: 8400)")
    serve.add_argument("--no-web", action="store_true", help="do not serve the approval pages")
    serve.set_defaults(run=cmd_serve)

    alerts = sub.add_parser("alerts", parents=[common], help="alert operators when a run fails (Prefect automations)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    alerts_setup = alerts_sub.add_parser(
        "setup", help="store the webhook in a Prefect block and create the two alert automations",
        description="Creates (or replaces) the automations budbringer-run-failed and budbringer-delivery-uncertain "
                    "on the Prefect server ($PREFECT_API_URL); both call the webhook kept in the Prefect block "
                    "budbringer-alerts. The URL is a secret: prefer $BUDBRINGER_ALERT_WEBHOOK_URL to the option.")
    alerts_setup.add_argument("--webhook-url", default=None, metavar="URL",
                              help="a Teams Workflows or Power Automate HTTP trigger URL (default: "
                                   "$BUDBRINGER_ALERT_WEBHOOK_URL; '-' reads it from standard input)")
    alerts_setup.add_argument("--format", choices=["json", "teams"], default="json",
                              help="json: a flat JSON object (Power Automate, any receiver); teams: an Adaptive "
                                   "Card for a Teams channel's Workflows webhook")
    alerts_setup.set_defaults(run=cmd_alerts_setup)

    plan = sub.add_parser("plan", parents=[common], help="the plan as a readable overview, or a Danish document",
                          description="Print the plan: an overview for operators (text), or the communication plan "
                                      "as a Danish document rendered from the configuration (html or md).")
    plan.add_argument("--format", choices=["text", "html", "md"], default="text",
                      help="text: an overview (default); html or md: the plan as a Danish document")
    plan.add_argument("--out", default=None, metavar="FILE", help="write the document here instead of printing it")
    plan.set_defaults(run=cmd_plan)

    web = sub.add_parser("web", parents=[common], help="serve the steering group's approval pages",
                         description="Serve the approval pages that the personal links in the request mails "
                                     "open, and the plan at /plan. A decision resumes the run waiting for it.")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    web.add_argument("--port", type=int, default=8400, help="port (default: 8400)")
    web.add_argument("--messages", default="messages", metavar="DIR",
                     help="the folder of the message files (messages/ID.md; default: messages)")
    web.set_defaults(run=cmd_web)
    return parser


def cmd_check(args: argparse.Namespace) -> int:
    from budbringer import cascade

    prepared = cascade.prepare(args.plan, args.message)
    problems = cascade.preflight(prepared.plan)
    if problems:
        raise InputError(problems)
    print(f"{prepared.message.path}: {len(prepared.variants)} variants rendered for "
          f"{len({v.tier for v in prepared.variants})} tiers; approval hash {prepared.approval_hash[:12]}")
    for finding in prepared.findings:
        print(f"  {finding.severity}: {finding.forum}: {finding.text}")
    print("ok: nothing was sent")
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    """The approval page without buttons, and each variant on its own page, as static files (Danish)."""
    from budbringer import cascade
    from budbringer.web import pages

    prepared = cascade.prepare(args.plan, args.message)
    out = Path(args.out or Path("preview") / prepared.message.id)
    out.mkdir(parents=True, exist_ok=True)
    from budbringer import render

    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants,
                                             prepared.findings, prepared.approval_hash)
    (out / "00-approval.html").write_text(pages.render("mail.html.j2", title=request.subject, mail=request),
                                          encoding="utf-8")
    links = {f"Anmodningen om godkendelse (mailen til {prepared.plan.approval.title.lower()})": "00-approval.html"}
    for tier in pages.tiers(prepared):
        for view in tier.variants:
            variant = view.variant
            name = f"{variant.tier_index:02d}-{variant.forum}.html"
            (out / name).write_text(pages.render("variant.html.j2", title=variant.forum_title, view=view,
                                                 tier=tier, message=prepared.message), encoding="utf-8")
            links[f"Trin {tier.index}: {variant.forum_title} ({view.medium})"] = name
    (out / "index.html").write_text(pages.approval_page(prepared, None, links=links), encoding="utf-8")
    print(f"{len(links) - 1} variants and the approval request written with the page the approvers see "
          f"(without buttons); "
          f"open {(out / 'index.html').resolve()}")
    return EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    from budbringer import message as message_, plan as plan_
    from budbringer.ledger import Ledger
    from budbringer.report import record_rows, table

    if args.override_order and not args.reason.strip():
        raise ApprovalError("--override-order needs --reason TEXT: the chair's reason is recorded and reported")
    if args.approved_by and not (args.approval_ref or "").strip():
        raise ApprovalError("--approved-by needs --approval-ref REF: where the approval is recorded (the minutes)")
    plan = plan_.load(args.plan)
    message = message_.load(args.message, plan)
    before = {r.key for r in Ledger().records(message.id) if r.state == "delivered"}
    _quiet_prefect()
    from budbringer.flows.send import CascadeFailed, api_url, send_flow

    failed = None
    try:
        outcomes = send_flow(message=str(Path(args.message).resolve()), approved_by=args.approved_by,
                             approval_ref=args.approval_ref, plan=str(plan.path.resolve()),
                             override_order=args.override_order, reason=args.reason,
                             wait_for_approval=api_url() is not None)
    except CascadeFailed as exc:
        failed = exc
        outcomes = None
    except Exception as exc:
        if type(exc).__name__ != "FlowPauseTimeout":
            raise
        print(f"error: nobody decided on {message.id} in time; the decisions so far are kept: "
              f"`budbringer approve` and `budbringer send` again continue", file=sys.stderr)
        return EXIT_PROBLEM
    records = Ledger().records(message.id)
    if not records and not args.approved_by:
        return _waiting_or_rejected(message.id, args.message, plan)
    print()
    print(table(record_rows(records), ("tier", "forum", "channel", "state", "attempts", "receipt", "time")))
    new = [r for r in records if r.state == "delivered" and r.key not in before]
    if failed is not None:
        print(f"\nerror: {failed}", file=sys.stderr)
        return EXIT_PROBLEM
    if not new:
        print(f"\nNothing new delivered: all {len(outcomes or [])} deliveries of {message.id} were delivered before.")
    else:
        print(f"\n{len(new)} delivered now, {len(outcomes or []) - len(new)} delivered before.")
    return EXIT_OK


def _quiet_prefect() -> None:
    """Settings for Prefect before it is imported: no telemetry, our loggers shown in the run's logs."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "budbringer")
    # The first ephemeral start migrates a new database; the default 20 s is too short on a loaded machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def cmd_status(args: argparse.Namespace) -> int:
    from budbringer.ledger import Ledger
    from budbringer.report import record_rows, table

    message_id = args.message
    if message_id and Path(message_id).is_file():
        from budbringer import message as message_

        message_id = message_.load(message_id).id
    ledger = Ledger()
    records = ledger.records(message_id)
    if records or not message_id or ledger.request(message_id) is None:
        print(table(record_rows(records)))
    else:
        print(f"{message_id}: no deliveries yet")
    _print_uncertain(records)
    if message_id:
        for approval in ledger.approvals_for(message_id):
            line = (f"approval {approval.id}: {approval.approved_by} ({approval.reference}) at "
                    f"{approval.approved_at:%Y-%m-%d %H:%M} UTC, hash {approval.hash[:12]}")
            if approval.override_order:
                line += f"; order overridden: {approval.override_reason}"
            print(line)
    if message_id:
        _print_request(ledger, message_id, args.plan)
    for answer in ledger.answers(message_id):
        print(f"editor's answer: {answer.message_id} {answer.forum}: {answer.answer} on {answer.marked_at:%Y-%m-%d}"
              + (f" ({answer.note})" if answer.note else ""))
    return EXIT_OK


def _print_request(ledger: object, message_id: str, plan_path: str | None) -> None:
    """The message's latest approval request: its state, the deadline, who has decided (how, and a
    rejection's comment) and who has not."""
    from budbringer import plan as plan_
    from budbringer.approval_request import SOURCES, local

    request = ledger.request(message_id)  # type: ignore[attr-defined]
    if request is None:
        return
    try:
        plan = plan_.load(plan_path)
    except BudbringerError:
        plan = None
    deadline = local(plan, request.deadline) if plan and request.deadline else request.deadline
    print(f"approval request {request.id} ({request.state}), hash {request.approval_hash[:12]}"
          + (f", deadline {deadline:%Y-%m-%d %H:%M %Z}" if deadline else ""))
    votes = ledger.votes(request.id)  # type: ignore[attr-defined]
    for vote in votes:
        how = SOURCES.get(vote.source, vote.source)
        line = f"  {vote.voter}: {vote.decision} ({how}, {vote.at:%Y-%m-%d %H:%M} UTC)"
        print(line + (f": {vote.comment}" if vote.comment else ""))
    if plan is not None and request.state == "open":
        decided = {v.voter.casefold() for v in votes}
        waiting = [m.name for m in plan.approval.members if m.name.casefold() not in decided]
        if waiting:
            print(f"  not decided: {', '.join(waiting)}")
    if request.state == "rejected" and request.comment:
        print(f"  rejected: {request.comment}")


def cmd_mark(args: argparse.Namespace) -> int:
    """Record whether a newsletter's editor accepted or declined a submission that was delivered."""
    from budbringer import plan as plan_
    from budbringer.errors import Problem
    from budbringer.ledger import Ledger, State

    message_id = args.message
    if Path(message_id).is_file():
        from budbringer import message as message_

        message_id = message_.load(message_id).id
    plan = plan_.load(args.plan)
    newsletters = sorted(name for name, forum in plan.fora.items() if forum.newsletter is not None)
    forum = plan.fora.get(args.forum)
    if forum is None or forum.newsletter is None:
        raise InputError([Problem(str(plan.path), "fora", f"{args.forum!r} is not a newsletter forum of the plan",
                                  f"use one of: {', '.join(newsletters)}")])
    ledger = Ledger()
    submitted = [r for r in ledger.records(message_id) if r.forum == args.forum]
    if not any(r.state == State.DELIVERED for r in submitted):
        state = submitted[-1].state.value if submitted else "not sent"
        raise BudbringerError(f"{message_id} was not delivered to {args.forum} ({state}): there is no submission "
                              f"to answer; `budbringer status {message_id}` shows what was delivered")
    answer = ledger.record_answer(message_id, args.forum, args.answer, args.note.strip())
    print(f"recorded: {forum.title} {answer.answer} {message_id} on {answer.marked_at:%Y-%m-%d}"
          + (f" ({answer.note})" if answer.note else ""))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from budbringer import plan as plan_

    plan = plan_.load(args.plan)
    if args.format != "text":
        from budbringer.web import plan_document

        text = plan_document.html_document(plan) if args.format == "html" else plan_document.markdown_document(plan)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
            print(f"the plan as a Danish document ({args.format}): {Path(args.out).resolve()}")
        else:
            sys.stdout.write(text)
        return EXIT_OK
    policy = plan.approval
    print(f"{plan.name}\n({plan.path})\n")
    print(f"Vision: {plan.narrative.vision}  ·  Aim: {plan.narrative.aim}\n")
    alone = "may approve alone" if policy.chair_may_approve_alone else "approves with the others"
    print(f"Approval: {policy.title} — chair {policy.chair} ({alone}); otherwise {policy.members_required} of "
          f"{len(policy.members)} members: {', '.join(m.name for m in policy.members)}\n")
    for index, tier in enumerate(plan.tiers, start=1):
        print(f"{index}. {tier.title} [{tier.name}, {tier.phase}]")
        for name in tier.fora:
            forum = plan.fora[name]
            channel = plan.channels[forum.channel]
            state = "" if forum.enabled else f"  (disabled: {forum.disabled_reason or 'later phase'})"
            to = ", ".join(forum.recipients or forum.sites or ([forum.newsletter.editor] if forum.newsletter else []))
            print(f"   - {forum.title} ({name}): {forum.stakeholder}, {forum.medium} via {forum.channel} "
                  f"({channel.type}){' → ' + to if to else ''}{state}")
            if forum.informs:
                print(f"       passes it on to: {', '.join(forum.informs)}")
            if forum.meetings:
                print(f"       meetings: {', '.join(d.isoformat() for d in forum.meetings)}")
    return EXIT_OK


def cmd_resolve(args: argparse.Namespace) -> int:
    """Settle an uncertain delivery: `sent` records it as delivered, `resend` lets the next run deliver it."""
    from budbringer.ledger import Ledger

    ledger = Ledger()
    try:
        key = ledger.find_key(args.delivery)
        record = ledger.resolve(key, args.outcome, args.note.strip())
    except ValueError as exc:
        raise BudbringerError(str(exc)) from None
    if args.outcome == "sent":
        print(f"settled: {record.forum} ({record.channel}) is recorded as delivered by the operator; {key}")
    else:
        print(f"settled: {record.forum} ({record.channel}) was not delivered; the next `budbringer send` of "
              f"{record.message_id} delivers it again; {key}")
    return EXIT_OK

def _print_uncertain(records: Sequence) -> None:  # type: ignore[type-arg]
    """Each uncertain delivery with its short key and how to settle it (`budbringer resolve`)."""
    import hashlib

    for record in records:
        if record.state == "uncertain":
            short = hashlib.sha256(record.key.encode()).hexdigest()[:16]
            print(f"uncertain: {record.message_id} {record.forum} ({record.channel}), delivery {short}: "
                  f"{record.error or 'outcome unknown'}\n    check with the provider, then: budbringer resolve "
                  f"{short} sent|resend")


def _waiting_or_rejected(message_id: str, path: str, plan: object) -> int:
    """What `send` says when it sent nothing because the message is not (yet) approved."""
    from budbringer.approval_request import local
    from budbringer.ledger import Ledger

    ledger = Ledger()
    request = ledger.request(message_id)
    if request is None:
        print(f"\n{message_id}: no approval was requested; nothing was sent", file=sys.stderr)
        return EXIT_PROBLEM
    if request.state == "rejected":
        print(f"\n{message_id} was rejected ({request.comment}); nothing was sent. The author has been told. Edit "
              f"the message and send it again to request a new approval.", file=sys.stderr)
        return EXIT_PROBLEM
    votes = ", ".join(f"{v.voter} ({v.decision})" for v in ledger.votes(request.id)) or "none yet"
    deadline = f"; deadline {local(plan, request.deadline):%Y-%m-%d %H:%M}" if request.deadline else ""  # type: ignore[arg-type]
    print(f"\nApproval of {message_id} was requested (request {request.id}, hash {request.approval_hash[:12]}"
          f"{deadline}); decisions: {votes}. Nothing was sent yet.\n"
          f"Each approver got a personal link to the approval page (`budbringer web`); on the command line: "
          f"budbringer approve {path} --by NAME [--reject --comment TEXT]\n"
          f"Then run this command again to send it.")
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    """Record one approver's decision, then resume the run that waits for it (if one does)."""
    from budbringer import approval_request, cascade
    from budbringer.approval_request import Decision
    from budbringer.ledger import Ledger

    if not (args.by or "").strip():
        raise ApprovalError("who decides? pass --by NAME (as in the plan's member list) or set $BUDBRINGER_APPROVER")
    if args.reject and not args.comment.strip():
        raise ApprovalError("a rejection needs --comment TEXT: the author is told what to change")
    path = Path(args.message)
    if not path.is_file() and (Path("messages") / f"{args.message}.md").is_file():
        path = Path("messages") / f"{args.message}.md"  # the message id, as the approval request shows it
    prepared = cascade.prepare(args.plan, path)
    ledger = Ledger()
    request = approval_request.current(prepared, ledger)
    decision = Decision(approval_request.REJECT if args.reject else approval_request.APPROVE, args.by.strip(),
                        args.comment.strip())
    status = approval_request.decide(prepared, ledger, request, decision, source="cli")
    if status.approval is not None:
        print(f"{prepared.message.id} is approved by {status.approval.approved_by} (approval {status.approval.id}, "
              f"hash {status.approval.hash[:12]})")
    elif status.rejected:
        print(f"{prepared.message.id} is rejected: {status.request.comment}. Nothing will be sent.")
    else:
        print(f"{decision.by}'s approval of {prepared.message.id} is recorded; still needed: {status.needed}")
    server = None
    if request.flow_run_id:
        _quiet_prefect()
        from budbringer.flows.send import api_url, resume_waiting_run

        server = api_url()  # $PREFECT_API_URL or the profile's (`prefect config set PREFECT_API_URL=…`)
        if server:
            print(resume_waiting_run(request.flow_run_id, decision))
    if server is None and status.decided:
        print(f"No run is waiting: `budbringer send {args.message}` continues"
              + (" (and tells the author)." if status.rejected else "."))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the manual send, the monthly OC briefing and the preview from this process until Ctrl-C."""
    if args.plan:
        os.environ["BUDBRINGER_PLAN"] = str(Path(args.plan).resolve())
    _quiet_prefect()
    from budbringer.flows.serve import serve

    if not args.no_web:
        from budbringer.flows.web import start_in_background

        start_in_background(args.plan, "messages", args.web_host, args.web_port)
        print(f"approval pages on http://{args.web_host}:{args.web_port}/")
    serve(message=args.message, limit=args.limit)
    return EXIT_OK


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the approval pages until Ctrl-C; decisions resume the waiting run (through flows/web)."""
    if args.plan:
        os.environ["BUDBRINGER_PLAN"] = str(Path(args.plan).resolve())
    from budbringer import plan as plan_

    plan_.load(args.plan)  # bad plan: one clear line now, not on the first request
    _quiet_prefect()
    from budbringer.flows.web import run

    print(f"approval pages on http://{args.host}:{args.port}/ (the plan at /plan); Ctrl-C stops")
    run(args.plan, args.messages, args.host, args.port)
    return EXIT_OK


def cmd_alerts_setup(args: argparse.Namespace) -> int:
    """Create the alert automations; the webhook URL goes into a Prefect block and is never printed."""
    url = args.webhook_url or os.environ.get("BUDBRINGER_ALERT_WEBHOOK_URL", "")
    if url == "-":
        url = sys.stdin.readline()
    url = url.strip()
    if not url:
        raise BudbringerError("no webhook URL: set $BUDBRINGER_ALERT_WEBHOOK_URL (or pass --webhook-url URL, or "
                              "--webhook-url - and the URL on standard input)")
    if not url.startswith(("https://", "http://")):
        raise BudbringerError("the webhook URL must start with https:// (the URL itself is not shown here)")
    _quiet_prefect()
    from budbringer.flows.alerts import BLOCK_NAME, setup

    done = setup(url, args.format)
    print(f"webhook stored in the Prefect block {BLOCK_NAME!r} (Webhook); the URL is not shown")
    for name, automation_id in done.automations.items():
        print(f"automation {name}: {automation_id}")
    print("Alerts go out when a budbringer-* flow run fails or crashes, and when a delivery is uncertain.")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
