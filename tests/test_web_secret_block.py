"""The secret that signs the approvers' links, from a Prefect Secret block, on the session's real Prefect API:
a send run signs the request mails' links with the block's value, the pages (flows/web) accept them, and the
value shows nowhere: not in the run's logs (read back from the API), the process's log, a page or a repr.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import secrets
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from budbringer import plan as plan_
from budbringer.adapters import memory
from budbringer.approval_links import LinkRefused, LinkSigner
from budbringer.errors import InputError
from budbringer.ledger import Ledger
from tests.conftest import memory_plan
from tests.servers.waiting import wait_until

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")

MESSAGE_ID = "2026-11-status-udbud"
LINK = re.compile(r'href="(https?://[^"]+/godkend/([^"]+))"')


def links() -> dict[str, str]:
    """Each member's link token from the request mails in memory."""
    found = {}
    for delivery in memory.SENT:
        if delivery.forum.startswith("approval-request"):
            (_, token), = LINK.findall(delivery.variant.body)
            found[delivery.variant.recipients[0]] = html.unescape(token)
    return found


@pytest.fixture
def block_plan(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    from prefect.blocks.system import Secret

    monkeypatch.delenv("BUDBRINGER_WEB_SECRET", raising=False)
    monkeypatch.delenv("BUDBRINGER_WEB_SECRET_BLOCK", raising=False)
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    name = f"budbringer-web-secret-{secrets.token_hex(4)}"
    value = "block-" + secrets.token_urlsafe(40)
    Secret(value=value).save(name, overwrite=True)
    path = workdir / "block-plan.yaml"
    path.write_text(yaml.safe_dump({"extends": str(memory_plan(workdir)),
                                    "approval": {"web_secret_block": name}}), encoding="utf-8")
    return path, value


def test_a_secret_block_signs_the_links_of_a_run_and_the_pages_accept_them_and_it_never_shows(
        prefect_api: None, workdir: Path, message_copy: Path, block_plan: tuple[Path, str],
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    from budbringer.flows import web as web_
    from budbringer.flows.send import send_flow

    caplog.set_level(logging.DEBUG)
    plan, value = block_plan
    state = send_flow(message=str(message_copy), plan=str(plan), wait_for_approval=False, return_state=True)
    assert state.is_completed() and state.result() == []
    tokens = links()
    assert len(tokens) == 4
    for email, token in tokens.items():
        assert LinkSigner(value).claim(token, dt.datetime.now(dt.UTC)).member  # signed with the block's value …
        with pytest.raises(LinkRefused):
            LinkSigner().claim(token, dt.datetime.now(dt.UTC))  # … not with the secret generated under .budbringer/
    assert not (workdir / ".budbringer" / "web-secret").exists() or \
        (workdir / ".budbringer" / "web-secret").read_text() != value

    client = TestClient(web_.app(plan, workdir))  # the pages resolve the same block
    page = client.get(f"/godkend/{tokens['jens.kragh@socialomraadet.example']}")
    assert page.status_code == 200 and "Hej Jens Kragh" in page.text
    decided = client.post(f"/godkend/{tokens['sofie.dahl@socialomraadet.example']}",
                          data={"beslutning": "godkend", "medlem": "Sofie Dahl"})
    assert decided.status_code == 200
    request = Ledger().request(MESSAGE_ID)
    assert request is not None and [v.voter for v in Ledger().votes(request.id)] == ["Sofie Dahl"]

    with get_client(sync_client=True) as prefect:
        run_ids = [r.id for r in prefect.read_flow_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))]

        def run_log() -> list[str] | None:
            """The run's log lines once the task's line has reached the server (Prefect sends logs in batches,
            from a thread, after the run may have ended)."""
            found = [entry.message for entry in prefect.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=run_ids)))]
            return found if any("Approval request" in line for line in found) else None

        lines = wait_until(run_log, 30, "the request task's log line on the server", interval=0.5)
    out = capsys.readouterr()
    for where, shown in {"run logs": "\n".join(lines), "log": caplog.text, "stdout": out.out, "stderr": out.err,
                         "page": page.text + decided.text, "headers": str(page.headers),
                         "mails": "\n".join(d.variant.body for d in memory.SENT),
                         "reprs": repr(LinkSigner(value)) + repr(client.app)}.items():
        assert value not in shown, where


def test_the_environment_wins_over_the_block_and_a_missing_block_is_a_clear_error(
        prefect_api: None, workdir: Path, block_plan: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from budbringer.flows import link_secret

    path, value = block_plan
    plan = plan_.load(path)
    assert link_secret.resolve(plan) == value
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", "from-the-environment-" + "z" * 20)
    assert link_secret.resolve(plan) is None  # the domain reads $BUDBRINGER_WEB_SECRET itself
    token = link_secret.signer(plan)._serializer.dumps({"probe": 1})
    assert LinkSigner("from-the-environment-" + "z" * 20)._serializer.loads(token) == {"probe": 1}
    monkeypatch.delenv("BUDBRINGER_WEB_SECRET")
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET_BLOCK", "no-such-block")
    with pytest.raises(InputError) as error:
        link_secret.resolve(plan)
    assert "$BUDBRINGER_WEB_SECRET_BLOCK" in str(error.value) and "'no-such-block'" in str(error.value)
    assert value not in str(error.value)
