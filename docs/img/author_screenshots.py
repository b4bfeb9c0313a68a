"""Take the screenshots of the author's page for docs/skriv-et-budskab.md with headless Chromium (Debian's).

    python docs/img/author_screenshots.py

Runs in a temporary folder with the shipped plan plus one author, the clock pinned at the example's request
day (24 November 2026), and writes docs/img/forfatter-*.png. Nothing is sent (the page gets no way to start a
send here)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "img"
SECRET = "screenshots-only-secret-0123456789abcdef"


def main() -> None:
    import time_machine
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from tests.author_server import Pages, free_port
    from tests.author_texts import GROUPS, REST
    from tests.conftest import write_plan

    folder = Path(tempfile.mkdtemp(prefix="budbringer-shots-"))
    os.chdir(folder)
    port = free_port()
    os.environ.update(BUDBRINGER_HOME=str(folder / ".budbringer"), BUDBRINGER_WEB_SECRET=SECRET,
                      BUDBRINGER_WEB_URL=f"http://127.0.0.1:{port}")
    plan_file = write_plan(folder, {"authors": [{"name": "Anne Holm", "email": "anne.holm@socialomraadet.example"}]})
    (folder / "messages").mkdir()
    with time_machine.travel(dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen")), tick=True):
        from budbringer import author_links
        from budbringer import plan as plan_
        from budbringer.clock import default_clock

        pages = Pages(plan_file, folder / "messages", port).start()
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
        try:
            plan = plan_.load(plan_file)
            driver.get(author_links.AuthorSigner(SECRET).url(plan, plan.authors[0], default_clock()))
            driver.save_screenshot(str(OUT / "forfatter-1-liste.png"))
            driver.find_element(By.CSS_SELECTOR, "form[action$='/nyt'] button").click()
            time.sleep(1)
            values = {**REST, **GROUPS, "groups.citizens.text": GROUPS["groups.citizens.text"].replace(
                "Nu vil vi samle det ét sted.", "Nu vil vi samle det i en fælles dokumentationsplatform.")}
            driver.execute_script(
                "for (const [k, v] of Object.entries(arguments[0])) { document.getElementsByName(k)[0].value = v; }",
                values)
            driver.find_element(By.CSS_SELECTOR, "button.save").click()
            time.sleep(2)
            box = driver.find_element(By.XPATH, "//div[@data-path='groups.citizens.text']")
            driver.execute_script("arguments[0].open = true", box.find_element(By.TAG_NAME, "details"))
            driver.execute_script("arguments[0].scrollIntoView()", box.find_element(By.XPATH, ".."))
            driver.execute_script("window.scrollBy(0, -60)")
            driver.save_screenshot(str(OUT / "forfatter-2-felt-og-fund.png"))
            box = driver.find_element(By.NAME, "groups.citizens.text")  # fixed, and saved: no error left
            box.clear()
            box.send_keys(GROUPS["groups.citizens.text"])
            driver.find_element(By.CSS_SELECTOR, "button.save").click()
            time.sleep(2)
            driver.execute_script("document.getElementById('send-form').scrollIntoView()")
            driver.save_screenshot(str(OUT / "forfatter-3-send.png"))
        finally:
            driver.quit()
            pages.stop()
    print("written:", ", ".join(sorted(p.name for p in OUT.glob("forfatter-*.png"))))


if __name__ == "__main__":
    main()
