"""SharePoint news through Graph (`type: sharepoint_news`): the intranets' news pages.

A forum lists its sites (`sites: [host/sites/name, …]`: the Socialområde's main site, the specialty areas'
local sites, the regional intranet); the same news page goes to each. Per site:

1. the site id from `GET /sites/{host}:/{path}` (kept for the run, by the channel object);
2. the page by its name, derived from the delivery key (`budbringer-<short key>.aspx`):
   `GET /sites/{id}/pages/microsoft.graph.sitePage?$filter=name eq '…'`;
3. if it is not there, `POST /sites/{id}/pages`: a `sitePage` with `promotionKind: newsPost`, the `article`
   layout and one text web part holding the variant's sanitised HTML (201 with `id` and `webUrl`);
4. if it is not published, `POST /sites/{id}/pages/{page}/microsoft.graph.sitePage/publish` (204).

Every site is resolved before any page is made, so a wrong path stops the forum before its first page. The
name makes the create safe to repeat: after an unknown outcome (5xx, timeout, broken connection) the page
is looked up by name and created again only if it is not there; a page that exists but is not published is
published. The receipt holds every page's id and `webUrl`. Permission: `Sites.ReadWrite.All` (or
`Sites.Selected` with write access to each site). Which layer retries what: see adapters/graph.py.
"""

from __future__ import annotations

import builtins
import html
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from budbringer.adapters.addressing import PageSites
from budbringer.adapters.base import Adapter, ChannelSettings, ForumAddressing
from budbringer.adapters.graph import GraphClient, GraphEnvironment, RetrySettings, clients, odata_string, query, token_fix
from budbringer.delivery import Delivery, Receipt
from budbringer.adapters import reach_readers
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import (
    DeliveryError,
    PermanentDeliveryError,
    Problem,
    TransientDeliveryError,
    UncertainDeliveryError,
)

if TYPE_CHECKING:
    from budbringer.plan import Plan

log = logging.getLogger("budbringer.sharepoint")

#: web part ids are GUIDs; deriving them from the delivery key keeps the page body deterministic
_WEBPART_NAMESPACE = uuid.UUID("0b7f4a2e-93c1-4d55-8e6a-2f1c5d9b7e31")


class SharePointNewsSettings(ChannelSettings):
    page_prefix: str = Field(default="budbringer", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$",
                             description="Start of every page's name: <prefix>-<short key>.aspx")
    confirm_after: float = Field(default=2.0, ge=0, description="Seconds to wait before looking for a page "
                                                                "whose create had an unknown outcome.")
    creates: int = Field(default=2, ge=1, description="Creates per site while the lookup shows no page.")
    retry: RetrySettings = RetrySettings()


def page_name(delivery: Delivery, prefix: str = "budbringer") -> str:
    return f"{prefix}-{delivery.short_key}.aspx"


def split_site(site: str) -> tuple[str, str]:
    """'host/sites/name' → ('host', 'sites/name'); 'host' → ('host', '') for the root site."""
    host, _, path = site.strip().strip("/").partition("/")
    return host, path.strip("/")


def page_body(delivery: Delivery, name: str) -> dict[str, Any]:
    """The create request for one news page (pure)."""
    variant = delivery.variant
    if variant.body_format == "html":
        inner = variant.body.strip()
    else:
        inner = "".join(f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
                        for block in variant.body.strip().split("\n\n"))
    return {
        "@odata.type": "#microsoft.graph.sitePage",
        "name": name,
        "title": variant.subject,
        "description": variant.summary,
        "pageLayout": "article",
        "promotionKind": "newsPost",
        "canvasLayout": {"horizontalSections": [{
            "id": "1", "layout": "oneColumn", "emphasis": "none",
            "columns": [{"id": "1", "width": 12, "webparts": [{
                "@odata.type": "#microsoft.graph.textWebPart",
                "id": str(uuid.uuid5(_WEBPART_NAMESPACE, delivery.key)),
                "innerHtml": inner,
            }]}],
        }]},
    }


def is_published(page: dict[str, Any]) -> bool:
    return str((page.get("publishingState") or {}).get("level", "")).lower() == "published"


class SharePointNewsAdapter(Adapter):
    type: ClassVar[str] = "sharepoint_news"
    label: ClassVar[str] = "SharePoint-nyhed"
    Addressing: ClassVar[builtins.type[ForumAddressing]] = PageSites
    media: ClassVar[frozenset[str]] = frozenset({"page"})
    measures_reach: ClassVar[bool] = True
    Settings = SharePointNewsSettings
    settings: SharePointNewsSettings
    Environment = GraphEnvironment
    environment: GraphEnvironment

    def __init__(self, name: str, settings: SharePointNewsSettings,
                 environment: GraphEnvironment | None = None) -> None:
        super().__init__(name, settings, environment)
        self.graph = GraphClient(name, settings.retry, self.environment)
        self.plan_sites: tuple[str, ...] = ()
        # Site ids resolved by this channel object (one run): host/path, lower-cased → id and webUrl.
        self._sites: dict[str, dict[str, Any]] = {}
        self._page_libraries: dict[str, str] = {}  # site id → its pages library's list id (reach readings)
        self._sites_lock = threading.Lock()

    def bind(self, plan: Plan, channels: Mapping[str, Adapter]) -> None:
        """Learn the sites of the plan's fora on this channel, so that preflight() can resolve them; sign in
        once with the run's other Graph channels."""
        self.graph.share_sign_in(clients(channels))
        self.plan_sites = tuple(dict.fromkeys(site for forum in plan.fora.values()
                                              if forum.channel == self.name and forum.enabled
                                              for site in forum.address.page_sites()))

    # delivering ------------------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        sites = [self.site(site, forum) for site in self._sites_of(delivery)]
        name = page_name(delivery, self.settings.page_prefix)
        pages: list[dict[str, Any]] = []
        for site in sites:
            try:
                page, created, published_now = self._one_site(site, delivery, name)
            except DeliveryError as exc:
                if not pages:
                    raise
                # The pages made so far stay; a later attempt finds them by name and completes the rest.
                done = ", ".join(p["site"] for p in pages)
                raise type(exc)(self.name, forum, f"published on {done}; {site['site']}: {exc.reason}",
                                exc.fix) from None
            log.info("%s → %s: %s on %s (%s)", self.name, forum, name, site["site"],
                     "created and published" if created else "published" if published_now else "already there")
            pages.append(_page_record(site, page, created=created, published_now=published_now))
        return _receipt(name, pages)

    def _one_site(self, site: dict[str, Any], delivery: Delivery, name: str) -> tuple[dict[str, Any], bool, bool]:
        page = self._find_page(site, name, delivery.forum)
        created = page is None
        if page is None:
            page = self._create(site, delivery, name)
        published_now = not is_published(page)
        if published_now:
            self._publish(site, page, delivery.forum)
        return page, created, published_now

    def _sites_of(self, delivery: Delivery) -> tuple[str, ...]:
        if not delivery.variant.sites:
            raise PermanentDeliveryError(self.name, delivery.forum, "the forum lists no sites",
                                         "list them under the forum's `sites` as host/sites/name")
        return delivery.variant.sites

    def site(self, site: str, forum: str) -> dict[str, Any]:
        """The site's id and webUrl, from `GET /sites/{host}:/{path}` once per run (this channel object)."""
        host, path = split_site(site)
        if not host or " " in host:
            raise PermanentDeliveryError(self.name, forum, f"site {site!r} is not host/sites/name",
                                         "write it as e.g. contoso.sharepoint.com/sites/intranet")
        cache_key = f"{host.lower()}/{path.lower()}"
        with self._sites_lock:
            if cache_key in self._sites:
                return self._sites[cache_key]
        route = f"/sites/{quote(host)}:/{quote(path)}" if path else f"/sites/{quote(host)}"

        def fix(status: int, code: str) -> str:
            if status in (400, 404):
                return f"site not found: check the path {site!r} in the forum's `sites` (host/sites/name)"
            return token_fix(status, code) or self._access_fix(status, site)

        found = self.graph.request("GET", route + query(select="id,webUrl,displayName"), forum=forum, safe=True,
                                   fix=fix).json()
        resolved = {"site": site, "id": found["id"], "webUrl": found.get("webUrl", "")}
        with self._sites_lock:
            self._sites[cache_key] = resolved
        return resolved

    def _find_page(self, site: dict[str, Any], name: str, forum: str) -> dict[str, Any] | None:
        route = (f"/sites/{quote(site['id'], safe=',')}/pages/microsoft.graph.sitePage"
                 + query(filter=f"name eq {odata_string(name)}", select="id,name,webUrl,publishingState"))

        def fix(status: int, code: str) -> str:
            return token_fix(status, code) or self._access_fix(status, site["site"])

        pages = self.graph.request("GET", route, forum=forum, safe=True, fix=fix).json().get("value") or []
        matching = [page for page in pages if str(page.get("name", "")).lower() == name.lower()]
        return matching[0] if matching else None

    def _create(self, site: dict[str, Any], delivery: Delivery, name: str) -> dict[str, Any]:
        """Create the page. After an unknown outcome, look it up by name and create again only if it is not
        there; 409 (the name is taken) means an earlier attempt made it."""
        forum = delivery.forum
        route = f"/sites/{quote(site['id'], safe=',')}/pages"

        def fix(status: int, code: str) -> str:
            if status == 400:
                return "Graph refused the page: check the template's output (see Graph's message)"
            return token_fix(status, code) or self._access_fix(status, site["site"])

        for attempt in range(1, self.settings.creates + 1):
            try:
                response = self.graph.request("POST", route, forum=forum, safe=False, fix=fix, expect=(201, 409),
                                              json=page_body(delivery, name))
            except UncertainDeliveryError as exc:
                time.sleep(self.settings.confirm_after)
                page = self._find_page(site, name, forum)
                if page is not None:
                    log.info("%s → %s: %s was created after all (%s)", self.name, forum, name, exc.reason)
                    return page
                if attempt == self.settings.creates:
                    raise TransientDeliveryError(
                        self.name, forum, f"creating {name} on {site['site']}: {exc.reason}; the page is not there "
                        f"(looked up by name after {attempt} attempts)", "the run tries again later") from None
                log.warning("%s → %s: %s is not on %s after an unknown outcome; creating it again", self.name,
                            forum, name, site["site"])
                continue
            if response.status_code == 201:
                return response.json()
            page = self._find_page(site, name, forum)  # 409: the name is taken, by an earlier attempt
            if page is None:
                raise UncertainDeliveryError(self.name, forum, f"{site['site']} says a page named {name} exists, "
                                             "but it cannot be found", f"look for {name} in the site's pages")
            return page
        raise AssertionError("unreachable")  # pragma: no cover

    def _publish(self, site: dict[str, Any], page: dict[str, Any], forum: str) -> None:
        route = (f"/sites/{quote(site['id'], safe=',')}/pages/{quote(str(page['id']))}"
                 "/microsoft.graph.sitePage/publish")

        def fix(status: int, code: str) -> str:
            if status == 404:
                return f"the page {page.get('name', page['id'])} is gone from {site['site']}: run the delivery again"
            return token_fix(status, code) or self._access_fix(status, site["site"])

        # Publishing is idempotent (it publishes the latest version), so it is safe to repeat.
        self.graph.request("POST", route, forum=forum, safe=True, fix=fix, expect=(200, 204))
        page["publishingState"] = {**(page.get("publishingState") or {}), "level": "published"}

    def _access_fix(self, status: int, site: str) -> str:
        if status == 403:
            return ("grant the application permission Sites.ReadWrite.All to the app and give admin consent "
                    f"(with Sites.Selected: give the app write access to {site})")
        return "see Graph's message above"

    # reconciling -----------------------------------------------------------------------------------------

    def find(self, delivery: Delivery) -> Receipt | None:
        """The page published on every site → its receipt; otherwise None (a delivery completes what is
        missing, and never makes a second page)."""
        name = page_name(delivery, self.settings.page_prefix)
        pages = []
        for site_name in self._sites_of(delivery):
            site = self.site(site_name, delivery.forum)
            page = self._find_page(site, name, delivery.forum)
            if page is None or not is_published(page):
                return None
            pages.append(_page_record(site, page, created=False, published_now=False))
        return _receipt(name, pages)

    # checking --------------------------------------------------------------------------------------------

    def reach(self, subject: ReachSubject) -> ReachReading:
        """Views and unique viewers of the news page(s), from Graph's itemAnalytics (docs/reach.md)."""
        return reach_readers.sharepoint(self.graph, subject, self._page_libraries)

    def preflight(self, sites: tuple[str, ...] | list[str] | None = None) -> list[Problem]:
        """Sign in, and resolve the sites (by default those of the plan's fora on this channel): a wrong path or
        a missing permission shows here, before anything is published."""
        problems = self.graph.preflight()
        if problems:
            return problems
        wanted = list(self.plan_sites if sites is None else sites)

        def look_up(site: str) -> Problem | None:
            try:
                self.site(site, "(preflight)")
            except DeliveryError as exc:
                return Problem(f"channels.{self.name}", f"site {site}", exc.reason, exc.fix)
            return None

        # Side by side, as many as the channel delivers at once: a plan with a page per local committee has
        # hundreds of sites, one lookup each (docs/benchmarks.md, sixth round); the problems in the plan's order.
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(wanted))),
                                thread_name_prefix=f"preflight-{self.name}") as pool:
            found = list(pool.map(look_up, wanted))
        return [problem for problem in found if problem is not None]

    def close(self) -> None:
        self.graph.close()


def _page_record(site: dict[str, Any], page: dict[str, Any], *, created: bool, published_now: bool) -> dict[str, Any]:
    return {"site": site["site"], "site_id": site["id"], "page_id": str(page.get("id", "")),
            "webUrl": page.get("webUrl", ""), "created": created, "published_now": published_now}


def _receipt(name: str, pages: list[dict[str, Any]]) -> Receipt:
    return Receipt(provider="sharepoint_news", provider_id=",".join(p["page_id"] for p in pages),
                   url=pages[0]["webUrl"] if pages else "", details={"name": name, "pages": pages})
