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
from budbringer.flows.approval import api_url, resume_waiting_run


def resume(flow_run_id: str, decision: Decision) -> str:
    """Resume the waiting run when a Prefect server is configured (environment or profile)."""
    if not api_url():
        return "no Prefect server is configured: `budbringer send` again continues with the decision"
    return resume_waiting_run(flow_run_id, decision)


#: the deployment of the manual send (prefect.yaml): the author's page starts it when the server has it
SEND_DEPLOYMENT = "budbringer-send/manual"


def start_send(given: Settings) -> Any:
    """The author's page's "Send til godkendelse" (budbringer.web.author.StartSend): the message's send run asks
    the steering group for approval. With a Prefect server that has the manual send's deployment, a run of it;
    else the operator's command ($BUDBRINGER_SEND_COMMAND, default `budbringer send MESSAGE`) in the background,
    its output in <home>/logs/."""

    def start(message: Path) -> str:
        if api_url() and (run := _run_deployment(message)) is not None:
            return (f"Udsendelsen er startet (kørslen {run}). Styregruppen får nu en mail med anmodningen om "
                    "godkendelse.")
        return _run_command(given, message)

    return start


def _run_deployment(message: Path) -> str | None:
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(SEND_DEPLOYMENT)
    except ObjectNotFound:
        return None
    run = run_deployment(SEND_DEPLOYMENT, parameters={"message": str(message)}, timeout=0)
    return str(run.name)


def _run_command(given: Settings, message: Path) -> str:
    import shlex
    import subprocess
    import sys

    configured = (given.send_command or "").strip()
    if configured:
        command = [part.replace("{message}", str(message)) for part in shlex.split(configured)]
    else:
        command = [sys.executable, "-m", "budbringer", "--plan", str(given.plan_file), "send", str(message)]
    logs = given.home_folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"send-{message.stem}.log"
    with open(log_file, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    threading.Thread(target=process.wait, name=f"send-{message.stem}", daemon=True).start()  # reaped when done
    return (f"Udsendelsen er startet (proces {process.pid}). Styregruppen får om lidt en mail med anmodningen om "
            "godkendelse.")


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
                      runtime=run, start_send=start_send(run.settings))


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
