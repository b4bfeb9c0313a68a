"""The author's page over HTTP against a real uvicorn: authors in the plan and their personal links, a save in
place, a stale save refused with both versions, a draft that survives the server being stopped mid-edit, the
body limit, and the links of one author (or of an approver) refused for another. The clock is pinned
(`example_clock`): the skeleton's dates follow it, so the tests pass on any day."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from budbringer import author_drafts, author_links, cli, message_form, settings
from budbringer import plan as plan_
from budbringer.approval_links import LinkSigner
from budbringer.clock import default_clock
from budbringer.errors import InputError
from budbringer.ledger import ApprovalRequest
from tests.author_server import Pages
from tests.author_texts import GROUPS, REST
from tests.conftest import write_plan
from tests.servers.ports import free_port

pytestmark = pytest.mark.usefixtures("example_clock")
SECRET = "a-test-secret-for-the-author-links-0123456789"
AUTHORS = [{"name": "Anne Holm", "email": "anne.holm@socialomraadet.example"},
           {"name": "Bo Berg", "email": "bo.berg@socialomraadet.example"}]


@pytest.fixture
def site(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pages]:
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", SECRET)
    port = free_port()
    monkeypatch.setenv("BUDBRINGER_WEB_URL", f"http://127.0.0.1:{port}")
    plan = write_plan(workdir, {"authors": AUTHORS})
    (workdir / "messages").mkdir()
    pages = Pages(plan, workdir / "messages", port).start()
    yield pages
    pages.stop()


def link(pages: Pages, name: str = "Anne Holm") -> str:
    plan = plan_.load(pages.plan)
    author = plan.author(name)
    assert author is not None
    return author_links.AuthorSigner(SECRET).url(plan, author, default_clock())


def new_message(pages: Pages, url: str) -> tuple[str, str]:
    """"Nyt budskab": the message page's URL and the form's base hash."""
    answer = requests.post(f"{url}/nyt", timeout=30)
    assert answer.status_code == 200 and "/budskab/" in answer.url, answer.text[:500]
    base = re.search(r'name="base" value="([0-9a-f]{64})"', answer.text)
    assert base, answer.text[:500]
    return answer.url.split("?")[0], base.group(1)


def test_authors_in_the_plan_are_validated_and_link_prints_a_personal_link(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", SECRET)
    twice = write_plan(workdir, {"authors": [AUTHORS[0], {**AUTHORS[0], "email": "other@socialomraadet.example"}]},
                       "twice.yaml")
    with pytest.raises(InputError) as raised:
        plan_.load(twice)
    assert "authors[1].name" in str(raised.value) and "named twice" in str(raised.value)
    bad = write_plan(workdir, {"authors": [{"name": "Anne Holm", "email": "not-an-address"}]}, "bad.yaml")
    with pytest.raises(InputError) as raised:
        plan_.load(bad)
    assert "authors" in str(raised.value) and "email" in str(raised.value)
    good = write_plan(workdir, {"authors": AUTHORS})
    assert cli.main(["--plan", str(good), "link", "--author", "bo berg"]) == 0
    printed = capsys.readouterr().out.strip()
    token = printed.rsplit("/skriv/", 1)[1]
    claim = author_links.AuthorSigner(SECRET).claim(token, default_clock())
    assert claim.author == "Bo Berg" and claim.expires - default_clock() > dt.timedelta(days=59)
    assert cli.main(["--plan", str(good), "link", "--author", "Nobody"]) != 0
    assert "names no author 'Nobody'" in capsys.readouterr().err


def test_new_message_save_in_place_and_a_stale_save_is_refused_showing_both_versions(site: Pages) -> None:
    url = link(site)
    listing = requests.get(url, timeout=30)
    assert listing.status_code == 200 and "Nyt budskab" in listing.text
    assert "script-src 'self'" in listing.headers["Content-Security-Policy"]
    page, base = new_message(site, url)
    path = next((site.messages).glob("*.md"))
    before = path.read_text(encoding="utf-8")
    assert "Feltet er tomt" in requests.get(page, timeout=30).text
    saved = requests.post(page, data={"base": base, "groups.citizens.text": GROUPS["groups.citizens.text"],
                                      "title": REST["title"]}, timeout=30)
    assert saved.status_code == 200 and "Budskabet er gemt." in saved.text
    after = path.read_text(encoding="utf-8")
    assert after != before and message_form.values(after)["groups.citizens.text"] == GROUPS["groups.citizens.text"]
    assert "    text: |-  # Hvilken forskel gør det for dig?" in after  # a block scalar, the prompt kept
    assert after.count("\n") > before.count("\n") and after.startswith(before[:before.index("title:")])
    # Someone else edits the file on disk; a save from the form opened before is refused, with both versions.
    path.write_text(after.replace(REST["title"], "Titlen fra en anden"), encoding="utf-8")
    stale = requests.post(page, data={"base": base, "title": "Min titel"}, timeout=30)
    assert stale.status_code == 409
    assert "er ikke overskrevet" in stale.text and "Titlen fra en anden" in stale.text and "Min titel" in stale.text
    assert 'id="filen-nu"' in stale.text and 'id="dine-aendringer"' in stale.text
    assert "Titlen fra en anden" in path.read_text(encoding="utf-8")
    assert author_drafts.load(path.stem) is not None  # the refused values are kept as a draft
    again = requests.post(f"{url}/nyt", timeout=30)
    assert "findes allerede" in again.text and path.read_text(encoding="utf-8").count("Titlen fra en anden") == 1


def test_a_draft_survives_the_server_being_stopped_mid_edit(site: Pages) -> None:
    url = link(site)
    page, base = new_message(site, url)
    typed = "Vi vil samle vores notater om din hjælp ét sted.\n\nDu skal ikke gøre noget."
    kept = requests.post(f"{page}/kladde", data={"base": base, "groups.citizens.text": typed}, timeout=30)
    assert kept.status_code == 200 and kept.json()["saved"].startswith("Kladde gemt")
    assert "groups.citizens.text" in kept.json()["beside"]
    site.stop()  # mid-edit: nothing was saved to the file
    site.start()
    reopened = requests.get(page, timeout=30).text
    assert "Der er en kladde" in reopened and "Fortsæt med kladden" in reopened
    draft = requests.get(f"{page}?kladde=1", timeout=30).text
    assert "Du skal ikke gøre noget." in draft
    path = next(site.messages.glob("*.md"))
    assert "Du skal ikke gøre noget." not in path.read_text(encoding="utf-8")


def test_one_authors_link_is_refused_for_another_and_as_an_approval_link(site: Pages, workdir: Path) -> None:
    url = link(site, "Bo Berg")
    assert requests.get(url, timeout=30).status_code == 200
    # Bo's link no longer works once Bo is no longer an author, even while Anne's does.
    write_plan(workdir, {"authors": AUTHORS[:1]})
    assert requests.get(url, timeout=30).status_code == 403
    assert requests.get(link(site), timeout=30).status_code == 200
    # A token whose author is changed is no longer signed: Anne cannot make herself Bo.
    header, rest = link(site).rsplit("/", 1)[1].split(".", 1)
    forged = header.replace(header[:8], "eyJhIjoi")[:-4] + "Qm8i"  # any change to the signed part
    assert requests.get(f"{site.base}/skriv/{forged}.{rest}", timeout=30).status_code == 403
    # An author's link is no approval link, and an approval link opens no author's page.
    token = link(site).rsplit("/", 1)[1]
    assert requests.get(f"{site.base}/godkend/{token}", timeout=30).status_code == 403
    plan = plan_.load(site.plan)
    request = ApprovalRequest(1, "2026-11-status", "0" * 64, "t", default_clock(), None, None, None, "open", None,
                              "", None)
    approval = LinkSigner(SECRET).token(plan, request, plan.approval.members[0])
    assert requests.get(f"{site.base}/skriv/{approval}", timeout=30).status_code == 403
    posted = requests.post(f"{site.base}/skriv/{approval}/nyt", timeout=30)
    assert posted.status_code == 403 and not list(site.messages.glob("*.md"))


def test_a_post_over_the_body_limit_and_one_from_another_site_are_refused(site: Pages) -> None:
    url = link(site)
    page, base = new_message(site, url)
    path = next(site.messages.glob("*.md"))
    before = path.read_text(encoding="utf-8")
    huge = {"base": base, "groups.citizens.text": "ø" * (200 * 1024)}
    refused = requests.post(page, data=huge, timeout=30)
    assert refused.status_code == 413
    assert requests.post(f"{page}/kladde", data=huge, timeout=30).status_code == 413
    foreign = requests.post(page, data={"base": base, "title": "Fra en anden side"}, timeout=30,
                            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code == 403
    assert path.read_text(encoding="utf-8") == before and author_drafts.load(path.stem) is None
    # The approvers' pages keep their own, smaller limit.
    assert requests.post(f"{site.base}/godkend/x", data={"c": "x" * (17 * 1024)}, timeout=30).status_code == 413


def test_the_page_shows_the_request_each_members_decision_and_each_forums_receipt(site: Pages) -> None:
    from budbringer import approval_request, cascade
    from budbringer.approval_request import Decision
    from budbringer.delivery import Receipt
    from budbringer.ledger import Ledger

    url = link(site)
    page, base = new_message(site, url)
    saved = requests.post(page, data={"base": base, **GROUPS, **REST}, timeout=60)
    assert saved.status_code == 200 and "Budskabet er gemt." in saved.text
    assert 'id="send-button" disabled' not in saved.text and "Der er ingen fejl" in saved.text
    path = next(site.messages.glob("*.md"))
    prepared = cascade.prepare(site.plan, path)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    approval_request.decide(prepared, ledger, request, Decision("approve", "Jens Kragh", ""), source="link")
    waiting = requests.get(page, timeout=30).text
    assert "Venter på godkendelse" in waiting and "Jens Kragh: Godkendt via personligt link" in waiting
    assert "Mangler svar fra:" in waiting and "Sofie Dahl" in waiting
    # Sent again while a request is open: refused, nothing started.
    again = requests.post(f"{page}/send", timeout=30)
    assert again.status_code == 409 and "allerede sendt til godkendelse" in again.text
    approval_request.decide(prepared, ledger, request, Decision("approve", "Sofie Dahl", ""), source="link")
    approval = cascade.record_approval(prepared, ledger, "Jens Kragh, Sofie Dahl", f"request {request.id}")
    for delivery in cascade.deliveries(prepared, approval):
        record, _ = ledger.claim(delivery)
        ledger.delivered(record.key, Receipt("outbox", f"id-{delivery.variant.forum}",
                                             f"https://intranet.example/{delivery.variant.forum}"))
    delivered = requests.get(page, timeout=30).text
    assert "Tilstand: <strong>Leveret</strong>" in delivered and "Kvitteringer" in delivered
    for variant in prepared.variants:
        assert f"https://intranet.example/{variant.forum}" in delivered
    listing = requests.get(url, timeout=30).text
    assert f">{path.stem}</a></td>" in listing and "Leveret" in listing


def test_author_url_gives_the_message_page_to_an_author_and_the_way_in_to_anyone_else(site: Pages) -> None:
    url = link(site)
    page, _ = new_message(site, url)
    message_id = page.rsplit("/", 1)[1]
    plan = plan_.load(site.plan)
    signer = author_links.AuthorSigner(SECRET)
    personal = author_links.author_url(plan, message_id, default_clock(), "ANNE.HOLM@socialomraadet.example", signer)
    assert personal.endswith(f"/budskab/{message_id}") and personal.startswith(f"{site.base}/skriv/")
    assert requests.get(personal, timeout=30).status_code == 200
    anyone = author_links.author_url(plan, message_id, default_clock(), "someone@socialomraadet.example", signer)
    assert anyone == f"{site.base}/skriv"
    way_in = requests.get(anyone, timeout=30)
    assert way_in.status_code == 200 and "budbringer link --author" in way_in.text


def test_send_for_approval_runs_the_manual_deployment_when_the_server_has_it(
        prefect_api: None, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """flows/web.start_send: with a Prefect server that has `budbringer-send/manual`, a run of it, with the
    message as its parameter (a worker, or `budbringer serve`, runs it). Without one, `budbringer send` (the
    browser test)."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Cancelled

    from budbringer.flows import serve as serve_
    from budbringer.flows import web as web_

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    message = Path("messages") / "2026-11-status.md"
    assert web_._run_deployment(message) is None  # no deployment yet: the command is used instead
    manual = next(d for d in serve_.deployments() if d.name == "manual")
    manual.apply()
    said = web_.start_send(settings.Settings.read(workdir / "plan.yaml"))(message)
    assert said.startswith("Udsendelsen er startet (kørslen ") and "Styregruppen får nu en mail" in said
    name = said.split("kørslen ", 1)[1].split(")")[0]
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.name == name]
        assert len(runs) == 1 and runs[0].parameters["message"] == str(message)
        assert runs[0].deployment_id is not None  # a deployment's run
        deployment = client.read_deployment(runs[0].deployment_id)
        assert deployment.name == "manual"
        client.set_flow_run_state(runs[0].id, Cancelled(), force=True)  # nothing runs it here
        client.delete_deployment(deployment.id)


def test_a_file_broken_by_hand_is_shown_as_it_is_and_never_written(site: Pages) -> None:
    url = link(site)
    page, base = new_message(site, url)
    path = next(site.messages.glob("*.md"))
    broken = path.read_text(encoding="utf-8").replace("groups:\n", "groups:\n  citizens: [unclosed\n", 1)
    path.write_text(broken, encoding="utf-8")
    shown = requests.get(page, timeout=30)
    assert shown.status_code == 422 and "kan ikke vises som formular" in shown.text and "[unclosed" in shown.text
    assert requests.post(page, data={"base": base, "title": "X"}, timeout=30).status_code == 422
    assert requests.post(f"{page}/kladde", data={"base": base, "title": "X"}, timeout=30).status_code == 422
    assert path.read_text(encoding="utf-8") == broken


def test_values_written_back_in_place_keep_order_comments_and_untouched_styles(workdir: Path) -> None:
    import yaml

    from tests.conftest import MESSAGE

    shipped = MESSAGE.read_text(encoding="utf-8")
    assert message_form.apply(shipped, message_form.values(shipped)) == shipped  # nothing changed: same bytes
    changed = message_form.apply(shipped, {"title": "Status: kravene", "next_status": "2027-02-11",
                                           "groups.citizens.lead": "Linje et.\n\nLinje to.", "link": ""})
    front = changed.split("---\n")[1]
    data = yaml.safe_load(front)
    assert data["title"] == "Status: kravene" and data["next_status"] == dt.date(2027, 2, 11)
    assert data["groups"]["citizens"]["lead"] == "Linje et.\n\nLinje to." and "link" not in data
    assert "    lead: |-\n      Linje et.\n\n      Linje to.\n" in front
    assert [line for line in shipped.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in changed.splitlines() if line.lstrip().startswith("#")]  # every comment kept
    assert "summary: >-\n" in changed  # an untouched folded value keeps its style
    assert list(data) == [k for k in yaml.safe_load(shipped.split("---\n")[1]) if k != "link"]  # the order
