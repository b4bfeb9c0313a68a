"""The Instagram channel against a Meta Graph emulator over real HTTPS on 127.0.0.1 (tests/servers/meta.py)."""

from __future__ import annotations

import os
import datetime as dt
import logging
from pathlib import Path

import pytest
import yaml

from budbringer import cascade
from budbringer import cli
from budbringer import message as message_
from budbringer.adapters.instagram import InstagramAdapter, hashtags
from budbringer.delivery import Delivery
from budbringer.errors import InputError, PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from budbringer.render import Variant
from tests.conftest import PLAN
from tests.servers.https import Fault, Request
from tests.servers.meta import ACCOUNT, TOKEN, MetaEmulator, throttled

IMAGE = "https://www.rm.dk/billeder/medarbejder-og-borger.jpg"
ALT = "En medarbejder og en borger taler sammen ved et køkkenbord."
FAST = {"attempts": 3, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retry_after": 0.2,
        "connect_timeout": 2.0, "read_timeout": 0.5}


def post_variant(caption: str, image: str | None = IMAGE, alt: str | None = ALT) -> Variant:
    return Variant(forum="instagram", forum_title="Socialområdets Instagram-profil", tier="external",
                   tier_index=4, phase="publish", medium="post", channel="instagram_api",
                   template="instagram_post.txt.j2", stakeholder="citizens", subject="Status", body=caption,
                   body_format="text", summary="Status på udbuddet.", link=None, image_url=image, image_alt=alt)


def delivery(caption: str, **kwargs: str | None) -> Delivery:
    return Delivery("2026-11-status-udbud", post_variant(caption, **kwargs), "instagram_api", approval_id=1)


def adapter(**settings: object) -> InstagramAdapter:
    channel = InstagramAdapter.from_config("instagram_api", {
        "retry": FAST, "reconcile_delay": 0.0, "poll_interval": 0.01, "container_wait": 0.3, **settings}, os.environ)
    assert isinstance(channel, InstagramAdapter)
    return channel


HAPPY = ["GET content_publishing_limit", "POST media", "GET node", "POST media_publish", "GET node"]


def test_quota_container_poll_publish_permalink(meta: MetaEmulator) -> None:
    meta.polls_until_finished = 2
    receipt = adapter().deliver(delivery("Status på udbuddet. #Socialområdet\n"))

    assert meta.calls() == ["GET content_publishing_limit", "POST media", "GET node", "GET node", "GET node",
                           "POST media_publish", "GET node"]
    limit, create = meta.received()[:2]
    assert limit.query["fields"] == ["config,quota_usage"]
    assert create.path == f"/v25.0/{ACCOUNT}/media"
    assert create.header("Authorization") == f"Bearer {TOKEN}"
    assert TOKEN not in str(create.query) + create.body.decode()
    [container] = meta.containers.values()
    assert (container["image_url"], container["caption"], container["alt_text"]) == (
        IMAGE, "Status på udbuddet. #Socialområdet", ALT)
    assert meta.received()[2].query["fields"] == ["status_code,status"]
    publish = meta.received()[5]
    assert publish.body.decode() == f"creation_id={container['id']}"
    [media] = meta.published_media()
    assert receipt.provider == "instagram" and receipt.provider_id == media["id"]
    assert receipt.url == media["permalink"] and receipt.details == {"created": True, "container": container["id"]}


def _on(edge: str, kind: str, **kwargs: object) -> Fault:
    def match(request: Request) -> bool:
        return request.method == "POST" and request.path.endswith("/" + edge)

    return Fault(kind, match=match, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "faults", "expected"), [
    # media_publish acted, the answer was lost: the container reads PUBLISHED, the media is found by caption
    ("publish 500 after acting", [_on("media_publish", "status_after", status=500)],
     [*HAPPY[:4], "GET node", "GET media"]),
    ("publish timeout after acting", [_on("media_publish", "hang_after", seconds=1.0)],
     [*HAPPY[:4], "GET node", "GET media"]),
    ("publish connection dropped after acting", [_on("media_publish", "drop_after")],
     [*HAPPY[:4], "GET node", "GET media"]),
    # media_publish did not act: the container still reads FINISHED, so it is published (once) now
    ("publish 503 before acting", [_on("media_publish", "status", status=503)],
     [*HAPPY[:4], "GET node", "POST media_publish", "GET node"]),
    # creating a container is safe to repeat: a 5xx or a lost answer just makes another one
    ("container 500", [_on("media", "status", status=500)], [HAPPY[0], "POST media", *HAPPY[1:]]),
    ("container timeout after acting", [_on("media", "hang_after", seconds=1.0)],
     [HAPPY[0], "POST media", *HAPPY[1:]]),
    ("throttled at publish (code 4)", [_on("media_publish", "status", status=403, body=throttled(4))],
     [*HAPPY[:4], "POST media_publish", "GET node"]),
    ("throttled at the container (code 613)", [_on("media", "status", status=400, body=throttled(613))],
     [HAPPY[0], "POST media", *HAPPY[1:]]),
    ("status read fails once", [Fault("status", match=lambda r: r.method == "GET" and r.path.count("/") == 2,
                                      status=502)], [*HAPPY[:3], "GET node", *HAPPY[3:]]),
])
def test_faults_end_in_exactly_one_post(meta: MetaEmulator, name: str, faults: list[Fault],
                                        expected: list[str]) -> None:
    meta.faults.extend(faults)
    receipt = adapter().deliver(delivery(f"Status ({name}).\n"))

    assert meta.calls() == expected
    [media] = meta.published_media()
    assert receipt.provider_id == media["id"] and receipt.url == media["permalink"]


@pytest.mark.parametrize(("outcome", "error", "words"), [
    ("ERROR", PermanentDeliveryError, "Meta could not prepare the post"),
    ("EXPIRED", PermanentDeliveryError, "expired before it was published"),
    ("IN_PROGRESS", TransientDeliveryError, "still preparing the post after"),
])
def test_a_container_that_does_not_finish_is_never_published(meta: MetaEmulator, outcome: str, error: type,
                                                             words: str) -> None:
    meta.container_outcome = outcome
    with pytest.raises(error) as raised:
        adapter().deliver(delivery("Status.\n"))
    assert words in raised.value.reason and "nothing was posted" in (raised.value.reason + raised.value.fix)
    if outcome == "ERROR":
        assert "2207052" in raised.value.reason  # Meta's own message
    if outcome == "IN_PROGRESS":  # bounded: polled for container_wait, not for ever
        assert 2 <= len(meta.received("GET")) - 1 <= 40
    assert meta.received("POST")[-1].path.endswith("/media")
    assert meta.published_media() == []


def test_a_spent_quota_is_refused_before_anything_is_created(meta: MetaEmulator) -> None:
    meta.quota_total, meta.quota_usage = 25, 25
    with pytest.raises(TransientDeliveryError) as raised:
        adapter().deliver(delivery("Status.\n"))
    assert "used its publishing limit (25 of 25 posts in 24 hours)" in raised.value.reason
    assert "run again later" in raised.value.fix
    assert meta.calls() == ["GET content_publishing_limit"]
    assert meta.containers == {} and meta.published_media() == []


def test_a_quota_spent_between_reading_and_publishing_is_transient(meta: MetaEmulator) -> None:
    # Another app published in between: Meta refuses media_publish with its quota error (code 9, 2207042).
    meta.faults.append(_on("media_publish", "status", status=400, body={"error": {
        "message": "Application request limit reached", "type": "OAuthException", "code": 9,
        "error_subcode": 2207042}}))
    with pytest.raises(TransientDeliveryError, match="reached its publishing limit") as raised:
        adapter().deliver(delivery("Status.\n"))
    assert "nothing was posted" in raised.value.reason
    assert len(meta.received("POST", "media_publish")) == 1 and meta.published_media() == []


def test_expired_token_is_permanent_and_says_how_to_get_a_new_one(meta: MetaEmulator,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    meta.revoked = True
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(delivery("Status.\n"))
    assert "token has expired or was revoked" in raised.value.reason and "code 190" in raised.value.reason
    assert "BUDBRINGER_META_PAGE_TOKEN" in raised.value.fix
    assert len(meta.received()) == 1
    assert TOKEN not in str(raised.value) + caplog.text


def test_publish_500_twice_is_uncertain_not_a_third_try(meta: MetaEmulator) -> None:
    meta.faults.append(_on("media_publish", "status", status=500, times=99))
    with pytest.raises(UncertainDeliveryError, match="twice"):
        adapter().deliver(delivery("Status.\n"))
    assert len(meta.received("POST", "media_publish")) == 2 and meta.published_media() == []


def test_find_matches_caption_and_timestamp(meta: MetaEmulator) -> None:
    channel = adapter(lookup_days=7)
    meta.add_media("Samme tekst som sidst.", age=dt.timedelta(days=20))
    assert channel.find(delivery("Samme tekst som sidst.\n")) is None  # an old post with the same text
    media = meta.add_media("Samme tekst  som sidst.")
    found = channel.find(delivery("Samme tekst som sidst.\n"))
    assert found is not None and found.provider_id == media and found.url.startswith("https://www.instagram.com/p/")
    assert meta.received("GET")[-1].query["fields"] == ["id,caption,timestamp,permalink"]


def test_no_image_is_refused_without_a_request(meta: MetaEmulator) -> None:
    with pytest.raises(PermanentDeliveryError, match="names no image"):
        adapter().deliver(delivery("Status.\n", image=None, alt=None))
    assert meta.received() == []


def test_preflight_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUDBRINGER_META_PAGE_TOKEN", "BUDBRINGER_META_IG_USER_ID", "BUDBRINGER_META_URL"):
        monkeypatch.delenv(name, raising=False)
    assert [p.field for p in adapter().preflight()] == ["BUDBRINGER_META_PAGE_TOKEN", "account"]
    monkeypatch.setenv("BUDBRINGER_META_PAGE_TOKEN", TOKEN)
    assert adapter(account=ACCOUNT).preflight() == []
    assert adapter(account=ACCOUNT).limits(delivery("x"))[0].name == f"budbringer-instagram-{ACCOUNT}"
    with pytest.raises(ValueError, match="container_wait"):
        InstagramAdapter.from_config("ig", {"container_wait": 0}, os.environ)
    with pytest.raises(ValueError, match="acount"):
        InstagramAdapter.from_config("ig", {"acount": ACCOUNT}, os.environ)


def test_hashtags_are_counted_as_instagram_counts_them() -> None:
    assert hashtags("#a #Socialområdet og C# og #1x mail#x (#Velfærd)") == ["#a", "#Socialområdet", "#1x",
                                                                            "#Velfærd"]


# check: the variant Instagram would get --------------------------------------------------------------

def _plan(folder: Path) -> Path:
    path = folder / "plan.instagram.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(PLAN), "channels": {"instagram_api": {"type": "instagram", "account": ACCOUNT}},
        "fora": {"instagram": {"enabled": True, "channel": "instagram_api", "max_chars": 5000}}}),
        encoding="utf-8")
    return path


def _message(folder: Path, citizens: str, image: str | None = f"\nimage:\n  url: {IMAGE}\n  alt: {ALT}") -> Path:
    path = folder / "ig.md"
    path.write_text("---\nid: 2026-11-instagram\ntitle: Status på udbuddet\nsummary: Udbuddet skrider frem efter "
                    f"planen.\ndate: 2026-11-23\nfora: [instagram]{image or ''}\ngroups:\n  citizens:\n"
                    f"    headline: Nyt fra Socialområdet\n    lead: Vi har nyt til dig.\n    text: >-\n      {citizens}\n---\nUdbuddet skrider frem, og vi fortæller mere, når der er nyt at sige.\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "citizens", "image", "says"), [
    ("no image", "Du får hjælp som i dag.", None, "needs an image"),
    ("caption over 2,200", " ".join(["Du får hjælp som i dag."] * 100), "default", "at most 2200"),
    ("31 hashtags", " ".join(f"#tag{n}" for n in range(31)), "default", "hashtags; Instagram takes at most 30"),
])
def test_check_refuses_an_instagram_variant(workdir: Path, meta: MetaEmulator, capsys: pytest.CaptureFixture[str],
                                            name: str, citizens: str, image: str | None, says: str) -> None:
    message = _message(workdir, citizens) if image == "default" else _message(workdir, citizens, image)
    plan = _plan(workdir)
    with pytest.raises(InputError) as raised:
        cascade.prepare(plan, message)
    assert "variant for instagram" in str(raised.value)
    assert cli.main(["check", "--plan", str(plan), str(message)]) == 1
    assert says in capsys.readouterr().err
    assert meta.received() == []


def test_check_passes_a_good_instagram_variant_and_the_image_is_approved_content(
        workdir: Path, meta: MetaEmulator) -> None:
    plan = _plan(workdir)
    prepared = cascade.prepare(plan, _message(workdir, "Du får hjælp som i dag. Du skal ikke gøre noget."))
    [variant] = prepared.variants
    assert (variant.image_url, variant.image_alt) == (IMAGE, ALT)
    other = cascade.prepare(plan, _message(workdir, "Du får hjælp som i dag. Du skal ikke gøre noget.",
                                           f"\nimage:\n  url: {IMAGE}\n  alt: Et andet billede af en stue."))
    assert other.variants[0].content_hash != variant.content_hash  # another alt text needs another approval


def test_an_image_must_be_https_with_alt_text(workdir: Path) -> None:
    for image, field in ((f"\nimage:\n  url: http://x.example/a.jpg\n  alt: {ALT}", "image.url"),
                         (f"\nimage:\n  url: {IMAGE}", "image.alt")):
        with pytest.raises(InputError) as raised:
            message_.load(_message(workdir, "Tekst.", image))
        assert field in str(raised.value)
