"""The reach page (`/raekkevidde/…`): a signed link, SVG charts drawn on the server with one line per forum, this
month against the months before, the table in Danish, and no script."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from budbringer import reach_chart
from budbringer.delivery import Receipt
from budbringer.ledger import Ledger
from budbringer.reach import Reach, ReachReading
from budbringer.render import Variant
from budbringer.settings import Settings
from budbringer.web.app import create_app
from budbringer.web.reach import ReachSigner, links
from tests.reach_support import record_delivered, sent_variant
from tests.conftest import memory_plan

SECRET = "reach-page-secret-for-tests-only"
THIS = "2027-06-status"
LAST = "2027-05-status"


def variant(forum: str, message: str) -> Variant:
    return sent_variant(forum, "c", f"Status {message}", f"Status ({message}, {forum}).", summary="Status.")


def delivered(ledger: Ledger, message: str, fora: dict[str, str]) -> None:
    record_delivered(ledger, message, {(f, c): Receipt(c, f"{message}-{f}") for f, c in fora.items()},
                     lambda forum, _channel: variant(forum, message))


def reading(message: str, forum: str, channel: str, point: int, at: dt.datetime, read: ReachReading) -> Reach:
    return Reach(key=f"{message}/x/{forum}/{channel}", message_id=message, forum=forum, channel=channel,
                 point=point, read_at=at + dt.timedelta(days=point), delivered_at=at, reading=read)


@pytest.fixture
def site(workdir: Path, example_clock: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, Ledger]:
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    plan = memory_plan(workdir)
    ledger = Ledger(Settings.read(str(plan)).ledger_url())
    fora = {"linkedin": "linkedin", "intranet": "intranet", "oc": "mail"}
    delivered(ledger, THIS, fora)
    may = example_clock.astimezone(dt.UTC) - dt.timedelta(days=31)
    june = example_clock.astimezone(dt.UTC)
    for at, message, scale in ((may, LAST, 1), (june, THIS, 2)):
        for point, factor in ((1, 1), (7, 3)):
            ledger.add_reach(reading(message, "linkedin", "linkedin", point, at,
                                     ReachReading.measured({"impressions": 100 * scale * factor, "clicks": 4})))
            ledger.add_reach(reading(message, "intranet", "intranet", point, at,
                                     ReachReading.measured({"views": 40 * scale * factor, "unique_viewers": 30})))
            ledger.add_reach(reading(message, "oc", "mail", point, at, ReachReading.not_measured("outbox")))
    return TestClient(create_app(plan, workdir / "messages", secret=SECRET)), ledger


def test_the_page_draws_one_line_per_forum_with_figures_and_no_script(site: tuple[TestClient, Ledger]) -> None:
    client, ledger = site
    answer = client.get(ReachSigner(SECRET).path(THIS))
    assert answer.status_code == 200
    page = answer.text
    assert "<script" not in page and "script-src" not in answer.headers["Content-Security-Policy"]
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 2
    over_days, over_months = charts
    assert len(re.findall(r'<polyline class="forum"', over_days)) == 2  # linkedin and intranet; oc is not measured
    assert len(re.findall(r'<polyline class="forum"', over_months)) == 2
    assert "dag 1" in over_days and "dag 7" in over_days
    assert "Måles ikke" in page and "+400 visninger" in page  # linkedin: 600 at day 7, 200 at day 1
    assert "+300 visninger" in page and LAST in page  # against May's message at day 7: 600 − 300
    assert len(ledger.reach(THIS)) == 6


def test_the_link_is_signed_and_offered_once_delivered(site: tuple[TestClient, Ledger]) -> None:
    client, ledger = site
    assert client.get("/raekkevidde/" + ReachSigner(SECRET).token(THIS) + "x").status_code == 403
    assert client.get(ReachSigner("another-secret").path(THIS)).status_code == 403
    assert client.get(ReachSigner(SECRET).path("2027-07-status")).status_code == 404
    signer = ReachSigner(SECRET)
    assert links(signer, ledger, THIS) == {"Se hvor mange budskabet har nået": signer.path(THIS)}
    assert links(signer, ledger, "2027-07-status") == {}


def test_the_chart_escapes_labels_and_draws_a_line_per_forum() -> None:
    at = dt.datetime(2027, 6, 2, 8, 0, tzinfo=dt.UTC)
    readings = [reading(THIS, f"forum{n}", "c", p, at, ReachReading.measured({"views": n * p})) for n in (1, 2, 3)
                for p in (1, 7, 30)]
    svg = reach_chart.over_days(readings, {"forum1": "<OC & HMU>"})
    assert svg.count('<polyline class="forum"') == 3
    assert "&lt;OC &amp; HMU&gt;" in svg and "<OC" not in svg


def test_the_authors_message_page_links_to_the_reach_page(site: tuple[TestClient, Ledger], workdir: Path,
                                                          example_clock: dt.datetime) -> None:
    import shutil

    from budbringer import author_links
    from budbringer import plan as plan_
    from tests.conftest import MESSAGE

    client, _ = site
    (workdir / "messages").mkdir(exist_ok=True)
    shutil.copy(MESSAGE, workdir / "messages" / f"{THIS}.md")
    import yaml

    written = yaml.safe_load((workdir / "memory-plan.yaml").read_text(encoding="utf-8"))
    written["authors"] = [{"name": "Sofie Dahl", "email": "sofie.dahl@socialomraadet.example"}]
    (workdir / "memory-plan.yaml").write_text(yaml.safe_dump(written, allow_unicode=True), encoding="utf-8")
    shown = plan_.load(workdir / "memory-plan.yaml")
    url = author_links.AuthorSigner(SECRET).url(shown, shown.authors[0], example_clock, message_id=THIS)
    page = client.get("/" + url.split("://", 1)[1].split("/", 1)[1]).text
    assert f'href="{ReachSigner(SECRET).path(THIS)}"' in page and "Se hvor mange budskabet har nået" in page
