"""Notices take the delivery path: an approval request mail whose outcome is unknown is `uncertain` (the state a
delivery takes), and the next step looks it up at the channel before any resend, so no approver gets it twice.

Against the real local Microsoft 365 emulator (tests/servers/graph.py) with its fault injection: the request
mail to one member is accepted by Graph, then the connection drops before the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from budbringer import approval_request, cascade
from budbringer.adapters import graph, graph_mail
from budbringer.ledger import Ledger, State
from tests.conftest import PLAN, ROOT
from tests.servers.graph import M365, SENDER, is_lookup, is_send_mail, m365
from tests.servers.graph_mime import request_text
from tests.servers.https import Fault, Request

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")

FAST = {"attempts": 3, "budget": 5, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
LOOKUP = {"enabled": True, "settle": 0.01, "checks": 2, "interval": 0.01, "resends": 1}
CHAIR = "mette.lund@socialomraadet.example"


@pytest.fixture
def tenant(ca, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    with m365(ca) as emulated:
        for name, value in emulated.env().items():
            monkeypatch.setenv(name, value)
        yield emulated


def graph_plan(folder: Path, lookup: bool) -> Path:
    """The shipped plan with its mail channel (which carries the approval notices) on Graph mail."""
    base = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    base["channels"]["mail"] = {"type": "graph_mail", "sender": SENDER, "retry": FAST,
                                **({"lookup": LOOKUP} if lookup else {})}
    base["templates"] = str(ROOT / "templates")
    path = folder / "graph-plan.yaml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    return path


def to_chair(request: Request) -> bool:
    return is_send_mail(request) and CHAIR in request_text(request)  # JSON or MIME (a notice with text)


def mails_to_chair(tenant: M365) -> int:
    return sum(1 for m in tenant.graph.sent(SENDER) if m.recipients() == [CHAIR])


def sends_to_chair(tenant: M365) -> int:
    return sum(1 for r in tenant.graph.send_requests() if CHAIR in request_text(r))


def requested(plan_file: Path, message: Path) -> tuple[cascade.Prepared, Ledger, object, dict]:
    prepared = cascade.prepare(plan_file, message)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    return prepared, ledger, request, cascade.channels(prepared.plan)


def test_an_accepted_request_mail_whose_answer_was_lost_is_looked_up_and_never_sent_twice(
        tenant: M365, workdir: Path, message_copy: Path) -> None:
    prepared, ledger, request, channels = requested(graph_plan(workdir, lookup=True), message_copy)
    # Graph takes the chair's mail, then the connection drops; the adapter's own lookup fails too (503s).
    tenant.graph.faults.extend([Fault("drop_after", to_chair), Fault("status", is_lookup, 503, times=99)])

    first = approval_request.send_request(prepared, ledger, request, channels)

    assert first == "uncertain, sent, sent, sent"
    notices = ledger.notices_for(request.id)
    assert notices["request:mette-lund"] == State.UNCERTAIN  # not FAILED: it may have arrived (it did)
    assert {kind: state for kind, state in notices.items() if kind != "request:mette-lund"} == {
        "request:jens-kragh": State.DELIVERED, "request:sofie-dahl": State.DELIVERED,
        "request:lars-bech": State.DELIVERED}
    assert mails_to_chair(tenant) == 1

    with tenant.graph.lock:
        tenant.graph.faults.clear()
    lookups_before = len([r for r in tenant.graph.requests if is_lookup(r)])
    second = approval_request.send_request(prepared, ledger, request, channels)  # the step runs again

    assert second == "sent before"
    assert ledger.notices_for(request.id)["request:mette-lund"] == State.DELIVERED
    assert len([r for r in tenant.graph.requests if is_lookup(r)]) == lookups_before + 1  # looked up once
    assert sends_to_chair(tenant) == 1 and mails_to_chair(tenant) == 1  # the chair has exactly one mail
    for adapter in channels.values():
        adapter.close()


def test_without_a_lookup_an_uncertain_request_mail_stays_uncertain_and_is_not_resent(
        tenant: M365, workdir: Path, message_copy: Path) -> None:
    prepared, ledger, request, channels = requested(graph_plan(workdir, lookup=False), message_copy)
    tenant.graph.faults.append(Fault("drop_after", to_chair))

    assert approval_request.send_request(prepared, ledger, request, channels) == "uncertain, sent, sent, sent"
    again = approval_request.send_request(prepared, ledger, request, channels)

    assert again == "uncertain, sent before, sent before, sent before"
    assert ledger.notices_for(request.id)["request:mette-lund"] == State.UNCERTAIN
    assert sends_to_chair(tenant) == 1 and mails_to_chair(tenant) == 1
    for adapter in channels.values():
        adapter.close()


def test_a_request_mail_the_lookup_does_not_find_is_sent_again_once(
        tenant: M365, workdir: Path, message_copy: Path) -> None:
    """The connection drops before Graph acted: the lookup finds nothing, so the next step sends it (once)."""
    prepared, ledger, request, channels = requested(graph_plan(workdir, lookup=True), message_copy)
    tenant.graph.faults.extend([Fault("drop_before", to_chair), Fault("status", is_lookup, 503, times=99)])
    assert approval_request.send_request(prepared, ledger, request, channels) == "uncertain, sent, sent, sent"
    assert mails_to_chair(tenant) == 0
    with tenant.graph.lock:
        tenant.graph.faults.clear()

    assert approval_request.send_request(prepared, ledger, request, channels) == "sent, sent before, sent before, sent before"
    assert approval_request.send_request(prepared, ledger, request, channels) == "sent before"
    assert ledger.notices_for(request.id)["request:mette-lund"] == State.DELIVERED
    assert sends_to_chair(tenant) == 2 and mails_to_chair(tenant) == 1
    for adapter in channels.values():
        adapter.close()


@pytest.mark.parametrize("outcome", ["resend", "sent"])
def test_the_operator_settles_an_uncertain_request_mail_with_resolve(
        tenant: M365, workdir: Path, message_copy: Path, outcome: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a lookup an uncertain notice is never sent again by itself: `status` shows it with its short key,
    and `budbringer resolve KEY resend` (it did not arrive) lets the next step send it once; `sent` (it did)
    records it as delivered and nothing is sent again."""
    from budbringer import cli

    prepared, ledger, request, channels = requested(graph_plan(workdir, lookup=False), message_copy)
    tenant.graph.faults.append(Fault("drop_before", to_chair))  # Graph never got it: it did not arrive
    assert approval_request.send_request(prepared, ledger, request, channels) == "uncertain, sent, sent, sent"
    with tenant.graph.lock:
        tenant.graph.faults.clear()

    assert cli.main(["status", prepared.message.id]) == 0
    shown = capsys.readouterr().out
    found = [line for line in shown.splitlines() if "budbringer resolve" in line]
    assert len(found) == 1 and "the request:mette-lund notice" in shown, shown
    short = found[0].split("budbringer resolve ")[1].split()[0]

    assert cli.main(["resolve", short, outcome, "--note", "not in Sent Items 10:42"]) == 0
    said = capsys.readouterr().out
    assert f"the request:mette-lund notice of {prepared.message.id}" in said
    again = approval_request.send_request(prepared, ledger, request, channels)
    record = ledger.notice_record(ledger.find_notice_key(short) or "")
    if outcome == "resend":
        assert "sends it again" in said and again.startswith("sent, ")
        assert sends_to_chair(tenant) == 2 and mails_to_chair(tenant) == 1  # the dropped one, then the one sent
    else:
        assert "recorded as delivered by the operator" in said and again.startswith("sent before")
        assert record is not None and record.receipt is not None
        assert record.receipt.details["settled_by_operator"] is True
        assert sends_to_chair(tenant) == 1 and mails_to_chair(tenant) == 0  # nothing sent again
    assert ledger.notices_for(request.id)["request:mette-lund"] == State.DELIVERED
    assert cli.main(["resolve", short, outcome]) == 1  # settled once: it is not uncertain any more
    assert "not uncertain" in capsys.readouterr().err
    for adapter in channels.values():
        adapter.close()
