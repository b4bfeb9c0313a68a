"""The `budbringer` command: the entry point, above the flows. It hands the channel registry to the domain.
`--help`, `init`, `check`, `preview`, `status` and `plan` never import Prefect."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from budbringer.errors import ApprovalError, BudbringerError, InputError, LedgerError, Problem, mask_secrets, mask_urls

if TYPE_CHECKING:
    from budbringer.flows.temporary_server import TemporaryServer
    from budbringer.plan import Plan

EXIT_OK, EXIT_PROBLEM = 0, 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.plan = getattr(args, "plan", None)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_PROBLEM
    pinned = _pin_ledger(args.plan)
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except BudbringerError as exc:
        return _error(str(exc))
    except OSError as exc:  # a file or folder the command needs (an outbox, a preview folder) is not usable
        where = f" ({exc.filename})" if exc.filename else ""
        return _error(f"{exc.strerror or exc}{where}: check the path and its permissions; nothing more was done")
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            return _error(str(_ledger_error(exc)))
        raise
    finally:
        _checkpoint_ledgers()
        if pinned:
            os.environ.pop("BUDBRINGER_HOME", None)


def _checkpoint_ledgers() -> None:
    """Every command ends with its SQLite ledgers whole in `ledger.db` (the write-ahead log folded in), so a
    copy of that file alone is complete. A command that opened no ledger imports nothing for it."""
    database = sys.modules.get("budbringer.ledger.database")
    if database is not None:
        database.checkpoint_all()


def _error(text: str) -> int:
    """One error on stderr, with any URL's credentials, tokens and keys masked."""
    try:
        print(f"error: {mask_secrets(text)}", file=sys.stderr)
    except BrokenPipeError:
        pass
    return EXIT_PROBLEM


def _reader_went_away() -> int:
    """`budbringer status | head`: the reader closed the pipe. Stop quietly (no traceback at exit either)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (e.g. captured in tests)
        pass
    return EXIT_PROBLEM


def _pin_ledger(plan: str | None) -> bool:
    """Let every ledger this command opens (the flows' too) follow the plan given with --plan, not the working
    folder (budbringer.ledger.ledger_home). True when BUDBRINGER_HOME was set here (and is unset at the end)."""
    if not plan or os.environ.get("BUDBRINGER_HOME") or os.environ.get("BUDBRINGER_DATABASE_URL"):
        return False
    from budbringer.ledger import ledger_home

    os.environ["BUDBRINGER_HOME"] = str(ledger_home(Path(plan)).resolve())
    return True


def _ledger_error(exc: Exception) -> LedgerError:
    """A database error as one line: which ledger, what is wrong, what to do. The URL's password is masked."""
    from budbringer.ledger import database_url

    try:
        url = database_url()
    except BudbringerError:
        url = "(unknown)"
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    kind = type(exc).__name__
    if kind in ("ArgumentError", "NoSuchModuleError"):
        fix = "set BUDBRINGER_DATABASE_URL to a URL such as postgresql+psycopg://HOST/DATABASE, or unset it"
    elif "locked" in reason:
        fix = "another process holds the ledger: wait for it to finish, then try again"
    elif "not a database" in reason or "malformed" in reason:
        fix = "the file is damaged or is not a ledger: restore it from a backup, or point BUDBRINGER_HOME elsewhere"
    else:
        fix = "check that the database is running and reachable, and the URL and its credentials"
    return LedgerError(f"the ledger {mask_urls(url)} cannot be used: {reason[:200]}; {fix}")


def _plan(path: str | None) -> Plan:
    """The plan, checked against the channel types this entry point hands in (the adapters' registry)."""
    from budbringer import plan as plan_
    from budbringer.adapters.registry import REGISTRY

    return plan_.load(path, REGISTRY)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own (absent) --plan must not overwrite one given before the subcommand.
    common.add_argument("--plan", default=argparse.SUPPRESS, metavar="PATH",
                        help="the plan (default: $BUDBRINGER_PLAN, else config/plan.yaml)")
    parser = argparse.ArgumentParser(
        prog="budbringer", parents=[common],
        description="Run a communication plan: approval, then the cascade in the plan's order, then publish.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = sub.add_parser("init", help="write a starter plan folder (plan, one message, templates to edit)",
                          description="Write a starter plan folder DIR from the installed package: config/plan.yaml, "
                                      "templates/ and one message in messages/. Then run the commands from DIR.")
    init.add_argument("folder", metavar="DIR", help="a new (or empty) folder")
    init.set_defaults(run=cmd_init)

    new = sub.add_parser("new", parents=[common], help="write next month's message as a skeleton to fill in",
                         description="Write the message for the next OC meeting (or --meeting DATE) into messages/: "
                                     "the dates from the plan's calendar, and every field each forum needs, empty, "
                                     "with a Danish prompt. Never overwrites a file.")
    new.add_argument("--meeting", metavar="DATE", help="the OC meeting the message is for (YYYY-MM-DD; default: "
                                                       "the next one in the plan)")
    new.add_argument("--messages", default="messages", metavar="DIR", help="where to write it (default: messages)")
    new.set_defaults(run=cmd_new)

    check = sub.add_parser("check", parents=[common], help="validate plan and message, render every variant")
    check.add_argument("message", help="the message file (Markdown with front matter)")
    check.add_argument("--lang", choices=["da", "en"], default=None,
                       help="the findings' language (default: from the locale, LANG/LC_MESSAGES: en for English, "
                            "else Danish)")
    check.set_defaults(run=cmd_check)

    preview = sub.add_parser("preview", parents=[common], help="write every variant as HTML with an index page")
    preview.add_argument("message")
    preview.add_argument("--out", default=None, help="folder (default: preview/<message id>)")
    preview.add_argument("--lang", choices=["da", "en"], default=None,
                         help="the findings' language on the terminal (the pages are Danish)")
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
    send.add_argument("--verbose", action="store_true",
                      help="show Prefect's own log lines on the terminal (they always go to the run's log)")
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
                             help="settle an uncertain delivery or notice after checking with the provider")
    resolve.add_argument("delivery", help="the delivery's or the notice's key, or its short key as `status` "
                                          "shows it")
    resolve.add_argument("outcome", choices=["sent", "resend"],
                         help="sent: it arrived (recorded as delivered); resend: it did not (the next run sends it)")
    resolve.add_argument("--note", default="", help="what you checked (e.g. 'found in Sent Items 10:42')")
    resolve.set_defaults(run=cmd_resolve)

    db = sub.add_parser("db", help="the ledger's schema (upgrade it, show its revision) and its backup",
                        description="The ledger's schema version (Alembic). A new ledger is created at the newest "
                                    "revision on first use; after installing a newer Budbringer, run `budbringer "
                                    "db upgrade` once (the start says so when it is needed).")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="bring the ledger to this Budbringer's newest revision").set_defaults(run=cmd_db)
    db_sub.add_parser("current", help="the ledger's revision, and whether it is the newest (exit 1 if behind)"
                      ).set_defaults(run=cmd_db)
    backup = db_sub.add_parser(
        "backup", help="copy the SQLite ledger to FILE while it may be in use (SQLite's online backup)",
        description="A complete, consistent copy of the SQLite ledger (the write-ahead log included), safe while "
                    "a send runs. For a PostgreSQL ledger it says which pg_dump command to run instead.")
    backup.add_argument("file", metavar="FILE", help="the new backup file (not overwritten if it exists)")
    backup.set_defaults(run=cmd_db_backup)

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


def cmd_init(args: argparse.Namespace) -> int:
    from budbringer import starter

    written = starter.write(args.folder)
    folder = Path(args.folder)
    print(f"{len(written)} files written to {folder}/: config/plan.yaml, templates/, messages/")
    messages = sorted(p.name for p in written if p.parent.name == "messages")
    print(f"Next: cd {folder} && budbringer check messages/{messages[0] if messages else '<message>.md'}")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    """Next month's message as a skeleton (budbringer/skeleton.py), dated by the plan's calendar from now."""
    import datetime as dt

    from budbringer import skeleton
    from budbringer.clock import default_clock

    meeting = None
    if args.meeting:
        try:
            meeting = dt.date.fromisoformat(args.meeting)
        except ValueError:
            raise InputError([Problem("budbringer new", "--meeting", f"{args.meeting!r} is not a date",
                                      "give the meeting as YYYY-MM-DD, e.g. --meeting 2027-01-14")]) from None
    path, dates, skipped = skeleton.write(_plan(args.plan), args.messages, default_clock(), meeting)
    for day in skipped:
        print(f"note: the OC meeting on {day.isoformat()} is skipped: its approval deadline has passed")
    print(f"{path} written: the message for the OC meeting on {dates.meeting.isoformat()}; approval is asked "
          f"for on {dates.request_at:%Y-%m-%d %H:%M} and due on {dates.deadline:%Y-%m-%d %H:%M}.")
    for other in skeleton.same_month(path):
        print(f"note: {other} is for the same month; the monthly run takes exactly one file per month: move one")
    print(f"Next: fill in every empty field (see docs/skriv-et-budskab.md), then `budbringer check {path}`, "
          "which names each field still empty")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Render every variant, print its readability figures, list the findings; blocking findings exit 1."""
    from budbringer import cascade


    plan, message, variants, review, findings = _checked(args)
    _refuse_oversized(message, variants)
    problems = cascade.preflight(plan) + _sign_in_problems(plan)
    print(f"{message.path}: {len(variants)} variants rendered for {len({v.tier for v in variants})} tiers; "
          f"approval hash {_approval_hash(variants)[:12]}")
    _figures_table(variants, review.figures)
    _sources_table(plan, message, variants)
    _print_findings(plan, findings, args)
    blocking = [f for f in findings if f.severity == "error"]
    if blocking or problems:
        raise InputError(problems + _blocking(message, blocking))
    print("ok: nothing was sent")
    return EXIT_OK


def _sign_in_problems(plan: object) -> list:  # type: ignore[type-arg]
    """With Entra ID sign-in on the approval pages, what `web` and `serve` refuse to start with (the client
    secret missing; with sign-in required, a member without an object id): said by `check` too, before the
    day the pages are needed."""
    if getattr(getattr(plan, "approval", None), "sign_in", None) is None:
        return []
    from budbringer.web import signin

    return signin.configuration_problems(plan)  # type: ignore[arg-type]


def _checked(args: argparse.Namespace) -> tuple:  # type: ignore[type-arg]
    """What `cascade.prepare` does, without stopping at a blocking finding: check and preview show them all."""
    from budbringer import cascade, checks, deadlines, delivery_dates, message as message_, readability, render

    plan = _plan(args.plan)
    message = message_.load(args.message, plan)
    variants = render.render_variants(plan, message)
    review = readability.review(plan, variants, message.words)
    findings = checks.all_findings(plan, message, variants, review, (
        cascade.channel_findings(plan, variants)
        + delivery_dates.findings(plan, message, variants, now=deadlines.local_now(plan))))
    return plan, message, variants, review, findings


def _blocking(message: object, blocking: Sequence) -> list:  # type: ignore[type-arg]
    from budbringer import checks

    return checks.blocking_problems(str(message.path), list(blocking))  # type: ignore[attr-defined]


def _approval_hash(variants: Sequence) -> str:  # type: ignore[type-arg]
    from budbringer import approval

    return approval.approval_hash({v.forum: v.content_hash for v in variants})


def _figures_table(variants: Sequence, figures: dict) -> None:  # type: ignore[type-arg]
    """The readability figures of every variant as a table (rich), the way an editor reads them."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Readability of each variant (headline and prose; greetings, headings and sign-offs "
                        "not counted)", title_justify="left", show_lines=False)
    for column, justify in (("forum", "left"), ("group", "left"), ("words", "right"), ("sentences", "right"),
                            ("LIX / max", "right"), ("long words", "right"), ("longest", "right"),
                            ("> 25 words", "right"), ("address", "left"), ("glossary terms", "left"),
                            ("repeated passages", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for variant in variants:
        f = figures[variant.forum]
        lix = f"{f.lix:.0f} / {f.max_lix}"
        table.add_row(f.forum, f.stakeholder, str(f.words), str(f.sentences),
                      f"[bold red]{lix}[/]" if f.over_ceiling else lix, f"{f.long_share:.0f}%", str(f.longest),
                      str(len(f.long_sentences)), f.address or "-", ", ".join(f.terms) or "-",
                      str(len(f.repeated)))
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(table)


def _print_findings(plan: object, findings: Sequence, args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    """The findings once per message field, by consequence, in the author's language (--lang, else the locale)."""
    from budbringer import catalogue
    from budbringer.findings import for_author, summary

    lang = catalogue.language(getattr(args, "lang", None))
    shown = for_author(findings, {n: f.title for n, f in plan.fora.items()}, lang)  # type: ignore[attr-defined]
    print(catalogue.say("Findings: {summary}", lang, summary=summary(shown, lang)))
    for finding in shown:
        print(f"  {finding.line()}")


def _sources_table(plan: object, message: object, variants: Sequence) -> None:  # type: ignore[type-arg]
    """Where each part of every forum's text comes from: its own or shared text, its group's, the timeline and
    the template (a field from a text written for another reader is marked ✗)."""
    from budbringer import render

    print("Sources of each forum's text (✗: written for another reader)")
    for sources in render.text_sources(plan, message, list(variants)):  # type: ignore[arg-type]
        print(f"  {sources.forum}: {render.sources_line(sources)}")


def cmd_preview(args: argparse.Namespace) -> int:
    """The approval page without buttons, and each variant on its own page, as static files (Danish)."""
    from budbringer import cascade
    from budbringer.web import pages

    plan, message, variants, review, findings = _checked(args)
    prepared = cascade.Prepared(plan, message, variants, findings)
    out = Path(args.out or Path("preview") / prepared.message.id)
    if out.exists() and not out.is_dir():
        raise InputError([Problem(str(out), "--out", "is an existing file; the preview is a folder of pages",
                                  "give a folder (new, or one that holds an earlier preview)")])
    out.mkdir(parents=True, exist_ok=True)
    from budbringer import render

    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants,
                                             prepared.findings, prepared.approval_hash,
                                             quality={forum: figures.line_da()
                                                      for forum, figures in review.figures.items()})
    quality = pages.readability_figures(prepared)
    (out / "00-approval.html").write_text(pages.render("mail.html.j2", title=request.subject, mail=request),
                                          encoding="utf-8")
    links = {f"Anmodningen om godkendelse (mailen til {prepared.plan.approval.title.lower()})": "00-approval.html"}
    for tier in pages.tiers(prepared, quality):
        for view in tier.variants:
            variant = view.variant
            name = f"{variant.tier_index:02d}-{variant.forum}.html"
            (out / name).write_text(pages.render("variant.html.j2", title=variant.forum_title, view=view,
                                                 tier=tier, message=prepared.message), encoding="utf-8")
            links[f"Trin {tier.index}: {variant.forum_title} ({view.medium})"] = name
    (out / "index.html").write_text(pages.approval_page(prepared, None, links=links, quality=quality),
                                    encoding="utf-8")
    print(f"{len(links) - 1} variants and the approval request written with the page the approvers see "
          f"(without buttons), with each variant's readability figures; open {(out / 'index.html').resolve()}")
    _sources_table(plan, message, variants)
    _print_findings(plan, findings, args)
    blocking = [f for f in findings if f.severity == "error"]
    if blocking:
        raise InputError(_blocking(message, blocking))
    return EXIT_OK


#: the most rendered content (every variant's body, in bytes) one message may have: the variants travel as
#: flow-run parameters, which Prefect refuses over 512 KB (docs/security.md)
MAX_RENDERED_BYTES = 400 * 1024


def _refuse_oversized(message: object, variants: Sequence) -> None:  # type: ignore[type-arg]
    """Refuse a message whose rendered variants are too big to send, before anything is recorded."""
    from budbringer import message as message_

    total = sum(len(v.body.encode("utf-8")) + len(v.subject.encode("utf-8")) for v in variants)
    if total > MAX_RENDERED_BYTES:
        raise InputError([Problem(str(message.path), "(message)",  # type: ignore[attr-defined]
                                  f"renders to {total:,} bytes over {len(variants)} variants; at most "
                                  f"{MAX_RENDERED_BYTES:,} can be sent (the file itself may be "
                                  f"{message_.MAX_BYTES:,} bytes)",
                                  "shorten the texts, or link to the full text with `link:`")])


def cmd_send(args: argparse.Namespace) -> int:
    # Without a Prefect server (the ephemeral default) the temporary one starts now, from a thread, so that its
    # start overlaps the checks and rendering below instead of following them (flows/temporary_server.py).
    _quiet_prefect()
    if not args.verbose:
        _progress_only()
    from budbringer.flows.temporary_server import TemporaryServer

    # A message the ledger has delivered before may need no server at all (a re-run): then it starts only if
    # the full check below finds work left.
    server = TemporaryServer.begin(now=not _delivered_before(args.message))
    try:
        return _send(args, server)
    finally:
        server.stop()


def _delivered_before(message_path: str) -> bool:
    """A quick look, before anything else: does an existing ledger hold a delivery of this message? (Anything
    unclear: no, and the server starts at once; the checks after say what is wrong.)"""
    try:
        from budbringer import message as message_
        from budbringer.ledger import Ledger, State, database_url

        url = database_url()
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            return False
        message_id = message_.load(message_path).id
        return any(r.state == State.DELIVERED for r in Ledger().records(message_id))
    except Exception:  # noqa: BLE001 - only a guess about when to start the server
        return False


def _send(args: argparse.Namespace, server: TemporaryServer) -> int:
    from types import SimpleNamespace

    from budbringer import approval as approval_, cascade, runtime
    from budbringer.adapters.registry import REGISTRY
    from budbringer.delivery import delivery_key
    from budbringer.ledger import State

    if args.approved_by is not None and not approval_.approvers(args.approved_by):
        raise ApprovalError("--approved-by names nobody: give the chair, members (comma-separated) or the group, "
                            "or leave it out to ask the steering group for approval")
    if args.override_order and not args.reason.strip():
        raise ApprovalError("--override-order needs --reason TEXT: the chair's reason is recorded and reported")
    if args.approved_by and not (args.approval_ref or "").strip():
        raise ApprovalError("--approved-by needs --approval-ref REF: where the approval is recorded (the minutes)")
    # Everything that can be checked is checked before the flow starts and before anything is recorded.
    prepared = cascade.prepare(_plan(args.plan), args.message)
    plan, message = prepared.plan, prepared.message
    _refuse_oversized(prepared.message, prepared.variants)
    _announce_new_ledger(plan)
    if args.approved_by:
        approval_.check_approvers(plan.approval, args.approved_by)
        if args.override_order:
            approval_.check_override(plan.approval, args.approved_by, args.reason)
    # This command's runtime: the plan loaded above, the ledger, the channels; the flows below use it too.
    # The ledger opens (or says why it cannot) before the flow starts; when it already holds every delivery of
    # this exact content, the answer comes from it, and no flow runs (the temporary server is stopped unused).
    run = runtime.Runtime(runtime.Settings.read(args.plan), REGISTRY, plan=plan)
    ledger = run.ledger
    cascade.refuse_edit_after_delivery(prepared, ledger)
    if not args.approved_by:
        from budbringer import approval_request

        approval_request.refuse_late_request(prepared, ledger, run.clock())  # never mail a dead link
    records = ledger.records(message.id)
    wanted = {delivery_key(message.id, v.content_hash, v.forum, v.channel) for v in prepared.variants}
    if wanted and wanted <= {r.key for r in records if r.state == State.DELIVERED}:
        earlier = [SimpleNamespace(key=key, state="already delivered") for key in wanted]
        _print_deliveries(plan, _run_rows([r for r in records if r.key in wanted], earlier))
        print(f"\nNothing new delivered: all {len(wanted)} deliveries of {message.id} were delivered before "
              "(answered from the ledger; no flow run was started).")
        return EXIT_OK
    server.start()  # work is left: if it was not started above, now
    from budbringer.flows.send import CascadeFailed, api_url, send_flow, using

    if not args.verbose:
        _no_tracebacks_on_the_terminal()

    # A run waits for decisions made elsewhere only with a server of its own (not the temporary one).
    wait_for_approval = api_url() is not None
    temporary = server.api(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
    failed = None
    try:
        with server.settings(temporary), using(run):
            outcomes = send_flow(message=str(Path(args.message).resolve()), approved_by=args.approved_by,
                                 approval_ref=args.approval_ref, plan=str(run.settings.plan),
                                 override_order=args.override_order, reason=args.reason,
                                 wait_for_approval=wait_for_approval)
    except CascadeFailed as exc:
        failed = exc
        outcomes = getattr(exc, "outcomes", None)
    except Exception as exc:
        if type(exc).__name__ != "FlowPauseTimeout":
            raise
        print(f"error: nobody decided on {message.id} in time; the decisions so far are kept: "
              f"`budbringer approve` and `budbringer send` again continue", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        run.close()
    records = ledger.records(message.id)
    if not records and not args.approved_by:
        return _waiting_or_rejected(message.id, args.message, plan, ledger)
    print()
    _print_deliveries(plan, _run_rows(records, outcomes))
    # What *this* run delivered, from its own outcomes: another run at the same time may have delivered the rest.
    new = [o for o in outcomes or [] if o.state == "delivered"]
    before = [o for o in outcomes or [] if o.state == "already delivered"]
    if failed is not None:
        mine = {o.key for o in outcomes or []}
        uncertain = [r for r in records if r.key in mine and r.state == State.UNCERTAIN]
        if uncertain:
            print()
            _print_uncertain(uncertain)
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
    Console().print(grid)


def _run_rows(records: Sequence, outcomes: Sequence | None) -> list[dict[str, str]]:  # type: ignore[type-arg]
    """The ledger's rows of the message, each with what this run did with it (`this run`)."""
    from budbringer.report import record_rows

    done = {o.key: o.state for o in outcomes or []}
    rows = record_rows(records)
    for record, row in zip(records, rows, strict=True):
        state = done.get(record.key, "not in this run")
        row["this run"] = "delivered" if state == "delivered" else (
            "delivered before" if state == "already delivered" else state)
    return rows


def _announce_new_ledger(plan: object) -> None:
    """Say loudly when `send` is about to create a new ledger for a plan that has delivered before.

    The heuristic (docs/security.md): the SQLite ledger file does not exist yet, and there is evidence of
    earlier deliveries: a ledger in another place this plan's runs have used (the working folder's
    `.budbringer`, the old default; the folder beside the plan), or an outbox channel's folder that holds
    delivered messages. A new ledger knows nothing of them, so every delivery would go out again."""
    from budbringer.ledger import database_url, ledger_home

    url = database_url()
    if not url.startswith("sqlite:///"):
        return
    ledger_file = Path(url.removeprefix("sqlite:///")).resolve()
    if ledger_file.exists():
        return
    evidence = []
    for candidate in (Path.cwd() / ".budbringer" / "ledger.db", ledger_home(plan.path) / "ledger.db"):  # type: ignore[attr-defined]
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


def _quiet_prefect() -> None:
    """Settings for Prefect before it is imported: no telemetry, our loggers shown in the run's logs."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "budbringer")
    # The first ephemeral start migrates a new database; the default 20 s is too short on a loaded machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _progress_only() -> None:
    """The terminal shows a line per tier and Prefect's warnings and errors; Prefect's own lines at INFO (task
    runs starting and finishing, the temporary server) still go to the run's log, not to the terminal. Set
    before Prefect configures its logging; `--verbose` leaves Prefect's console as it is."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    progress = logging.getLogger("budbringer.progress")
    if not any(isinstance(h, _TerminalLines) for h in progress.handlers):
        progress.addHandler(_TerminalLines(logging.INFO))
        progress.setLevel(logging.INFO)


class _NoFailureReports(logging.Filter):
    """On the terminal only (the run's log keeps them): Prefect's own reports of a task or flow run that failed,
    with their tracebacks. `send` says what went wrong in one line at its end, with what to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")) or record.levelno < logging.ERROR:
            return True
        text = str(record.msg)
        return not (record.exc_info or text.startswith(("Finished in state", "Encountered exception",
                                                        "Task run failed", "Flow run failed")))


def _no_tracebacks_on_the_terminal() -> None:
    """Put `_NoFailureReports` on Prefect's console handlers (after Prefect set up its logging)."""
    for handler in logging.getLogger().handlers + logging.getLogger("prefect").handlers:
        if type(handler).__name__ == "PrefectConsoleHandler" and not any(
                isinstance(f, _NoFailureReports) for f in handler.filters):
            handler.addFilter(_NoFailureReports())


class _TerminalLines(logging.Handler):
    """The bare message on the standard error of the moment (not the one there when the handler was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(record.getMessage(), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - a closed terminal must not stop a delivery
            self.handleError(record)


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
    _print_uncertain(records, ledger.uncertain_notices(message_id))
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
    from budbringer.approval_links import is_late
    from budbringer.approval_request import SOURCES, Status, local

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
        if vote.signer is not None:  # the Entra ID account that signed in for it
            how += f" as {vote.signer.upn or '?'}, object id {vote.signer.oid}, tenant {vote.signer.tid}"
        late = ", late" if is_late(request, vote.at) else ""
        line = f"  {vote.voter}: {vote.decision} ({how}, {vote.at:%Y-%m-%d %H:%M} UTC{late})"
        print(line + (f": {vote.comment}" if vote.comment else ""))
    if plan is not None and request.decided_at is not None and is_late(request, request.decided_at):
        print(f"  LATE: {Status(request, votes).late_note(plan)}")
    if plan is not None and request.state == "open":
        decided = {v.voter.casefold() for v in votes}
        waiting = [m.name for m in plan.approval.members if m.name.casefold() not in decided]
        if waiting:
            print(f"  not decided: {', '.join(waiting)}")
    if request.state == "rejected" and request.comment:
        print(f"  rejected: {request.comment}")


def cmd_mark(args: argparse.Namespace) -> int:
    """Record whether a newsletter's editor accepted or declined a submission that was delivered."""
    from budbringer.errors import Problem
    from budbringer.ledger import Ledger, State

    message_id = args.message
    if Path(message_id).is_file():
        from budbringer import message as message_

        message_id = message_.load(message_id).id
    plan = _plan(args.plan)
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
    """The plan, as text or as a Danish document; masked (`mask_secrets`) like every error, whatever it holds."""
    plan = _plan(args.plan)
    if args.format != "text":
        from budbringer.web import plan_document

        text = plan_document.html_document(plan) if args.format == "html" else plan_document.markdown_document(plan)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
            print(f"the plan as a Danish document ({args.format}): {Path(args.out).resolve()}")
        else:
            sys.stdout.write(text)
        return EXIT_OK
    import contextlib
    import io

    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        _plan_text(plan)
    sys.stdout.write(mask_secrets(shown.getvalue()))
    return EXIT_OK


def _plan_text(plan: Plan) -> None:
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
            to = ", ".join(forum.address.reach())
            print(f"   - {forum.title} ({name}): {forum.stakeholder}, {forum.medium} via {forum.channel} "
                  f"({channel.type}){' → ' + to if to else ''}{state}")
            if forum.informs:
                print(f"       passes it on to: {', '.join(forum.informs)}")
            if forum.meetings:
                print(f"       meetings: {', '.join(d.isoformat() for d in forum.meetings)}")


def cmd_resolve(args: argparse.Namespace) -> int:
    """Settle an uncertain delivery: `sent` records it as delivered, `resend` lets the next run deliver it."""
    from budbringer.ledger import Ledger

    ledger = Ledger()
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
    if args.outcome == "sent":
        print(f"settled: {record.forum} ({record.channel}) is recorded as delivered by the operator; {key}")
    else:
        print(f"settled: {record.forum} ({record.channel}) was not delivered; the next `budbringer send` of "
              f"{record.message_id} delivers it again; {key}")
    return EXIT_OK


def _settled_notice(record: object, outcome: str) -> int:
    from budbringer.ledger.states import NoticeKind

    kind, message_id, key = record.forum, record.message_id, record.key  # type: ignore[attr-defined]
    if outcome == "sent":
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

    engine = database.new_engine(database.database_url())
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

    url = database.database_url()
    if url.startswith("sqlite"):
        from budbringer.ledger import Ledger

        Ledger(url)  # an old ledger is refused here (`db upgrade` first), as by every other command
    else:
        database.new_engine(url).dispose()  # a URL that cannot be used says so first (no connection is made)
    written = backup(url, Path(args.file))
    print(f"ledger backed up to {written.resolve()} ({written.stat().st_size:,} bytes); restore it by stopping "
          "every budbringer command and copying it over ledger.db (removing ledger.db-wal and ledger.db-shm)")
    return EXIT_OK


def _print_uncertain(records: Sequence, notices: Sequence = ()) -> None:  # type: ignore[type-arg]
    """Each uncertain delivery and notice with its short key and how to settle it (`budbringer resolve`)."""
    from budbringer.ledger.delivery_store import short_key

    for record in records:
        if record.state == "uncertain":
            short = short_key(record.key)
            print(f"uncertain: {record.message_id} {record.forum} ({record.channel}), delivery {short}: "
                  f"{record.error or 'outcome unknown'}\n    check with the provider, then: budbringer resolve "
                  f"{short} sent|resend")
    for notice in notices:
        short = short_key(notice.key)
        print(f"uncertain: {notice.message_id} the {notice.forum} notice (approval), notice {short}: "
              f"{notice.error or 'outcome unknown'}\n    look in the sending mailbox's Sent Items or ask its "
              f"recipient, then: budbringer resolve {short} sent|resend")


def _waiting_or_rejected(message_id: str, path: str, plan: object, ledger: object) -> int:
    """What `send` says when it sent nothing because the message is not (yet) approved."""
    from budbringer.approval_request import local

    request = ledger.request(message_id)
    if request is None:
        print(f"\n{message_id}: no approval was requested; nothing was sent", file=sys.stderr)
        return EXIT_PROBLEM
    if request.state == "rejected":
        print(f"\n{message_id} was rejected ({request.comment}); nothing was sent. The author has been told. Edit "
              f"the message and send it again to request a new approval.", file=sys.stderr)
        return EXIT_PROBLEM
    votes = ", ".join(f"{v.voter} ({v.decision})" for v in ledger.votes(request.id)) or "none yet"  # type: ignore[attr-defined]
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
    prepared = cascade.prepare(_plan(args.plan), path)
    ledger = Ledger()
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
    from budbringer.flows.web import server

    web = server(args.plan, args.messages, args.host, args.port)  # the secrets are resolved (and checked) here
    print(f"approval pages on http://{args.host}:{args.port}/ (the plan at /plan); Ctrl-C stops")
    web.run()
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
