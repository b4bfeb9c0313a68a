"""A kill point the crash harness cannot reach: the process that waits for approval dies (SIGKILL).

`budbringer send` without an approval, against a real Prefect server, sends the request and pauses. We kill
it, start it again, and the new run must not send the request again; an approver's decision then releases
the new run, which delivers every forum once.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from uuid import UUID

import pytest

from tests.conftest import example_clock_variables
from tests.servers.prefect_server import BIN, PrefectServer, make_checkout, stop
from tests.servers.waiting import wait_until

pytestmark = pytest.mark.slow  # a real Prefect server and worker, or the crash harness (.ci/run runs it)

MESSAGE_ID = "2026-11-status-udbud"
#: one request mail per member of the steering group, each with its personal link
REQUEST_MAILS = [(f"request:{slug}", "delivered")
                 for slug in ("mette-lund", "jens-kragh", "sofie-dahl", "lars-bech")]


def _paused_run(server: PrefectServer, ledger_url: str, other_than: str | None, process: subprocess.Popen,
                timeout: float = 180) -> str:
    """Wait until the run of `process` pauses for approval; return its flow run id."""
    from budbringer.ledger import Ledger

    def paused() -> str | None:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""  # type: ignore[union-attr]
        request = Ledger(ledger_url).request(MESSAGE_ID)
        if request is not None and request.flow_run_id and request.flow_run_id != other_than:
            run = server.get(f"/flow_runs/{UUID(request.flow_run_id)}")
            if isinstance(run, dict) and run["state_name"] == "Paused":
                return request.flow_run_id
        return None

    return wait_until(paused, timeout, "the run to pause for approval", interval=0.5, detail=server.tail)


@pytest.mark.timeout(600)
def test_killing_the_waiting_process_neither_repeats_the_request_nor_loses_the_decision(tmp_path: Path) -> None:
    from budbringer.ledger import Ledger, State, notices

    checkout = make_checkout(tmp_path / "budbringer")
    home = checkout / ".budbringer"
    home.mkdir()
    ledger_url = f"sqlite:///{home / 'ledger.db'}"
    send = [str(BIN / "budbringer"), "send", f"messages/{MESSAGE_ID}.md"]
    with PrefectServer(tmp_path / "prefect-home") as server:
        # `send` asks for the example's approval on its request day (Budbringer's clock only).
        env = server.env(BUDBRINGER_HOME=str(home), **example_clock_variables())

        first = subprocess.Popen(send, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        try:
            first_run = _paused_run(server, ledger_url, None, first)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        assert first.returncode == -signal.SIGKILL

        second = subprocess.Popen(send, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)
        try:
            second_run = _paused_run(server, ledger_url, first_run, second)
            approved = subprocess.run([str(BIN / "budbringer"), "approve", f"messages/{MESSAGE_ID}.md", "--by",
                                       "Mette Lund"], cwd=checkout, env=env, capture_output=True, text=True,
                                      timeout=120)
            assert approved.returncode == 0, approved.stderr
            assert f"resumed flow run {second_run}" in approved.stdout
            output, _ = second.communicate(timeout=240)
        finally:
            stop(second, signal.SIGKILL, wait=1)
        assert second.returncode == 0, output
        assert "12 delivered now" in output

    ledger = Ledger(ledger_url)
    with ledger.engine.connect() as conn:
        sent = conn.execute(notices.select().where(notices.c.message_id == MESSAGE_ID)).mappings().all()
    assert [(n["kind"], n["state"]) for n in sent] == REQUEST_MAILS
    records = ledger.records(MESSAGE_ID)
    assert len(records) == 12 and all(r.state == State.DELIVERED and r.attempts == 1 for r in records)
