"""The approvers' page and the preview have headings in order for a screen reader: one h1, and no heading more
than one level below the one before it (a variant's own <h2>s are moved under the heading that names it)."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from budbringer import approval_request, cascade, cli
from budbringer.adapters import memory
from budbringer.ledger import Ledger
from budbringer.web.app import create_app
from tests.conftest import ROOT, memory_plan

pytestmark = pytest.mark.usefixtures("example_clock")

DRAFT = ROOT / "tests" / "drafts" / "2026-12-demodage.md"
NOTES = "\n## Til styregruppen\n\nDemodagene er aftalt med leverandørerne.\n\n### Økonomi\n\nIngen udgifter.\n"


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.levels: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.levels.append(int(tag[1]))


def outline(html: str) -> list[int]:
    parser = Outline()
    parser.feed(html)
    return parser.levels


def skipped(levels: list[int]) -> list[str]:
    """Each place a heading is more than one level below the one before it (or the page starts below h1)."""
    out, previous = [], 0
    for level in levels:
        if level > previous + 1:
            out.append(f"h{previous} → h{level}")
        previous = level
    return out


@pytest.fixture
def draft(workdir: Path) -> Path:
    (workdir / "messages").mkdir()
    path = workdir / "messages" / DRAFT.name
    shutil.copy(DRAFT, path)
    with path.open("a", encoding="utf-8") as file:  # the author's notes to the steering group, with headings
        file.write(NOTES)
    return path


def test_the_approvers_page_has_its_headings_in_order(workdir: Path, draft: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    plan = memory_plan(workdir)
    prepared = cascade.prepare(plan, draft)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
    mail = next(d.variant.body for d in memory.SENT if d.forum.startswith("approval-request"))
    link = re.search(r'href="http://approver\.test(/godkend/[^"]+)"', mail)
    assert link is not None
    page = TestClient(create_app(plan, workdir / "messages")).get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200

    levels = outline(page.text)
    assert levels.count(1) == 1 and levels[0] == 1
    assert skipped(levels) == []
    # The intranet page's own <h2> "Tidsplan" sits under its variant's <h3>, the notes' under their <h3>.
    assert re.search(r"<h4>Tidsplan</h4>", page.text) and "<h2>Tidsplan</h2>" not in page.text
    assert re.search(r"<h4>Til styregruppen</h4>\s*<p>[^<]*</p>\s*<h5>Økonomi</h5>", page.text)
    # The request mail reads in order too, and the delivered variant keeps its own headings.
    assert skipped([1, *outline(mail)]) == []  # under the subject, the mail's headings start at h2
    intranet = next(v for v in prepared.variants if v.forum == "intranet")
    assert "<h2>Tidsplan</h2>" in intranet.body


def test_every_page_of_the_preview_has_its_headings_in_order(workdir: Path, draft: Path) -> None:
    plan = memory_plan(workdir)
    out = workdir / "preview"
    assert cli.main(["preview", str(draft), "--plan", str(plan), "--out", str(out)]) == 0
    pages = sorted(out.glob("*.html"))
    assert len(pages) >= 4  # the index, the request mail and one page per variant
    for page in pages:
        levels = outline(page.read_text(encoding="utf-8"))
        assert levels and levels[0] == 1 and levels.count(1) == 1, page.name
        assert skipped(levels) == [], f"{page.name}: {skipped(levels)}"
    assert "<h3>Tidsplan</h3>" in next(out.glob("*-intranet.html")).read_text(encoding="utf-8")
