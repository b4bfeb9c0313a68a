"""The Graph endpoints the reach readings call (docs/reach.md), for the Graph emulator (tests/servers/graph.py):
a site's lists (its pages library), a page's itemAnalytics, a group by its mail address and its member count."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from tests.servers.https import Reply, Request

if TYPE_CHECKING:
    from tests.servers.entra import Token
    from tests.servers.graph import Site


class ReachEndpoints:
    """Mixed into `GraphEmulator`, whose state (sites, `page_views`, `groups`) and checks they use."""

    sites: dict[str, Site]
    page_views: dict[str, tuple[int, int]]
    groups: dict[str, tuple[str, int]]

    def _denied(self, token: Token, *roles: str) -> bool:  # GraphEmulator's
        raise NotImplementedError

    def _known_site(self, site_id: str) -> Site | Reply:  # GraphEmulator's
        raise NotImplementedError

    @staticmethod
    def pages_list(site: Site) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, site.id + "/SitePages"))

    def _lists(self, token: Token, site_id: str) -> Reply:
        if self._denied(token, "Sites.ReadWrite.All", "Sites.Read.All"):
            return _error(403, "accessDenied", "Access denied")
        site = self._known_site(site_id)
        if isinstance(site, Reply):
            return site
        documents = str(uuid.uuid5(uuid.NAMESPACE_URL, site.id + "/Shared Documents"))
        return Reply(200, {"value": [
            {"id": documents, "name": "Shared Documents", "list": {"template": "documentLibrary"}},
            {"id": self.pages_list(site), "name": "SitePages", "list": {"template": "webPageLibrary"}},
        ]})

    def _analytics(self, token: Token, site_id: str, list_id: str, item_id: str) -> Reply:
        if self._denied(token, "Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"):
            return _error(403, "accessDenied", "Either scp or roles claim need to be present in the token.")
        site = self._known_site(site_id)
        if isinstance(site, Reply):
            return site
        if list_id != self.pages_list(site) or item_id not in site.pages:
            return _error(404, "itemNotFound", "The resource could not be found.")
        stat: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph."
                                "itemActivityStat", "startDateTime": site.pages[item_id]["createdDateTime"],
                                "endDateTime": _now(), "isTrending": False,
                                "incompleteData": {"missingDataBeforeDateTime": None, "wasThrottled": False}}
        if item_id in self.page_views:
            views, viewers = self.page_views[item_id]
            stat["access"] = {"actionCount": views, "actorCount": viewers}
        return Reply(200, stat)

    _GROUP_ROLES = ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All")

    def _groups(self, request: Request, token: Token) -> Reply:
        if self._denied(token, *self._GROUP_ROLES):
            return _error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the "
                               "operation.")
        condition = re.fullmatch(r"mail eq '((?:[^']|'')*)'", (request.query.get("$filter") or [""])[0])
        if condition is None:
            return _error(400, "Request_UnsupportedQuery", "Unsupported query.")
        found = self.groups.get(condition.group(1).replace("''", "'").lower())
        return Reply(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(id)",
                           "value": [{"id": found[0]}] if found else []})

    def _member_count(self, request: Request, token: Token, group_id: str) -> Reply:
        if self._denied(token, *self._GROUP_ROLES):
            return _error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the "
                               "operation.")
        if (request.header("ConsistencyLevel") or "").lower() != "eventual":
            return _error(400, "Request_BadRequest", "Count is not currently supported.")
        count = next((members for gid, members in self.groups.values() if gid == group_id), None)
        if count is None:
            return _error(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist.")
        return Reply(200, str(count), {"Content-Type": "text/plain"})



def _error(status: int, code: str, message: str) -> Reply:
    from tests.servers.graph import graph_error

    return graph_error(status, code, message)


def _now() -> str:
    from tests.servers.graph import _now as now

    return now()
