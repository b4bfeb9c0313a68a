"""After the README's main job on the Microsoft 365 plan (config/plan.m365.yaml, against the Graph stand-in),
`budbringer reach --collect` shows figures for every forum that has them and says "not measured" for the others;
a second collection adds a point without duplicating one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from budbringer import cli
from budbringer import plan as plan_
from budbringer.adapters import graph
from budbringer.ledger import Ledger
from tests.servers.graph import M365, m365
from tests.test_m365_send import M365_PLAN, MESSAGE_ID, fast_plan, send


@pytest.fixture
def microsoft365(ca: trustme.CA, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    plan = plan_.load(M365_PLAN)
    sites = tuple(site for forum in plan.fora.values() if forum.channel == "m365_intranet"
                  for site in forum.address.page_sites())
    with m365(ca, sites=sites) as tenant:
        for name, value in tenant.env().items():
            monkeypatch.setenv(name, value)
        yield tenant


def rows(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines()[3:] if line.strip() and not line.startswith("-")}


def test_reach_after_the_main_job_on_microsoft_365(
        prefect_api: None, microsoft365: M365, message_copy: Path, workdir: Path, example_clock: dt.datetime,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from budbringer import clock

    plan = fast_plan(workdir)
    outcomes = send(message_copy, plan)
    assert {o.state for o in outcomes} == {"delivered"}
    for site in microsoft365.graph.sites.values():
        for n, page_id in enumerate(site.pages, start=1):
            microsoft365.graph.page_views[page_id] = (10 * n + 5, 4 * n + 1)
    capsys.readouterr()

    day_one = example_clock.astimezone(dt.UTC) + dt.timedelta(days=1, hours=1)
    monkeypatch.setattr(clock, "system_clock", lambda: day_one)
    assert cli.main(["reach", MESSAGE_ID, "--plan", str(plan), "--collect"]) == 0
    out = capsys.readouterr().out
    table = rows(out.split(f"{MESSAGE_ID}:", 1)[1])
    assert "unique_viewers 5, views 15" in table["intranet"]
    assert "delivered 1, recipients 1" in table["oc"]
    for outbox in ("website", "linkedin"):
        assert "  not measured (files in a folder" in table[outbox]
    assert "not measured" in table["midtnyt"]  # the editor has not answered yet

    assert cli.main(["reach", MESSAGE_ID, "--plan", str(plan), "--collect"]) == 0  # the same day: nothing new
    assert "collected 0 reading(s)" in capsys.readouterr().out
    ledger = Ledger()
    first = len(ledger.reach(MESSAGE_ID))

    for site in microsoft365.graph.sites.values():
        for page_id in site.pages:
            views, viewers = microsoft365.graph.page_views[page_id]
            microsoft365.graph.page_views[page_id] = (views + 20, viewers + 3)
    monkeypatch.setattr(clock, "system_clock", lambda: day_one + dt.timedelta(days=6))
    assert cli.main(["reach", MESSAGE_ID, "--plan", str(plan), "--collect"]) == 0
    out = capsys.readouterr().out
    readings = ledger.reach(MESSAGE_ID)
    assert len(readings) == 2 * first and len({(r.key, r.point) for r in readings}) == len(readings)
    assert "unique_viewers +3, views +20" in rows(out.split(f"{MESSAGE_ID}:", 1)[1])["intranet"]
