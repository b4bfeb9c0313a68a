"""`budbringer web` with Prefect: the approval pages (budbringer.web, plain Python) given the one thing they
need from Prefect, a way to resume the run that waits for a decision. Kept here because only flows/ imports
Prefect."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from budbringer.adapters.registry import REGISTRY
from budbringer.runtime import Runtime
from budbringer.settings import Settings
from budbringer.approval_request import Decision
from budbringer.flows import link_secret
from budbringer.flows.send import api_url, resume_waiting_run


def resume(flow_run_id: str, decision: Decision) -> str:
    """Resume the waiting run when a Prefect server is configured (environment or profile)."""
    if not api_url():
        return "no Prefect server is configured: `budbringer send` again continues with the decision"
    return resume_waiting_run(flow_run_id, decision)


def app(plan: str | Path | Runtime | None = None, messages: str | Path = "messages") -> Any:
    """The pages, with the link secret resolved here ($BUDBRINGER_WEB_SECRET, a Prefect Secret block, or the
    generated one) and, when the plan asks for Entra ID sign-in, what it needs checked before serving (the
    client secret; with sign-in required, every member's object id)."""
    from budbringer.web import signin
    from budbringer.web.app import create_app

    from budbringer.errors import InputError

    run = plan if isinstance(plan, Runtime) else Runtime(Settings.read(plan), REGISTRY, follow_plan=True)
    loaded = run.plan
    if problems := signin.configuration_problems(loaded):
        raise InputError(problems)
    return create_app(messages=messages, resume=resume, secret=link_secret.resolve(loaded, run.settings),
                      runtime=run)


def server(plan: str | Path | Runtime | None, messages: str | Path, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app(plan, messages), host=host, port=port, log_level="info",
                                         access_log=False))


def run(plan: str | Path | Runtime | None, messages: str | Path, host: str = "127.0.0.1", port: int = 8400) -> None:
    server(plan, messages, host, port).run()


def start_in_background(plan: str | Path | Runtime | None, messages: str | Path, host: str, port: int) -> threading.Thread:
    """Beside `budbringer serve`'s deployments: the pages in a daemon thread of the same process."""
    web = server(plan, messages, host, port)
    thread = threading.Thread(target=web.run, name="budbringer-web", daemon=True)
    thread.start()
    return thread
