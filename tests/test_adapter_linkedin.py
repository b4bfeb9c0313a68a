"""The LinkedIn channel against a LinkedIn emulator over real HTTPS on 127.0.0.1 (tests/servers/linkedin.py)."""

from __future__ import annotations

import os
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from budbringer.adapters.linkedin import LinkedInAdapter, little_text, plain_text
from budbringer import cascade, render
from budbringer import cli
from budbringer import message as message_
from budbringer import plan as plan_
from budbringer.delivery import Delivery
from budbringer.errors import InputError, PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from budbringer.render import Variant
from tests.conftest import ROOT
from tests.servers.https import Fault, HTTPSServer
from tests.servers.linkedin import LinkedInEmulator, displayed, unescaped_reserved

TOKEN = "AQX-test-token-do-not-log-8f2c1e"
ORGANIZATION = "2414183"
PUBLIC_PLAN = ROOT / "config" / "plan.public.yaml"
RESERVED = "| { } @ [ ] ( ) < > # \\ * _ ~"

# Tiny waits: the retry policy of adapters/http.py, mapped from the channel's settings.
FAST = {"attempts": 3, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 0.1,
        "connect_timeout": 2.0, "read_timeout": 0.5}


def post_variant(body: str, forum: str = "linkedin") -> Variant:
    return Variant(forum=forum, forum_title="Socialområdets LinkedIn-side", tier="external", tier_index=4,
                   phase="publish", medium="post", channel="linkedin_api", template="linkedin_post.txt.j2",
                   stakeholder="others", subject="Status", body=body, body_format="text",
                   summary="Status på udbuddet.", link=None)


def delivery(body: str) -> Delivery:
    return Delivery("2026-11-status-udbud", post_variant(body), "linkedin_api", approval_id=1)


@pytest.fixture(scope="module")
def server(ca) -> Iterator[HTTPSServer]:
    """One emulator for the module (stopping a server costs half a second); each test resets it."""
    with HTTPSServer(LinkedInEmulator(TOKEN, ORGANIZATION), ca) as running:
        yield running


@pytest.fixture
def linkedin(server: HTTPSServer, monkeypatch: pytest.MonkeyPatch) -> LinkedInEmulator:
    monkeypatch.delenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", raising=False)
    return server.fresh(LinkedInEmulator, monkeypatch, {"BUDBRINGER_LINKEDIN_URL": server.url,
                                                        "BUDBRINGER_LINKEDIN_TOKEN": TOKEN,
                                                        "BUDBRINGER_LINKEDIN_ORGANIZATION": ORGANIZATION})


def adapter(**settings: object) -> LinkedInAdapter:
    channel = LinkedInAdapter.from_config("linkedin_api", {"retry": FAST, "reconcile_delay": 0.0, **settings}, os.environ)
    assert isinstance(channel, LinkedInAdapter)
    return channel


# escaping --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "little"), [
    ("Hej verden", "Hej verden"),
    ("a (b) [c] {d} <e> *f* _g_ ~h~ i|j k@l m\\n", r"a \(b\) \[c\] \{d\} \<e\> \*f\* \_g\_ \~h\~ i\|j k\@l m\\n"),
    ("#Socialområdet #RegionMidtjylland", r"{hashtag|\#|Socialområdet} {hashtag|\#|RegionMidtjylland}"),
    ("C# og #1 og #tag_x og a#b", r"C\# og \#1 og \#tag\_x og a\#b"),
    ("(#ikke) hashtag", r"\(\#ikke\) hashtag"),
    ("Linje 1\n#Digitalisering", "Linje 1\n{hashtag|\\#|Digitalisering}"),
])
def test_little_text_escapes_reserved_characters_and_keeps_hashtags(text: str, little: str) -> None:
    assert little_text(text) == little
    assert plain_text(little) == text
    assert unescaped_reserved(little) == []


def test_a_post_with_every_reserved_character_arrives_escaped(linkedin: LinkedInEmulator) -> None:
    body = f"Alle tegn: {RESERVED} – og e-mail udbud@rm.example (se [bilag]).\n\n#Socialområdet #Digitalisering\n"
    receipt = adapter().deliver(delivery(body))

    [post] = linkedin.received("POST", "/rest/posts")
    commentary = post.json()["commentary"]
    assert commentary == (r"Alle tegn: \| \{ \} \@ \[ \] \( \) \< \> \# \\ \* \_ \~ – og e-mail udbud\@rm.example "
                          "\\(se \\[bilag\\]\\).\n\n{hashtag|\\#|Socialområdet} {hashtag|\\#|Digitalisering}")
    assert displayed(commentary) == body.strip()
    assert [p["id"] for p in linkedin.created()] == [receipt.provider_id]


def test_posts_as_the_organisation_with_the_pinned_version(linkedin: LinkedInEmulator) -> None:
    receipt = adapter().deliver(delivery("Status på udbuddet.\n"))

    [request] = linkedin.received()
    assert (request.method, request.path) == ("POST", "/rest/posts")
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("LinkedIn-Version") == "202605"
    assert request.header("X-Restli-Protocol-Version") == "2.0.0"
    assert request.json() == {
        "author": f"urn:li:organization:{ORGANIZATION}",
        "commentary": "Status på udbuddet.",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    [post] = linkedin.created()
    assert receipt.provider == "linkedin"
    assert receipt.provider_id == post["id"]
    assert receipt.url == f"https://www.linkedin.com/feed/update/{post['id']}/"


def test_the_version_is_a_setting(linkedin: LinkedInEmulator) -> None:
    linkedin.versions = ("202611",)
    with pytest.raises(PermanentDeliveryError, match="no longer accepts version 202605"):
        adapter().deliver(delivery("Status.\n"))
    adapter(version="202611").deliver(delivery("Status.\n"))
    assert [r.header("LinkedIn-Version") for r in linkedin.received("POST")] == ["202605", "202611"]


# faults ----------------------------------------------------------------------------------------------

def _always(status: int, message: str) -> Fault:
    body = {"status": status, "message": message}
    return Fault("status", match=lambda r: r.method == "POST", status=status, body=body, times=99)


@pytest.mark.parametrize(("name", "faults", "calls", "posts"), [
    # a 5xx the server answered without acting: not found on lookup, so posted again (once)
    ("500 before acting", [Fault("status", match=lambda r: r.method == "POST", status=500)],
     ["POST", "GET", "POST"], 1),
    # LinkedIn made the post, then answered 500: the lookup finds it, nothing is posted again
    ("500 after acting", [Fault("status_after", match=lambda r: r.method == "POST", status=500)], ["POST", "GET"], 1),
    ("connection dropped after acting", [Fault("drop_after", match=lambda r: r.method == "POST")], ["POST", "GET"], 1),
    ("connection dropped before acting", [Fault("drop_before", match=lambda r: r.method == "POST")],
     ["POST", "GET", "POST"], 1),
    # the answer comes after the read timeout: the lookup (after reconcile_delay) finds the post
    ("timeout", [Fault("delay", match=lambda r: r.method == "POST", seconds=1.0)], ["POST", "GET"], 1),
    ("one 429, then posted", [Fault("status", match=lambda r: r.method == "POST", status=429,
                                    body={"status": 429, "message": "Resource level throttle limit"})],
     ["POST", "POST"], 1),
])
def test_an_unknown_outcome_is_looked_up_before_posting_again(linkedin: LinkedInEmulator, name: str,
                                                              faults: list[Fault], calls: list[str],
                                                              posts: int) -> None:
    linkedin.faults.extend(faults)
    receipt = adapter(reconcile_delay=1.0 if name == "timeout" else 0.0).deliver(delivery(f"Status ({name}).\n"))

    assert [r.method for r in linkedin.received()] == calls
    created = linkedin.created()
    assert len(created) == posts
    assert receipt.provider_id == created[0]["id"]
    for finder in linkedin.received("GET"):
        assert finder.query["q"] == ["author"]
        assert finder.query["author"] == [f"urn:li:organization:{ORGANIZATION}"]
        assert finder.header("X-RestLi-Method") == "FINDER"


def test_duplicate_post_takes_the_existing_post_as_the_receipt(linkedin: LinkedInEmulator) -> None:
    text = "Status på udbuddet (november). #Socialområdet\n"
    existing = linkedin.add_post(little_text(text.strip()))

    receipt = adapter().deliver(delivery(text))

    assert receipt.provider_id == existing
    assert receipt.details["duplicate"] is True
    assert [r.method for r in linkedin.received()] == ["POST", "GET"]
    assert [p["id"] for p in linkedin.created()] == [existing]


def test_duplicate_post_not_among_recent_posts_uses_the_urn_linkedin_names(linkedin: LinkedInEmulator) -> None:
    text = "En gammel nyhed.\n"
    existing = linkedin.add_post(little_text(text.strip()))
    for number in range(5):
        linkedin.add_post(f"Nyere opslag {number}")

    receipt = adapter(lookup_count=3).deliver(delivery(text))

    assert receipt.provider_id == existing
    assert len(linkedin.created()) == 6


def test_401_stops_with_the_renew_message(linkedin: LinkedInEmulator, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    linkedin.revoked = True
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", "2026-11-20")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(delivery("Status.\n"))

    text = str(raised.value)
    assert "the LinkedIn token has expired or was revoked — renew it (it expired on 2026-11-20)" in text
    assert "docs/linkedin.md" in text
    assert len(linkedin.received()) == 1  # not retried
    assert linkedin.created() == []
    assert TOKEN not in text + caplog.text + repr(raised.value.__cause__) + repr(raised.value.__context__)


def test_429_all_day_backs_off_then_says_when_to_retry(linkedin: LinkedInEmulator) -> None:
    linkedin.faults.append(_always(429, "Application level throttle limit reached"))
    with pytest.raises(TransientDeliveryError) as raised:
        adapter().deliver(delivery("Status.\n"))

    assert "daily limit is used up" in str(raised.value)
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    assert f"run again after {tomorrow} 00:00 UTC" in raised.value.fix
    assert len(linkedin.received("POST")) == FAST["attempts"]
    assert linkedin.created() == []


def test_500_twice_is_uncertain_not_a_third_post(linkedin: LinkedInEmulator) -> None:
    linkedin.faults.append(_always(500, "Internal Server Error"))
    with pytest.raises(UncertainDeliveryError, match="was not found among the page's recent posts"):
        adapter().deliver(delivery("Status.\n"))
    assert [r.method for r in linkedin.received()] == ["POST", "GET", "POST"]


def test_a_refused_author_names_the_scope_and_role(linkedin: LinkedInEmulator) -> None:
    with pytest.raises(PermanentDeliveryError, match="w_organization_social") as raised:
        adapter(organization="999").deliver(delivery("Status.\n"))
    assert "admin" in raised.value.fix
    assert linkedin.created() == []


def test_find_looks_the_post_up_by_its_text(linkedin: LinkedInEmulator) -> None:
    text = "Status: 3 ting (og #Digitalisering)\n"
    channel = adapter()
    assert channel.find(delivery(text)) is None
    urn = linkedin.add_post("Status: 3 ting \\(og {hashtag|#|Digitalisering}\\)")  # LinkedIn's own spelling
    found = channel.find(delivery(text))
    assert found is not None and found.provider_id == urn


# secrets and checks ----------------------------------------------------------------------------------

def test_the_token_never_shows(linkedin: LinkedInEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = adapter()
    linkedin.faults.append(_always(500, "boom"))
    with pytest.raises(UncertainDeliveryError) as raised:
        channel.deliver(delivery("Status.\n"))
    assert TOKEN not in repr(channel) + str(raised.value) + caplog.text


def test_preflight_names_what_is_missing(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("BUDBRINGER_LINKEDIN_TOKEN", "BUDBRINGER_LINKEDIN_ORGANIZATION", "BUDBRINGER_LINKEDIN_URL",
                 "BUDBRINGER_LINKEDIN_TOKEN_EXPIRES"):
        monkeypatch.delenv(name, raising=False)
    assert [p.field for p in adapter().preflight()] == ["BUDBRINGER_LINKEDIN_TOKEN", "organization"]

    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN", TOKEN)
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_ORGANIZATION", ORGANIZATION)
    today = dt.datetime.now(dt.UTC).date()
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", (today - dt.timedelta(days=1)).isoformat())
    [expired] = adapter().preflight()
    assert "expired" in expired.what

    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", (today + dt.timedelta(days=5)).isoformat())
    with caplog.at_level(logging.WARNING, logger="budbringer.linkedin"):
        assert adapter().preflight() == []  # a warning, not an error
    assert "in 5 day(s)" in caplog.text

    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", "snart")
    assert [p.field for p in adapter().preflight()] == ["BUDBRINGER_LINKEDIN_TOKEN_EXPIRES"]


def _message(folder: Path, others: str, fora: str = "[linkedin]") -> Path:
    path = folder / "lang-linkedin.md"
    path.write_text(
        "---\nid: 2026-11-lang-linkedin\ntitle: Status på udbuddet\nsummary: Udbuddet skrider frem efter planen.\n"
        f"date: 2026-11-23\nfora: {fora}\n"
        "contact: {name: Anne Holm, email: udbud.dokumentation@socialomraadet.example}\n"
        "forum_texts:\n  linkedin:\n    hook: Udbuddet skrider frem.\n"
        f"    text: >-\n      {others}\n    action: {{ask: \"Skriv til os, hvis I vil vide mere.\"}}\n---\n",
        encoding="utf-8")
    return path


def test_check_refuses_a_post_over_the_limit_once_escaped(workdir: Path, linkedin: LinkedInEmulator,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    message = _message(workdir, " ".join(["(ab)"] * 420))
    plan = plan_.load(PUBLIC_PLAN)
    variant = render.render_variants(plan, message_.load(message, plan))[0]
    assert len(variant.body) <= 3000 < len(little_text(variant.body.strip()))  # under as written, over escaped

    with pytest.raises(InputError, match="once escaped for LinkedIn"):
        cascade.prepare(PUBLIC_PLAN, message)
    assert cli.main(["check", "--plan", str(PUBLIC_PLAN), str(message)]) == 1
    assert "variant for linkedin" in capsys.readouterr().err
    assert linkedin.received() == []  # nothing was sent


@pytest.mark.usefixtures("before_deadline")
def test_check_warns_when_the_token_expires_soon(workdir: Path, linkedin: LinkedInEmulator,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    soon = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN_EXPIRES", soon.isoformat())
    monkeypatch.setenv("BUDBRINGER_WEBSITE_WEBHOOK_URL", "https://127.0.0.1:9/intake")
    monkeypatch.setenv("BUDBRINGER_WEBSITE_WEBHOOK_SECRET", "s" * 40)
    message = _message(workdir, "Kort tekst til samarbejdspartnere.")
    assert cli.main(["check", "--lang", "en", "--plan", str(PUBLIC_PLAN), str(message)]) == 0
    out = capsys.readouterr().out
    assert f"warning: Socialområdets LinkedIn-side: the LinkedIn token expires on {soon.isoformat()}, in 10 days" in out
    assert linkedin.received() == []
