"""`budbringer web` with Prefect: the approval pages (budbringer.web, plain Python) given the one thing they
need from Prefect, a way to resume the run that waits for a decision. Kept here because only flows/ imports
Prefect."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from budbringer import plan as plan_
from budbringer.approval_request import Decision
from budbringer.flows import link_secret
from budbringer.flows.approval import api_url, resume_waiting_run


def resume(flow_run_id: str, decision: Decision) -> str:
    """Resume the waiting run when a Prefect server is configured (environment or profile)."""
    if not api_url():
        return "no Prefect server is configured: `budbringer send` again continues with the decision"
    return resume_waiting_run(flow_run_id, decision)


def app(plan: str | Path | None = None, messages: str | Path = "messages") -> Any:
    """The pages, with the link secret resolved here ($BUDBRINGER_WEB_SECRET, a Prefect Secret block, or the
    generated one) and, when the plan asks for Entra ID sign-in, what it needs checked before serving (the
    client secret; with sign-in required, every member's object id)."""
    from budbringer.web import signin
    from budbringer.web.app import create_app

    from budbringer.errors import InputError

    loaded = plan_.load(plan)
    if problems := signin.configuration_problems(loaded):
        raise InputError(problems)
    return create_app(plan, messages, resume=resume, secret=link_secret.resolve(loaded))


def server(plan: str | Path | None, messages: str | Path, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app(plan, messages), host=host, port=port, log_level="info",
                                         access_log=False))


def run(plan: str | Path | None, messages: str | Path, host: str = "127.0.0.1", port: int = 8400) -> None:
    server(plan, messages, host, port).run()


def start_in_background(plan: str | Path | None, messages: str | Path, host: str, port: int) -> threading.Thread:
    """Beside `budbringer serve`'s deployments: the pages in a daemon thread of the same process."""
    web = server(plan, messages, host, port)
    thread = threading.Thread(target=web.run, name="budbringer-web", daemon=True)
    thread.start()
    return thread
