"""The Facebook Page channel against a Meta Graph emulator over real HTTPS on 127.0.0.1 (tests/servers/meta.py)."""

from __future__ import annotations

import os
import datetime as dt
import logging
from pathlib import Path

import pytest
import yaml

from budbringer import cascade
from budbringer import cli
from budbringer.adapters.facebook_page import MAX_CHARS, FacebookPageAdapter
from budbringer.delivery import Delivery
from budbringer.errors import InputError, PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from budbringer.render import Variant
from tests.conftest import PLAN
from tests.servers.https import Fault
from tests.servers.meta import PAGE, TOKEN, MetaEmulator, throttled, usage_header

LINK = "https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/"
FAST = {"attempts": 3, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 0.2,
        "connect_timeout": 2.0, "read_timeout": 0.5}


def post_variant(body: str, link: str | None = LINK) -> Variant:
    return Variant(forum="facebook", forum_title="Socialområdets Facebook-side", tier="external", tier_index=4,
                   phase="publish", medium="post", channel="facebook_api", template="facebook_post.txt.j2",
                   stakeholder="citizens", subject="Status", body=body, body_format="text",
                   summary="Status på udbuddet.", link=link)


def delivery(body: str, link: str | None = LINK) -> Delivery:
    return Delivery("2026-11-status-udbud", post_variant(body, link), "facebook_api", approval_id=1)


def adapter(**settings: object) -> FacebookPageAdapter:
    channel = FacebookPageAdapter.from_config("facebook_api", {"retry": FAST, "reconcile_delay": 0.0, **settings}, os.environ)
    assert isinstance(channel, FacebookPageAdapter)
    return channel


def test_posts_on_the_page_with_message_link_token_and_version(meta: MetaEmulator) -> None:
    receipt = adapter().deliver(delivery("Status på udbuddet.\n\nLæs mere.\n"))

    post, permalink = meta.received()
    assert (post.method, post.path) == ("POST", f"/v25.0/{PAGE}/feed")
    assert post.header("Authorization") == f"Bearer {TOKEN}"
    assert TOKEN not in str(post.query) + post.body.decode()  # in the header only, never in the URL or body
    assert dict(item.split("=", 1) for item in post.body.decode().split("&")).keys() == {"message", "link"}
    [stored] = meta.page_posts()
    assert stored["message"] == "Status på udbuddet.\n\nLæs mere." and stored["link"] == LINK
    assert (permalink.method, permalink.query["fields"]) == ("GET", ["permalink_url"])
    assert receipt.provider == "facebook" and receipt.provider_id == stored["id"]
    assert receipt.url == stored["permalink_url"] and receipt.details["created"] is True


def test_no_link_no_link_parameter_and_the_version_is_a_setting(meta: MetaEmulator) -> None:
    meta.versions = ("v26.0",)
    with pytest.raises(PermanentDeliveryError, match="code 2635"):
        adapter().deliver(delivery("Uden link.\n", link=None))
    adapter(version="v26.0").deliver(delivery("Uden link.\n", link=None))
    assert meta.received("POST")[-1].path == f"/v26.0/{PAGE}/feed"
    assert "link" not in meta.page_posts()[0]


def _on_post(kind: str, **kwargs: object) -> Fault:
    return Fault(kind, match=lambda r: r.method == "POST", **kwargs)  # type: ignore[arg-type]


THROTTLE = {code: _on_post("status", status=400 if code in (613,) else 403, body=throttled(code))
            for code in (4, 17, 32, 613)}


@pytest.mark.parametrize(("name", "faults", "expected", "posts"), [
    ("500 before acting", [_on_post("status", status=500)],
     ["POST feed", "GET published_posts", "POST feed", "GET node"], 1),
    ("500 after acting", [_on_post("status_after", status=500)], ["POST feed", "GET published_posts"], 1),
    ("503 after acting", [_on_post("status_after", status=503)], ["POST feed", "GET published_posts"], 1),
    ("connection dropped after acting", [_on_post("drop_after")], ["POST feed", "GET published_posts"], 1),
    ("connection reset before acting", [_on_post("reset_before")],
     ["POST feed", "GET published_posts", "POST feed", "GET node"], 1),
    ("timeout after acting", [_on_post("hang_after", seconds=1.0)], ["POST feed", "GET published_posts"], 1),
    *[(f"throttled once (code {code})", [fault], ["POST feed", "POST feed", "GET node"], 1)
      for code, fault in THROTTLE.items()],
    ("a lookup that fails once, then finds it", [_on_post("status_after", status=500),
                                                 Fault("status", match=lambda r: "published_posts" in r.path,
                                                       status=503)],
     ["POST feed", "GET published_posts", "GET published_posts"], 1),
])
def test_faults_end_in_exactly_one_post(meta: MetaEmulator, name: str, faults: list[Fault], expected: list[str],
                                        posts: int) -> None:
    meta.faults.extend(faults)
    receipt = adapter().deliver(delivery(f"Status ({name}).\n"))

    assert meta.calls() == expected
    stored = meta.page_posts()
    assert len(stored) == posts
    assert receipt.provider_id == stored[0]["id"] and receipt.url == stored[0]["permalink_url"]


def test_throttling_that_lasts_is_transient_after_backoff(meta: MetaEmulator) -> None:
    meta.faults.append(Fault("status", match=lambda r: r.method == "POST", status=403, body=throttled(32), times=99))
    with pytest.raises(TransientDeliveryError, match="Meta is throttling") as raised:
        adapter().deliver(delivery("Status.\n"))
    assert "code 32" in raised.value.reason
    assert len(meta.received("POST")) == FAST["attempts"]
    assert meta.page_posts() == []


def test_throttling_with_a_long_estimate_stops_at_once_and_says_when(meta: MetaEmulator) -> None:
    meta.faults.append(Fault("status", match=lambda r: r.method == "POST", status=403, body=throttled(80001),
                             headers=usage_header(minutes=15)))
    with pytest.raises(TransientDeliveryError) as raised:
        adapter().deliver(delivery("Status.\n"))
    assert "about 15 minutes" in raised.value.fix
    assert len(meta.received("POST")) == 1


def test_expired_token_is_permanent_and_says_how_to_get_a_new_one(meta: MetaEmulator,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    meta.revoked = True
    caplog.set_level(logging.DEBUG)
    channel = adapter()
    with pytest.raises(PermanentDeliveryError) as raised:
        channel.deliver(delivery("Status.\n"))
    text = str(raised.value)
    assert "the Meta Page token has expired or was revoked" in text and "code 190" in text
    assert "long-lived Page token" in raised.value.fix and "docs/meta.md" in raised.value.fix
    assert len(meta.received()) == 1  # not retried
    assert TOKEN not in text + caplog.text + repr(channel) + repr(raised.value.__context__)


def test_duplicate_text_is_found_not_posted_twice(meta: MetaEmulator) -> None:
    existing = meta.add_post("Status på udbuddet.")
    receipt = adapter().deliver(delivery("Status på udbuddet.\n"))
    assert receipt.provider_id == existing and receipt.details["duplicate"] is True
    assert meta.calls() == ["POST feed", "GET published_posts"]


def test_500_twice_is_uncertain_not_a_third_post(meta: MetaEmulator) -> None:
    meta.faults.append(Fault("status", match=lambda r: r.method == "POST", status=500, times=99))
    with pytest.raises(UncertainDeliveryError, match="twice; the post was not found"):
        adapter().deliver(delivery("Status.\n"))
    assert len(meta.received("POST")) == 2 and meta.page_posts() == []


def test_find_matches_the_text_and_only_recent_posts(meta: MetaEmulator) -> None:
    channel = adapter(lookup_days=7)
    meta.add_post("Gammel nyhed med samme tekst.", age=dt.timedelta(days=30))
    assert channel.find(delivery("Gammel nyhed med samme tekst.\n")) is None  # too old to be ours
    assert channel.find(delivery("Noget andet.\n")) is None
    post = meta.add_post("Ny   nyhed\nmed samme tekst.")
    found = channel.find(delivery("Ny nyhed med samme tekst.\n"))
    assert found is not None and found.provider_id == post and found.details["created"] is False
    assert meta.received("GET")[-1].query["fields"] == ["id,message,created_time,permalink_url"]


def test_a_missing_permission_names_it(meta: MetaEmulator) -> None:
    meta.faults.append(Fault("status", match=lambda r: r.method == "POST", status=403, body={"error": {
        "message": "(#200) The user hasn't authorized the application to perform this action", "type":
        "OAuthException", "code": 200}}))
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(delivery("Status.\n"))
    assert "pages_manage_posts" in raised.value.fix


def test_preflight_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUDBRINGER_META_PAGE_TOKEN", "BUDBRINGER_META_PAGE_ID", "BUDBRINGER_META_URL"):
        monkeypatch.delenv(name, raising=False)
    assert [p.field for p in adapter().preflight()] == ["BUDBRINGER_META_PAGE_TOKEN", "page"]
    monkeypatch.setenv("BUDBRINGER_META_PAGE_TOKEN", TOKEN)
    assert adapter(page=PAGE).preflight() == []
    assert [p.field for p in adapter(page=PAGE, url="http://127.0.0.1:9").preflight()] == ["url"]
    assert adapter(page=PAGE).limits(delivery("x"))[0].name == f"budbringer-facebook-page-{PAGE}"


def test_settings_reject_unknown_keys_and_bad_versions() -> None:
    with pytest.raises(ValueError, match="pag_id"):
        FacebookPageAdapter.from_config("fb", {"pag_id": "1"}, os.environ)
    with pytest.raises(ValueError, match="version"):
        FacebookPageAdapter.from_config("fb", {"version": "25"}, os.environ)


def _plan(folder: Path, max_chars: int | None = None) -> Path:
    forum: dict[str, object] = {"enabled": True, "channel": "facebook_api"}
    if max_chars:
        forum["max_chars"] = max_chars
    path = folder / "plan.facebook.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(PLAN), "channels": {"facebook_api": {"type": "facebook_page", "page": PAGE}},
        "fora": {"facebook": forum}}), encoding="utf-8")
    return path


def _message(folder: Path, citizens: str) -> Path:
    path = folder / "fb.md"
    path.write_text("---\nid: 2026-11-facebook\ntitle: Status på udbuddet\nsummary: Udbuddet skrider frem efter "
                    f"planen.\ndate: 2026-11-23\nfora: [facebook]\ngroups:\n  citizens:\n    headline: Nyt fra Socialområdet\n"
                    f"    lead: >-\n      {citizens}\n---\n"
                    "Udbuddet skrider frem, og vi fortæller mere, når der er nyt at sige.\n", encoding="utf-8")
    return path


@pytest.mark.usefixtures("before_deadline")
def test_check_refuses_a_long_facebook_post(workdir: Path, meta: MetaEmulator,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    long = _message(workdir, " ".join(["Du får hjælp som i dag."] * 60))
    # The plan's own limit (max_chars: 1000 in config/plan.yaml) and, where a plan lifts it, the channel's.
    for plan in (_plan(workdir), _plan(workdir, max_chars=5000)):
        with pytest.raises(InputError, match="variant for facebook"):
            cascade.prepare(plan, long)
        assert cli.main(["check", "--plan", str(plan), str(long)]) == 1
        assert "facebook" in capsys.readouterr().err
    short = _message(workdir, "Du får hjælp som i dag. Du skal ikke gøre noget.")
    assert cli.main(["check", "--plan", str(_plan(workdir, max_chars=5000)), str(short)]) == 0
    assert meta.received() == []  # check sends nothing
    assert MAX_CHARS == 1000


def test_the_token_never_shows_in_logs_ledger_or_reprs(meta: MetaEmulator, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from budbringer.approval import Approval
    from budbringer.ledger import Ledger

    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "budbringer"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    texts: list[str] = []
    channel = adapter()
    for fault in ("throttled", "timeout after acting", "expired token"):
        meta.revoked = fault == "expired token"
        if fault == "throttled":
            meta.faults.append(Fault("status", match=lambda r: r.method == "POST", status=403, body=throttled(4),
                                     times=99))
        if fault == "timeout after acting":
            meta.faults.clear()
            meta.faults.append(_on_post("hang_after", seconds=1.0))
        item = delivery(f"Hemmeligheder ({fault}).\n")
        approval = ledger.record_approval(Approval(item.message_id, {item.forum: item.variant.content_hash},
                                                   "Mette Lund", "ref"))
        item = Delivery(item.message_id, item.variant, item.channel, approval.id)  # type: ignore[arg-type]
        try:
            outcome = cascade.deliver(item, channel, ledger)
            texts += [outcome.error, repr(outcome)]
        except TransientDeliveryError as exc:
            texts += [str(exc), repr(exc), exc.fix]
        texts += [repr(channel), repr(channel.settings), str(vars(channel)), str(vars(channel.graph))]
    states = sorted(r.state.value for r in ledger.records())
    assert states == ["delivered", "failed", "failed"]  # throttled, found after the timeout, the expired token
    texts += [str(r) for r in ledger.records()] + [caplog.text] + [str(r.__dict__) for r in caplog.records]
    texts.append((tmp_path / "ledger.db").read_bytes().decode("utf-8", "replace"))
    assert len(caplog.records) > 3 and any("urllib3" in r.name for r in caplog.records)
    assert TOKEN not in "\n".join(texts)
