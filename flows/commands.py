"""The command line's one way into the flows: what `send`, `serve`, `web`, `alerts setup` and the resume part of
`approve` run in the Prefect tier.

The command line (`budbringer.cli`) lives in the domain's tier: the import contracts in pyproject.toml forbid it
to import `budbringer.flows` or Prefect, so that `--help`, `check`, `preview`, `status` and the other commands
that run no flow never load Prefect. A command that does run a flow loads this module by its name,
`budbringer.cli.prefect_tier.flows()` (`importlib.import_module(FLOWS_MODULE)`, after setting Prefect's
environment), and uses nothing of flows/ but what is here. So this file is the whole seam, in one place.

Nothing here imports Prefect when the module is loaded: each function imports what it needs when it is called,
so that `send` can start its temporary server from a thread before Prefect's own import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import threading

    from budbringer.approval_request import Decision
    from budbringer.cascade import Outcome, Prepared
    from budbringer.flows.temporary_server import TemporaryServer
    from budbringer.runtime import Runtime


def begin_temporary_server(now: bool) -> TemporaryServer:
    """`send` without a Prefect server: its temporary server, started from a thread at once when `now` (or
    later, with `start()`, when the ledger shows work left). Imports no Prefect (flows/temporary_server.py)."""
    from budbringer.flows.temporary_server import TemporaryServer

    return TemporaryServer.begin(now=now)


@dataclass
class SendRun:
    """How the send flow ended: its outcomes; the failure that stopped the cascade (CascadeFailed), if any;
    `timed_out` when nobody decided on the approval in time (FlowPauseTimeout; then there are no outcomes)."""

    outcomes: Sequence[Outcome] | None
    failed: Exception | None = None
    timed_out: bool = False


def send(run: Runtime, prepared: Prepared, server: TemporaryServer, *, terminal_reports: bool, message: str,
         approved_by: str | None, approval_ref: str | None, plan: str, override_order: bool, reason: str) -> SendRun:
    """Run the send flow with this command's runtime and the message it prepared (rendered once per send), on
    the temporary server (or the configured one). Without `terminal_reports`, Prefect's reports of failed runs
    (with tracebacks) stay in the run's log only."""
    from budbringer.flows.approval import api_url
    from budbringer.flows.send import CascadeFailed, send_flow, using
    from budbringer.settings import prefect_startup_timeout

    if not terminal_reports:
        _no_tracebacks_on_the_terminal()
    # A run waits for decisions made elsewhere only with a server of its own (not the temporary one).
    wait_for_approval = api_url() is not None
    temporary = server.api(prefect_startup_timeout())
    try:
        with server.settings(temporary), using(run, prepared):
            return SendRun(send_flow(message=message, approved_by=approved_by, approval_ref=approval_ref, plan=plan,
                                     override_order=override_order, reason=reason,
                                     wait_for_approval=wait_for_approval))
    except CascadeFailed as exc:
        return SendRun(getattr(exc, "outcomes", None), failed=exc)
    except Exception as exc:
        if type(exc).__name__ != "FlowPauseTimeout":
            raise
        return SendRun(None, timed_out=True)


def resume(flow_run_id: str, decision: Decision) -> str | None:
    """`approve`: hand the decision to the run that waits for it; None when no Prefect server is configured
    ($PREFECT_API_URL or the profile's, `prefect config set PREFECT_API_URL=…`)."""
    from budbringer.flows.approval import api_url, resume_waiting_run

    if not api_url():
        return None
    return resume_waiting_run(flow_run_id, decision)


def api_url() -> str | None:
    """The Prefect server this process uses ($PREFECT_API_URL or the active profile's); None: a temporary one."""
    from budbringer.flows.approval import api_url as configured

    return configured()


def warm_up(examine: Callable[[], None]) -> None:
    """`serve` with a desk: load what a handed-over send loads on its way, so that the first send is as quick as
    the next (about 0.6 s): the checks, the renderer and the Danish word lists (`examine`: a send's checks on
    serve's message), and FastAPI's encoder, which Prefect imports to serialise the first flow run's parameters."""
    import importlib

    importlib.import_module("fastapi.encoders")
    examine()


def serve(message: str, limit: int | None, plan: str | None = None) -> None:
    """`serve`: the deployments of prefect.yaml, run from this process until Ctrl-C (flows/serve.py), with
    `plan` (the command's) as their plan parameter."""
    from budbringer.flows.serve import serve as serve_deployments

    serve_deployments(message=message, limit=limit, plan=plan)


def start_web_in_background(plan: str | Runtime | None, messages: str, host: str, port: int) -> threading.Thread:
    """`serve`: the approval pages beside the deployments, in a daemon thread (flows/web.py)."""
    from budbringer.flows.web import start_in_background

    return start_in_background(plan, messages, host, port)


def web_server(plan: str | Runtime | None, messages: str, host: str, port: int) -> Any:
    """`web`: the approval pages' server, whose decisions resume the waiting run (flows/web.py)."""
    from budbringer.flows.web import server

    return server(plan, messages, host, port)


def link_secret(plan: Any) -> str | None:
    """`link --author`: the secret from the plan's Prefect Secret block (flows/link_secret.py)."""
    from budbringer.flows import link_secret as secret_

    return secret_.resolve(plan)


def setup_alerts(url: str, format: str) -> tuple[str, dict[str, Any]]:
    """`alerts setup`: the webhook in its Prefect block and the automations; the block's name and each
    automation's id (flows/alerts.py)."""
    from budbringer.flows.alerts import BLOCK_NAME, setup

    return BLOCK_NAME, dict(setup(url, format).automations)


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
