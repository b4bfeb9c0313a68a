"""Approval inside a run, against a real Prefect API: the run asks, waits (paused), and an approver's decision
from the command line or the UI's form (the same API call) releases it — or stops it with nothing sent.

The channels are the in-memory adapter, so every notice and every delivery can be counted.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from uuid import UUID

import pytest

from budbringer.adapters import memory
from budbringer import approval_request, cascade
from budbringer import cli
from budbringer import plan as plan_
from budbringer.approval_request import Decision
from budbringer.errors import ApprovalError
from budbringer.ledger import Ledger
from tests.conftest import MESSAGE, memory_plan
from tests.servers.prefect_api import MESSAGE_ID, paused_again, when_paused

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")

ENABLED = {"oc", "hmu", "network_quality", "network_sensum", "network_health", "intranet", "intranet_local",
           "website", "linkedin", "regional_intranet", "midtnyt", "perspektiv"}


def sent_fora() -> list[str]:
    return [d.forum for d in memory.SENT]


def notices(kind: str) -> list:
    """The notices of a kind: the request and the reminders go to each member on their own (a personal link)."""
    return [d for d in memory.SENT if d.forum == f"approval-{kind}" or d.forum.startswith(f"approval-{kind}-")]


MEMBERS = 4  # the shipped plan's steering group: one request mail each


@pytest.fixture
def plan_file(workdir: Path) -> Path:
    return memory_plan(workdir)


@pytest.mark.mechanism("pause")  # kept in plain pytest: a run that pauses for approval and is resumed
def test_a_waiting_run_is_released_by_budbringer_approve_and_every_tier_is_delivered_once(
        prefect_api: None, workdir: Path, message_copy: Path, plan_file: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL

    from budbringer.flows.send import send_flow

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # as an operator's shell has it
    answers: list[int] = []
    watcher = when_paused(lambda run_id: answers.append(cli.main(
        ["approve", str(message_copy), "--plan", str(plan_file), "--by", "Mette Lund"])))
    outcomes = send_flow(message=str(message_copy), plan=str(plan_file), wait_hours=0.05)
    watcher.join(5)
    assert not watcher.failures  # type: ignore[attr-defined]

    assert answers == [0]
    assert "resumed flow run" in capsys.readouterr().out
    assert {o.forum for o in outcomes} == ENABLED and {o.state for o in outcomes} == {"delivered"}
    assert sorted(f for f in sent_fora() if not f.startswith("approval-")) == sorted(ENABLED)
    assert len(notices("request")) == MEMBERS
    assert {d.variant.recipients for d in notices("request")} == {
        (m.email,) for m in plan_.load(plan_file).approval.members}
    request = notices("request")[0].variant
    assert "Til godkendelse" in request.subject and "/godkend/" in request.body
    assert "budbringer approve" not in request.body
    approval = Ledger().approvals_for(MESSAGE_ID)[-1]
    assert approval.approved_by == "Mette Lund" and "request" in approval.reference
    assert Ledger().request(MESSAGE_ID).state == "approved"  # type: ignore[union-attr]


def test_a_rejection_in_the_form_ends_the_run_with_nothing_sent_and_the_author_told(
        prefect_api: None, workdir: Path, message_copy: Path, plan_file: Path) -> None:
    from prefect.flow_runs import resume_flow_run

    from budbringer.flows.send import send_flow

    form = {"beslutning": "afvis", "navn": "Mette Lund", "bemaerkning": "Afsnittet om tidsplanen skal være klarere."}
    watcher = when_paused(lambda run_id: resume_flow_run(UUID(run_id), run_input=form))
    outcomes = send_flow(message=str(message_copy), plan=str(plan_file), wait_hours=0.05)
    watcher.join(5)
    assert not watcher.failures  # type: ignore[attr-defined]

    assert outcomes == []
    assert [f for f in sent_fora() if not f.startswith("approval-")] == []
    assert Ledger().records(MESSAGE_ID) == []
    rejection = notices("rejection")
    assert len(rejection) == 1
    told = rejection[0].variant
    assert told.recipients == (plan_.load(plan_file).narrative.contact,)
    assert told.subject.startswith("Afvist af Mette Lund: ")  # the member, not the whole group
    assert "Afsnittet om tidsplanen skal være klarere." in told.body and "Mette Lund" in told.body
    assert Ledger().request(MESSAGE_ID).state == "rejected"  # type: ignore[union-attr]

    # Sending again does not deliver, nor tell the author twice.
    assert send_flow(message=str(message_copy), plan=str(plan_file), wait_for_approval=False) == []
    assert len(notices("rejection")) == 1 and len(notices("request")) == MEMBERS


def test_the_form_offers_only_the_members_and_the_run_waits_on_for_a_member(
        prefect_api: None, workdir: Path, message_copy: Path, plan_file: Path) -> None:
    from prefect import get_client
    from prefect.flow_runs import resume_flow_run

    from budbringer.flows.send import send_flow

    def decide(run_id: str) -> None:
        request = Ledger().request(MESSAGE_ID)
        assert request is not None
        # The form offers the plan's members only: the server refuses any other name, and the run waits on.
        with pytest.raises(Exception, match="Hans Hansen|navn|input"):
            resume_flow_run(UUID(run_id), run_input={"beslutning": "godkend", "navn": "Hans Hansen"})
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(run_id)).state
        assert state is not None and state.is_paused()
        assert state.state_details.pause_key == f"approval-{request.approval_hash[:12]}-0"
        assert Ledger().votes(request.id) == []  # refused: not recorded
        resume_flow_run(UUID(run_id), run_input={"beslutning": "godkend", "navn": "Jens Kragh"})
        paused_again(run_id, f"approval-{request.approval_hash[:12]}-0")
        assert [v.voter for v in Ledger().votes(request.id)] == ["Jens Kragh"]  # one member is not enough
        resume_flow_run(UUID(run_id), run_input={"beslutning": "godkend", "navn": "Sofie Dahl"})

    watcher = when_paused(decide)
    outcomes = send_flow(message=str(message_copy), plan=str(plan_file), wait_hours=0.05)
    watcher.join(5)
    assert not watcher.failures  # type: ignore[attr-defined]

    assert {o.state for o in outcomes} == {"delivered"}
    approval = Ledger().approvals_for(MESSAGE_ID)[-1]
    assert approval.approved_by == "Jens Kragh, Sofie Dahl"
    assert [v.voter for v in Ledger().votes(Ledger().request(MESSAGE_ID).id)] == ["Jens Kragh", "Sofie Dahl"]  # type: ignore[union-attr]


def test_the_request_is_sent_once_however_often_the_run_starts_again(
        prefect_api: None, workdir: Path, message_copy: Path, plan_file: Path) -> None:
    from budbringer.flows.send import send_flow

    for _ in range(3):
        assert send_flow(message=str(message_copy), plan=str(plan_file), wait_for_approval=False) == []
    assert len(notices("request")) == MEMBERS
    assert [f for f in sent_fora() if not f.startswith("approval-")] == []
    # The decision from the command line (no run waiting) is read by the next run, which delivers.
    assert cli.main(["approve", str(message_copy), "--plan", str(plan_file), "--by", "Mette Lund"]) == 0
    outcomes = send_flow(message=str(message_copy), plan=str(plan_file), wait_for_approval=False)
    assert {o.state for o in outcomes} == {"delivered"} and len(notices("request")) == MEMBERS


# Without Prefect: the decisions, the policy and edits after the request ------------------------------------


def _requested(plan_file: Path, message: Path) -> tuple[cascade.Prepared, Ledger]:
    prepared = cascade.prepare(plan_file, message)
    ledger = Ledger()
    request, created = approval_request.open_request(prepared, ledger)
    assert created
    approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
    return prepared, ledger


def test_an_approver_outside_the_policy_is_refused_on_the_command_line(
        workdir: Path, message_copy: Path, plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _requested(plan_file, message_copy)
    code = cli.main(["approve", str(message_copy), "--plan", str(plan_file), "--by", "Hans Hansen"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Hans Hansen may not decide" in err and "Mette Lund, Jens Kragh, Sofie Dahl, Lars Bech" in err
    assert cli.main(["approve", str(message_copy), "--plan", str(plan_file), "--by", "Jens Kragh", "--reject"]) == 1
    assert "needs --comment" in capsys.readouterr().err
    assert Ledger().votes(Ledger().request(MESSAGE_ID).id) == []  # type: ignore[union-attr]


def test_one_member_is_not_enough_but_two_are(workdir: Path, message_copy: Path, plan_file: Path) -> None:
    prepared, ledger = _requested(plan_file, message_copy)
    request = approval_request.current(prepared, ledger)
    first = approval_request.decide(prepared, ledger, request, Decision("approve", "Jens Kragh"), "cli")
    assert not first.decided and "1 of 2 required members" in first.needed
    again = approval_request.decide(prepared, ledger, request, Decision("approve", "jens kragh"), "cli")
    assert not again.decided  # the same person twice is still one member
    second = approval_request.decide(prepared, ledger, request, Decision("approve", "Lars Bech"), "cli")
    assert second.approval is not None and second.approval.approved_by == "Jens Kragh, Lars Bech"
    assert second.approval.hash == prepared.approval_hash


def test_a_message_edited_after_the_request_cannot_be_approved_with_the_old_request(
        workdir: Path, message_copy: Path, plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _requested(plan_file, message_copy)
    message_copy.write_text(message_copy.read_text(encoding="utf-8").replace("foråret 2027", "sommeren 2027"),
                            encoding="utf-8")
    assert cli.main(["approve", str(message_copy), "--plan", str(plan_file), "--by", "Mette Lund"]) == 1
    assert "has changed since approval was requested" in capsys.readouterr().err
    assert Ledger().approvals_for(MESSAGE_ID) == []
    # A new request for the new content voids the old one.
    prepared = cascade.prepare(plan_file, message_copy)
    request, created = approval_request.open_request(prepared, Ledger())
    assert created and request.approval_hash == prepared.approval_hash
    assert [r.state for r in [Ledger().request(MESSAGE_ID, request.approval_hash)]] == ["open"]


def test_an_approval_does_not_cover_an_edit_made_after_it(workdir: Path, message_copy: Path,
                                                           plan_file: Path) -> None:
    prepared, ledger = _requested(plan_file, message_copy)
    status = approval_request.decide(prepared, ledger, approval_request.current(prepared, ledger),
                                     Decision("approve", "Mette Lund"), "cli")
    assert status.approval is not None
    message_copy.write_text(message_copy.read_text(encoding="utf-8").replace("foråret 2027", "sommeren 2027"),
                            encoding="utf-8")
    edited = cascade.prepare(plan_file, message_copy)
    delivery = cascade.deliveries(edited, status.approval)[0]
    with pytest.raises(ApprovalError, match="differs from what was approved"):
        cascade.deliver(delivery, cascade.channels(edited.plan)[delivery.channel], ledger)
    assert len(sent_fora()) == MEMBERS and all(f.startswith("approval-request-") for f in sent_fora())


# Reminders and escalation under frozen time ---------------------------------------------------------------


def test_reminders_go_to_those_who_have_not_decided_and_the_chair_gets_it_at_the_deadline(
        workdir: Path, message_copy: Path, plan_file: Path) -> None:
    import time_machine

    prepared, ledger = _requested(plan_file, message_copy)
    request = approval_request.current(prepared, ledger)
    assert request.meeting == dt.date(2026, 12, 10)
    plan = prepared.plan
    approval_request.decide(prepared, ledger, request, Decision("approve", "Jens Kragh"), "cli")
    channels = cascade.channels(plan)
    cph = approval_request.ZoneInfo("Europe/Copenhagen")

    def nudge_at(moment: dt.datetime) -> list[str]:
        with time_machine.travel(moment, tick=False):
            return approval_request.send_due_nudges(plan, ledger, channels)

    assert nudge_at(dt.datetime(2026, 11, 30, 8, 59, tzinfo=cph)) == []
    first = nudge_at(dt.datetime(2026, 12, 1, 9, 0, tzinfo=cph))
    undecided = ["Mette Lund", "Sofie Dahl", "Lars Bech"]  # Jens Kragh has decided
    assert first == [f"{MESSAGE_ID}: reminder-1 to {name} sent" for name in undecided]
    reminders = [d.variant for d in notices("reminder-1")]
    assert [r.recipients for r in reminders] == [("mette.lund@socialomraadet.example",),
                                                  ("sofie.dahl@socialomraadet.example",),
                                                  ("lars.bech@socialomraadet.example",)]
    reminder = reminders[1]
    assert "Påmindelse" in reminder.subject and "3. december 2026 kl. 09.00" in reminder.body
    assert "Kære Sofie Dahl" in reminder.body and "Disse har allerede svaret: Jens Kragh." in reminder.body
    links = [re.findall(r'href="([^"]+/godkend/[^"]+)"', r.body) for r in reminders]
    assert all(len(found) == 1 for found in links) and len({found[0] for found in links}) == 3  # personal links
    assert "budbringer approve" not in reminder.body
    assert nudge_at(dt.datetime(2026, 12, 1, 15, 0, tzinfo=cph)) == []  # once
    assert nudge_at(dt.datetime(2026, 12, 2, 9, 30, tzinfo=cph)) == [
        f"{MESSAGE_ID}: reminder-2 to {name} sent" for name in undecided]
    assert nudge_at(dt.datetime(2026, 12, 3, 9, 0, tzinfo=cph)) == [f"{MESSAGE_ID}: escalation to Mette Lund sent"]
    escalation = notices("escalation")[0].variant
    assert escalation.recipients == ("mette.lund@socialomraadet.example",)
    assert "Fristen er nået" in escalation.subject and "Kære Mette Lund" in escalation.body
    assert "/godkend/" in escalation.body
    assert nudge_at(dt.datetime(2026, 12, 4, 9, 0, tzinfo=cph)) == []
    # A decided request gets no more nudges.
    approval_request.decide(prepared, ledger, request, Decision("approve", "Mette Lund"), "cli")
    assert Ledger().open_requests() == []


def test_a_tier_gated_to_the_oc_meeting_waits_and_the_override_releases_it(
        prefect_api: None, workdir: Path, message_copy: Path) -> None:
    import yaml

    from budbringer.flows.send import send_flow

    base = yaml.safe_load(memory_plan(workdir).read_text(encoding="utf-8"))
    base["tiers"][1]["not_before"] = "meeting"
    gated = workdir / "gated.yaml"
    gated.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    outcomes = send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref="Styregruppen 20/11",
                         plan=str(gated))
    states = {o.forum: o.state for o in outcomes}
    assert states["oc"] == "delivered"
    assert {states[f] for f in ENABLED - {"oc"}} == {"waiting"}
    assert "2026-12-10" in next(o.error for o in outcomes if o.forum == "hmu")
    assert sent_fora() == ["oc"]

    released = send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref="Styregruppen 20/11",
                         plan=str(gated), override_order=True, reason="Fristen for MidtNyt er 26. november")
    assert {o.state for o in released} == {"delivered", "already delivered"}
    assert sorted(sent_fora()) == sorted(ENABLED)
    assert Ledger().approvals_for(MESSAGE_ID)[-1].override_reason == "Fristen for MidtNyt er 26. november"


def test_the_monthly_message_is_found_by_its_month(workdir: Path) -> None:
    from budbringer.flows.send import monthly_message

    folder = workdir / "messages"
    folder.mkdir()
    shutil.copy(MESSAGE, folder / MESSAGE.name)
    assert monthly_message(folder, "2026-11") == folder / MESSAGE.name
    from budbringer.errors import InputError

    with pytest.raises(InputError, match="has no message for 2026-12"):
        monthly_message(folder, "2026-12")


def test_going_back_to_content_asked_about_before_reopens_its_request(workdir: Path, message_copy: Path,
                                                                      plan_file: Path) -> None:
    original = message_copy.read_text(encoding="utf-8")
    prepared, ledger = _requested(plan_file, message_copy)
    message_copy.write_text(original.replace("foråret 2027", "sommeren 2027"), encoding="utf-8")
    approval_request.open_request(cascade.prepare(plan_file, message_copy), ledger)
    assert ledger.request(MESSAGE_ID, prepared.approval_hash).state == "void"  # type: ignore[union-attr]
    message_copy.write_text(original, encoding="utf-8")
    request, created = approval_request.open_request(cascade.prepare(plan_file, message_copy), ledger)
    assert not created and request.state == "open" and request.approval_hash == prepared.approval_hash
    status = approval_request.decide(prepared, ledger, request, Decision("approve", "Mette Lund"), "cli")
    assert status.approval is not None


def test_an_edit_after_part_of_the_cascade_went_out_cannot_be_approved_in_a_run(
        workdir: Path, message_copy: Path, plan_file: Path) -> None:
    prepared, ledger = _requested(plan_file, message_copy)
    status = approval_request.decide(prepared, ledger, approval_request.current(prepared, ledger),
                                     Decision("approve", "Mette Lund"), "cli")
    oc = next(d for d in cascade.deliveries(prepared, status.approval) if d.forum == "oc")  # type: ignore[arg-type]
    assert cascade.deliver(oc, cascade.channels(prepared.plan)[oc.channel], ledger).state == "delivered"
    message_copy.write_text(message_copy.read_text(encoding="utf-8").replace("foråret 2027", "sommeren 2027"),
                            encoding="utf-8")
    with pytest.raises(ApprovalError, match="already delivered to oc with other content"):
        approval_request.open_request(cascade.prepare(plan_file, message_copy), ledger)
    assert sent_fora().count("oc") == 1


def test_approve_takes_the_message_id_the_request_shows(workdir: Path, message_copy: Path, plan_file: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "messages").mkdir()
    shutil.copy(message_copy, workdir / "messages" / message_copy.name)
    _requested(plan_file, message_copy)
    assert cli.main(["approve", MESSAGE_ID, "--plan", str(plan_file), "--by", "Mette Lund"]) == 0
    assert "is approved by Mette Lund" in capsys.readouterr().out
