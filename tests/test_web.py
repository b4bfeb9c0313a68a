"""The approvers' pages (budbringer.web) through Starlette's TestClient: personal links in the request mails,
the page with every variant, decisions recorded as `budbringer approve` records them, and every refused link.

The channels are the in-memory adapter, so each request mail and its link can be read back. The browser test
(tests/test_browser.py) drives the same pages in Chromium against a real Prefect run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from budbringer import approval_request, cascade, readability
from budbringer import cli
from budbringer.adapters import memory
from budbringer.approval_request import Decision
from budbringer.ledger import Ledger
from budbringer.plan import Member
from budbringer import approval_links as links_
from budbringer.web.app import create_app
from budbringer.approval_links import LinkSigner
from tests.conftest import MESSAGE, PLAN, memory_plan, write_plan
from tests.servers.waiting import wait_until

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")

MESSAGE_ID = "2026-11-status-udbud"
LINK = re.compile(r'href="(https?://[^"]+/godkend/[^"]+)"')


@pytest.fixture
def setup(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    monkeypatch.delenv("BUDBRINGER_WEB_SECRET", raising=False)
    (workdir / "messages").mkdir()
    message = workdir / "messages" / MESSAGE.name
    shutil.copy(MESSAGE, message)
    plan = memory_plan(workdir)
    prepared = cascade.prepare(plan, message)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
    resumed: list[tuple[str, Decision]] = []
    app = create_app(plan, workdir / "messages", resume=lambda run, d: resumed.append((run, d)) or "resumed")
    return {"plan": plan, "message": message, "prepared": prepared, "request": request, "resumed": resumed,
            "client": TestClient(app)}


def mails() -> dict[str, str]:
    """Each member's request mail: recipient → body."""
    return {d.variant.recipients[0]: d.variant.body for d in memory.SENT if d.forum.startswith("approval-request")}


def link_of(email: str) -> str:
    found = LINK.findall(mails()[email])
    assert len(found) == 1
    return html.unescape(found[0]).removeprefix("http://approver.test")


def text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def test_each_member_gets_one_mail_with_a_personal_link_that_opens_every_variant(setup: dict) -> None:
    members = setup["prepared"].plan.approval.members
    assert sorted(mails()) == sorted(m.email for m in members)
    paths = {m.name: link_of(m.email) for m in members}
    assert len(set(paths.values())) == len(members)  # personal: no two alike
    page = setup["client"].get(paths["Jens Kragh"])
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    shown = text(page)
    assert "Hej Jens Kragh" in shown and "Til godkendelse: Status på udbuddet" in shown
    for variant in setup["prepared"].variants:
        assert variant.forum_title in shown and html.unescape(variant.subject) in shown or variant.medium == "post"
    for tier in ("Trin 1: OC-kredsen", "Trin 2: HMU og netværkene", "Trin 3: Medarbejderne",
                 "Trin 4: Ekstern kommunikation"):
        assert tier in shown
    assert "Til: hmu@socialomraadet.example" in shown and " tegn" in shown
    assert "Mangler at svare: Mette Lund, Jens Kragh, Sofie Dahl, Lars Bech" in shown
    assert page.text.count('data-slot="quality"') == len(setup["prepared"].variants)
    assert '<button type="submit" class="approve">Godkend</button>' in page.text
    assert '<label for="bemaerkning">' in page.text and "required" in page.text


def test_the_request_mail_shows_each_variants_readability_figures_under_its_text(setup: dict) -> None:
    figures = readability.figures(setup["prepared"].plan, list(setup["prepared"].variants))
    body = html.unescape(mails()["jens.kragh@socialomraadet.example"])
    assert body.count("Læsbarhed: LIX") == len(setup["prepared"].variants)
    position = 0
    for variant in setup["prepared"].variants:  # in the order of the texts, each under its own text
        position = body.index(html.unescape(variant.subject), position)
        position = body.index(figures[variant.forum].line_da(), position)
    citizens = figures["website"]
    assert f"LIX {citizens.lix:.0f} (højst {citizens.max_lix})" in body


def test_two_members_approve_by_link_and_the_waiting_run_is_resumed(setup: dict) -> None:
    Ledger().waiting_run(setup["request"].id, "run-1")
    client = setup["client"]
    first = client.post(link_of("jens.kragh@socialomraadet.example"), data={"beslutning": "godkend",
                                                                           "medlem": "Jens Kragh"})
    assert first.status_code == 200 and "Din godkendelse er registreret" in text(first)
    assert Ledger().request(MESSAGE_ID).state == "open"  # type: ignore[union-attr]
    second = client.post(link_of("sofie.dahl@socialomraadet.example"), data={"beslutning": "godkend",
                                                                             "medlem": "Sofie Dahl"})
    assert "Budskabet er nu godkendt" in text(second)
    assert "<form" not in second.text
    votes = Ledger().votes(setup["request"].id)
    assert [(v.voter, v.decision, v.source) for v in votes] == [("Jens Kragh", "approve", "link"),
                                                                ("Sofie Dahl", "approve", "link")]
    approval = Ledger().approvals_for(MESSAGE_ID)[-1]
    assert approval.approved_by == "Jens Kragh, Sofie Dahl" and "personal link" in approval.reference
    assert approval.hash == setup["prepared"].approval_hash
    # the resume runs in the background: the approver's page answers at once
    wait_until(lambda: len(setup["resumed"]) >= 2, 10, "both approvals to resume the run")
    assert [(run, d.by, d.decision) for run, d in setup["resumed"]] == [("run-1", "Jens Kragh", "approve"),
                                                                        ("run-1", "Sofie Dahl", "approve")]
    assert "via personligt link" in text(second)


def test_a_replayed_link_changes_nothing(setup: dict) -> None:
    client, path = setup["client"], link_of("lars.bech@socialomraadet.example")
    assert client.post(path, data={"beslutning": "godkend", "medlem": "Lars Bech"}).status_code == 200
    again = client.post(path, data={"beslutning": "afvis", "medlem": "Lars Bech", "bemaerkning": "Nej alligevel"})
    assert again.status_code == 409 and "Du har allerede svaret" in text(again)
    assert [(v.voter, v.decision) for v in Ledger().votes(setup["request"].id)] == [("Lars Bech", "approve")]
    opened = client.get(path)
    assert "Du har allerede godkendt budskabet" in text(opened) and "<form" not in opened.text


def test_a_rejection_needs_a_comment_and_then_stops_the_message(setup: dict) -> None:
    client, path = setup["client"], link_of("sofie.dahl@socialomraadet.example")
    empty = client.post(path, data={"beslutning": "afvis", "medlem": "Sofie Dahl", "bemaerkning": "  "})
    assert empty.status_code == 400 and "Skriv en bemærkning" in text(empty)
    assert Ledger().votes(setup["request"].id) == []
    done = client.post(path, data={"beslutning": "afvis", "medlem": "Sofie Dahl",
                                   "bemaerkning": "Tidsplanen skal være tydeligere."})
    assert "Budskabet er afvist" in text(done)
    request = Ledger().request(MESSAGE_ID)
    assert request is not None and request.state == "rejected"
    assert "Tidsplanen skal være tydeligere." in request.comment
    late = client.post(link_of("jens.kragh@socialomraadet.example"), data={"beslutning": "godkend",
                                                                          "medlem": "Jens Kragh"})
    assert late.status_code == 409 and "Der er allerede truffet en beslutning" in text(late)


def test_expired_tampered_and_foreign_links_are_refused_and_change_nothing(setup: dict) -> None:
    client, request = setup["client"], setup["request"]
    plan = setup["prepared"].plan
    jens = plan.approval.member("Jens Kragh")
    expired = LinkSigner().url(plan, dataclasses.replace(
        request, deadline=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), meeting=None), jens)
    refused = {
        "expired": (expired.removeprefix("http://approver.test"), 410, "Linket er udløbet"),
        "tampered": (link_of(jens.email)[:-3] + "abc", 403, "Linket er ikke gyldigt"),
        "other secret": (LinkSigner("another secret").url(plan, request, jens).removeprefix("http://approver.test"),
                         403, "Linket er ikke gyldigt"),
        "not a member": (LinkSigner().url(plan, request, Member(name="Hanne Holm", email="hanne@x.example"))
                         .removeprefix("http://approver.test"), 403, "Linket er ikke til dig"),
        "preview link": (LinkSigner.for_preview().preview_url(plan, request).replace("/vis/", "/godkend/")
                         .removeprefix("http://approver.test"), 403, "Linket er ikke gyldigt"),
    }
    for name, (path, status, heading) in refused.items():
        for response in (client.get(path), client.post(path, data={"beslutning": "godkend", "medlem": "Jens Kragh"})):
            assert response.status_code == status, name
            assert heading in text(response) and "<form" not in response.text, name
    # Jens's own link, posted in another member's name.
    other = client.post(link_of(jens.email), data={"beslutning": "godkend", "medlem": "Mette Lund"})
    assert other.status_code == 403 and "Linket er ikke til dig" in text(other)
    assert Ledger().votes(request.id) == [] and Ledger().request(MESSAGE_ID).state == "open"  # type: ignore[union-attr]
    assert setup["resumed"] == []


def test_an_edited_message_voids_every_link(setup: dict) -> None:
    path = link_of("jens.kragh@socialomraadet.example")
    message: Path = setup["message"]
    message.write_text(message.read_text(encoding="utf-8").replace("Foranalysen er afsluttet",
                                                                  "Foranalysen er nu afsluttet"), encoding="utf-8")
    for response in (setup["client"].get(path),
                     setup["client"].post(path, data={"beslutning": "godkend", "medlem": "Jens Kragh"})):
        assert response.status_code == 410 and "Budskabet er blevet ændret" in text(response)
    assert Ledger().votes(setup["request"].id) == []


def test_the_preview_link_shows_the_page_without_buttons(setup: dict) -> None:
    url = LinkSigner.for_preview().preview_url(setup["prepared"].plan, setup["request"])
    page = setup["client"].get(url.removeprefix("http://approver.test"))
    assert page.status_code == 200 and "<form" not in page.text and "Trin 4: Ekstern kommunikation" in text(page)


def test_the_secret_is_generated_once_with_mode_0600_unless_the_environment_gives_one(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDBRINGER_WEB_SECRET", raising=False)
    first = links_.secret()
    path = workdir / ".budbringer" / "web-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) >= 40
    assert links_.secret() == first
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", "from the environment")
    assert links_.secret() == "from the environment"
    assert "from the environment" not in repr(LinkSigner())


def test_the_plan_document_names_every_forum_the_order_and_the_policy_and_follows_the_config(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "--plan", str(PLAN), "--format", "html"]) == 0
    page = html.unescape(capsys.readouterr().out)
    for title in ("OC-kredsen", "HMU", "Netværk for kvalitetskoordinatorerne", "Socialområdets intranet",
                  "LinkedIn", "MidtNyt", "Perspektiv"):
        assert title in page
    order = [page.index(f"Trin {n}: ") for n in range(1, 5)]
    assert order == sorted(order)
    assert "Formanden, Mette Lund, kan godkende alene" in page and "Ellers skal to medlemmer godkende" in page
    assert "10. december 2026" in page  # the calendar: the OC meetings
    changed = write_plan(workdir, {"approval": {"members_required": 3, "chair_may_approve_alone": False},
                                   "fora": {"hmu": {"title": "Hovedmedudvalget (HMU)"}}})
    assert cli.main(["plan", "--plan", str(changed), "--format", "md"]) == 0
    document = capsys.readouterr().out
    assert "Hovedmedudvalget (HMU)" in document and "Tre medlemmer skal godkende" in document
    assert "kan godkende alene" not in document and "```mermaid" in document
    client = TestClient(create_app(changed, workdir))
    assert "Hovedmedudvalget (HMU)" in html.unescape(client.get("/plan").text)


def test_status_shows_a_pending_request(setup: dict, capsys: pytest.CaptureFixture[str]) -> None:
    setup["client"].post(link_of("lars.bech@socialomraadet.example"),
                         data={"beslutning": "godkend", "medlem": "Lars Bech"})
    assert cli.main(["status", MESSAGE_ID, "--plan", str(setup["plan"])]) == 0
    out = capsys.readouterr().out
    assert f"{MESSAGE_ID}: no deliveries yet" in out
    assert re.search(r"approval request \d+ \(open\), hash \w{12}, deadline 2026-12-03 09:00", out), out
    assert "  Lars Bech: approve (personal link," in out
    assert "  not decided: Mette Lund, Jens Kragh, Sofie Dahl" in out
    setup["client"].post(link_of("sofie.dahl@socialomraadet.example"),
                         data={"beslutning": "afvis", "medlem": "Sofie Dahl", "bemaerkning": "For langt."})
    assert cli.main(["status", MESSAGE_ID, "--plan", str(setup["plan"])]) == 0
    out = capsys.readouterr().out
    assert "(rejected)" in out and "  Sofie Dahl: reject (personal link," in out
    assert "rejected: Sofie Dahl: For langt." in out
