"""End to end: the plan through the Prefect flow, delivered by Microsoft 365 (config/plan.m365.yaml).

The mail fora go out by Graph mail and the intranet fora as SharePoint news pages, to the Graph and sign-in
emulators on 127.0.0.1 (tests/servers/graph.py); the website and LinkedIn stay in the outbox. The servers
must see exactly one sendMail per mail forum and one page created and published per site, in tier order;
faults on the way still end in exactly one of each; a refused token stops the run before the next tier.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from budbringer.adapters import graph
from budbringer import plan as plan_
from budbringer.ledger import Ledger, State
from tests.conftest import ROOT
from tests.servers.graph import M365, SENDER, is_page_create, is_publish, is_send_mail, m365
from tests.servers.https import Fault, Request

M365_PLAN = ROOT / "config" / "plan.m365.yaml"
MESSAGE_ID = "2026-11-status-udbud"
FAST = {"attempts": 4, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
MAIL_FORA = {  # forum → its recipients (the newsletters' submissions go to their editors)
    "oc": "oc-kredsen@socialomraadet.example",
    "hmu": "hmu@socialomraadet.example",
    "network_quality": "kvalitetskoordinatorer@socialomraadet.example",
    "network_sensum": "sensum-tovholdere@socialomraadet.example",
    "network_health": "sundhedskoordinatorer@socialomraadet.example",
    "midtnyt": "midtnyt-redaktion@regionmidtjylland.example",
    "perspektiv": "perspektiv-redaktion@regionmidtjylland.example",
}
TIER_OF = {"oc": 1, "hmu": 2, "network_quality": 2, "network_sensum": 2, "network_health": 2, "intranet": 3,
           "intranet_local": 3, "regional_intranet": 4, "midtnyt": 4, "perspektiv": 4}


def plan_sites() -> dict[str, str]:
    """Every SharePoint site of the plan → its forum."""
    plan = plan_.load(M365_PLAN)
    return {site: name for name, forum in plan.fora.items() if forum.channel == "m365_intranet"
            for site in forum.address.page_sites()}


@pytest.fixture
def microsoft365(ca, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    with m365(ca, sites=tuple(plan_sites())) as tenant:
        for name, value in tenant.env().items():
            monkeypatch.setenv(name, value)
        yield tenant


def fast_plan(folder: Path) -> Path:
    """plan.m365.yaml with waits made tiny (the tests never sleep for seconds)."""
    path = folder / "plan.m365.fast.yaml"
    overlay = {"extends": str(M365_PLAN), "channels": {
        "m365_mail": {"retry": FAST, "lookup": {"settle": 0.05, "interval": 0.05, "resends": 3}},
        "m365_intranet": {"retry": FAST, "confirm_after": 0.05},
    }}
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    return path


def send(message: Path, plan: Path):  # type: ignore[no-untyped-def]
    from budbringer.flows.send import send_flow

    return send_flow(message=str(message), approved_by="Mette Lund",
                     approval_ref="Styregruppemøde 2026-11-20, punkt 3", plan=str(plan))


def forum_of(request: Request, sites: dict[str, str], tenant: M365) -> str:
    if is_send_mail(request):
        [address] = [r["emailAddress"]["address"] for r in request.json()["message"]["toRecipients"]]
        return next(forum for forum, recipient in MAIL_FORA.items() if recipient == address)
    site_id = request.path.split("/sites/")[1].split("/")[0]
    site = next(s for s in tenant.graph.sites.values() if s.id == site_id)
    return sites[f"{site.host}/{site.path}"]


def test_every_mail_forum_once_and_every_site_one_published_page_in_tier_order(
        prefect_api: None, microsoft365: M365, message_copy: Path, workdir: Path) -> None:
    tenant, sites = microsoft365, plan_sites()
    outcomes = send(message_copy, fast_plan(workdir))

    assert {o.state for o in outcomes} == {"delivered"}
    records = {r.forum: r for r in Ledger().records(MESSAGE_ID)}
    assert all(r.state == State.DELIVERED and r.attempts == 1 for r in records.values())

    # Exactly one sendMail per mail forum, each marked with its delivery's key.
    sends = tenant.graph.send_requests()
    assert sorted(forum_of(r, sites, tenant) for r in sends) == sorted(MAIL_FORA)
    for request in sends:
        forum = forum_of(request, sites, tenant)
        headers = {h["name"]: h["value"] for h in request.json()["message"]["internetMessageHeaders"]}
        assert headers["x-budbringer-delivery"] == records[forum].key
    assert len(tenant.graph.sent(SENDER)) == len(MAIL_FORA)

    # One page created and published per site.
    for site, forum in sites.items():
        [page] = tenant.graph.site(site).pages.values()
        assert page["publishingState"]["level"] == "published"
        assert page["name"] == f"budbringer-{_short(records[forum].key)}.aspx"
    assert len([r for r in tenant.graph.requests if is_page_create(r)]) == len(sites)
    assert len([r for r in tenant.graph.requests if is_publish(r)]) == len(sites)
    urls = {p["webUrl"] for f in ("intranet", "intranet_local", "regional_intranet")
            for p in records[f].receipt.details["pages"]}  # type: ignore[union-attr]
    assert len(urls) == len(sites)

    # Tier order, as the servers saw it: nothing of a tier before everything of the tier before.
    acting = [r for r in tenant.graph.requests if is_send_mail(r) or is_page_create(r) or is_publish(r)]
    tiers = [TIER_OF[forum_of(r, sites, tenant)] for r in acting]
    assert tiers == sorted(tiers)
    assert len(tenant.login.token_requests()) == 1


def _short(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def test_faults_still_end_with_every_delivery_exactly_once(prefect_api: None, microsoft365: M365,
                                                           message_copy: Path, workdir: Path) -> None:
    tenant, sites = microsoft365, plan_sites()

    def to(address: str):  # type: ignore[no-untyped-def]
        return lambda r: is_send_mail(r) and address in r.body.decode()

    tenant.graph.faults += [
        Fault("status", to(MAIL_FORA["oc"]), 429, {"Retry-After": "1"}),
        Fault("status", to(MAIL_FORA["hmu"]), 503, times=2),
        Fault("status_after", to(MAIL_FORA["network_quality"]), 503),
        Fault("drop_after", to(MAIL_FORA["network_health"])),
        Fault("status", is_page_create, 503, times=1),
        Fault("drop_after", is_publish),
        Fault("status", lambda r: r.method == "GET" and ":/" in r.path, 503, times=2),
    ]
    outcomes = send(message_copy, fast_plan(workdir))

    assert {o.state for o in outcomes} == {"delivered"}
    assert sorted(m.recipients()[0] for m in tenant.graph.sent(SENDER)) == sorted(MAIL_FORA.values())
    for site in sites:
        [page] = tenant.graph.site(site).pages.values()
        assert page["publishingState"]["level"] == "published"
    sends = [forum_of(r, sites, tenant) for r in tenant.graph.send_requests()]
    assert sends.count("oc") == 2 and sends.count("hmu") == 3 and sends.count("network_quality") == 1
    assert all(r.attempts == 1 for r in Ledger().records(MESSAGE_ID))


def test_a_refused_token_stops_the_run_before_the_next_tier(prefect_api: None, microsoft365: M365,
                                                            message_copy: Path, workdir: Path) -> None:
    from budbringer.flows.send import CascadeFailed

    tenant = microsoft365
    tenant.graph.faults.append(Fault("status", is_send_mail, 401, times=99, body={"error": {
        "code": "InvalidAuthenticationToken", "message": "Access token validation failure. Invalid audience."}}))
    with pytest.raises(CascadeFailed) as raised:
        send(message_copy, fast_plan(workdir))

    assert "oc failed" in str(raised.value) and "not started" in str(raised.value)
    [request] = tenant.graph.send_requests()
    assert MAIL_FORA["oc"] in request.body.decode()
    assert not any(is_page_create(r) or is_publish(r) for r in tenant.graph.requests)
    [record] = Ledger().records(MESSAGE_ID)
    assert record.forum == "oc" and record.state == State.FAILED
    assert "HTTP 401 InvalidAuthenticationToken" in (record.error or "")
    assert "BUDBRINGER_GRAPH_TENANT_ID" in (record.error or "")


def test_a_wrong_secret_is_found_before_anything_is_sent(prefect_api: None, microsoft365: M365,
                                                         message_copy: Path, workdir: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from budbringer.errors import InputError

    caplog.set_level(logging.DEBUG)
    tenant = microsoft365
    monkeypatch.setenv(graph.ENV_SECRET, "an-old-secret-" + tenant.secret[-6:])
    with pytest.raises(InputError) as raised:
        send(message_copy, fast_plan(workdir))
    text = str(raised.value)
    assert "invalid_client" in text and graph.ENV_SECRET in text and "nothing was sent" in text
    assert tenant.graph.requests == []
    assert Ledger().records(MESSAGE_ID) == []
    assert tenant.secret not in text and tenant.secret not in caplog.text
