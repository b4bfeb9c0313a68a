"""Instagram posts on the organisation's professional account through Meta's Graph API (`type: instagram`).

Publishing is three steps (developers.facebook.com/docs/instagram-platform/content-publishing):

1. `GET /{ig-user-id}/content_publishing_limit?fields=config,quota_usage` first: Meta's docs give the limit
   as 25, 50 or 100 posts per rolling 24 hours, so it is read, not assumed; when it is spent the post is
   refused before anything is created (a TransientDeliveryError that says so: nothing was posted);
2. `POST /{ig-user-id}/media` with `image_url`, `caption` and `alt_text` creates a container; Meta fetches
   the image, and `GET /{container-id}?fields=status_code,status` reads IN_PROGRESS until FINISHED. The wait
   is bounded (`container_wait`, polling every `poll_interval`); ERROR and EXPIRED are permanent, with Meta's
   message;
3. `POST /{ig-user-id}/media_publish` with `creation_id` publishes it; the media id and its permalink
   (`GET /{media-id}?fields=permalink,timestamp`) are the receipt.

The image and its alt text come from the message's front matter (`image: {url, alt}`); `review()` refuses an
Instagram variant without them, and a caption over 2,200 characters or with more than 30 hashtags.
The account is `account:` or `BUDBRINGER_META_IG_USER_ID`; the token is the Page's (adapters/meta.py).

Exactly once: neither call takes an idempotency key. A container that was never published does no harm (it
expires after 24 hours), so creating one is safe to repeat. Publishing is not: after an unknown outcome the
container's own `status_code` says whether it was published (PUBLISHED) within this run; across runs (a
crash) the account's `media` from the last `lookup_days` are searched for the exact caption the adapter sent
(the marker, with its timestamp) before anything is published again.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, ClassVar

from pydantic import Field

from budbringer.adapters import meta
from budbringer.adapters.base import Adapter, SharedLimit
from budbringer.adapters.meta import GraphError, MetaEnvironment, MetaSettings
from budbringer.checks import Finding
from budbringer.delivery import Delivery, Receipt
from budbringer.adapters import reach_readers
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import PermanentDeliveryError, Problem, TransientDeliveryError, UncertainDeliveryError
from budbringer.render import Variant

log = logging.getLogger("budbringer.instagram")

ENV_ACCOUNT = "BUDBRINGER_META_IG_USER_ID"
MAX_CAPTION = 2200
MAX_HASHTAGS = 30
PERMISSION = "instagram_content_publish"
HASHTAG = re.compile(r"(?<![\w#])#[^\W_][\w]*")
#: Meta's answer at media_publish when the account's publishing limit is reached
QUOTA_SUBCODE = 2207042


def hashtags(text: str) -> list[str]:
    return HASHTAG.findall(text)


class InstagramSettings(MetaSettings):
    account: str | None = Field(default=None, pattern=r"^\d{5,25}$",
                                description=f"The Instagram professional account's id; default ${ENV_ACCOUNT}.")
    poll_interval: float = Field(default=15.0, gt=0, le=120,
                                 description="Seconds between looks at a container Meta is still preparing.")
    container_wait: float = Field(default=300.0, gt=0, le=1800,
                                  description="The longest to wait for a container to be FINISHED (Meta "
                                              "suggests no more than five minutes).")


class InstagramEnvironment(MetaEnvironment):
    account: str | None = Field(default=None, validation_alias=ENV_ACCOUNT, description="The Instagram professional account's id unless `account:` is set.")


class InstagramAdapter(Adapter):
    type: ClassVar[str] = "instagram"
    label: ClassVar[str] = "Instagram"
    media: ClassVar[frozenset[str]] = frozenset({"post"})
    measures_reach: ClassVar[bool] = True
    Settings = InstagramSettings
    settings: InstagramSettings
    Environment = InstagramEnvironment
    environment: InstagramEnvironment
    #: one post at a time: the lookup by caption relies on it
    max_concurrency: ClassVar[int] = 1

    def __init__(self, name: str, settings: InstagramSettings,
                 environment: InstagramEnvironment | None = None) -> None:
        super().__init__(name, settings, environment)
        self.graph = meta.Graph(name, settings, self.environment)

    def _account_id(self) -> str:
        return (self.settings.account or self.environment.account or "").strip()

    def _account(self, forum: str) -> str:
        account = self._account_id()
        if not re.fullmatch(r"\d{5,25}", account):
            raise PermanentDeliveryError(self.name, forum, "no Instagram account is configured",
                                         f"set `account:` on channel {self.name} or ${ENV_ACCOUNT} to the "
                                         "professional account's id (docs/meta.md)")
        return account

    # the protocol ----------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        variant = delivery.variant
        if not variant.image_url or not variant.image_alt:
            raise PermanentDeliveryError(self.name, forum, "the message names no image (or no alt text)",
                                         "add `image: {url: https://…, alt: …}` to the front matter; nothing "
                                         "was posted")
        self._check_quota(forum)
        container = self._container(delivery)
        self._await_container(forum, container)
        try:
            return self._publish(forum, container)
        except UncertainDeliveryError as first:
            log.warning("%s → %s: %s; asking Meta about container %s", self.name, forum, first.reason, container)
        time.sleep(self.settings.reconcile_delay)
        return self._settle(delivery, container)

    def find(self, delivery: Delivery) -> Receipt | None:
        return self._lookup(delivery)

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        account = self._account_id()
        return [SharedLimit(f"budbringer-instagram-{account}", 1)] if re.fullmatch(r"\d{5,25}", account) else []

    def reach_limits(self) -> list[SharedLimit]:
        """A reading holds the same slot as a post (its `limits` read only the channel's settings)."""
        return self.limits(None)  # type: ignore[arg-type]  # limits() reads no field of the delivery here

    def reach(self, subject: ReachSubject) -> ReachReading:
        """The media object's insights (views, reach, likes, comments, shares, saves; docs/reach.md)."""
        return reach_readers.meta(self.graph, subject, reach_readers.INSTAGRAM_METRICS,
                                  reach_readers.INSTAGRAM_FIGURES, "instagram_manage_insights")

    def preflight(self) -> list[Problem]:
        account = self._account_id() or None
        return self.graph.preflight(f"channels.{self.name}", (
            "account", account, f"set `account:` (the Instagram professional account's id) or {ENV_ACCOUNT}"))

    @classmethod
    def review(cls, variant: Variant, forum: Any) -> list[Finding]:
        findings: list[Finding] = []
        if not variant.image_url or not variant.image_alt:
            findings.append(Finding(
                variant.forum, "error",
                "an Instagram post needs an image: add `image:` with `url:` (a public https address) and `alt:` "
                "(what the picture shows) to the message's front matter",
                "Et opslag på Instagram skal have et billede med en billedtekst til dem, der ikke kan se det."))
        caption = variant.body.strip()
        if len(caption) > MAX_CAPTION:
            findings.append(Finding(
                variant.forum, "error",
                f"{len(caption)} characters; an Instagram caption takes at most {MAX_CAPTION}: shorten the "
                f"message's {variant.stakeholder} section or summary",
                f"{len(caption)} tegn; en tekst på Instagram må højst fylde {MAX_CAPTION} tegn."))
        tags = hashtags(caption)
        if len(tags) > MAX_HASHTAGS:
            findings.append(Finding(
                variant.forum, "error",
                f"{len(tags)} hashtags; Instagram takes at most {MAX_HASHTAGS} in a caption: remove some",
                f"{len(tags)} hashtags; Instagram tillader højst {MAX_HASHTAGS}."))
        return findings

    def close(self) -> None:
        self.graph.close()

    # the steps -------------------------------------------------------------------------------------

    def _check_quota(self, forum: str) -> None:
        """Refuse before creating anything when the account's publishing limit is spent."""
        try:
            body = self.graph.call("GET", f"{self._account(forum)}/content_publishing_limit", forum, safe=True,
                                   params={"fields": "config,quota_usage"})
        except GraphError as error:
            raise self.graph.explain(forum, error, PERMISSION, looking_up=True) from None
        except UncertainDeliveryError as exc:
            raise TransientDeliveryError(self.name, forum, exc.reason, exc.fix) from None
        try:
            entry = body["data"][0]
            used = int(entry["quota_usage"])
            total = int(entry["config"]["quota_total"])
            hours = int(entry["config"].get("quota_duration", 86400)) / 3600
        except (KeyError, IndexError, TypeError, ValueError):
            raise TransientDeliveryError(self.name, forum, "Meta's publishing limit could not be read",
                                         "try again later; nothing was posted") from None
        if used >= total:
            raise TransientDeliveryError(
                self.name, forum, f"the Instagram account has used its publishing limit ({used} of {total} posts "
                f"in {hours:.0f} hours); nothing was posted",
                f"the limit is a rolling window: run again later (within {hours:.0f} hours a place frees up)")
        log.info("%s → %s: %d of %d posts used in the last %.0f hours", self.name, forum, used, total, hours)

    def _container(self, delivery: Delivery) -> str:
        forum = delivery.forum
        variant = delivery.variant
        data = {"image_url": variant.image_url, "caption": variant.body.strip(), "alt_text": variant.image_alt}
        try:
            # Safe to repeat: a container that is never published expires unseen.
            body = self.graph.call("POST", f"{self._account(forum)}/media", forum, safe=True, data=data)
        except GraphError as error:
            raise self.graph.explain(forum, error, PERMISSION) from None
        container = str(body.get("id", "")).strip()
        if not container:
            raise TransientDeliveryError(self.name, forum, "Meta answered without a container id",
                                         "nothing was posted; try again later")
        return container

    def _status(self, forum: str, container: str) -> tuple[str, str]:
        try:
            body = self.graph.call("GET", container, forum, safe=True, params={"fields": "status_code,status"})
        except GraphError as error:
            raise self.graph.explain(forum, error, PERMISSION, looking_up=True) from None
        except UncertainDeliveryError as exc:
            raise TransientDeliveryError(self.name, forum, exc.reason, exc.fix) from None
        return str(body.get("status_code", "")), str(body.get("status", ""))

    def _await_container(self, forum: str, container: str) -> None:
        """Until Meta has fetched and checked the image; bounded by `container_wait`."""
        deadline = time.monotonic() + self.settings.container_wait
        while True:
            code, status = self._status(forum, container)
            if code == "FINISHED":
                return
            if code == "ERROR":
                raise PermanentDeliveryError(
                    self.name, forum, f"Meta could not prepare the post (container {container}: ERROR"
                    f"{', ' + status if status else ''})",
                    "check that the image is a JPEG on a public https address, within Meta's size and aspect "
                    "limits, then run again; nothing was posted")
            if code == "EXPIRED":
                raise PermanentDeliveryError(
                    self.name, forum, f"the container {container} expired before it was published"
                    f"{' (' + status + ')' if status else ''}", "run again: a new run makes a new container; "
                    "nothing was posted")
            if code == "PUBLISHED":
                raise UncertainDeliveryError(self.name, forum, f"container {container} is already published",
                                             "look at the account and settle the delivery")
            if time.monotonic() + self.settings.poll_interval > deadline:
                raise TransientDeliveryError(
                    self.name, forum, f"Meta was still preparing the post after {self.settings.container_wait:.0f} "
                    f"s (container {container}: {code or 'no status'}); nothing was posted",
                    "the run tries again later with a new container; if it keeps happening, check the image")
            time.sleep(self.settings.poll_interval)

    def _publish(self, forum: str, container: str) -> Receipt:
        try:
            body = self.graph.call("POST", f"{self._account(forum)}/media_publish", forum, safe=False,
                                   data={"creation_id": container})
        except GraphError as error:
            if error.code == 9 or error.subcode == QUOTA_SUBCODE:
                raise TransientDeliveryError(
                    self.name, forum, f"the Instagram account has reached its publishing limit ({error.said}); "
                    "nothing was posted", "the limit is a rolling 24-hour window: run again later") from None
            raise self.graph.explain(forum, error, PERMISSION) from None
        media = str(body.get("id", "")).strip()
        if not media:
            raise UncertainDeliveryError(self.name, forum, "Meta answered without a media id",
                                         "look at the account and settle the delivery")
        return self._receipt(forum, media, container, created=True)

    def _settle(self, delivery: Delivery, container: str) -> Receipt:
        """After an unknown outcome of media_publish: the container says whether it was published."""
        forum = delivery.forum
        try:
            code, _ = self._status(forum, container)
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            raise UncertainDeliveryError(self.name, forum, f"the post may have been published, and Meta could not "
                                         f"be asked ({exc.reason})", "look at the account and settle the delivery, "
                                         "or run again later: a new run looks the post up first") from None
        if code == "PUBLISHED":
            found = self._lookup_or_uncertain(delivery)
            if found is not None:
                return found
            raise UncertainDeliveryError(self.name, forum, f"container {container} is published, but the post is "
                                         "not yet among the account's recent media",
                                         "look at the account and settle the delivery as delivered")
        if code != "FINISHED":
            raise UncertainDeliveryError(self.name, forum, f"after an unknown outcome, container {container} reads "
                                         f"{code or 'nothing'}", "look at the account and settle the delivery")
        log.warning("%s → %s: container %s was not published; publishing it", self.name, forum, container)
        try:
            return self._publish(forum, container)
        except UncertainDeliveryError as again:
            raise UncertainDeliveryError(
                self.name, forum, f"{again.reason}, twice", "look at the account: if the post is there, settle the "
                "delivery as delivered; if not, run again (a new run looks the post up first)") from None

    def _receipt(self, forum: str, media: str, container: str | None, created: bool, permalink: str = "",
                 ) -> Receipt:
        if not permalink:
            try:
                answer = self.graph.call("GET", media, forum, safe=True, params={"fields": "permalink,timestamp"})
                permalink = str(answer.get("permalink", ""))
            except (GraphError, TransientDeliveryError, UncertainDeliveryError) as exc:
                log.warning("%s → %s: published as %s; its permalink could not be read (%s)", self.name, forum,
                            media, exc)
        details: dict[str, Any] = {"created": created}
        if container:
            details["container"] = container
        return Receipt("instagram", media, permalink, details=details)

    def _lookup_or_uncertain(self, delivery: Delivery) -> Receipt | None:
        try:
            return self._lookup(delivery)
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            raise UncertainDeliveryError(self.name, delivery.forum, f"the post may have been published, and it "
                                         f"could not be looked up ({exc.reason})",
                                         "look at the account and settle the delivery, or run again later") from None

    def _lookup(self, delivery: Delivery) -> Receipt | None:
        """The account's recent media; the one with this caption and young enough, if any."""
        forum = delivery.forum
        caption = delivery.variant.body.strip()
        oldest = meta.since(self.settings)
        params = {"fields": "id,caption,timestamp,permalink", "limit": self.settings.lookup_count}
        try:
            body = self.graph.call("GET", f"{self._account(forum)}/media", forum, safe=True, params=params)
        except GraphError as error:
            raise self.graph.explain(forum, error, "instagram_basic", looking_up=True) from None
        except UncertainDeliveryError as exc:
            raise TransientDeliveryError(self.name, forum, exc.reason, exc.fix) from None
        items = body.get("data")
        if not isinstance(items, list):
            raise TransientDeliveryError(self.name, forum, "the account's media could not be read", "try again later")
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("caption"), str):
                continue
            when = meta.parse_time(item.get("timestamp"))
            if meta.same_text(item["caption"], caption) and (when is None or when >= oldest):
                return self._receipt(forum, str(item.get("id", "")), None, created=False,
                                     permalink=str(item.get("permalink") or ""))
        return None
