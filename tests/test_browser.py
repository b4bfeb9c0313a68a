"""The steering group approves in a real browser: Debian's Chromium (headless, through chromium-driver and
Selenium) against `budbringer web` served by a real uvicorn, while a real send run (Prefect test server)
waits for the decision.

A message is sent without approval; the run mails each member a personal link (the local outbox) and pauses.
Two members open their links, read every variant and approve; the run resumes and delivers all 12 variants
exactly once. Expired, tampered, other-member and replayed links are refused and change nothing. No page
logs a console error. Screenshots go to $BUDBRINGER_TEST_ARTIFACTS/browser (default test-artifacts/browser).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import email
import email.policy
import html
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest

from budbringer import cascade, checks
from budbringer.ledger import Ledger
from budbringer.plan import Member
from budbringer.approval_links import LinkSigner
from tests.conftest import MESSAGE, PLAN, ROOT
from tests.servers.ports import free_port
from tests.servers.waiting import wait_until

MESSAGE_ID = "2026-11-status-udbud"
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("BUDBRINGER_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1800"]

#: the elements that stick out to the right of the window (a page that works on a phone has none)
OVERFLOWING = """const width = document.documentElement.clientWidth;
return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px of ${width}px`);"""

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and DRIVER.exists()) and not os.environ.get("CI"),
        reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"),
    # the example's approval request is open and its links work at its request day (tests/conftest.py)
    pytest.mark.usefixtures("example_clock"),
]


def wait_for(condition: Callable[[], object], timeout: float = 90, what: str = "condition") -> object:
    return wait_until(condition, timeout, what, interval=0.3)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # never a downloaded browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)  # a stuck load fails a step (and is asked again), not the run
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def web(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`budbringer web` on a free local port, with the resume that flows/ provides."""
    from prefect.settings import PREFECT_API_URL

    from budbringer.flows import web as web_

    if PREFECT_API_URL.value():
        monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # the test server, as a shell has it
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("BUDBRINGER_WEB_URL", base)
    server = web_.server(PLAN, workdir / "messages", "127.0.0.1", port)
    thread = threading.Thread(target=contextvars.copy_context().run, args=(server.run,), daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, "uvicorn")
    yield base
    server.should_exit = True
    thread.join(10)


def request_link(workdir: Path, member: str) -> str:
    """The personal link in a member's request mail, as the outbox keeps it (an .eml file)."""
    slug = member.lower().replace(" ", "-")
    mail = email.message_from_bytes((workdir / "outbox" / MESSAGE_ID / "00-approval" /
                                     f"approval-request-{slug}.eml").read_bytes(), policy=email.policy.default)
    body = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert mail["To"].endswith(".example") and "budbringer approve" not in body
    found = re.findall(r'href="([^"]+/godkend/[^"]+)"', body)
    assert len(found) == 1, found
    return html.unescape(found[0])


def console_errors(driver: object) -> list[str]:
    entries = driver.get_log("browser")  # type: ignore[attr-defined]
    return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


def visible(driver: object) -> str:
    """The text a reader sees; empty while the browser is between two pages."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        return " ".join(driver.find_element(By.TAG_NAME, "body").text.split())  # type: ignore[attr-defined]
    except WebDriverException:  # no body yet, a stale one, or a page load that outlasted its timeout: ask again
        return ""


def shot(driver: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def test_two_members_approve_in_chromium_and_the_waiting_run_delivers_all_twelve_once(
        prefect_api: None, workdir: Path, web: str, browser: object) -> None:
    from prefect import get_client
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from budbringer.flows.send import send_flow

    (workdir / "messages").mkdir()
    message = workdir / "messages" / MESSAGE.name
    shutil.copy(MESSAGE, message)
    prepared = cascade.prepare(PLAN, message)
    driver = browser
    failures: list[BaseException] = []
    seen: dict[str, object] = {}

    def run_state(run_id: str) -> object:
        with get_client(sync_client=True) as client:
            return client.read_flow_run(UUID(run_id))

    def approve(member: str, name: str) -> None:
        driver.get(request_link(workdir, member))  # type: ignore[attr-defined]
        text = visible(driver)
        assert f"Hej {member}" in text and "Godkend" in text and "Afvis" in text
        for variant in prepared.variants:  # every variant's title and text, as it will appear
            assert variant.forum_title in text, variant.forum
            words = " ".join(checks.plain_text(variant).split())
            assert words[:60] in text, (variant.forum, words[:60])
        assert not console_errors(driver), console_errors(driver)
        shot(driver, f"{name}-page")
        driver.set_window_size(390, 844)  # a phone: nothing runs off the side  # type: ignore[attr-defined]
        wide = driver.execute_script(OVERFLOWING)  # type: ignore[attr-defined]
        assert wide == [], (member, wide)
        driver.execute_script("document.getElementById('beslutning').scrollIntoView()")  # type: ignore[attr-defined]
        shot(driver, f"{name}-phone")
        driver.set_window_size(1280, 1800)  # type: ignore[attr-defined]
        button = driver.find_element(By.CSS_SELECTOR, "button.approve")  # type: ignore[attr-defined]
        button.send_keys(Keys.ENTER)  # the keyboard, not the mouse: it must work without one
        wait_for(lambda: "Tak, " in visible(driver), 120, f"{member}'s receipt")
        assert not console_errors(driver), console_errors(driver)
        shot(driver, f"{name}-done")

    def approvers() -> None:
        try:
            request = wait_for(lambda: (r := Ledger().request(MESSAGE_ID)) and r.flow_run_id and r, 120,
                               "the run to ask for approval")
            run_id = request.flow_run_id  # type: ignore[union-attr]
            paused = wait_for(lambda: (s := run_state(run_id).state) and s.is_paused() and s, 120, "the pause")
            flow_run = run_state(run_id)
            seen["name"] = flow_run.name  # type: ignore[attr-defined]
            # The run's form in the Prefect UI: a Danish description linking to the page, members to pick from.
            from prefect.input.actions import read_flow_run_input
            from prefect.input.run_input import keyset_from_paused_state

            keyset = keyset_from_paused_state(paused)  # type: ignore[arg-type]
            description = read_flow_run_input(keyset["description"], flow_run_id=UUID(run_id))
            assert f"**Til godkendelse: {prepared.message.title}**" in description
            assert re.search(r"\[Se alle udgaver, som de bliver sendt\]\(http://127\.0\.0\.1:\d+/vis/", description)
            schema = read_flow_run_input(keyset["schema"], flow_run_id=UUID(run_id))
            assert "Jens Kragh" in str(schema) and "Hans Hansen" not in str(schema)
            approve("Jens Kragh", "1-jens")
            assert "Din godkendelse er registreret" in visible(driver)
            # The run resumes (a new state after the pause), records the decision and waits for the next.
            wait_for(lambda: run_state(run_id).state.id != paused.id,  # type: ignore[union-attr]
                     60, "the run to resume")
            seen["resumed"] = True
            # Sofie opens her link twice (two tabs): the second submit after her decision is a replay.
            driver.get(request_link(workdir, "Sofie Dahl"))  # type: ignore[attr-defined]
            first_tab = driver.current_window_handle  # type: ignore[attr-defined]
            driver.switch_to.new_window("tab")  # type: ignore[attr-defined]
            approve("Sofie Dahl", "2-sofie")
            assert "Budskabet er nu godkendt" in visible(driver)
            driver.switch_to.window(first_tab)  # type: ignore[attr-defined]
            driver.find_element(By.CSS_SELECTOR, "button.approve").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
            wait_for(lambda: "Du har allerede svaret" in visible(driver), 60, "the replay refused")
            shot(driver, "3-replayed")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
            stop_waiting()

    def stop_waiting() -> None:
        """After a failure: end the waiting run with a rejection, so the test reports instead of waiting."""
        from budbringer.approval_request import Decision
        from budbringer.flows.approval import resume_waiting_run

        request = Ledger().request(MESSAGE_ID)
        if request is not None and request.flow_run_id:
            resume_waiting_run(request.flow_run_id, Decision("reject", "Lars Bech", "the browser test failed"), 5)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(approvers,), daemon=True)
    thread.start()
    # wait_hours: 9 minutes, ample on a loaded 2-core machine
    outcomes = send_flow(message=str(message), plan=str(PLAN), wait_hours=0.15)
    thread.join(60)
    assert not failures, failures
    assert seen == {"name": f"godkendelse-{MESSAGE_ID}", "resumed": True}

    # All 12 delivered, each exactly once.
    assert len(outcomes) == 12 and {o.state for o in outcomes} == {"delivered"}
    records = [r for r in Ledger().records(MESSAGE_ID)]
    assert len(records) == 12 and {r.state for r in records} == {"delivered"} and {r.attempts for r in records} == {1}
    files = [p for p in (workdir / "outbox" / MESSAGE_ID).rglob("*") if p.is_file() and "00-approval" not in p.parts]
    assert len(files) == 12
    votes = Ledger().votes(Ledger().request(MESSAGE_ID).id)  # type: ignore[union-attr]
    assert [(v.voter, v.decision, v.source) for v in votes] == [("Jens Kragh", "approve", "link"),
                                                                ("Sofie Dahl", "approve", "link")]
    approval = Ledger().approvals_for(MESSAGE_ID)[-1]
    assert approval.approved_by == "Jens Kragh, Sofie Dahl" and approval.hash == prepared.approval_hash


def test_expired_tampered_other_member_and_replayed_links_are_refused_in_chromium(
        workdir: Path, web: str, browser: object) -> None:
    """Without a run: a request opened and mailed as the run would, then links that must not work."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from budbringer import approval_request

    (workdir / "messages").mkdir()
    message = workdir / "messages" / MESSAGE.name
    shutil.copy(MESSAGE, message)
    prepared = cascade.prepare(PLAN, message)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
    plan, driver = prepared.plan, browser
    lars = request_link(workdir, "Lars Bech")
    past = dataclasses.replace(request, deadline=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), meeting=None)
    cases = {
        "expired": (LinkSigner().url(plan, past, plan.approval.member("Lars Bech")), "Linket er udløbet"),
        "tampered": (lars[:-4] + ("AAAA" if not lars.endswith("AAAA") else "BBBB"), "Linket er ikke gyldigt"),
        "other-member": (LinkSigner().url(plan, request, Member(name="Hanne Holm", email="hanne@holm.example")),
                         "Linket er ikke til dig"),
    }
    for name, (url, heading) in cases.items():
        driver.get(url)  # type: ignore[attr-defined]
        assert driver.find_element(By.TAG_NAME, "h1").text == heading, name  # type: ignore[attr-defined]
        assert not driver.find_elements(By.TAG_NAME, "form"), name  # type: ignore[attr-defined]
        errors = [e for e in console_errors(driver) if not re.search(r"status of 4\d\d", e)]
        assert not errors, errors
        shot(driver, f"refused-{name}")
    # Replayed: Lars decides, then uses his link again (the page offers nothing; a resubmitted form is refused).
    driver.get(lars)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button.approve").send_keys(Keys.ENTER)  # type: ignore[attr-defined]
    wait_for(lambda: "Tak, Lars Bech" in visible(driver), 60, "Lars's receipt")
    driver.get(lars)  # type: ignore[attr-defined]
    assert "Du har allerede godkendt budskabet" in visible(driver)
    assert not driver.find_elements(By.TAG_NAME, "form")  # type: ignore[attr-defined]
    shot(driver, "refused-replayed")
    posted = urllib.request.Request(lars, data=b"beslutning=afvis&medlem=Lars+Bech&bemaerkning=igen", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(posted, timeout=30)
    assert refused.value.code == 409 and "Du har allerede svaret" in refused.value.read().decode()
    votes = Ledger().votes(request.id)
    assert [(v.voter, v.decision) for v in votes] == [("Lars Bech", "approve")]
    assert Ledger().request(MESSAGE_ID).state == "open"  # type: ignore[union-attr]
