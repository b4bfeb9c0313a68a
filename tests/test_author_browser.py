"""The author's whole path in a real browser (Debian's Chromium, headless, through chromium-driver): open the
personal link, write next month's message from the skeleton, type the four groups' texts, see the finding a rare
word in the citizens' text causes beside that field (shown by the page's script after a short pause), fix it,
save, find the file on disk changed, send it for approval, and find the approval request in the outbox: written
by a real `budbringer send` that the page started (flows/web.py), with Budbringer's clock pinned at the
example's request day."""

from __future__ import annotations

import email
import email.policy
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budbringer import message_form, settings
from budbringer.flows import web as web_
from tests.author_server import Pages
from tests.author_texts import GROUPS, REST
from tests.conftest import EXAMPLE_NOW, pinned_environment, write_plan
from tests.servers.ports import free_port
from tests.test_browser import CHROMIUM, DRIVER, OVERFLOWING, browser, console_errors, shot, visible, wait_for

__all__ = ["browser"]  # the fixture, from the approvers' browser test

SECRET = "a-test-secret-for-the-author-links-0123456789"
RARE = "Nu vil vi samle det i en fælles dokumentationsplatform."
PLAIN = "Nu vil vi samle det ét sted."

pytestmark = [
    pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()) and not os.environ.get("CI"),
                       reason="needs Debian's chromium and chromium-driver"),
    pytest.mark.usefixtures("example_clock"),
]


@pytest.fixture
def site(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", SECRET)
    port = free_port()
    monkeypatch.setenv("BUDBRINGER_WEB_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # no server: `budbringer send` asks and stops
    for key, value in pinned_environment(dict(os.environ), EXAMPLE_NOW.isoformat(), budbringer_only=True).items():
        if key.startswith("BUDBRINGER_TEST_CLOCK") or key == "PYTHONPATH":
            monkeypatch.setenv(key, value)  # the send that the page starts runs on the same day
    plan = write_plan(workdir, {"authors": [{"name": "Anne Holm", "email": "anne.holm@socialomraadet.example"}]})
    (workdir / "messages").mkdir()
    pages = Pages(plan, workdir / "messages", port, start_send=web_.start_send(settings.Settings.read(plan))).start()
    yield pages
    pages.stop()


def test_an_author_writes_next_months_message_and_sends_it_for_approval_in_chromium(
        site: Pages, browser: Any, workdir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from budbringer import author_links
    from budbringer import plan as plan_
    from budbringer.clock import default_clock

    driver = browser
    plan = plan_.load(site.plan)
    driver.get(author_links.AuthorSigner(SECRET).url(plan, plan.authors[0], default_clock()))
    assert "Hej Anne Holm" in visible(driver)
    driver.find_element(By.CSS_SELECTOR, "form[action$='/nyt'] button").send_keys(Keys.ENTER)  # the keyboard
    wait_for(lambda: "Et nyt budskab er skrevet" in visible(driver), 30, "the new message")
    path = next(site.messages.glob("*.md"))
    skeleton_text = path.read_text(encoding="utf-8")
    assert "# Hvilken forskel gør det for dig?" in skeleton_text
    in_order(driver)
    shot(driver, "author-1-new")

    def field(name: str) -> Any:
        return driver.find_element(By.NAME, name)

    # Everything but the four groups' texts, set at once; the groups' texts typed, as an author does.
    driver.execute_script(
        "for (const [k, v] of Object.entries(arguments[0])) { document.getElementsByName(k)[0].value = v; }",
        {k: v for k, v in REST.items()})
    rare = GROUPS["groups.citizens.text"].replace(PLAIN, RARE)
    for name, value in {**GROUPS, "groups.citizens.text": rare}.items():
        box = field(name)
        box.clear()
        box.send_keys(value)
    citizens = "//div[@data-path='groups.citizens.text']"
    wait_for(lambda: "dokumentationsplatform" in driver.find_element(By.XPATH, citizens).text
             and "Kladde gemt" in visible(driver), 60, "the finding beside the citizens' text (the script)")
    beside = driver.find_element(By.XPATH, citizens).text
    assert "ikke et hverdagsord" in beside and "Fejl" in beside, beside
    assert driver.find_element(By.ID, "send-button").get_attribute("disabled")
    shot(driver, "author-2-finding")
    # Fix it and save (with the keyboard).
    box = field("groups.citizens.text")
    box.clear()
    box.send_keys(GROUPS["groups.citizens.text"])
    driver.find_element(By.CSS_SELECTOR, "button.save").send_keys(Keys.ENTER)
    wait_for(lambda: "Budskabet er gemt." in visible(driver), 60, "the save")
    saved = path.read_text(encoding="utf-8")
    values = message_form.values(saved)
    assert saved != skeleton_text and "dokumentationsplatform" not in saved
    assert values["groups.citizens.text"] == GROUPS["groups.citizens.text"]
    assert all(values[k] == v for k, v in GROUPS.items())
    assert "ikke et hverdagsord" not in driver.find_element(By.XPATH, citizens).text
    assert not console_errors(driver), console_errors(driver)
    in_order(driver)  # with every variant rendered beside its fields
    driver.set_window_size(390, 844)  # a phone: nothing runs off the side
    assert driver.execute_script(OVERFLOWING) == []
    driver.set_window_size(1280, 1800)
    # Send for approval: the page starts `budbringer send`, which mails the steering group.
    button = driver.find_element(By.ID, "send-button")
    assert not button.get_attribute("disabled")
    button.send_keys(Keys.ENTER)
    wait_for(lambda: "Udsendelsen er startet" in visible(driver), 60, "the send to start")
    started = re.search(r"proces (\d+)", visible(driver))
    assert started, visible(driver)
    pid = int(started.group(1))
    outbox = workdir / "outbox" / path.stem / "00-approval"
    try:
        wait_for(lambda: len(list(outbox.glob("approval-request-*.eml"))) == len(plan.approval.members), 240,
                 "the approval requests in the outbox")
    finally:
        wait_for(lambda: _ended(pid), 120, "the send to end")
    mail = email.message_from_bytes(next(outbox.glob("approval-request-*.eml")).read_bytes(),
                                    policy=email.policy.default)
    assert mail["Subject"] == f"Til godkendelse: {REST['title']}", mail["Subject"]
    driver.get(driver.current_url.split("?")[0])
    assert "Venter på godkendelse" in visible(driver) and "Venter på svar" in visible(driver)
    shot(driver, "author-3-sent")
    assert not console_errors(driver), console_errors(driver)


def in_order(driver: Any) -> None:
    """Headings run in order for a screen reader: one h1, and no level skipped on the way down."""
    headings = driver.execute_script(
        "return [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => Number(h.tagName[1]))")
    assert headings[0] == 1 and headings.count(1) == 1, headings
    assert all(b - a <= 1 for a, b in zip(headings, headings[1:])), headings


def _ended(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        return finished == pid
    except ChildProcessError:
        return True
    finally:
        time.sleep(0.2)
