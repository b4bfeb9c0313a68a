"""LinkedIn page posts through the REST Posts API (`type: linkedin`, medium `post`).

`POST {url}/rest/posts` as the organisation, with a member's token (`w_organization_social`, and
`r_organization_social` for the lookups); LinkedIn answers `201` with the post URN in `x-restli-id`, which is
the receipt. The token, its expiry date and the organisation come from the environment, so the plan holds no
secrets: `BUDBRINGER_LINKEDIN_TOKEN`, `BUDBRINGER_LINKEDIN_TOKEN_EXPIRES` (ISO date, optional),
`BUDBRINGER_LINKEDIN_ORGANIZATION` (unless `organization:` is set) and `BUDBRINGER_LINKEDIN_URL` (unless
`url:` is set; default https://api.linkedin.com). See docs/linkedin.md.

Commentary is LinkedIn's "little text": every reserved character (`| { } @ [ ] ( ) < > # \\ * _ ~`) is
backslash-escaped, else LinkedIn cuts the post at the first one without a word. A `#word` at the start of a
word becomes the documented hashtag template `{hashtag|\\#|word}` (the form LinkedIn itself returns when a
post is read back), so it stays a hashtag; any other `#` is escaped. Escaping makes a post longer, so
`review()` measures the escaped text against the limit before approval.

Creating a post has no idempotency key, so a 5xx or a timeout after sending is reconciled here: the
organisation's recent posts are looked up (the author finder) and a post with the same commentary is taken
as the receipt. Only when it is certainly not there is the post sent again, and then LinkedIn's own
duplicate check (`422 DUPLICATE_POST`, which this adapter also answers with a lookup) guards it once more.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from pydantic import Field, SecretStr

from budbringer.adapters import http
from budbringer.adapters.base import Adapter, ChannelEnvironment, ChannelSettings, SharedLimit
from budbringer.checks import Finding
from budbringer.delivery import Delivery, Receipt
from budbringer.adapters import reach_readers
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import (
    PermanentDeliveryError,
    Problem,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from budbringer.render import Variant

log = logging.getLogger("budbringer.linkedin")

DEFAULT_URL = "https://api.linkedin.com"
ENV_URL = "BUDBRINGER_LINKEDIN_URL"
ENV_TOKEN = "BUDBRINGER_LINKEDIN_TOKEN"
ENV_EXPIRES = "BUDBRINGER_LINKEDIN_TOKEN_EXPIRES"
ENV_ORGANIZATION = "BUDBRINGER_LINKEDIN_ORGANIZATION"

#: LinkedIn's limit for a post's commentary, in characters
MAX_CHARS = 3000
#: warn when a token has fewer days left than this
EXPIRY_WARNING_DAYS = 14
#: posts per organisation in flight at once, across every run and worker. LinkedIn's own limits are per day
#: (per app and per member, reset at midnight UTC, not published: the Developer Portal's Analytics tab shows
#: them), which no per-minute bucket expresses and a few posts a month never reach; what parallel runs can
#: break is the one-post-at-a-time that the lookup by commentary and LinkedIn's DUPLICATE_POST guard rely on.
ORGANIZATION_CONCURRENCY = 1

RESERVED = frozenset("|{}@[]()<>#\\*_~")
# A hashtag: `#` at the start of a word, then letters and digits (at least one letter), not followed by
# another word character. `C#`, `#1` and `#tag_x` are not hashtags and are escaped as text.
HASHTAG = re.compile(r"(?<!\S)#(?=[^\W_]*[^\W\d_])([^\W_]+)(?!\w)")
TEMPLATE = re.compile(r"\{hashtag\|\\?[#＃]\|([^{}|]*)\}")
POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


def little_text(text: str) -> str:
    """Text as LinkedIn's little text: reserved characters escaped, hashtags as hashtag templates."""
    out: list[str] = []
    position = 0
    for match in HASHTAG.finditer(text):
        out.append(_escape(text[position:match.start()]))
        out.append("{hashtag|\\#|" + match.group(1) + "}")
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    return "".join("\\" + char if char in RESERVED else char for char in text)


def plain_text(little: str) -> str:
    """Little text as a reader sees it (the inverse of little_text), for comparing posts."""
    text = TEMPLATE.sub(lambda m: "#" + m.group(1), little)
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def _same_text(a: str, b: str) -> bool:
    return " ".join(plain_text(a).split()) == " ".join(plain_text(b).split())


class LinkedInSettings(ChannelSettings):
    url: str | None = Field(default=None, description=f"API base URL; default ${ENV_URL}, else {DEFAULT_URL}.")
    organization: str | None = Field(default=None, pattern=r"^(urn:li:organization:)?\d+$",
                                     description=f"The page's organisation id; default ${ENV_ORGANIZATION}.")
    version: str = Field(default="202605", pattern=r"^20\d\d(0[1-9]|1[0-2])$",
                         description="LinkedIn-Version (YYYYMM). LinkedIn retires a version after a year.")
    lookup_count: int = Field(default=50, ge=1, le=100, description="Recent posts searched in a lookup.")
    reconcile_delay: float = Field(default=2.0, ge=0, le=60,
                                   description="Seconds to wait before looking up an uncertain post.")
    retry: http.Policy = http.Policy()


class LinkedInEnvironment(ChannelEnvironment):
    """What LinkedIn reads from the environment (once, by the entry point's settings)."""

    token: SecretStr | None = Field(default=None, validation_alias=ENV_TOKEN,
                                    description="A member's access token with w_organization_social.")
    token_expires: str | None = Field(default=None, validation_alias=ENV_EXPIRES,
                                      description="The token's expiry date (YYYY-MM-DD), to be warned in time.")
    organization: str | None = Field(default=None, validation_alias=ENV_ORGANIZATION,
                                     description="The page's organisation id unless `organization:` is set.")
    url: str | None = Field(default=None, validation_alias=ENV_URL,
                            description=f"API base URL unless `url:` is set (default {DEFAULT_URL}).")


class LinkedInAdapter(Adapter):
    type: ClassVar[str] = "linkedin"
    label: ClassVar[str] = "LinkedIn"
    media: ClassVar[frozenset[str]] = frozenset({"post"})
    measures_reach: ClassVar[bool] = True
    Settings = LinkedInSettings
    settings: LinkedInSettings
    Environment = LinkedInEnvironment
    environment: LinkedInEnvironment
    #: posts go out one at a time: LinkedIn's duplicate check and our lookups rely on it
    max_concurrency: ClassVar[int] = 1

    def __init__(self, name: str, settings: LinkedInSettings,
                 environment: LinkedInEnvironment | None = None) -> None:
        super().__init__(name, settings, environment)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "budbringer"

    # configuration: the plan's settings, else the environment as the entry point read it ---------------

    @property
    def base_url(self) -> str:
        return (self.settings.url or self.environment.url or DEFAULT_URL).strip().rstrip("/")

    def _author(self, forum: str) -> str:
        organization = self._organization()
        if not re.fullmatch(r"(urn:li:organization:)?\d+", organization):
            raise PermanentDeliveryError(self.name, forum, "no LinkedIn organisation is configured",
                                         f"set `organization:` on channel {self.name} or ${ENV_ORGANIZATION} "
                                         "to the page's numeric id")
        return organization if organization.startswith("urn:") else f"urn:li:organization:{organization}"

    def _organization(self) -> str:
        return (self.settings.organization or self.environment.organization or "").strip()

    def _token_value(self) -> str:
        return self.environment.token.get_secret_value().strip() if self.environment.token else ""

    def _token(self, forum: str) -> SecretStr:
        value = self._token_value()
        if not value:
            raise PermanentDeliveryError(self.name, forum, f"${ENV_TOKEN} is not set",
                                         "create a token as docs/linkedin.md describes and set it")
        return SecretStr(value)

    def _headers(self, forum: str, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token(forum).get_secret_value()}",
            "LinkedIn-Version": self.settings.version,
            "X-Restli-Protocol-Version": "2.0.0",
            **extra,
        }

    # the protocol ----------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        commentary = little_text(delivery.variant.body.strip())
        try:
            return self._create(delivery, commentary)
        except UncertainDeliveryError as first:
            log.warning("%s → %s: %s; looking the post up", self.name, forum, first.reason)
        # The request went out and the answer was lost: look before sending again.
        time.sleep(self.settings.reconcile_delay)
        found = self._lookup_or_uncertain(forum, commentary)
        if found is not None:
            return found
        log.warning("%s → %s: the post is not among the page's recent posts; sending it again", self.name, forum)
        try:
            return self._create(delivery, commentary)
        except UncertainDeliveryError as again:
            raise UncertainDeliveryError(
                self.name, forum, f"{again.reason}, twice; the post was not found among the page's recent posts",
                "look at the page: if the post is there, settle the delivery as delivered; if not, run again "
                "(LinkedIn refuses an identical post, so a second run cannot post it twice)") from None

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        """One post at a time per organisation, across runs (see ORGANIZATION_CONCURRENCY). The id is the
        page's public number, not a secret. No organisation configured: none (deliver() refuses it)."""
        organization = self._organization()
        number = re.fullmatch(r"(?:urn:li:organization:)?(\d+)", organization)
        if not number:
            return []
        return [SharedLimit(f"budbringer-linkedin-org-{number.group(1)}", ORGANIZATION_CONCURRENCY)]

    def find(self, delivery: Delivery) -> Receipt | None:
        # A lookup that cannot be made now raises TransientDeliveryError: the caller tries again later.
        return self._lookup(delivery.forum, little_text(delivery.variant.body.strip()))

    def reach_limits(self) -> list[SharedLimit]:
        """A reading holds the same slot as a post (its `limits` read only the channel's settings)."""
        return self.limits(None)  # type: ignore[arg-type]  # limits() reads no field of the delivery here

    def reach(self, subject: ReachSubject) -> ReachReading:
        """The post's share statistics (impressions, clicks, reactions, comments, shares; docs/reach.md)."""
        return reach_readers.linkedin(self.session, self.base_url, self._headers(subject.forum),
                                      self._author(subject.forum), subject)

    def preflight(self) -> list[Problem]:
        where = f"channels.{self.name}"
        problems: list[Problem] = []
        if not self._token_value():
            problems.append(Problem(where, ENV_TOKEN, "is not set",
                                    "create a token with w_organization_social as docs/linkedin.md describes, "
                                    f"then set {ENV_TOKEN} (and {ENV_EXPIRES} to its expiry date)"))
        if not (self._organization()):
            problems.append(Problem(where, "organization", "no LinkedIn organisation is configured",
                                    f"set `organization:` (the page's numeric id) or {ENV_ORGANIZATION}"))
        if not self.base_url.startswith("https://"):
            problems.append(Problem(where, "url", f"{self.base_url} is not an https:// URL",
                                    "use https:// (the token must never travel unencrypted)"))
        try:
            expires = token_expiry(self.environment)
        except ValueError as exc:
            problems.append(Problem(where, ENV_EXPIRES, str(exc), "write the date as YYYY-MM-DD"))
        else:
            if expires is not None:
                left = (expires - _today()).days
                if left < 0:
                    problems.append(Problem(where, ENV_EXPIRES, f"the LinkedIn token expired on {expires}",
                                            "renew it (docs/linkedin.md), then update both variables"))
                elif left < EXPIRY_WARNING_DAYS:
                    log.warning("the LinkedIn token expires on %s, in %d day(s): renew it (docs/linkedin.md)",
                                expires, left)
        return problems

    @classmethod
    def review(cls, variant: Variant, forum: Any) -> list[Finding]:
        findings: list[Finding] = []
        limit = min(MAX_CHARS, forum.max_chars or MAX_CHARS)
        raw = len(variant.body.strip())
        escaped = len(little_text(variant.body.strip()))
        # Over the limit as written is already reported by the plan's own length check.
        if escaped > limit >= len(variant.body):
            findings.append(Finding(
                variant.forum, "error",
                f"{escaped} characters once escaped for LinkedIn ({raw} as written); LinkedIn takes at most "
                f"{limit}: shorten the post, or use fewer of the characters LinkedIn escapes "
                f"(| {{ }} @ [ ] ( ) < > # \\ * _ ~)",
                f"{escaped} tegn, når teksten er gjort klar til LinkedIn ({raw} som skrevet); LinkedIn kan højst "
                f"rumme {limit}."))
        return findings

    @classmethod
    def review_with(cls, environment: LinkedInEnvironment, variant: Variant,  # type: ignore[override]  # its own model
                    forum: Any) -> list[Finding]:
        """A token that expires soon, as a warning beside the post (the expiry date is in the environment)."""
        findings: list[Finding] = []
        try:
            expires = token_expiry(environment)
        except ValueError:
            expires = None  # preflight names the bad date
        if expires is not None and 0 <= (left := (expires - _today()).days) < EXPIRY_WARNING_DAYS:
            findings.append(Finding(
                variant.forum, "warning",
                f"the LinkedIn token expires on {expires.isoformat()}, in {left} day{'' if left == 1 else 's'}; "
                f"renew it before the post goes out (docs/linkedin.md)",
                f"Adgangen til LinkedIn udløber om {left} dag{'' if left == 1 else 'e'} og skal fornyes, før "
                f"opslaget kan sendes."))
        return findings

    def close(self) -> None:
        self.session.close()

    # the calls -------------------------------------------------------------------------------------

    def _create(self, delivery: Delivery, commentary: str) -> Receipt:
        forum = delivery.forum
        body = {
            "author": self._author(forum),
            "commentary": commentary,
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        try:
            response = http.call(self.session, "POST", f"{self.base_url}/rest/posts", channel=self.name,
                                 forum=forum, safe=False, policy=self.settings.retry, expect=(201,),
                                 json=body, headers=self._headers(forum, **{"Content-Type": "application/json"}))
        except http.Refused as refused:
            if refused.status == 422 and "DUPLICATE_POST" in (refused.code + refused.response.text):
                return self._duplicate(forum, commentary, refused)
            raise self._explain(forum, refused) from None
        except TransientDeliveryError as exc:
            raise self._throttled(exc) from None
        urn = response.headers.get("x-restli-id", "").strip()
        if not urn:
            raise UncertainDeliveryError(self.name, forum, "LinkedIn answered 201 without a post id (x-restli-id)",
                                         "look at the page and settle the delivery")
        return _receipt(urn, created=True)

    def _duplicate(self, forum: str, commentary: str, refused: http.Refused) -> Receipt:
        """LinkedIn already has this post: that is evidence it was delivered. Its URN is the receipt."""
        found = self._lookup_or_uncertain(forum, commentary)
        if found is not None:
            return Receipt(found.provider, found.provider_id, found.url, details={**found.details,
                                                                                    "duplicate": True})
        named = POST_URN.search(refused.text)
        if named:
            return Receipt("linkedin", named.group(0), _post_url(named.group(0)),
                           details={"duplicate": True, "from": "LinkedIn's DUPLICATE_POST answer"})
        raise UncertainDeliveryError(
            self.name, forum, f"LinkedIn says the post already exists (DUPLICATE_POST), but it is not among the "
            f"page's {self.settings.lookup_count} most recent posts",
            "find the post on the page and settle the delivery as delivered with its URN")

    def _lookup_or_uncertain(self, forum: str, commentary: str) -> Receipt | None:
        try:
            return self._lookup(forum, commentary)
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            # The post may exist: a failed lookup must not turn that into "nothing was delivered".
            raise UncertainDeliveryError(self.name, forum, f"the post may have been created, and it could not be "
                                         f"looked up ({exc.reason})",
                                         "look at the page and settle the delivery, or run again later: a new "
                                         "run looks the post up before sending") from None

    def _lookup(self, forum: str, commentary: str) -> Receipt | None:
        """The organisation's most recent posts (the author finder); the one with this commentary, if any."""
        author = self._author(forum)
        # Rest.li 2.0 wants the URN in the query string URL-encoded (urn%3Ali%3Aorganization%3A…).
        query = f"q=author&author={quote(author, safe='')}&count={self.settings.lookup_count}&sortBy=LAST_MODIFIED"
        try:
            response = http.call(self.session, "GET", f"{self.base_url}/rest/posts?{query}", channel=self.name,
                                 forum=forum, safe=True, policy=self.settings.retry, expect=(200,),
                                 headers=self._headers(forum, **{"X-RestLi-Method": "FINDER"}))
        except http.Refused as refused:
            raise self._explain(forum, refused, looking_up=True) from None
        except UncertainDeliveryError as exc:  # a lookup changes nothing: its failure is transient
            raise TransientDeliveryError(self.name, forum, exc.reason, exc.fix) from None
        try:
            elements = response.json().get("elements", [])
        except (ValueError, AttributeError):
            raise TransientDeliveryError(self.name, forum, "LinkedIn's list of posts could not be read",
                                         "try again later") from None
        for post in elements:
            if (isinstance(post, dict) and post.get("author") == author and isinstance(post.get("commentary"), str)
                    and _same_text(post["commentary"], commentary)):
                urn = str(post.get("id", ""))
                if urn:
                    return _receipt(urn, created=False, state=str(post.get("lifecycleState", "")))
        return None

    def _explain(self, forum: str, refused: http.Refused, looking_up: bool = False) -> PermanentDeliveryError:
        said = f"LinkedIn said HTTP {refused.status} {refused.code} {refused.text}".strip()
        if refused.status == 401:
            expires = _expiry_or_none(self.environment)
            when = f" (it expires on {expires.isoformat()})" if expires and expires >= _today() else (
                f" (it expired on {expires.isoformat()})" if expires else "")
            return PermanentDeliveryError(
                self.name, forum, f"the LinkedIn token has expired or was revoked — renew it{when}",
                f"a page admin signs in to the app again for a new token (docs/linkedin.md), then sets "
                f"{ENV_TOKEN} and {ENV_EXPIRES}; nothing was posted")
        if refused.status == 403:
            need = "r_organization_social" if looking_up else "w_organization_social"
            return PermanentDeliveryError(
                self.name, forum, f"LinkedIn refused access to {self._author(forum)}: {said}",
                f"the token needs the {need} scope, and its member must be an admin (or content admin) of the "
                "page (docs/linkedin.md)")
        if refused.status == 426 or refused.code in ("NONEXISTENT_VERSION", "VERSION_MISSING"):
            return PermanentDeliveryError(
                self.name, forum, f"LinkedIn no longer accepts version {self.settings.version}: {said}",
                f"set `version:` on channel {self.name} to a current YYYYMM version (docs/linkedin.md)")
        return PermanentDeliveryError(self.name, forum, said,
                                      "fix the post or the channel settings; nothing was posted")

    def _throttled(self, exc: TransientDeliveryError) -> TransientDeliveryError:
        if "HTTP 429" not in exc.reason:
            return exc
        # LinkedIn's quotas are per day and reset at midnight UTC: retrying within seconds will not help.
        now = dt.datetime.now(dt.UTC)
        reset = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        hours = (reset - now).total_seconds() / 3600
        return TransientDeliveryError(
            self.name, exc.forum, f"LinkedIn's daily limit is used up ({exc.reason}); nothing was posted",
            f"LinkedIn resets its limits at midnight UTC: run again after {reset:%Y-%m-%d %H:%M} UTC "
            f"(in {hours:.0f} h)")


def token_expiry(environment: LinkedInEnvironment) -> dt.date | None:
    """The token's expiry date as the environment gives it; ValueError when it is not a date."""
    value = (environment.token_expires or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"{value!r} is not a date") from None


def _expiry_or_none(environment: LinkedInEnvironment) -> dt.date | None:
    try:
        return token_expiry(environment)
    except ValueError:
        return None


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def _receipt(urn: str, created: bool, state: str = "") -> Receipt:
    details: dict[str, Any] = {"created": created}
    if state:
        details["lifecycleState"] = state
    return Receipt(provider="linkedin", provider_id=urn, url=_post_url(urn), details=details)
