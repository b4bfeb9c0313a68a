"""`budbringer approve` finds the Prefect server the way the README tells an operator to set it:
`prefect config set PREFECT_API_URL=…` (a profile), with no PREFECT_API_URL in the environment."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from budbringer.ledger import Ledger
from tests.conftest import example_clock_variables, memory_plan
from tests.servers.prefect_api import MESSAGE_ID, when_paused

BIN = Path(sys.executable).parent


def test_approve_resumes_a_waiting_run_on_a_server_set_only_in_the_profile(
        prefect_api: None, example_clock: dt.datetime, workdir: Path, message_copy: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    from budbringer.flows.send import send_flow

    plan = memory_plan(workdir)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(workdir / "prefect-home"), "PREFECT_PROFILES_PATH": str(workdir / "profiles.toml"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", **example_clock_variables()}
    configured = subprocess.run([str(BIN / "prefect"), "config", "set", f"PREFECT_API_URL={PREFECT_API_URL.value()}"],
                                env=env, capture_output=True, text=True, timeout=120, cwd=workdir)
    assert configured.returncode == 0, configured.stderr
    assert str(PREFECT_API_URL.value()) in (workdir / "profiles.toml").read_text(encoding="utf-8")
    answers: list[subprocess.CompletedProcess[str]] = []
    watcher = when_paused(lambda run_id: answers.append(subprocess.run(
        [str(BIN / "budbringer"), "approve", str(message_copy), "--plan", str(plan), "--by", "Mette Lund"],
        env=env, capture_output=True, text=True, timeout=180, cwd=workdir)))
    outcomes = send_flow(message=str(message_copy), plan=str(plan), wait_hours=0.1)
    watcher.join(5)
    assert not watcher.failures  # type: ignore[attr-defined]

    [approved] = answers
    assert approved.returncode == 0, approved.stderr
    request = Ledger().request(MESSAGE_ID)
    assert request is not None and f"resumed flow run {request.flow_run_id}" in approved.stdout
    assert len(outcomes) == 12 and {o.state for o in outcomes} == {"delivered"}
    assert [(v.voter, v.source) for v in Ledger().votes(request.id)] == [("Mette Lund", "cli")]


def test_send_waits_for_approval_when_only_the_profile_names_a_server(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """The same setting decides whether `send` pauses (a server) or sends the request and stops (none)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path), "PREFECT_PROFILES_PATH": str(tmp_path / "profiles.toml")}
    probe = [sys.executable, "-c", "from budbringer.flows.approval import api_url; print(api_url())"]
    assert subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120).stdout.strip() == "None"
    subprocess.run([str(BIN / "prefect"), "config", "set", "PREFECT_API_URL=http://127.0.0.1:4999/api"], env=env,
                   check=True, capture_output=True, timeout=120)
    found = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120)
    assert found.stdout.strip() == "http://127.0.0.1:4999/api", found.stderr
