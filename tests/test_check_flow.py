"""The check-and-preview run (deployment `budbringer-check/preview`): artifacts in the UI, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from budbringer.adapters import memory
from budbringer.ledger import Ledger
from tests.conftest import memory_plan


@pytest.mark.mechanism("artifacts")  # kept in plain pytest: a run's table and markdown artifacts
def test_the_preview_run_shows_every_variant_and_sends_nothing(prefect_api: None, workdir: Path,
                                                               message_copy: Path) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from budbringer.flows.check import check_flow

    result = check_flow(message=str(message_copy), plan=str(memory_plan(workdir)))

    assert result["message"] == "2026-11-status-udbud" and result["variants"] == 12
    assert memory.SENT == [] and Ledger().records() == []
    with get_client(sync_client=True) as client:
        [table] = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["preview-2026-11-status-udbud"])), sort=ArtifactSort.CREATED_DESC, limit=1)
        [text] = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["preview-text-2026-11-status-udbud"])),
            sort=ArtifactSort.CREATED_DESC, limit=1)
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert len(rows) == 12 and rows[0]["forum"] == "OC-kredsen" and rows[0]["tier"] == "1 · oc"
    markdown = str(text.data)
    assert "Nothing was sent" in markdown and str(result["approval_hash"]) in markdown
    assert "Vi understøtter borgeren i at udleve ønsker, håb og drømme" in markdown  # the variants' plain text
    assert "<p>" not in markdown
