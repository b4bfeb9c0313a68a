"""The `budbringer` command: the entry point, in the domain's tier. It hands the channel registry to the domain.

One module per group of commands: `writing` (init, new, check, preview, plan), `approval` (approve, web),
`records` (status, mark, resolve, db) and `sending` (send, serve, alerts). Only `send`, `serve`, `web`,
`alerts setup` and the resume part of `approve` import Prefect, through the flows' one module for the command
line (`prefect_tier.flows()`, flows/commands.py); `--help` and every other command never do.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from budbringer import settings
from budbringer.cli.approval import cmd_approve, cmd_link, cmd_web
from budbringer.cli.entry import EXIT_OK, EXIT_PROBLEM
from budbringer.cli import reach as reach_commands
from budbringer.cli.records import cmd_db, cmd_db_backup, cmd_mark, cmd_resolve, cmd_status
from budbringer.cli.sending import cmd_alerts_setup, cmd_send, cmd_serve
from budbringer.cli.writing import cmd_check, cmd_init, cmd_new, cmd_plan, cmd_preview
from budbringer.errors import BudbringerError, LedgerError, mask_secrets, mask_urls
from budbringer.ledger.states import Answer, Resolution

__all__ = ["EXIT_OK", "EXIT_PROBLEM", "main"]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         handed_over: bool = False) -> int:
    """The command `argv` (else this process's arguments) with its settings read from `environ` (else this
    process's environment); `handed_over`: run by `budbringer serve` for a `send` command (cli/handover.py)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.handed_over = handed_over
    args.main = main  # the entry point itself: `serve` runs the sends handed to it with it (cli/handover.py)
    args.plan = getattr(args, "plan", None)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_PROBLEM
    try:
        # This command's settings, read once: the flows it runs in-process, its runtime and anything it calls
        # take them from here (the ledger beside the plan given with --plan, not the working folder).
        args.settings = settings.Settings.read(args.plan, environ)
        with settings.installed(args.settings):
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
            return _error(str(_ledger_error(exc, getattr(args, "settings", None))))
        raise
    finally:
        _checkpoint_ledgers()
        run = getattr(args, "runtime", None)
        if run is not None:  # the command's runtime (`cli.entry.runtime`): its channels and its ledger
            run.close()


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


def _ledger_error(exc: Exception, given: settings.Settings | None) -> LedgerError:
    """A database error as one line: which ledger, what is wrong, what to do. The URL's password is masked."""
    try:
        url = (given or settings.current()).ledger_url()
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
                    "run `budbringer approve`, then send again. With `budbringer serve` running in this folder on "
                    "the same Prefect server, an approved send runs there, where Prefect is loaded (faster), and "
                    "this command prints what it says.")
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
    mark.add_argument("answer", choices=[a.value for a in Answer])
    mark.add_argument("--note", default="", help="what the editor said (e.g. the issue it will be in)")
    mark.set_defaults(run=cmd_mark)

    reach_commands.add_parser(sub, common)

    resolve = sub.add_parser("resolve", parents=[common],
                             help="settle an uncertain delivery or notice after checking with the provider")
    resolve.add_argument("delivery", help="the delivery's or the notice's key, or its short key as `status` "
                                          "shows it")
    resolve.add_argument("outcome", choices=[r.value for r in Resolution],
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
    approve.add_argument("--by", default=None, metavar="NAME",
                         help="who decides, as in the plan's member list (default: $BUDBRINGER_APPROVER)")
    approve.add_argument("--reject", action="store_true", help="reject the message (needs --comment)")
    approve.add_argument("--comment", default="", help="what should change (told to the author)")
    approve.set_defaults(run=cmd_approve)

    link = sub.add_parser("link", parents=[common], help="print an author's personal link to the author's page",
                          description="Print the personal signed link with which an author (the plan's "
                                      "`authors:`) opens the author's page of `budbringer web`.")
    link.add_argument("--author", required=True, metavar="NAME", help="the author's name or e-mail, as in the plan")
    link.add_argument("--days", type=int, default=60, help="how long the link works (default: 60 days)")
    link.add_argument("--message", default=None, metavar="ID", help="open this message's page (default: the list)")
    link.set_defaults(run=cmd_link)

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
