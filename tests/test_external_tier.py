"""End to end: the whole plan through the Prefect flow, going public over the real adapters.

config/plan.public.yaml switches LinkedIn, the website and the two newsletters to their real channels; here
they reach a LinkedIn emulator and the documented webhook receiver over HTTPS on 127.0.0.1, and the
newsletter submissions go out as mail over the plan's mail channel (the outbox). The internal tiers stay on
the outbox. Each external forum must be delivered exactly once, and only after every internal tier.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest

from budbringer.ledger import Ledger, State
from tests.conftest import ROOT
from tests.servers.https import HTTPSServer
from tests.servers.linkedin import LinkedInEmulator, displayed
from tests.servers.webhook import WebhookReceiver

PUBLIC_PLAN = ROOT / "config" / "plan.public.yaml"
TOKEN = "AQX-e2e-token-4c1f9a"
ORGANIZATION = "2414183"
SECRET = "e2e-secret-0123456789abcdef0123456789abcdef"
EXTERNAL = {"website", "linkedin", "regional_intranet", "midtnyt", "perspektiv"}


@pytest.fixture
def providers(ca, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LinkedInEmulator, WebhookReceiver]]:
    linkedin, website = LinkedInEmulator(TOKEN, ORGANIZATION), WebhookReceiver(SECRET)
    with HTTPSServer(linkedin, ca) as linkedin_server, HTTPSServer(website, ca) as website_server:
        monkeypatch.setenv("BUDBRINGER_LINKEDIN_URL", linkedin_server.url)
        monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN", TOKEN)
        monkeypatch.setenv("BUDBRINGER_LINKEDIN_ORGANIZATION", ORGANIZATION)
        monkeypatch.delenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", raising=False)
        monkeypatch.setenv("BUDBRINGER_WEBSITE_WEBHOOK_URL", website_server.url + "/intake/budbringer")
        monkeypatch.setenv("BUDBRINGER_WEBSITE_WEBHOOK_SECRET", SECRET)
        yield linkedin, website


def test_the_external_tier_goes_out_exactly_once_after_every_internal_tier(
        prefect_api: None, workdir: Path, message_copy: Path,
        providers: tuple[LinkedInEmulator, WebhookReceiver]) -> None:
    from budbringer.flows.send import send_flow

    linkedin, website = providers
    outcomes = send_flow(message=str(message_copy), approved_by="Mette Lund",
                         approval_ref="Styregruppemøde 2026-11-20, punkt 3", plan=str(PUBLIC_PLAN))

    assert {o.state for o in outcomes} == {"delivered"}
    records = Ledger().records("2026-11-status-udbud")
    assert {r.forum for r in records if r.tier == "external"} == EXTERNAL
    assert all(r.state == State.DELIVERED and r.attempts == 1 for r in records)
    internal_done = max(r.finished_at for r in records if r.tier != "external")  # type: ignore[type-var]
    external_began = min(r.started_at for r in records if r.tier == "external")
    assert internal_done <= external_began

    # LinkedIn: one post, as the organisation, escaped, and its URN is the receipt.
    [post] = linkedin.created()
    assert [r.method for r in linkedin.received()] == ["POST"]
    assert post["author"] == f"urn:li:organization:{ORGANIZATION}"
    assert displayed(post["commentary"]).startswith("Kan jeres system samle dokumentationen")  # the hook
    assert "{hashtag|\\#|Socialområdet}" in post["commentary"]
    by_forum = {r.forum: r for r in records}
    assert by_forum["linkedin"].receipt.provider_id == post["id"]  # type: ignore[union-attr]

    # The website: one signed delivery, verified and published by the documented receiver.
    [page] = website.published
    assert page["forum"] == "website" and page["delivery_key"] == by_forum["website"].key
    assert by_forum["website"].receipt.provider_id == "page-1"  # type: ignore[union-attr]

    # The newsletters: one submission mail to each editor, over the mail channel (the outbox).
    for forum, editor in (("midtnyt", "midtnyt-redaktion@regionmidtjylland.example"),
                          ("perspektiv", "perspektiv-redaktion@regionmidtjylland.example")):
        receipt = by_forum[forum].receipt
        assert receipt is not None and receipt.details["transport"] == "mail"
        with open(receipt.provider_id, "rb") as handle:
            mail = email.message_from_binary_file(handle, policy=email.policy.default)
        assert mail["To"] == editor and mail["Subject"].startswith("Forslag til ")
    assert sorted(p.name for p in (workdir / "outbox").rglob("*.eml") if "04-external" in str(p)) == [
        "midtnyt.eml", "perspektiv.eml"]

    # Run again: everything is already delivered, and no provider hears from us.
    again = send_flow(message=str(message_copy), approved_by="Mette Lund",
                      approval_ref="Styregruppemøde 2026-11-20, punkt 3", plan=str(PUBLIC_PLAN))
    assert {o.state for o in again} == {"already delivered"}
    assert len(linkedin.received()) == 1 and len(website.received()) == 1
    assert len(linkedin.created()) == 1 and len(website.published) == 1
