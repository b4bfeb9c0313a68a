"""The commands that run flows: `send` (a message through every tier), `serve` (the deployments from this
process) and `alerts setup`. They reach the flows only through `prefect_tier.flows()` (flows/commands.py);
everything `send` checks before a flow runs (the plan, the message, the sizes, the approvers, the ledger) is
checked here, before Prefect is imported."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from budbringer.cli.entry import EXIT_OK, EXIT_PROBLEM, load_plan
from budbringer.cli.entry import runtime as command_runtime
from budbringer.cli.handover import Desk, hand_over
from budbringer.cli.prefect_tier import flows, progress_lines, progress_only
from budbringer.cli.records import print_uncertain
from budbringer.errors import ApprovalError, BudbringerError, mask_secrets

if TYPE_CHECKING:
    from budbringer.flows.temporary_server import TemporaryServer
    from budbringer.ledger import Ledger


def cmd_send(args: argparse.Namespace) -> int:
    # A running `budbringer serve` has Prefect loaded: it takes the send when it would run it as this command
    # would (cli/handover.py), and this command prints what it says.
    handed = hand_over(args)
    if handed is not None:
        return handed
    if not args.verbose and not args.handed_over:  # (serve put the tier lines' handler in place once)
        progress_only()
    # Without a Prefect server (the ephemeral default) the temporary one starts now, from a thread, so that its
    # start overlaps the checks and rendering below instead of following them (flows/temporary_server.py).
    commands = flows()  # Prefect's environment set; flows/commands.py imports no Prefect yet
    # A message the ledger has delivered before may need no server at all (a re-run): then it starts only if
    # the full check below finds work left.
    server = commands.begin_temporary_server(now=not _delivered_before(args.message))
    try:
        return _send(args, server, commands)
    finally:
        server.stop()


def _delivered_before(message_path: str) -> bool:
    """A quick look, before anything else: does an existing ledger hold a delivery of this message? (Anything
    unclear: no, and the server starts at once; the checks after say what is wrong.)"""
    try:
        from budbringer import message as message_
        from budbringer import settings
        from budbringer.ledger import Ledger, State

        url = settings.current().ledger_url()
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            return False
        message_id = message_.load(message_path).id
        with Ledger(url) as ledger:
            return any(r.state == State.DELIVERED for r in ledger.records(message_id))
    except Exception:  # noqa: BLE001 - only a guess about when to start the server
        return False


def _send(args: argparse.Namespace, server: TemporaryServer, commands: ModuleType) -> int:
    from budbringer import approval as approval_, cascade, engine, runtime
    from budbringer.adapters.registry import REGISTRY
    from budbringer.ledger import OutcomeState, State

    if args.approved_by is not None and not approval_.approvers(args.approved_by):
        raise ApprovalError("--approved-by names nobody: give the chair, members (comma-separated) or the group, "
                            "or leave it out to ask the steering group for approval")
    if args.override_order and not args.reason.strip():
        raise ApprovalError("--override-order needs --reason TEXT: the chair's reason is recorded and reported")
    if args.approved_by and not (args.approval_ref or "").strip():
        raise ApprovalError("--approved-by needs --approval-ref REF: where the approval is recorded (the minutes)")
    # Everything that can be checked is checked before the flow starts and before anything is recorded.
    prepared = cascade.prepare(load_plan(args.plan), args.message, args.settings.environ)
    plan, message = prepared.plan, prepared.message
    _announce_new_ledger(plan)
    if args.approved_by:
        approval_.check_approvers(plan.approval, args.approved_by)
        if args.override_order:
            approval_.check_override(plan.approval, args.approved_by, args.reason)
    # This command's runtime: the plan loaded above, the ledger, the channels; the flows below use it too.
    # The ledger opens (or says why it cannot) before the flow starts; when it already holds every delivery of
    # this exact content, the answer comes from it, and no flow runs (the temporary server is stopped unused):
    # the flow's own test for a re-run (`engine.already_delivered`), asked here before Prefect is imported.
    run = args.runtime = runtime.Runtime(args.settings, REGISTRY, plan=plan)  # `main` closes it at the end
    ledger = run.ledger
    cascade.refuse_edit_after_delivery(prepared, ledger)
    if not args.approved_by:
        from budbringer import approval_request

        approval_request.refuse_late_request(prepared, ledger, run.clock())  # never mail a dead link
    earlier = engine.already_delivered(prepared, ledger)
    if earlier is not None:
        wanted = {o.key for o in earlier}
        _print_deliveries(plan, _run_rows([r for r in ledger.records(message.id) if r.key in wanted], earlier))
        print(f"\nNothing new delivered: all {len(wanted)} deliveries of {message.id} were delivered before "
              "(answered from the ledger; no flow run was started).")
        return EXIT_OK
    server.start()  # work is left: if it was not started above, now
    try:
        # Prefect's reports of failed runs go to the terminal with --verbose; in serve, to serve's own terminal.
        sent = commands.send(run, prepared, server, terminal_reports=args.verbose or args.handed_over,
                             message=str(Path(args.message).resolve()),
                             approved_by=args.approved_by, approval_ref=args.approval_ref,
                             plan=str(run.settings.plan), override_order=args.override_order, reason=args.reason)
    finally:
        run.close()
    if sent.timed_out:
        print(f"error: nobody decided on {message.id} in time; the decisions so far are kept: "
              f"`budbringer approve` and `budbringer send` again continue", file=sys.stderr)
        return EXIT_PROBLEM
    outcomes, failed = sent.outcomes, sent.failed
    records = ledger.records(message.id)
    if not records and not args.approved_by:
        return _waiting_or_rejected(message.id, args.message, plan, ledger)
    print()
    _print_deliveries(plan, _run_rows(records, outcomes))
    # What *this* run delivered, from its own outcomes: another run at the same time may have delivered the rest.
    new = [o for o in outcomes or [] if o.state == OutcomeState.DELIVERED]
    before = [o for o in outcomes or [] if o.state == OutcomeState.ALREADY_DELIVERED]
    if failed is not None:
        mine = {o.key for o in outcomes or []}
        uncertain = [r for r in records if r.key in mine and r.state == State.UNCERTAIN]
        if uncertain:
            print()
            print_uncertain(uncertain)
        fix = ("; settle each uncertain delivery with `budbringer resolve` as shown above (never sent twice "
               "blindly), then send again for the rest" if uncertain else
               "; the table above says why: fix that, then send again (what was delivered is not sent twice)")
        print(f"\nerror: {mask_secrets(str(failed))}{fix}", file=sys.stderr)
        return EXIT_PROBLEM
    if not new:
        print(f"\nNothing new delivered: all {len(outcomes or [])} deliveries of {message.id} were delivered before.")
    else:
        print(f"\n{len(new)} delivered now, {len(before)} delivered before.")
    return EXIT_OK


#: the plain table's columns; the plan's title last, since it has spaces (a script splits the rest on them)
RUN_COLUMNS = ("tier", "forum", "channel", "state", "attempts", "receipt", "time", "this run", "title")


def _print_deliveries(plan: object, rows: list[dict[str, str]]) -> None:
    """The delivery table: each forum with the plan's own (Danish) title. On a terminal a rich table whose
    receipts are links (a file in the outbox, a page, a post) to open with a click; in a pipe or a log the
    plain table, which reads the same everywhere."""
    from budbringer.report import table

    fora = getattr(plan, "fora", {})
    for row in rows:
        forum = fora.get(row["forum"])
        row["title"] = forum.title if forum is not None else ""
    if not sys.stdout.isatty():
        print(table(rows, RUN_COLUMNS))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # What a communications officer reads; the plain table (a pipe, `| cat`) has every column.
    shown = ("tier", "title", "state", "this run", "receipt")
    grid = Table(*shown, header_style="bold")
    for row in rows:
        receipt = row["receipt"]
        target = receipt if receipt.startswith(("http://", "https://")) else (
            Path(receipt).resolve().as_uri() if receipt and Path(receipt).exists() else "")
        cells = [Text(row[c]) for c in shown]
        if target:  # the file's name (or the address), a click away
            label = receipt if receipt.startswith("http") else Path(receipt).name
            cells[-1] = Text(label, style=f"link {target}")
        grid.add_row(*cells)
    from budbringer import settings

    columns = settings.current().environ.get("COLUMNS", "")  # a handed-over send's: its terminal's width
    Console(width=int(columns) if columns.isdigit() else None).print(grid)


def _run_rows(records: Sequence, outcomes: Sequence | None) -> list[dict[str, str]]:  # type: ignore[type-arg]
    """The ledger's rows of the message, each with what this run did with it (`this run`)."""
    from budbringer.ledger.states import OutcomeState
    from budbringer.report import record_rows

    done = {o.key: o.state for o in outcomes or []}
    rows = record_rows(records)
    for record, row in zip(records, rows, strict=True):
        state = done.get(record.key, "not in this run")
        row["this run"] = "delivered before" if state == OutcomeState.ALREADY_DELIVERED else str(state)
    return rows


def _announce_new_ledger(plan: object) -> None:
    """Say loudly when `send` is about to create a new ledger for a plan that has delivered before.

    The heuristic (docs/security.md): the SQLite ledger file does not exist yet, and there is evidence of
    earlier deliveries: a ledger in another place this plan's runs have used (the working folder's
    `.budbringer`, the old default; the folder beside the plan), or an outbox channel's folder that holds
    delivered messages. A new ledger knows nothing of them, so every delivery would go out again."""
    from budbringer import settings

    current = settings.current()
    url = current.ledger_url()
    if not url.startswith("sqlite:///"):
        return
    ledger_file = Path(url.removeprefix("sqlite:///")).resolve()
    if ledger_file.exists():
        return
    evidence = []
    for candidate in (Path.cwd() / ".budbringer" / "ledger.db", current.home_for(plan.path) / "ledger.db"):  # type: ignore[attr-defined]
        if candidate.resolve() != ledger_file and candidate.is_file() and str(candidate.resolve()) not in evidence:
            evidence.append(str(candidate.resolve()))
    for name, channel in plan.channels.items():  # type: ignore[attr-defined]
        folder = Path(str(channel.settings.get("path", "outbox"))) if channel.type == "outbox" else None
        if folder is not None and folder.is_dir() and any(p.is_dir() for p in folder.iterdir()):
            evidence.append(f"{folder.resolve()} (outbox of channel {name})")
    if evidence:
        print(f"WARNING: a NEW, EMPTY ledger is being created at {ledger_file}, but this plan has delivered "
              f"before: {'; '.join(dict.fromkeys(evidence))}.\nWARNING: a new ledger does not know those "
              f"deliveries, and sends them again. Stop now (Ctrl-C) and point BUDBRINGER_HOME (or "
              f"BUDBRINGER_DATABASE_URL) at the ledger this plan used, unless you mean to start afresh.",
              file=sys.stderr)


def _waiting_or_rejected(message_id: str, path: str, plan: object, ledger: Ledger) -> int:
    """What `send` says when it sent nothing because the message is not (yet) approved."""
    from budbringer.approval_request import local
    from budbringer.ledger.states import RequestState

    request = ledger.request(message_id)
    if request is None:
        print(f"\n{message_id}: no approval was requested; nothing was sent", file=sys.stderr)
        return EXIT_PROBLEM
    if request.state == RequestState.REJECTED:
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


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the manual send, the monthly OC briefing and the preview from this process until Ctrl-C."""
    from budbringer import web_address

    warning = web_address.warning(command_runtime(args).plan)  # a bad plan: one clear line now
    if warning:
        print(warning, file=sys.stderr)
    commands = flows()
    if not args.no_web:
        commands.start_web_in_background(command_runtime(args), "messages", args.web_host, args.web_port)
        print(f"approval pages on http://{args.web_host}:{args.web_port}/")
    # `send --approved-by` from this folder, on this Prefect server, runs here: Prefect is loaded (cli/handover.py).
    progress_lines()  # a handed-over send's line per tier, to its command (cli/handover.py routes it)
    desk = Desk.open(args.settings, commands.api_url(),
                     lambda argv, environ: args.main(argv, environ, handed_over=True))
    if desk is not None:
        commands.warm_up(lambda: _examine(args))  # before it says it is ready (a send meanwhile waits for it)
        print(f"sends from {desk.folder} run here (socket {desk.path})")
    try:
        # The served runs are told the plan as a parameter (they may run in another process, which reads its own
        # settings), not through the environment.
        commands.serve(message=args.message, limit=args.limit, plan=str(args.settings.plan_file))
    finally:
        if desk is not None:
            desk.close()
    return EXIT_OK


def _examine(args: argparse.Namespace) -> None:
    """What a send checks and renders before its flow, on serve's `--message`; nothing printed, nothing raised."""
    from budbringer import cascade

    try:
        cascade.examine(load_plan(args.plan), args.message, args.settings.environ)
    except Exception:  # noqa: BLE001, S110 - only a warm-up: a send says what is wrong with its own message
        pass


def cmd_alerts_setup(args: argparse.Namespace) -> int:
    """Create the alert automations; the webhook URL goes into a Prefect block and is never printed."""
    given = args.settings.alert_webhook_url
    url = args.webhook_url or (given.get_secret_value() if given is not None else "")
    if url == "-":
        url = sys.stdin.readline()
    url = url.strip()
    if not url:
        raise BudbringerError("no webhook URL: set $BUDBRINGER_ALERT_WEBHOOK_URL (or pass --webhook-url URL, or "
                              "--webhook-url - and the URL on standard input)")
    if not url.startswith(("https://", "http://")):
        raise BudbringerError("the webhook URL must start with https:// (the URL itself is not shown here)")
    block_name, automations = flows().setup_alerts(url, args.format)
    print(f"webhook stored in the Prefect block {block_name!r} (Webhook); the URL is not shown")
    for name, automation_id in automations.items():
        print(f"automation {name}: {automation_id}")
    print("Alerts go out when a budbringer-* flow run fails or crashes, and when a delivery is uncertain.")
    return EXIT_OK
