"""Time is an input: a request is never mailed with dead links, and a decision after the deadline is handled the
same way on the page, on the command line and in the Prefect form (here: `approval_request.decide` with
source "prefect-ui", which is what the form's task calls).

The clock is pinned with time_machine in every test, so these pass on any date (the suite also runs 400 days
ahead and on a 29 February). The shipped example's deadline is 3 December 2026 09:00 (Copenhagen), for the OC
meeting on 10 December; its request day is 24 November.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from fastapi.testclient import TestClient

from budbringer import approval_request, cascade
from budbringer.adapters import memory
from budbringer.approval_links import LinkSigner, expiry
from budbringer.approval_request import Decision, ExpiredRequest, LateDecision
from budbringer import cli
from budbringer.ledger import Ledger
from budbringer.report import summary_markdown
from budbringer.web.app import create_app
from tests.conftest import EXAMPLE_NOW, MESSAGE, memory_plan

CPH = ZoneInfo("Europe/Copenhagen")
DEADLINE = dt.datetime(2026, 12, 3, 9, 0, tzinfo=CPH)
AFTER_DEADLINE = dt.datetime(2026, 12, 4, 14, 0, tzinfo=CPH)
AFTER_MEETING = dt.datetime(2026, 12, 11, 0, 1, tzinfo=CPH)
LINK = re.compile(r'href="(https?://[^"]+/godkend/[^"]+)"')


@pytest.fixture
def folder(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    monkeypatch.delenv("BUDBRINGER_WEB_SECRET", raising=False)
    (workdir / "messages").mkdir()
    shutil.copy(MESSAGE, workdir / "messages" / MESSAGE.name)
    return workdir


def plan_with(folder: Path, late: str | None) -> Path:
    path = memory_plan(folder)
    if late is not None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["approval"]["late_decisions"] = late
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def requested(folder: Path, plan: Path) -> tuple[cascade.Prepared, Ledger]:
    """The example's request, opened and mailed on its request day."""
    with time_machine.travel(EXAMPLE_NOW, tick=False):
        prepared = cascade.prepare(plan, folder / "messages" / MESSAGE.name)
        ledger = Ledger()
        request, _ = approval_request.open_request(prepared, ledger)
        assert approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan)) == "sent"
    return prepared, ledger


def mailed() -> list[str]:
    return [d.variant.forum for d in memory.SENT]


def link_path(email: str) -> str:
    body = next(d.variant.body for d in memory.SENT if d.variant.recipients == (email,))
    return html.unescape(LINK.findall(body)[0]).removeprefix("http://approver.test")


# A request after its deadline is never mailed --------------------------------------------------------------


def test_a_request_after_the_deadline_is_refused_before_anything_is_recorded_or_mailed(folder: Path) -> None:
    plan = plan_with(folder, None)
    prepared = cascade.prepare(plan, folder / "messages" / MESSAGE.name)
    ledger = Ledger()
    with time_machine.travel(AFTER_DEADLINE, tick=False), pytest.raises(ExpiredRequest) as refused:
        approval_request.open_request(prepared, ledger)
    message = str(refused.value)
    assert message.startswith("the approval deadline for 2026-11-status-udbud passed at 2026-12-03 09:00 CET")
    assert "nothing was sent" in message and "`date:` in" in message
    # the next meeting whose deadline is still ahead on 4 December: 14 January 2027 (deadline 7 January)
    assert "is 2027-01-14, deadline 2027-01-07 09:00" in message
    assert "--approved-by NAME --approval-ref REF" in message
    assert ledger.request(prepared.message.id) is None and mailed() == []


def test_send_refuses_in_one_line_when_the_deadline_has_passed(folder: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_with(folder, None)
    with time_machine.travel(AFTER_DEADLINE, tick=True):
        code = cli.main(["send", str(folder / "messages" / MESSAGE.name), "--plan", str(plan)])
    err = capsys.readouterr().err
    assert code != 0
    assert "the approval deadline for 2026-11-status-udbud passed at 2026-12-03 09:00 CET" in err
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.strip()]) == 1
    assert mailed() == [] and Ledger().request("2026-11-status-udbud") is None


def test_a_request_mailed_in_time_is_not_refused_on_a_rerun_after_the_deadline(folder: Path) -> None:
    prepared, ledger = requested(folder, plan_with(folder, None))
    request = approval_request.current(prepared, ledger)
    with time_machine.travel(AFTER_DEADLINE, tick=False):
        approval_request.refuse_late_request(prepared, ledger, dt.datetime.now(dt.UTC))  # nothing to refuse
        assert approval_request.send_request(prepared, ledger, request,
                                             cascade.channels(prepared.plan)) == "sent before"


def test_no_reminder_or_escalation_is_mailed_with_a_dead_link(folder: Path) -> None:
    plan = plan_with(folder, "refuse")
    prepared, ledger = requested(folder, plan)
    memory.clear()
    channels = cascade.channels(prepared.plan)
    with time_machine.travel(DEADLINE, tick=False):  # the escalation is due now, but the links just died
        assert approval_request.send_due_nudges(prepared.plan, ledger, channels) == []
    assert mailed() == []


# Late decisions: accepted and marked (the default) ----------------------------------------------------------


def test_links_work_after_the_deadline_until_the_meeting_day_ends_when_late_decisions_are_accepted(
        folder: Path) -> None:
    prepared, ledger = requested(folder, plan_with(folder, None))
    request = approval_request.current(prepared, ledger)
    assert expiry(prepared.plan, request) == dt.datetime(2026, 12, 11, 0, 0, tzinfo=CPH)
    app = TestClient(create_app(prepared.plan.path, folder / "messages"))
    path = link_path("sofie.dahl@socialomraadet.example")
    with time_machine.travel(AFTER_DEADLINE, tick=True):
        assert app.get(path).status_code == 200
    with time_machine.travel(AFTER_MEETING, tick=True):
        gone = app.get(path)
        assert gone.status_code == 410 and "Linket er udløbet" in gone.text


def test_a_late_decision_on_the_page_is_recorded_marked_late_and_reported(folder: Path) -> None:
    prepared, ledger = requested(folder, plan_with(folder, None))
    app = TestClient(create_app(prepared.plan.path, folder / "messages"))
    path = link_path("mette.lund@socialomraadet.example")  # the chair: her approval alone is enough
    with time_machine.travel(AFTER_DEADLINE, tick=True):
        page = app.post(path, data={"medlem": "Mette Lund", "beslutning": "godkend"},
                        headers={"Origin": "http://testserver"})
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
    assert page.status_code == 200
    assert "Budskabet er nu godkendt" in shown
    assert "Dit svar kom efter fristen (3. december 2026 kl. 09.00) og er registreret som for sent." in shown
    request = ledger.request(prepared.message.id)
    status = approval_request.evaluate(prepared, ledger, request)  # type: ignore[arg-type]
    assert status.approval is not None and status.late
    note = status.late_note(prepared.plan)
    assert note.startswith("decided after the approval deadline 2026-12-03 09:00 CET (late: Mette Lund 2026-12-04 14:")
    summary = summary_markdown(prepared, status.approval, [], note)
    assert f"- **Approved late**: {note}" in summary


def test_a_late_decision_on_the_command_line_is_recorded_and_status_says_late(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_with(folder, None)
    requested(folder, plan)
    message = str(folder / "messages" / MESSAGE.name)
    with time_machine.travel(AFTER_DEADLINE, tick=True):
        assert cli.main(["approve", message, "--by", "Mette Lund", "--plan", str(plan)]) == 0
        out = capsys.readouterr().out
        assert "is approved by Mette Lund" in out and "decided after the approval deadline" in out
        assert cli.main(["status", "2026-11-status-udbud", "--plan", str(plan)]) == 0
    status = capsys.readouterr().out
    assert re.search(r"Mette Lund: approve \(command line, 2026-12-04 13:\d\d UTC, late\)", status)
    assert "LATE: decided after the approval deadline 2026-12-03 09:00 CET" in status


def test_a_decision_before_the_deadline_is_not_late(folder: Path) -> None:
    prepared, ledger = requested(folder, plan_with(folder, None))
    request = approval_request.current(prepared, ledger)
    with time_machine.travel(DEADLINE - dt.timedelta(minutes=1), tick=False):
        status = approval_request.decide(prepared, ledger, request, Decision("approve", "Mette Lund"), "cli")
    assert status.approval is not None and not status.late and status.late_note(prepared.plan) == ""


# Late decisions refused: the same answer on every path -------------------------------------------------------


def test_late_decisions_refused_by_the_plan_are_refused_on_the_page_the_command_line_and_the_form(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_with(folder, "refuse")
    prepared, ledger = requested(folder, plan)
    request = approval_request.current(prepared, ledger)
    assert expiry(prepared.plan, request) == DEADLINE
    app = TestClient(create_app(plan, folder / "messages"))
    path = link_path("mette.lund@socialomraadet.example")
    with time_machine.travel(AFTER_DEADLINE, tick=True):
        page = app.post(path, data={"medlem": "Mette Lund", "beslutning": "godkend"},
                        headers={"Origin": "http://testserver"})
        assert page.status_code == 410 and "Linket er udløbet" in page.text
        code = cli.main(["approve", str(folder / "messages" / MESSAGE.name), "--by", "Mette Lund",
                         "--plan", str(plan)])
        err = capsys.readouterr().err
        assert code != 0 and "refuses late decisions (approval.late_decisions: refuse in the plan)" in err
        assert "Traceback" not in err
        with pytest.raises(LateDecision, match="nothing was recorded"):
            approval_request.decide(prepared, ledger, request, Decision("approve", "Mette Lund"), "prefect-ui")
    assert ledger.votes(request.id) == []
    assert ledger.request(prepared.message.id).state == "open"  # type: ignore[union-attr]
