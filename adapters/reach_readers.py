"""Reading reach from the providers the channels deliver to: one request (or two) per delivered forum, no retries.

A reading is asked again at the next point (days later), so a refusal is not waited out here: 429 (with its
`Retry-After`), 401/403 (a permission missing), 404 (the post is gone) and 5xx each become `ReachRefused` with
the reason, at once. The figures are parsed from the documented responses by the pure `*_figures` functions
(docs/reach.md cites each endpoint):

- SharePoint (Graph v1.0 itemAnalytics): `GET /sites/{site}/lists/{list}/items/{item}/analytics/allTime` →
  `itemActivityStat`; `access.actionCount` is page views, `access.actorCount` unique viewers.
- LinkedIn: `GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&…&shares=List(urn)` →
  `elements[].totalShareStatistics`.
- Facebook Page post and Instagram media: `GET /{id}/insights?metric=…` → `data[].values[].value`; Instagram
  answers an empty `data` (not 0) while a new post has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from budbringer.adapters import http
from budbringer.adapters.meta import PERMISSION as META_PERMISSION
from budbringer.adapters.meta import THROTTLED as META_THROTTLED
from budbringer.adapters.meta import TOKEN_EXPIRED as META_TOKEN_EXPIRED
from budbringer.reach_reading import ReachReading, ReachRefused, ReachSubject

#: connect and read timeouts of one reading (seconds)
TIMEOUT = (10.0, 30.0)

#: LinkedIn's totalShareStatistics fields → our metric names
LINKEDIN_FIGURES = {"impressionCount": "impressions", "uniqueImpressionsCount": "unique_impressions",
                    "clickCount": "clicks", "likeCount": "reactions", "commentCount": "comments",
                    "shareCount": "shares"}
#: Page post metrics current since Meta withdrew post_impressions* (2025): views and unique viewers of the post's
#: media, and reactions by type (summed)
FACEBOOK_METRICS = ("post_media_view", "post_total_media_view_unique", "post_reactions_by_type_total")
FACEBOOK_FIGURES = {"post_media_view": "views", "post_total_media_view_unique": "unique_viewers",
                    "post_reactions_by_type_total": "reactions"}
#: Instagram media metrics current since April 2025 (`views` replaced `impressions`)
INSTAGRAM_METRICS = ("views", "reach", "likes", "comments", "shares", "saved", "total_interactions")
INSTAGRAM_FIGURES = {"total_interactions": "interactions"}


def get(session: requests.Session, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
        what: str, permission: str) -> Any:
    """One GET; its JSON body, or ReachRefused saying why there is none now."""
    try:
        response = session.get(url, headers=dict(headers), params=params, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise ReachRefused(f"{what} could not be reached ({type(exc).__name__})") from None
    status = response.status_code
    if status == 200:
        try:
            return response.json()
        except ValueError:
            raise ReachRefused(f"{what} answered something that is not JSON") from None
    code, text = http.provider_error(response)
    said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {text[:200]}" if text else "")
    meta_code = _meta_code(response)
    if status == 429 or meta_code in META_THROTTLED:
        wait = http.retry_after(response)
        raise ReachRefused(f"{what} is throttling ({said})" + (f"; it asks to wait {wait:.0f} s" if wait else "")
                           + "; read again at the next point")
    if meta_code == META_TOKEN_EXPIRED:
        raise ReachRefused(f"{what}: the token has expired or was revoked ({said})")
    if status in (401, 403) or meta_code in META_PERMISSION:
        raise ReachRefused(f"{what} refused for lack of a permission ({said}): the token needs {permission}")
    if status == 404:
        raise ReachRefused(f"{what} does not know the post ({said}): it may have been deleted")
    raise ReachRefused(f"{what} could not answer ({said})")


def _meta_code(response: requests.Response) -> int | None:
    """Meta's error code (`{"error": {"code"}}`), which says throttling or permission under a 400 or 403."""
    try:
        code = response.json().get("error", {}).get("code")
        return int(code) if code is not None else None
    except (ValueError, AttributeError, TypeError):
        return None


# The documented responses, parsed ---------------------------------------------------------------------------


def sharepoint_figures(stat: Mapping[str, Any]) -> dict[str, int]:
    """An `itemActivityStat`: views and unique viewers from `access`; a new page has no `access` yet (0)."""
    access = stat.get("access") or {}
    return {"views": int(access.get("actionCount") or 0), "unique_viewers": int(access.get("actorCount") or 0)}


def linkedin_figures(body: Mapping[str, Any], urn: str) -> dict[str, int]:
    """`elements[].totalShareStatistics` of the element for `urn` (or the only element); none yet: zeros."""
    elements = [e for e in body.get("elements") or [] if isinstance(e, dict)]
    mine = [e for e in elements if urn in (e.get("share"), e.get("ugcPost"))] or elements[:1]
    totals = (mine[0].get("totalShareStatistics") if mine else None) or {}
    return {ours: int(totals.get(theirs) or 0) for theirs, ours in LINKEDIN_FIGURES.items()}


def insight_figures(body: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, int]:
    """Meta's insights: `data[]` of `{name, period, values: [{value}]}`; a value may be a map (summed). A metric
    absent from `data` is not given (Instagram's empty set for a new post), never 0."""
    figures: dict[str, int] = {}
    for metric in body.get("data") or []:
        values = metric.get("values") or []
        if not values:
            total = metric.get("total_value") or {}
            value: Any = total.get("value")
        else:
            value = values[-1].get("value")
        if isinstance(value, dict):
            value = sum(int(v or 0) for v in value.values())
        if value is None:
            continue
        name = str(metric.get("name", ""))
        figures[names.get(name, name)] = int(value)
    return figures


# Per channel --------------------------------------------------------------------------------------------------


def sharepoint(graph: Any, subject: ReachSubject, libraries: dict[str, str] | None = None) -> ReachReading:
    """Every page of the delivery (one per site): views and unique viewers over the page's life, summed.
    `libraries`: the sites' pages library ids found so far (the channel keeps them for its life)."""
    pages = subject.receipt.details.get("pages") or []
    if not pages:
        return ReachReading.not_measured("the receipt names no page")
    credentials = graph.credentials(subject.forum)
    headers = {"Authorization": f"Bearer {graph.token(subject.forum)}", "Accept": "application/json"}
    total = {"views": 0, "unique_viewers": 0}
    lists = libraries if libraries is not None else {}
    for page in pages:
        site = page["site_id"]
        if site not in lists:
            lists[site] = _page_library(graph.session, credentials.graph_url, site, headers)
        # A site page's id is its list item's unique id (listItemUniqueId), which itemAnalytics takes.
        url = (f"{credentials.graph_url}/sites/{quote(site, safe=',')}/lists/{lists[site]}/items/"
               f"{quote(page['page_id'])}/analytics/allTime")
        stat = get(graph.session, url, headers=headers, what="Graph itemAnalytics",
                   permission="Files.Read.All or Sites.Read.All (application)")
        for name, value in sharepoint_figures(stat).items():
            total[name] += value
    return ReachReading.measured(total, "unique viewers summed over sites" if len(pages) > 1 else "")


def _page_library(session: requests.Session, graph_url: str, site: str, headers: Mapping[str, str]) -> str:
    """The id of the site's pages library (its list template is `webPageLibrary`)."""
    body = get(session, f"{graph_url}/sites/{quote(site, safe=',')}/lists", headers=headers,
               params={"$select": "id,name,list"}, what="Graph lists", permission="Sites.Read.All")
    for entry in body.get("value") or []:
        if (entry.get("list") or {}).get("template") == "webPageLibrary":
            return str(entry["id"])
    raise ReachRefused("the site has no pages library (template webPageLibrary)")


def linkedin(session: requests.Session, base_url: str, headers: Mapping[str, str], organization: str,
             subject: ReachSubject) -> ReachReading:
    """The post's lifetime share statistics. Posts made by the versioned Posts API are `urn:li:share:` or
    `urn:li:ugcPost:`: each goes in its own list parameter (`shares=` or `ugcPosts=`)."""
    urn = subject.receipt.provider_id
    if not urn.startswith(("urn:li:share:", "urn:li:ugcPost:")):
        return ReachReading.not_measured(f"the receipt's id {urn!r} is no LinkedIn post")
    kind = "shares" if urn.startswith("urn:li:share:") else "ugcPosts"
    # Rest.li 2.0 wants the URNs inside List(…) encoded and the List syntax as it is: built by hand.
    query = (f"q=organizationalEntity&organizationalEntity={quote(organization, safe='')}"
             f"&{kind}=List({quote(urn, safe='')})")
    body = get(session, f"{base_url}/rest/organizationalEntityShareStatistics?{query}", headers=headers,
               what="LinkedIn share statistics", permission="rw_organization_admin (an organisation administrator)")
    return ReachReading.measured(linkedin_figures(body, urn))


def meta(graph: Any, subject: ReachSubject, metrics: tuple[str, ...], names: Mapping[str, str],
         permission: str) -> ReachReading:
    """A Page post's or an Instagram media object's insights."""
    node = subject.receipt.provider_id
    if not node:
        return ReachReading.not_measured("the receipt names no post")
    headers = {"Authorization": f"Bearer {graph.token(subject.forum).get_secret_value()}"}
    body = get(graph.session, f"{graph.base_url}/{quote(node)}/insights", headers=headers,
               params={"metric": ",".join(metrics)}, what="Meta insights", permission=permission)
    figures = insight_figures(body, names)
    return ReachReading.measured(figures, "" if figures else "no figures yet (Meta gives none for a new post)")


def mail(graph: Any, subject: ReachSubject, addresses: tuple[str, ...]) -> ReachReading:
    """Delivered, to how many addresses (the receipt's count), and how many members the addresses that are
    mail-enabled groups have: `GET /groups?$filter=mail eq '…'` and `GET /groups/{id}/members/$count` (with
    `ConsistencyLevel: eventual`; GroupMember.Read.All). Without that permission the group sizes are left out and
    the note says why: the delivery itself is known. Mail is not read-tracked."""
    figures = {"delivered": 1, "recipients": int(subject.receipt.details.get("recipients") or len(addresses))}
    if not addresses:
        return ReachReading.measured(figures, "no read tracking")
    try:
        credentials = graph.credentials(subject.forum)
        headers = {"Authorization": f"Bearer {graph.token(subject.forum)}", "Accept": "application/json",
                   "ConsistencyLevel": "eventual"}
        groups = members = 0
        for address in addresses:
            found = get(graph.session, f"{credentials.graph_url}/groups", headers=headers,
                        params={"$filter": f"mail eq '{address.replace(chr(39), chr(39) * 2)}'", "$select": "id"},
                        what="Graph groups", permission="GroupMember.Read.All (application)")
            for group in found.get("value") or []:
                count = get(graph.session, f"{credentials.graph_url}/groups/{quote(str(group['id']))}/members/$count",
                            headers=headers, what="Graph group members", permission="GroupMember.Read.All (application)")
                groups += 1
                members += int(count)
    except ReachRefused as refused:
        return ReachReading.measured(figures, f"no read tracking; group sizes not read: {refused.reason}")
    except Exception as exc:  # noqa: BLE001 - a sign-in problem must not hide that the mail was delivered
        return ReachReading.measured(figures, f"no read tracking; group sizes not read: {getattr(exc, 'reason', exc)}")
    if groups:
        figures["group_members"] = members
    return ReachReading.measured(figures, "no read tracking")
