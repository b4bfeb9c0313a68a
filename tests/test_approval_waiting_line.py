"""A send that waits for approval says so in one line, on the terminal and in the run's log: who must decide, by
when, and where (the pages' address, or `budbringer approve`). Against the session's real Prefect API."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from budbringer import cli
from tests.conftest import ROOT, memory_plan
from tests.servers.prefect_api import when_paused

pytestmark = pytest.mark.usefixtures("example_clock")

DRAFT = ROOT / "tests" / "drafts" / "2026-12-demodage.md"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_waiting_send_says_who_must_decide_by_when_and_where(
        prefect_api: None, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from budbringer.flows.send import send_flow

    monkeypatch.setenv("BUDBRINGER_WEB_URL", "https://godkend.region.example")
    (workdir / "messages").mkdir()
    message = workdir / "messages" / DRAFT.name
    shutil.copy(DRAFT, message)
    plan = memory_plan(workdir)
    progress = logging.getLogger("budbringer.progress")  # what `send` shows on the terminal (prefect_tier.py)
    lines = Lines()
    progress.addHandler(lines)
    level = progress.level
    progress.setLevel(logging.INFO)  # as `send` sets it (prefect_tier.progress_only)
    try:
        answers: list[int] = []
        watcher = when_paused(lambda run_id: answers.append(cli.main(
            ["approve", str(message), "--plan", str(plan), "--by", "Mette Lund"])), message_id="2026-12-demodage")
        outcomes = send_flow(message=str(message), plan=str(plan), wait_hours=0.05)
        watcher.join(5)
    finally:
        progress.removeHandler(lines)
        progress.setLevel(level)
    assert not watcher.failures and answers == [0]  # type: ignore[attr-defined]  # set by when_paused on the thread
    assert {o.state for o in outcomes} == {"delivered"}

    waiting = [line for line in lines.lines if line.startswith("Waiting for")]
    assert waiting == [
        "Waiting for Styregruppen to decide on 2026-12-demodage by 2027-01-07 09:00 CET: approval by the chair "
        "(Mette Lund) alone, or 2 members of Styregruppen; not decided: Mette Lund, Jens Kragh, Sofie Dahl, Lars "
        "Bech. They decide on their personal page at https://godkend.region.example/ (the link in their request "
        "mail), or with `budbringer approve messages/2026-12-demodage.md --by NAME`."]
