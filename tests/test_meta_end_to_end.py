"""End to end: the shipped plan with Facebook and Instagram switched on in an overlay, through the Prefect flow.

Every other channel stays on the outbox; the two Meta fora reach the Meta Graph emulator over HTTPS on
127.0.0.1. The external tier must post to each exactly once, after every internal tier, with the post id and
the permalink in the ledger, in `budbringer status` and in the run's table artifact; a second run posts
nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from budbringer import cli
from budbringer.ledger import Ledger, State
from tests.conftest import MESSAGE, PLAN
from tests.servers.meta import ALT, IMAGE, MetaEmulator, meta_message, meta_plan

MESSAGE_ID = "2026-11-status-udbud"


def test_the_external_tier_posts_to_facebook_and_instagram_once_each(
        prefect_api: None, workdir: Path, meta: MetaEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from budbringer.flows.send import send_flow

    plan, message = meta_plan(workdir), meta_message(workdir)
    outcomes = send_flow(message=str(message), approved_by="Mette Lund",
                         approval_ref="Styregruppemøde 2026-11-20, punkt 3", plan=str(plan))

    assert {o.state for o in outcomes} == {"delivered"}
    assert {"facebook", "instagram"} <= {o.forum for o in outcomes}
    [post] = meta.page_posts()
    [media] = meta.published_media()
    assert post["message"].startswith("Vi vil samle vores notater om din hjælp i ét system")  # the citizens' headline
    assert "Når du får hjælp fra os" in post["message"]  # the citizens' section, in their words
    assert post["link"] == "https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/"
    [container] = meta.containers.values()
    assert (container["image_url"], container["alt_text"]) == (IMAGE, ALT)
    assert "linket i vores profil" in media["caption"]

    records = {r.forum: r for r in Ledger().records(MESSAGE_ID)}
    assert all(r.state == State.DELIVERED and r.attempts == 1 for r in records.values())
    internal_done = max(r.finished_at for r in records.values() if r.tier != "external")  # type: ignore[type-var]
    assert min(records[f].started_at for f in ("facebook", "instagram")) >= internal_done  # type: ignore[operator]
    facebook, instagram = records["facebook"].receipt, records["instagram"].receipt
    assert facebook is not None and (facebook.provider, facebook.provider_id, facebook.url) == (
        "facebook", post["id"], post["permalink_url"])
    assert instagram is not None and (instagram.provider, instagram.provider_id, instagram.url) == (
        "instagram", media["id"], media["permalink"])

    # The report (`budbringer status`) and the run's table artifact show both permalinks.
    assert cli.main(["status", MESSAGE_ID]) == 0
    status = capsys.readouterr().out
    assert post["permalink_url"] in status and media["permalink"] in status
    with get_client(sync_client=True) as client:
        [table] = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[f"deliveries-{MESSAGE_ID}"])), sort=ArtifactSort.CREATED_DESC, limit=1)
    rows = {row["forum"]: row for row in (json.loads(table.data) if isinstance(table.data, str) else table.data)}
    assert post["permalink_url"] in rows["facebook"]["receipt"] and rows["facebook"]["state"] == "delivered"
    assert media["permalink"] in rows["instagram"]["receipt"]

    # Again: already delivered, and Meta hears nothing.
    heard = len(meta.received())
    again = send_flow(message=str(message), approved_by="Mette Lund",
                      approval_ref="Styregruppemøde 2026-11-20, punkt 3", plan=str(plan))
    assert {o.state for o in again} == {"already delivered"}
    assert len(meta.received()) == heard
    assert len(meta.page_posts()) == 1 and len(meta.published_media()) == 1


@pytest.mark.usefixtures("before_deadline")
def test_the_shipped_plan_keeps_both_fora_off(workdir: Path) -> None:
    from budbringer import plan as plan_

    loaded = plan_.load(PLAN)
    assert not loaded.fora["facebook"].enabled and not loaded.fora["instagram"].enabled
    shutil.copy(MESSAGE, workdir / MESSAGE.name)
    assert cli.main(["check", str(workdir / MESSAGE.name)]) == 0  # no image needed while Instagram is off
