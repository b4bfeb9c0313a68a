"""Facebook Page posts through Meta's Graph API (`type: facebook_page`, medium `post`).

`POST {url}/{version}/{page-id}/feed` with `message` (and `link` when the message has one), as the Page, with
a Page access token (`pages_manage_posts`); Meta answers `{"id": "{page-id}_{post-id}"}`. The permalink is
then read from the post (`GET /{post-id}?fields=permalink_url`); post id and permalink are the receipt.
The Page is `page:` or `BUDBRINGER_META_PAGE_ID`; the token `BUDBRINGER_META_PAGE_TOKEN`. See docs/meta.md
and adapters/meta.py (errors, throttling, token).

Keep posts short: `review()` refuses a post over MAX_CHARS (1,000) characters. Facebook itself takes about
63,000, but a Page post is read in a feed on a phone, where the text folds after a few lines; 1,000 leaves
room for the title, the citizens' section, the narrative and a link, and no more.

Exactly once: the feed takes no idempotency key. The marker is the exact text the adapter sends (the approved
post, whitespace aside) together with its age: after an unknown outcome (a 5xx, a timeout after sending, a
crash) the Page's `published_posts` from the last `lookup_days` are searched for that text before anything
is posted again. Meta's own guard against the same text twice in a row (code 506) is answered the same way.
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

log = logging.getLogger("budbringer.facebook")

ENV_PAGE = "BUDBRINGER_META_PAGE_ID"
#: the longest Page post Budbringer sends (see the module's docstring)
MAX_CHARS = 1000
PERMISSION = "pages_manage_posts"


class FacebookPageSettings(MetaSettings):
    page: str | None = Field(default=None, pattern=r"^\d{5,20}$",
                             description=f"The Page's numeric id; default ${ENV_PAGE}.")


class FacebookPageEnvironment(MetaEnvironment):
    page: str | None = Field(default=None, validation_alias=ENV_PAGE, description="The Page's numeric id unless `page:` is set.")


class FacebookPageAdapter(Adapter):
    type: ClassVar[str] = "facebook_page"
    label: ClassVar[str] = "Facebook-side"
    media: ClassVar[frozenset[str]] = frozenset({"post"})
    measures_reach: ClassVar[bool] = True
    Settings = FacebookPageSettings
    settings: FacebookPageSettings
    Environment = FacebookPageEnvironment
    environment: FacebookPageEnvironment
    #: one post at a time: the lookup by text relies on it
    max_concurrency: ClassVar[int] = 1

    def __init__(self, name: str, settings: FacebookPageSettings,
                 environment: FacebookPageEnvironment | None = None) -> None:
        super().__init__(name, settings, environment)
        self.graph = meta.Graph(name, settings, self.environment)

    def _page_id(self) -> str:
        return (self.settings.page or self.environment.page or "").strip()

    def _page(self, forum: str) -> str:
        page = self._page_id()
        if not re.fullmatch(r"\d{5,20}", page):
            raise PermanentDeliveryError(self.name, forum, "no Facebook Page is configured",
                                         f"set `page:` on channel {self.name} or ${ENV_PAGE} to the Page's id")
        return page

    # the protocol ----------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        try:
            return self._create(delivery)
        except UncertainDeliveryError as first:
            log.warning("%s → %s: %s; looking the post up", self.name, forum, first.reason)
        time.sleep(self.settings.reconcile_delay)
        found = self._lookup_or_uncertain(delivery)
        if found is not None:
            return found
        log.warning("%s → %s: the post is not on the Page; posting it again", self.name, forum)
        try:
            return self._create(delivery)
        except UncertainDeliveryError as again:
            raise UncertainDeliveryError(
                self.name, forum, f"{again.reason}, twice; the post was not found among the Page's recent posts",
                "look at the Page: if the post is there, settle the delivery as delivered; if not, run again "
                "(a new run looks the post up before posting)") from None

    def find(self, delivery: Delivery) -> Receipt | None:
        return self._lookup(delivery)

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        """One post at a time per Page across runs; the Page id is public, not a secret."""
        page = self._page_id()
        return [SharedLimit(f"budbringer-facebook-page-{page}", 1)] if re.fullmatch(r"\d{5,20}", page) else []

    def reach_limits(self) -> list[SharedLimit]:
        """A reading holds the same slot as a post (its `limits` read only the channel's settings)."""
        return self.limits(None)  # type: ignore[arg-type]  # limits() reads no field of the delivery here

    def reach(self, subject: ReachSubject) -> ReachReading:
        """The Page post's insights (views, unique viewers, reactions; docs/reach.md). Needs read_insights."""
        return reach_readers.meta(self.graph, subject, reach_readers.FACEBOOK_METRICS, reach_readers.FACEBOOK_FIGURES,
                                  "read_insights (a Page token of someone who may ANALYZE the Page)")

    def preflight(self) -> list[Problem]:
        page = self._page_id() or None
        return self.graph.preflight(f"channels.{self.name}", (
            "page", page, f"set `page:` (the Page's numeric id) or {ENV_PAGE}"))

    @classmethod
    def review(cls, variant: Variant, forum: Any) -> list[Finding]:
        text = variant.body.strip()
        if forum.max_chars is not None and forum.max_chars <= MAX_CHARS:
            return []  # the plan's own length check measures it against the stricter limit
        if len(text) <= MAX_CHARS:
            return []
        return [Finding(
            variant.forum, "error",
            f"{len(text)} characters; a Facebook post from Budbringer takes at most {MAX_CHARS}: shorten the "
            f"message's {variant.stakeholder} section or summary (the post folds after a few lines in the feed)",
            f"{len(text)} tegn; et opslag på Facebook må højst fylde {MAX_CHARS} tegn.")]

    def close(self) -> None:
        self.graph.close()

    # the calls -------------------------------------------------------------------------------------

    def _create(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        data = {"message": delivery.variant.body.strip()}
        if delivery.variant.link:
            data["link"] = delivery.variant.link
        try:
            body = self.graph.call("POST", f"{self._page(forum)}/feed", forum, safe=False, data=data)
        except GraphError as error:
            if error.code == meta.DUPLICATE_POST:
                return self._duplicate(delivery, error)
            raise self.graph.explain(forum, error, PERMISSION) from None
        post_id = str(body.get("id", "")).strip()
        if not post_id:
            raise UncertainDeliveryError(self.name, forum, "Meta answered without a post id",
                                         "look at the Page and settle the delivery")
        return self._receipt(forum, post_id, created=True)

    def _duplicate(self, delivery: Delivery, error: GraphError) -> Receipt:
        """Meta says the Page just posted this text: that is evidence it was delivered; find it for the id."""
        found = self._lookup_or_uncertain(delivery)
        if found is not None:
            return Receipt(found.provider, found.provider_id, found.url, details={**found.details, "duplicate": True})
        raise UncertainDeliveryError(
            self.name, delivery.forum, f"Meta calls the post a duplicate ({error.said}), but it is not among the "
            f"Page's recent posts", "find the post on the Page and settle the delivery as delivered")

    def _receipt(self, forum: str, post_id: str, created: bool, permalink: str = "") -> Receipt:
        if not permalink:
            try:  # a lookup that changes nothing; without it the receipt still has the id
                answer = self.graph.call("GET", post_id, forum, safe=True, params={"fields": "permalink_url"})
                permalink = str(answer.get("permalink_url", ""))
            except (GraphError, TransientDeliveryError, UncertainDeliveryError) as exc:
                log.warning("%s → %s: posted as %s; its permalink could not be read (%s)", self.name, forum,
                            post_id, exc)
        return Receipt("facebook", post_id, permalink or f"https://www.facebook.com/{post_id}",
                       details={"created": created})

    def _lookup_or_uncertain(self, delivery: Delivery) -> Receipt | None:
        try:
            return self._lookup(delivery)
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            raise UncertainDeliveryError(self.name, delivery.forum, f"the post may have been created, and it "
                                         f"could not be looked up ({exc.reason})",
                                         "look at the Page and settle the delivery, or run again later: a new "
                                         "run looks the post up before posting") from None

    def _lookup(self, delivery: Delivery) -> Receipt | None:
        """The Page's recent published posts; the one with this text and young enough, if any."""
        forum = delivery.forum
        text = delivery.variant.body.strip()
        oldest = meta.since(self.settings)
        params = {"fields": "id,message,created_time,permalink_url", "limit": self.settings.lookup_count}
        try:
            body = self.graph.call("GET", f"{self._page(forum)}/published_posts", forum, safe=True, params=params)
        except GraphError as error:
            raise self.graph.explain(forum, error, PERMISSION, looking_up=True) from None
        except UncertainDeliveryError as exc:  # a lookup changes nothing: its failure is transient
            raise TransientDeliveryError(self.name, forum, exc.reason, exc.fix) from None
        posts = body.get("data")
        if not isinstance(posts, list):
            raise TransientDeliveryError(self.name, forum, "the Page's posts could not be read", "try again later")
        for post in posts:
            if not isinstance(post, dict) or not isinstance(post.get("message"), str):
                continue
            created = meta.parse_time(post.get("created_time"))
            if meta.same_text(post["message"], text) and (created is None or created >= oldest):
                return self._receipt(forum, str(post.get("id", "")), created=False,
                                     permalink=str(post.get("permalink_url") or ""))
        return None
