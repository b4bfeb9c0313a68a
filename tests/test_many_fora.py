"""One message to hundreds of fora is one send (issue 26).

The rendered variants never travel as Prefect parameters (a flow run's parameters are paths and ids; a
`deliver` task gets a lane, a plain object of this process), so a message whose variants render far above
Prefect's parameter limit (512 KB; the former cap of 400 KiB) is sent in one flow run, each forum once, with the
per-forum report in the run's artifacts and a line per forum in its log. Prefect's work grows with the tiers and
channels, not with the fora: one `deliver` task per channel of a tier.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from budbringer.adapters import memory
from budbringer.ledger import Ledger, State
from tests.conftest import ROOT, memory_plan
from tests.servers.waiting import wait_until

DRAFT = ROOT / "tests" / "drafts" / "2026-12-evaluering.md"
MESSAGE_ID = "2026-12-evaluering"
LMU, LOCAL = 180, 160  # new mail fora (one per local MED committee) and local intranet pages
PARAMETER_LIMIT = 512 * 1024  # Prefect refuses flow-run parameters over this (the former cap: 400 KiB)
PARAGRAPH = ("Alle steder får den samme orientering, så alle ved, hvad der sker, og hvornår de selv skal "
             "gøre noget. ")


def big_plan(folder: Path) -> Path:
    """The memory plan with 180 LMU mail fora in HMU's tier and 160 local intranet pages in the employees'."""
    path = memory_plan(folder)
    base = yaml.safe_load(path.read_text(encoding="utf-8"))
    tiers = {tier["name"]: tier for tier in base["tiers"]}
    for number in range(LMU):
        forum = copy.deepcopy(base["fora"]["network_health"])
        forum.update(title=f"LMU {number:03d}", recipients=[f"lmu-{number:03d}@socialomraadet.example"],
                     shares_text_with="network_health")
        base["fora"][f"lmu_{number:03d}"] = forum
        tiers["hmu_and_networks"]["fora"].append(f"lmu_{number:03d}")
    for number in range(LOCAL):
        forum = copy.deepcopy(base["fora"]["intranet_local"])
        forum.update(title=f"Lokal intranetside {number:03d}",
                     sites=[f"socialomraadet.sharepoint.example/sites/omraade-{number:03d}"])
        base["fora"][f"local_{number:03d}"] = forum
        tiers["employees"]["fora"].append(f"local_{number:03d}")
    path.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    return path


def long_message(folder: Path) -> Path:
    """The December draft (to every forum of the plan), the employees' text made long (within its cap)."""
    _, front, body = DRAFT.read_text(encoding="utf-8").split("---\n", 2)
    fields = yaml.safe_load(front)
    employees = fields["groups"]["employees"]  # what the LMUs and the local pages read
    employees["text"] = employees["text"] + "\n" + "\n\n".join([PARAGRAPH * 3] * 6)
    target = folder / DRAFT.name
    target.write_text("---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\n" + body, encoding="utf-8")
    return target


def test_a_message_to_hundreds_of_fora_above_the_former_cap_is_one_send(
        prefect_api: None, workdir: Path, example_clock: object, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect import get_client

    from budbringer import cascade, cli
    from budbringer.adapters.registry import REGISTRY
    from budbringer import plan as plan_

    plan, message = big_plan(workdir), long_message(workdir)
    prepared = cascade.prepare(plan_.load(plan, REGISTRY), message)
    rendered = sum(len(v.body.encode("utf-8")) + len(v.subject.encode("utf-8")) for v in prepared.variants)
    fora = {v.forum for v in prepared.variants}
    assert len(fora) > LMU + LOCAL and rendered > PARAMETER_LIMIT  # could not travel as parameters

    code = cli.main(["--plan", str(plan), "send", str(message), "--approved-by", "Mette Lund",
                     "--approval-ref", "Styregruppemøde 2026-12-04, punkt 2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(fora)} delivered now, 0 delivered before." in out
    assert Counter(d.forum for d in memory.SENT) == Counter(fora)  # every forum exactly once
    records = Ledger().records(MESSAGE_ID)
    assert len(records) == len(fora)
    assert all(r.state == State.DELIVERED and r.attempts == 1 for r in records)

    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(limit=200)
                if r.parameters.get("message") in (str(message), str(message.resolve()))]
        assert len(runs) == 1  # one send, one flow run
        [run] = runs
        assert len(json.dumps(run.parameters)) < 1000  # paths and ids
        lanes = Counter(f"deliver-{v.tier}-{v.channel}" for v in prepared.variants)  # one per channel of a tier
        assert len(lanes) < 12

        def delivered() -> Counter[str] | None:  # the server records task runs from their events, a moment later
            tasks = _task_runs(client, run.id)
            names = Counter(t.name.split(" (")[0] for t in tasks
                            if t.name.startswith("deliver-") and t.state_name == "Completed")
            return names if names == Counter(dict.fromkeys(lanes, 1)) else None

        wait_until(delivered, 120, f"{len(lanes)} completed deliver tasks, one per channel of a tier (the UI's view)")
        lines = wait_until(lambda: _forum_lines(client, run.id, fora), 60, "a log line per forum in the run's log")
        assert lines == Counter(dict.fromkeys(fora, 1))
        [table] = client.read_artifacts(limit=10, artifact_filter=_artifact_key(f"deliveries-{MESSAGE_ID}"))
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert {row["forum"] for row in rows} >= fora  # the per-forum report


def _task_runs(client: Any, flow_run: object) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    found: list[Any] = []
    while page := client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run])),
                                        limit=200, offset=len(found)):  # the API's largest page
        found += page
    return found


def _forum_lines(client: Any, flow_run: object, fora: set[str]) -> Counter[str] | None:
    """Each forum's "<forum>: delivered" line in the run's log (its tasks' logs included), once every forum has
    one (the server stores logs a moment later)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    found: list[Any] = []
    while page := client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run])),
                                   limit=200, offset=len(found)):
        found += page
    lines = Counter(forum for log in found if log.message.endswith(": delivered")
                    and (forum := log.message.split(": ")[0]) in fora)
    return lines if set(lines) >= fora else None


def _artifact_key(key: str) -> object:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    return ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
