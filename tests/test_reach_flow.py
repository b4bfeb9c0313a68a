"""The `budbringer-reach` flow on a real (temporary) Prefect server: a report artifact per collection, a re-run
stores nothing twice, LinkedIn read under the organisation's shared limit; served by `budbringer serve`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml

from budbringer.delivery import Receipt
from budbringer.ledger import Ledger
from budbringer.reach import Measure
from budbringer.render import Variant
from budbringer.settings import Settings
from tests.reach_support import linkedin_stand_in, reach_plan, record_delivered, sent_variant
from tests.conftest import ROOT
from tests.servers.linkedin import LinkedInEmulator

MESSAGE = "2027-05-go-live"
ORGANIZATION = "31337"
TOKEN = "AQX-flow-token-never-logged"


@pytest.fixture
def linkedin(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkedInEmulator]:
    with linkedin_stand_in(ca, monkeypatch, TOKEN, ORGANIZATION) as emulator:
        yield emulator


def variant(forum: str, channel: str) -> Variant:
    return sent_variant(forum, channel, "Go-live i maj", f"Systemet går i luften ({forum}).", summary="Go-live.")


def test_the_collection_reports_each_run_and_a_rerun_stores_nothing_twice(
        prefect_api: None, workdir: Path, linkedin: LinkedInEmulator, example_clock: dt.datetime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from budbringer import clock
    from budbringer.flows.reach import reach_flow

    plan = reach_plan(workdir, {"linkedin": {"type": "linkedin"},
                                "newsletter": {"type": "newsletter", "transport": "mail"}})
    ledger = Ledger(Settings.read(str(plan)).ledger_url())
    urn = linkedin.add_post("Systemet går i luften i maj.")
    sent = {("linkedin", "linkedin"): Receipt("linkedin", urn),
            ("oc", "mail"): Receipt("outbox", "outbox/oc.md"),
            ("midtnyt", "newsletter"): Receipt("outbox", "outbox/midtnyt.md")}
    record_delivered(ledger, MESSAGE, sent, variant)
    linkedin.statistics[urn] = {"impressionCount": 730, "clickCount": 12}
    day_one = example_clock.astimezone(dt.UTC) + dt.timedelta(days=1, hours=3)
    monkeypatch.setattr(clock, "system_clock", lambda: day_one)

    first = reach_flow(plan=str(plan))
    assert first == {"stored": 3, "refused": 0, "already": 0, "not_due": 0}
    again = reach_flow(plan=str(plan))
    assert again == {"stored": 0, "refused": 0, "already": 3, "not_due": 0}
    readings = {r.forum: r for r in ledger.reach(MESSAGE)}
    assert readings["linkedin"].figures["impressions"] == 730
    assert readings["oc"].reading.measure is Measure.NOT_MEASURED
    assert len(linkedin.received("GET", "organizationalEntityShareStatistics")) == 1

    stamp = day_one.strftime("%Y%m%d%H%M")
    with get_client(sync_client=True) as client:
        reports = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"reach-{stamp}"])),
                                        sort=ArtifactSort.CREATED_DESC, limit=5)
        limit = client.read_global_concurrency_limit_by_name(f"budbringer-linkedin-org-{ORGANIZATION}")
    assert len(reports) == 2
    assert "| 2027-05-go-live | linkedin | linkedin | 1 |" in str(reports[-1].data)
    assert "0 reading(s) stored" in str(reports[0].data)
    assert limit.limit == 1  # the reading held the organisation's slot that its posts hold


def test_budbringer_serve_serves_the_collection_daily() -> None:
    from budbringer.flows import serve

    [collect] = [d for d in serve.deployments() if d.name == "collect"]
    assert collect.flow_name == "budbringer-reach"
    [schedule] = collect.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 6 * * *", "Europe/Copenhagen")
    deployed = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    [entry] = [d for d in deployed if d["entrypoint"] == "flows/reach.py:reach_flow"]
    assert entry["schedules"][0]["cron"] == schedule.schedule.cron
