"""The mailed approval links: `check`, `serve` and `web` warn when they would point at an address only this machine
can open (no BUDBRINGER_WEB_URL, no `approval.web_url`) while the requests go to real people by mail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from budbringer import cli
from tests.conftest import ROOT, write_plan

pytestmark = pytest.mark.usefixtures("example_clock")  # the draft's approval deadline is ahead

DRAFT = ROOT / "tests" / "drafts" / "2026-12-demodage.md"
BUDBRINGER = Path(sys.executable).parent / "budbringer"
DANISH = "Linkene i anmodningen om godkendelse peger på http://127.0.0.1:8400, og den adresse kan kun åbnes"
ENGLISH = "the approval links point at http://127.0.0.1:8400, which only this machine can open"


def smtp_plan(folder: Path, **approval: str) -> Path:
    """The shipped plan (fora to the outbox), its approval requests mailed over SMTP to the steering group."""
    return write_plan(folder, {"channels": {"relay": {"type": "smtp", "host": "smtp.region.example",
                                                      "sender": "kommunikation@region.example"}},
                               "approval": {"channel": "relay", **approval}})


def test_check_warns_in_the_authors_language_when_the_links_point_at_this_machine(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDBRINGER_WEB_URL", raising=False)
    plan = smtp_plan(workdir)
    assert cli.main(["check", str(DRAFT), "--plan", str(plan), "--lang", "da"]) == 0  # a warning stops nothing
    out = capsys.readouterr().out
    assert f"advarsel: godkendelsen: {DANISH}" in out
    assert "sætte BUDBRINGER_WEB_URL (eller `approval.web_url` i planen)" in out
    assert cli.main(["check", str(DRAFT), "--plan", str(plan), "--lang", "en"]) == 0
    assert f"warning: the approval: {ENGLISH}" in capsys.readouterr().out

    # localhost by name, or the plan's own local address: the same
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://localhost:8400/")
    assert cli.main(["check", str(DRAFT), "--plan", str(plan), "--lang", "en"]) == 0
    assert "the approval links point at http://localhost:8400, which" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["environment", "plan", "outbox"])
def test_check_is_quiet_when_the_links_reach_the_members_or_the_requests_stay_in_files(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.delenv("BUDBRINGER_WEB_URL", raising=False)
    if how == "environment":
        monkeypatch.setenv("BUDBRINGER_WEB_URL", "https://budbringer.region.example")
        plan = smtp_plan(workdir)
    elif how == "plan":
        plan = smtp_plan(workdir, web_url="https://budbringer.region.example")
    else:  # the shipped plan: requests are .eml files in ./outbox, read on this machine
        plan = write_plan(workdir, {})
    assert cli.main(["check", str(DRAFT), "--plan", str(plan), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "ok: nothing was sent" in out and "approval links" not in out


@pytest.mark.parametrize("command", [["serve", "--no-web"], ["web", "--port", "0"]])
def test_serve_and_web_warn_on_the_terminal_before_they_start(workdir: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDBRINGER_", "PREFECT_"))}
    env.update(BUDBRINGER_HOME=str(workdir / ".budbringer"), PREFECT_HOME=str(workdir / "prefect-home"),
               PREFECT_API_URL="http://127.0.0.1:9/api")  # nothing answers: the command is stopped once it warned
    started = subprocess.Popen([str(BUDBRINGER), "--plan", str(smtp_plan(workdir)), *command], cwd=workdir, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert started.stderr is not None
        first = started.stderr.readline()
    finally:
        os.killpg(started.pid, signal.SIGTERM)
        try:
            started.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(started.pid, signal.SIGKILL)
            started.wait(5)
    assert first.startswith("WARNING: the approval links point at http://127.0.0.1:8400, which only this machine "
                            "can open, but approval requests go to the members of Styregruppen by mail (channel "
                            "relay). Set BUDBRINGER_WEB_URL"), first
