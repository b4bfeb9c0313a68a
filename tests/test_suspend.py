"""Approval inside a run under a deployment: the run suspends (no process held), `budbringer approve` resumes
it through the API, the worker starts it again from the top, and nothing is repeated.

A real `prefect server start`, `prefect deploy` of prefect.yaml and a process worker, as in production; the
ledger is SQLite in the checkout, shared by the worker's flow runs and the approver's command.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import example_clock_variables
from tests.servers.prefect_server import BIN, PrefectServer, Worker, make_checkout, wait_for_run
from tests.servers.waiting import wait_until

pytestmark = pytest.mark.slow  # a real Prefect server and worker, or the crash harness (.ci/run runs it)

MESSAGE_ID = "2026-11-status-udbud"
#: one request mail per member of the steering group, each with its personal link
REQUEST_MAILS = [(f"request:{slug}", "delivered")
                 for slug in ("mette-lund", "jens-kragh", "sofie-dahl", "lars-bech")]


@contextmanager
def _deployed(tmp_path: Path, checkout: Path) -> Iterator[tuple[PrefectServer, Worker, Path]]:
    """A server with prefect.yaml deployed from `checkout`, and a worker running there; yields the ledger's
    home folder too (SQLite in the checkout)."""
    home = checkout / ".budbringer"
    home.mkdir()
    with PrefectServer(tmp_path / "prefect-home") as server:
        server.prefect("work-pool", "create", "budbringer", "--type", "process")
        server.prefect("--no-prompt", "deploy", "--all", cwd=checkout)
        # The worker's flow runs ask for the example's approval on its request day (Budbringer's clock only).
        with Worker(server, "budbringer", cwd=checkout, log=tmp_path / "worker.log", BUDBRINGER_DIR=str(checkout),
                    BUDBRINGER_HOME=str(home), **example_clock_variables()) as worker:
            yield server, worker, home


def _without_dated_asks(path: Path) -> None:
    """The message without its asks' dates (`by:`) and its invitations."""
    import yaml

    _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
    data = yaml.safe_load(front)

    def strip(node: object) -> None:
        if isinstance(node, dict):
            node.pop("by", None)
            node.pop("invitation", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(data)
    path.write_text("---\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False) + "---\n" + body,
                    encoding="utf-8")


def _start_manual(server: PrefectServer, *parameters: str) -> str:
    """Trigger the manual send of the example message; returns the flow run's id."""
    flags = [flag for parameter in parameters for flag in ("-p", parameter)]
    started = server.prefect("deployment", "run", "budbringer-send/manual", "-p", f"message=messages/{MESSAGE_ID}.md",
                             *flags)
    return re.search(r"UUID: ([0-9a-f-]{36})", started.stdout).group(1)  # type: ignore[union-attr]


def _wait_for_state(server: PrefectServer, run_id: str, name: str, worker: Worker, timeout: float = 180,
                    times: int = 1) -> dict:
    """Wait until the run is in state `name` for the `times`-th time (counted in its state history)."""
    def reached() -> dict | None:
        run = server.get(f"/flow_runs/{run_id}")
        assert isinstance(run, dict)
        if run["state_name"] == name and (times == 1 or [
                state["name"] for state in server.get(f"/flow_run_states/?flow_run_id={run_id}")  # type: ignore[union-attr]
        ].count(name) >= times):
            return run
        assert run["state_type"] not in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}, \
            f"{run['state']}\n{worker.tail()}"
        return None

    return wait_until(reached, timeout, f"flow run {run_id} to reach {name}", interval=1, detail=worker.tail)


@pytest.mark.timeout(900)
def test_a_suspended_run_is_resumed_by_an_approver_and_repeats_nothing(tmp_path: Path) -> None:
    from budbringer.ledger import Ledger, State, notices

    checkout = make_checkout(tmp_path / "budbringer")
    with _deployed(tmp_path, checkout) as (server, worker, home):
        ledger_url = f"sqlite:///{home / 'ledger.db'}"
        run_id = _start_manual(server)
        _wait_for_state(server, run_id, "Suspended", worker)

        ledger = Ledger(ledger_url)
        request = ledger.request(MESSAGE_ID)
        assert request is not None and request.state == "open" and request.flow_run_id == run_id
        assert ledger.notices_for(request.id) == dict(REQUEST_MAILS)
        assert ledger.records(MESSAGE_ID) == []  # nothing delivered before the decision
        request_mail = checkout / "outbox" / MESSAGE_ID / "00-approval" / "approval-request-jens-kragh.eml"
        assert "Til godkendelse" in request_mail.read_text(encoding="utf-8")

        # One member is not enough: the run is resumed, starts from the top, and suspends again.
        approve = [str(BIN / "budbringer"), "approve", f"messages/{MESSAGE_ID}.md"]
        env = server.env(BUDBRINGER_HOME=str(home), **example_clock_variables())
        first = subprocess.run([*approve, "--by", "Jens Kragh"], cwd=checkout, env=env, capture_output=True,
                               text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert "still needed" in first.stdout and "resumed flow run" in first.stdout
        _wait_for_state(server, run_id, "Suspended", worker, times=2)  # suspended again, not still
        second = subprocess.run([*approve, "--by", "Sofie Dahl"], cwd=checkout, env=env, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert "is approved by Jens Kragh, Sofie Dahl" in second.stdout
        run = wait_for_run(server, run_id, worker)
        assert run["state_type"] == "COMPLETED", f"{run['state']}\n{worker.tail()}"

        # Three starts of the same run (suspended, suspended, completed): the request went out once, every
        # forum was delivered once, under the approval the two members gave.
        with ledger.engine.connect() as conn:
            sent = conn.execute(notices.select().where(notices.c.message_id == MESSAGE_ID)).mappings().all()
        assert [(n["kind"], n["state"]) for n in sent] == REQUEST_MAILS
        records = ledger.records(MESSAGE_ID)
        assert len(records) == 12 and all(r.state == State.DELIVERED and r.attempts == 1 for r in records)
        [approval] = ledger.approvals_for(MESSAGE_ID)
        assert approval.approved_by == "Jens Kragh, Sofie Dahl"
        history = [state["name"] for state in server.get(f"/flow_run_states/?flow_run_id={run_id}")]  # type: ignore[union-attr]
        assert history.count("Suspended") == 2 and history[-1] == "Completed", history


@pytest.mark.timeout(900)
def test_a_tier_waiting_for_the_oc_meeting_gets_a_follow_up_run_scheduled_once(tmp_path: Path) -> None:
    import yaml

    from budbringer.ledger import Ledger, State

    checkout = make_checkout(tmp_path / "budbringer")
    plan_file = checkout / "config" / "plan.yaml"
    plan = yaml.safe_load(plan_file.read_text(encoding="utf-8"))
    plan["tiers"][1]["not_before"] = "meeting"  # HMU and the networks: not before the OC meeting
    # The next OC meeting lies ahead whatever day the test runs on: the gate is closed now, on any date.
    meeting = dt.date.today() + dt.timedelta(days=60)
    plan["fora"]["oc"]["meetings"] = [meeting.isoformat()]
    plan_file.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    # Held for a meeting 60 days ahead, the example's dated asks and invitations would (rightly) fall before their
    # readers get them (budbringer/delivery_dates.py): this message has none.
    _without_dated_asks(checkout / "messages" / f"{MESSAGE_ID}.md")
    with _deployed(tmp_path, checkout) as (server, worker, home):
        for _ in range(2):  # the same run twice: one follow-up
            run_id = _start_manual(server, "approved_by=Mette Lund",
                                   "approval_ref=Styregruppemøde 2026-11-20, punkt 3")
            run = wait_for_run(server, run_id, worker)
            assert run["state_type"] == "COMPLETED", f"{run['state']}\n{worker.tail()}"

        records = Ledger(f"sqlite:///{home / 'ledger.db'}").records(MESSAGE_ID)
        assert [(r.forum, r.state) for r in records] == [("oc", State.DELIVERED)]
        # Only the manual deployment's runs: the cron deployments have scheduled runs of their own.
        manual = server.get("/deployments/name/budbringer-send/manual")
        assert isinstance(manual, dict)
        runs = server.post("/flow_runs/filter", {"deployments": {"id": {"any_": [manual["id"]]}}})
        scheduled = [r for r in runs if r["state_type"] == "SCHEDULED"]  # type: ignore[union-attr]
        assert len(scheduled) == 1, scheduled
        [follow_up] = scheduled
        nine_in_copenhagen = dt.datetime.combine(meeting, dt.time(9), ZoneInfo("Europe/Copenhagen"))
        assert dt.datetime.fromisoformat(follow_up["expected_start_time"]) == nine_in_copenhagen
        assert follow_up["parameters"]["message"] == f"messages/{MESSAGE_ID}.md"
        assert follow_up["parameters"]["approved_by"] == "Mette Lund"
