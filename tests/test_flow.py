"""The cascade through the real Prefect flow (a real, temporary Prefect API), delivering to the memory channel.

Covers the plan's order (asserted on the ledger's recorded times), a failed delivery stopping later tiers,
an idempotent re-run, the chair's override, approvers outside the policy, and (without Prefect) that content
changed after approval is never delivered.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from budbringer.adapters import memory
from budbringer import cascade
from budbringer.delivery import Delivery
from budbringer.errors import ApprovalError
from budbringer.ledger import Ledger, Record, State
from tests.conftest import memory_plan

MESSAGE_ID = "2026-11-status-udbud"
REFERENCE = "Styregruppemøde 2026-11-20, punkt 3"
TIERS = ["oc", "hmu_and_networks", "employees", "external"]
ENABLED = {
    "oc": "oc",
    "hmu": "hmu_and_networks", "network_quality": "hmu_and_networks", "network_sensum": "hmu_and_networks",
    "network_health": "hmu_and_networks",
    "intranet": "employees", "intranet_local": "employees",
    "website": "external", "linkedin": "external", "regional_intranet": "external", "midtnyt": "external",
    "perspektiv": "external",
}


def sent_fora() -> Counter[str]:
    return Counter(delivery.forum for delivery in memory.SENT)


def by_tier(records: list[Record]) -> dict[str, list[Record]]:
    return {tier: [r for r in records if r.tier == tier] for tier in TIERS}


def assert_tier_order(records: list[Record]) -> None:
    """No tier started before every delivery of the tier before it had finished."""
    tiers = by_tier(records)
    for earlier, later in itertools.pairwise(TIERS):
        if not tiers[later]:
            continue
        finished = [r.finished_at for r in tiers[earlier]]
        assert tiers[earlier] and None not in finished, f"{earlier} did not finish before {later}"
        assert max(finished) <= min(r.started_at for r in tiers[later]), (  # type: ignore[type-var]
            f"{later} started before {earlier} finished")


# -- through the flow ----------------------------------------------------------------------------------------

def test_full_send_in_the_plans_order_then_a_rerun_sends_nothing(prefect_api: None, workdir: Path,
                                                                 message_copy: Path) -> None:
    from budbringer.flows.send import send_flow

    plan = memory_plan(workdir)
    outcomes = send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref=REFERENCE, plan=str(plan))

    assert {o.forum: o.state for o in outcomes} == {forum: "delivered" for forum in ENABLED}
    assert sent_fora() == Counter(ENABLED.keys())  # every enabled forum exactly once
    assert "facebook" not in sent_fora() and "instagram" not in sent_fora()
    # The memory channel saw the tiers in order too.
    tier_of_sent = [ENABLED[d.forum] for d in memory.SENT]
    assert tier_of_sent == sorted(tier_of_sent, key=TIERS.index)

    records = Ledger().records(MESSAGE_ID)
    assert {r.forum: r.tier for r in records} == ENABLED
    assert all(r.state == State.DELIVERED and r.attempts == 1 and r.receipt is not None for r in records)
    assert {r.receipt.provider for r in records} == {"memory"}  # type: ignore[union-attr]
    assert_tier_order(records)
    [approval] = Ledger().approvals_for(MESSAGE_ID)
    assert approval.approved_by == "Mette Lund" and approval.reference == REFERENCE
    assert approval.override_order is False
    assert set(approval.variant_hashes) == set(ENABLED)
    assert {r.approval_id for r in records} == {approval.id}
    # What was delivered is what was approved.
    assert all(approval.variant_hashes[d.forum] == d.variant.content_hash for d in memory.SENT)

    # Run again: nothing new leaves, and the run says so.
    before = list(memory.SENT)
    again = send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref=REFERENCE, plan=str(plan))
    assert {o.forum: o.state for o in again} == {forum: "already delivered" for forum in ENABLED}
    assert memory.SENT == before
    assert Ledger().records(MESSAGE_ID) == records  # unchanged: no new attempt, no new time
    # A run without the meeting's approval (as a deployment's re-run) finds nothing left before it asks anyone:
    # no approval request is opened, no new approval recorded, nothing sent (`engine.already_delivered`).
    third = send_flow(message=str(message_copy), plan=str(plan), wait_for_approval=False)
    assert {o.forum: o.state for o in third} == {forum: "already delivered" for forum in ENABLED}
    assert Ledger().request(MESSAGE_ID) is None and len(Ledger().approvals_for(MESSAGE_ID)) == 1
    assert memory.SENT == before

    # No rendered content in any flow run's parameters (the API caps them at 512 KB): paths and ids only.
    import json

    from prefect import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=200)
    mine = [r for r in runs if r.parameters.get("message") in (str(message_copy), str(message_copy.resolve()))]
    assert len(mine) == 3  # one flow run per send (the phases run in it, not as subflows)
    assert all(r.parent_task_run_id is None for r in mine)
    assert {r.parameters["plan"] for r in mine} == {str(plan)}
    assert not [r.name for r in runs if "Forarbejdet er færdigt" in json.dumps(r.parameters, ensure_ascii=False)]


def test_every_channel_a_run_builds_is_closed_when_the_run_ends(prefect_api: None, workdir: Path,
                                                                message_copy: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`Adapter.close` at the end of a run: the send flow's runtime (the phases run in it), after success and
    after a failure alike (a spy on the memory channel's own close, which the adapter has as a no-op)."""
    from budbringer.flows.send import CascadeFailed, send_flow

    built: list[int] = []
    closed: list[int] = []
    monkeypatch.setattr(memory.MemoryAdapter, "bind", lambda self, plan, channels: built.append(id(self)))
    monkeypatch.setattr(memory.MemoryAdapter, "close", lambda self: closed.append(id(self)))

    send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref=REFERENCE,
              plan=str(memory_plan(workdir)))
    assert len(built) == 6 and sorted(closed) == sorted(built)  # the send's 6 channels, one object each

    built.clear(), closed.clear()
    failing = memory_plan(workdir, refuse=["oc"])
    other = message_copy.with_name("2026-11-andet.md")
    other.write_text(message_copy.read_text(encoding="utf-8").replace("id: 2026-11-status-udbud",
                                                                          "id: 2026-11-andet"), encoding="utf-8")
    with pytest.raises(CascadeFailed):
        send_flow(message=str(other), approved_by="Mette Lund", approval_ref=REFERENCE, plan=str(failing))
    assert built and sorted(closed) == sorted(built)


def test_a_failed_delivery_stops_the_later_tiers(prefect_api: None, workdir: Path, message_copy: Path) -> None:
    from budbringer.flows.send import CascadeFailed, send_flow

    plan = memory_plan(workdir, refuse=["hmu"])
    with pytest.raises(CascadeFailed) as failed:
        send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref=REFERENCE, plan=str(plan))

    text = str(failed.value)
    assert "hmu failed" in text
    for forum in ("intranet", "intranet_local", "website", "linkedin", "regional_intranet", "midtnyt", "perspektiv"):
        assert f"{forum} not started" in text
        assert forum not in sent_fora()
    # Tier 2 ran concurrently: the networks were delivered beside the refused HMU.
    assert sent_fora() == Counter({"oc": 1, "network_quality": 1, "network_sensum": 1, "network_health": 1})
    records = {r.forum: r for r in Ledger().records(MESSAGE_ID)}
    assert set(records) == {"oc", "hmu", "network_quality", "network_sensum", "network_health"}
    assert records["hmu"].state == State.FAILED
    assert "refused by the memory channel" in (records["hmu"].error or "")
    assert {r.tier for r in records.values()} == {"oc", "hmu_and_networks"}

    # Fixed and run again: HMU is tried again, the rest follows in order; nothing is sent twice.
    plan = memory_plan(workdir)
    outcomes = send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref=REFERENCE, plan=str(plan))
    states = {o.forum: o.state for o in outcomes}
    assert states["hmu"] == "delivered" and states["oc"] == "already delivered"
    assert states["network_quality"] == "already delivered" and states["website"] == "delivered"
    assert sent_fora() == Counter(ENABLED.keys())
    after = Ledger().records(MESSAGE_ID)
    assert {r.forum: r.attempts for r in after}["hmu"] == 2
    assert all(r.state == State.DELIVERED for r in after)
    hmu_finished = next(r.finished_at for r in after if r.forum == "hmu")
    assert hmu_finished is not None
    assert all(hmu_finished <= r.started_at for r in after if r.tier in ("employees", "external"))


def test_the_chairs_override_is_recorded_and_releases_every_tier(prefect_api: None, workdir: Path,
                                                                 message_copy: Path) -> None:
    from budbringer.flows.send import send_flow

    reason = "Pressemeddelelse fra regionen før OC-mødet; HMU orienteres samme dag"
    outcomes = send_flow(message=str(message_copy), approved_by="Mette Lund", approval_ref=REFERENCE,
                         plan=str(memory_plan(workdir)), override_order=True, reason=reason)
    assert {o.forum: o.state for o in outcomes} == {forum: "delivered" for forum in ENABLED}
    assert sent_fora() == Counter(ENABLED.keys())
    [approval] = Ledger().approvals_for(MESSAGE_ID)
    assert approval.override_order is True and approval.override_reason == reason
    assert approval.approved_by == "Mette Lund"
    assert {r.approval_id for r in Ledger().records(MESSAGE_ID)} == {approval.id}


def test_an_approver_outside_the_policy_is_refused(prefect_api: None, workdir: Path, message_copy: Path) -> None:
    from budbringer.flows.send import send_flow

    with pytest.raises(ApprovalError, match="Ole Outsider may not approve"):
        send_flow(message=str(message_copy), approved_by="Ole Outsider", approval_ref=REFERENCE,
                  plan=str(memory_plan(workdir)))
    assert memory.SENT == []
    assert Ledger().records(MESSAGE_ID) == [] and Ledger().approvals_for(MESSAGE_ID) == []


# -- without Prefect: the steps the flow is made of ----------------------------------------------------------

@pytest.fixture
def approved(workdir: Path, message_copy: Path) -> tuple[cascade.Prepared, list[Delivery]]:
    prepared = cascade.prepare(memory_plan(workdir), message_copy)
    approval = cascade.record_approval(prepared, Ledger(), "Jens Kragh, Sofie Dahl", REFERENCE)
    return prepared, cascade.deliveries(prepared, approval)


def test_content_changed_after_approval_is_refused(approved: tuple[cascade.Prepared, list[Delivery]]) -> None:
    prepared, deliveries = approved
    adapter = cascade.channels(prepared.plan)["mail"]
    oc = next(d for d in deliveries if d.forum == "oc")
    altered = dataclasses.replace(oc, variant=dataclasses.replace(
        oc.variant, body=oc.variant.body.replace("Foranalysen er afsluttet", "Foranalysen er droppet")))
    assert altered.variant.content_hash != oc.variant.content_hash

    with pytest.raises(ApprovalError, match="differs from what was approved"):
        cascade.deliver(altered, adapter, Ledger())
    with pytest.raises(ApprovalError, match="no recorded approval"):
        cascade.deliver(dataclasses.replace(oc, approval_id=oc.approval_id + 99), adapter, Ledger())
    assert memory.SENT == [] and Ledger().records(MESSAGE_ID) == []

    # The approved content itself goes through, once.
    assert cascade.deliver(oc, adapter, Ledger()).state == "delivered"
    assert cascade.deliver(oc, adapter, Ledger()).state == "already delivered"
    assert [d.key for d in memory.SENT] == [oc.key]


def test_an_edit_after_delivery_needs_a_new_message(approved: tuple[cascade.Prepared, list[Delivery]],
                                                    message_copy: Path) -> None:
    prepared, deliveries = approved
    oc = next(d for d in deliveries if d.forum == "oc")
    assert cascade.deliver(oc, cascade.channels(prepared.plan)["mail"], Ledger()).state == "delivered"

    message_copy.write_text(message_copy.read_text(encoding="utf-8").replace(
        "Foranalysen er afsluttet.", "Foranalysen er afsluttet i oktober."), encoding="utf-8")
    edited = cascade.prepare(prepared.plan.path, message_copy)
    with pytest.raises(ApprovalError, match="already delivered to oc with other content"):
        cascade.record_approval(edited, Ledger(), "Mette Lund", "Styregruppemøde 2026-11-27")
    assert len(Ledger().approvals_for(MESSAGE_ID)) == 1
    # The unchanged message may still be approved again (e.g. to finish a run that stopped).
    cascade.record_approval(prepared, Ledger(), "Mette Lund", REFERENCE)


def test_approval_needs_a_reason_to_override_and_a_reference(workdir: Path, message_copy: Path) -> None:
    prepared = cascade.prepare(memory_plan(workdir), message_copy)
    with pytest.raises(ApprovalError, match="needs a reason"):
        cascade.record_approval(prepared, Ledger(), "Mette Lund", REFERENCE, override_order=True,
                                override_reason="  ")
    with pytest.raises(ApprovalError, match="needs a reference"):
        cascade.record_approval(prepared, Ledger(), "Mette Lund", " ")
    with pytest.raises(ApprovalError, match="1 of 2 required members"):
        cascade.record_approval(prepared, Ledger(), "Lars Bech", REFERENCE)
    assert Ledger().approvals_for(MESSAGE_ID) == []


def test_the_cli_refuses_an_override_without_a_reason(workdir: Path, message_copy: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from budbringer import cli

    code = cli.main(["--plan", str(memory_plan(workdir)), "send", str(message_copy), "--approved-by", "Mette Lund",
                     "--approval-ref", REFERENCE, "--override-order"])
    assert code == 1
    assert "--override-order needs --reason" in capsys.readouterr().err
    assert memory.SENT == [] and Ledger().records(MESSAGE_ID) == []


def test_the_readme_command_sends_to_the_outbox_then_says_nothing_new(
        prefect_api: None, workdir: Path, message_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`budbringer send` with the shipped plan (the outbox), twice, as the README's first command does."""
    from budbringer import cli

    argv = ["send", str(message_copy), "--approved-by", "Mette Lund", "--approval-ref", REFERENCE]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "12 delivered now, 0 delivered before." in out
    table = [line.split() for line in out.splitlines() if re.match(r"\d\. ", line)]
    # One row per forum ("1. oc  oc  mail  delivered  1  <receipt>  <time>"), in tier order.
    assert {row[2]: row[1] for row in table} == ENABLED and len(table) == len(ENABLED)
    assert [row[1] for row in table] == sorted((row[1] for row in table), key=TIERS.index)
    assert {row[4] for row in table} == {"delivered"}

    outbox = workdir / "outbox" / MESSAGE_ID
    files = sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file())
    assert files == sorted([
        "01-oc/oc.eml",
        "02-hmu_and_networks/hmu.eml", "02-hmu_and_networks/network_health.eml",
        "02-hmu_and_networks/network_quality.eml", "02-hmu_and_networks/network_sensum.eml",
        "03-employees/intranet.html", "03-employees/intranet_local.html",
        "04-external/linkedin.json", "04-external/midtnyt.eml", "04-external/perspektiv.eml",
        "04-external/regional_intranet.html", "04-external/website.json",
    ])
    hmu = email.message_from_bytes((outbox / "02-hmu_and_networks" / "hmu.eml").read_bytes(),
                                   policy=email.policy.default)
    assert hmu["To"] == "hmu@socialomraadet.example"
    assert hmu["Subject"].startswith("Orientering til HMU: Status på udbuddet")
    assert "Kort version til LMU" in hmu.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert_tier_order(Ledger().records(MESSAGE_ID))

    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Nothing new delivered: all 12 deliveries of 2026-11-status-udbud were delivered before" in out
    assert "no flow run was started" in out  # answered from the ledger
    assert sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file()) == files
    assert all(r.attempts == 1 for r in Ledger().records(MESSAGE_ID))
