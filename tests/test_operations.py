"""Operations: the production path (a Prefect server and the ledger on PostgreSQL, prefect.yaml deployed, a
process worker, the manual deployment triggered from the CLI) and the alert a failing run sends.

The PostgreSQL test needs a server at $BUDBRINGER_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:
5432/postgres, a role that may create databases). Without one it is skipped, except under CI (env CI set),
where it fails: CI must run it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT, memory_plan
from tests.servers.prefect_server import BIN, PrefectServer, Worker, make_checkout, wait_for_run
from tests.servers.waiting import wait_until

pytestmark = pytest.mark.slow  # a real Prefect server and worker, or the crash harness (.ci/run runs it)

POSTGRES = os.environ.get("BUDBRINGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases (Prefect's and the ledger's), dropped afterwards. Yields their names."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES.rsplit('@', 1)[-1]}: {str(exc).strip()[:200]}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: this test must run in CI)")
        pytest.skip(reason)
    suffix = uuid.uuid4().hex[:10]
    names = (f"bb_prefect_{suffix}", f"bb_ledger_{suffix}")
    try:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _url(driver: str, database: str) -> str:
    base = POSTGRES.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+{driver}://{base}/{database}"


@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_production_path_on_postgresql_delivers_every_tier_once(
        tmp_path: Path, postgres_databases: tuple[str, str]) -> None:
    from budbringer import plan as plan_
    from budbringer.ledger import Ledger, State

    prefect_db, ledger_db = postgres_databases
    ledger_url = _url("psycopg", ledger_db)
    checkout = make_checkout(tmp_path / "budbringer")
    with PrefectServer(tmp_path / "prefect-home", database_url=_url("asyncpg", prefect_db)) as server:
        server.prefect("work-pool", "create", "budbringer", "--type", "process")
        deployed = server.prefect("--no-prompt", "deploy", "--all", cwd=checkout)
        assert "budbringer-send/manual" in deployed.stdout
        assert "budbringer-check/preview" in deployed.stdout
        names = {d["name"]: d for d in server.post("/deployments/filter", {})}  # type: ignore[union-attr]
        assert {"manual", "preview"} <= set(names)
        if "oc-briefing" in names:  # the monthly briefing: the 20th, 08:00 Copenhagen time
            [schedule] = names["oc-briefing"]["schedules"]
            assert schedule["schedule"]["cron"] == "0 8 20 * *"
            assert schedule["schedule"]["timezone"] == "Europe/Copenhagen"

        with Worker(server, "budbringer", cwd=checkout, log=tmp_path / "worker.log",
                    BUDBRINGER_DIR=str(checkout), BUDBRINGER_DATABASE_URL=ledger_url) as worker:
            started = server.prefect(
                "deployment", "run", "budbringer-send/manual",
                "-p", "message=messages/2026-11-status-udbud.md", "-p", "approved_by=Mette Lund",
                "-p", "approval_ref=Styregruppemøde 2026-11-20, punkt 3")
            run_id = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout).group(1)  # type: ignore[union-attr]
            run = wait_for_run(server, run_id, worker)
        assert run["state_type"] == "COMPLETED", f"{run['state']}\n{worker.tail()}"

        # The ledger (on PostgreSQL): every active forum of the plan, delivered once.
        plan = plan_.load(checkout / "config" / "plan.yaml")
        expected = {forum for tier in plan.tiers for forum in plan.active_fora(tier)}
        records = Ledger(ledger_url).records("2026-11-status-udbud")
        assert {r.forum for r in records} == expected
        assert len(records) == len(expected)
        assert all(r.state == State.DELIVERED and r.attempts == 1 for r in records), records
        assert len(list((checkout / "outbox").rglob("*.*"))) >= len(expected)

        # The run's table artifact shows every delivery with its forum, tier, channel, state, receipt and time.
        artifacts = server.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
        tables = [a for a in artifacts if a["type"] == "table"]  # type: ignore[union-attr]
        [table] = [a for a in tables if a["key"] == "deliveries-2026-11-status-udbud"]
        rows = json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]
        assert {row["forum"] for row in rows} == expected
        for row in rows:
            assert set(row) >= {"forum", "tier", "channel", "state", "receipt", "time"}
            assert row["state"] == "delivered" and row["receipt"] and row["time"]
        assert any(a["type"] == "markdown" and a["key"] == "summary-2026-11-status-udbud"
                   for a in artifacts)  # type: ignore[union-attr]


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    """A local webhook receiver (a Power Automate HTTP trigger stands in for it in production)."""
    received: list[tuple[str, dict]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The path stands for the signature a real trigger URL carries: a secret.
    yield f"http://127.0.0.1:{server.server_port}/workflows/alert?sig=s3cret-signature", received
    server.shutdown()
    server.server_close()


def _alerts(received: list, kind: str, timeout: float = 60) -> list[dict]:
    """The alerts of `kind` the receiver got, once there is one."""
    return wait_until(lambda: [body for _, body in received if body["kind"] == kind], timeout,
                      f"a {kind} alert at the receiver", interval=0.25, detail=lambda: received)


def test_a_failing_run_and_an_uncertain_delivery_alert_the_operators(
        prefect_api: None, workdir: Path, message_copy: Path, receiver: tuple[str, list],
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from prefect import flow
    from prefect.client.orchestration import get_client

    from budbringer import cli
    from budbringer.flows import alerts
    from budbringer.flows.send import CascadeFailed, send_flow

    url, received = receiver
    os.environ["BUDBRINGER_ALERT_WEBHOOK_URL"] = url
    try:
        assert cli.main(["alerts", "setup"]) == 0
    finally:
        del os.environ["BUDBRINGER_ALERT_WEBHOOK_URL"]
    out = capsys.readouterr()
    assert "s3cret" not in out.out + out.err and "budbringer-run-failed" in out.out

    try:
        # A real run fails: the memory channel refuses OC, so the cascade stops and the run ends Failed.
        plan = memory_plan(workdir, refuse=["oc"])
        with pytest.raises(CascadeFailed):
            send_flow(message=str(message_copy), approved_by="Mette Lund",
                      approval_ref="Styregruppemøde 2026-11-20, punkt 3", plan=str(plan))
        failed = _alerts(received, "run-failed")
        assert failed[0]["event"] == "prefect.flow-run.Failed"
        assert "budbringer-send" in failed[0]["title"] and "Failed" in failed[0]["title"]
        assert "did not succeed" in failed[0]["text"] and "oc" in failed[0]["text"]

        # A delivery whose outcome is unknown: send_flow emits this for each uncertain delivery.
        @flow(name="budbringer-uncertain-probe")
        def probe() -> None:
            alerts.emit_uncertain("2026-11-status-udbud", "linkedin",
                                  "LinkedIn answered 504 after the request went out", channel="linkedin")

        probe()
        uncertain = _alerts(received, "delivery-uncertain")
        assert uncertain[0]["event"] == alerts.UNCERTAIN_EVENT
        assert "linkedin" in uncertain[0]["text"] and "504" in uncertain[0]["text"]
        assert "budbringer status 2026-11-status-udbud" in uncertain[0]["text"]
        # The secret URL reached the receiver (it is the receiver) but is stored only as a secret.
        assert all(path.endswith("sig=s3cret-signature") for path, _ in received)
    finally:
        async def remove() -> None:
            async with get_client() as client:
                for name in (alerts.FAILED_AUTOMATION, alerts.UNCERTAIN_AUTOMATION):
                    for automation in await client.read_automations_by_name(name):
                        await client.delete_automation(automation.id)
                # What the API hands any reader (the UI, `prefect block inspect`): the URL masked.
                block = await client.read_block_document_by_name(alerts.BLOCK_NAME, "webhook",
                                                                 include_secrets=False)
                assert "s3cret" not in json.dumps(block.data, default=str)

        asyncio.run(remove())


def test_the_cli_never_imports_prefect_for_help() -> None:
    import subprocess
    import sys

    code = ("import sys; from budbringer import cli; cli._parser().parse_args(['alerts', 'setup']); "
            "cli._parser().parse_args(['serve']); print('prefect' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
    assert (BIN / "budbringer").exists()
