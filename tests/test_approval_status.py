"""`budbringer status` without a message lists what someone must act on before the deliveries: every request
that is overdue, rejected or still open, one line each, with who has not decided or who rejected and why."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import time_machine

from budbringer import approval_request, cascade, cli
from budbringer.approval_request import Decision
from budbringer.ledger import ApprovalRequest, Ledger
from tests.conftest import ROOT, memory_plan

pytestmark = pytest.mark.usefixtures("example_clock")

DRAFTS = ROOT / "tests" / "drafts"


def requested(plan: Path, path: Path) -> tuple[cascade.Prepared, ApprovalRequest]:
    prepared = cascade.prepare(plan, path)
    request, _ = approval_request.open_request(prepared, Ledger())
    approval_request.send_request(prepared, Ledger(), request, cascade.channels(prepared.plan))
    return prepared, request


def test_status_lists_overdue_rejected_and_open_requests_before_the_deliveries(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    (workdir / "messages").mkdir()
    paths = {}
    for name in ("2026-12-demodage", "2026-12-evaluering"):
        paths[name] = workdir / "messages" / f"{name}.md"
        shutil.copy(DRAFTS / f"{name}.md", paths[name])
    plan = memory_plan(workdir)
    _, waiting = requested(plan, paths["2026-12-demodage"])
    rejected_prepared, rejected = requested(plan, paths["2026-12-evaluering"])
    approval_request.decide(rejected_prepared, Ledger(), rejected,
                            Decision("reject", "Jens Kragh", "Datoen for evalueringen mangler."), source="cli")

    assert cli.main(["status", "--plan", str(plan)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Approval requests to follow")
    assert lines[1].startswith("  2026-12-evaluering: REJECTED on 2026-11-24 ")
    assert "(Jens Kragh: Datoen for evalueringen mangler.); edit it and send it again" in lines[1]
    assert lines[2].startswith("  2026-12-demodage: waiting for approval since 2026-11-24 10:00 CET, deadline ")
    assert lines[2].endswith("; not decided: Mette Lund, Jens Kragh, Sofie Dahl, Lars Bech")
    assert "deliveries: none yet" in lines and "(nothing)" not in lines

    # A day after the deadline the open request is overdue, and listed first.
    assert waiting.deadline is not None
    with time_machine.travel(waiting.deadline + dt.timedelta(days=1), tick=False):
        assert cli.main(["status", "--plan", str(plan)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  2026-12-demodage: OVERDUE, open since 2026-11-24 10:00 CET, the deadline ")
    assert lines[1].endswith("has passed; not decided: Mette Lund, Jens Kragh, Sofie Dahl, Lars Bech")
    assert lines[2].startswith("  2026-12-evaluering: REJECTED")

    # The author edits the rejected message and sends it again: the new request is open, the rejection is history.
    paths["2026-12-evaluering"].write_text(paths["2026-12-evaluering"].read_text(encoding="utf-8").replace(
        "Vi vurderer de tre leverandørers løsninger.", "Vi vurderer løsningerne fra de tre leverandører.", 1), encoding="utf-8")
    requested(plan, paths["2026-12-evaluering"])
    assert cli.main(["status", "--plan", str(plan)]) == 0
    out = capsys.readouterr().out
    assert "REJECTED" not in out and "  2026-12-evaluering: waiting for approval since" in out


def test_status_without_requests_or_deliveries_says_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--plan", str(memory_plan(workdir))]) == 0
    assert capsys.readouterr().out.strip() == "(nothing)"
