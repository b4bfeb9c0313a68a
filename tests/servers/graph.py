"""A Microsoft 365 emulator for the tests: the Entra ID sign-in endpoints msal uses, and the Graph endpoints
Budbringer calls. Built on tests/servers/https.py (real HTTPS on 127.0.0.1, a trustme certificate, faults).

Only documented endpoints are implemented; anything else gets Graph's (or Entra's) own kind of error:

Sign-in (`LoginEmulator`, one host):
    GET  /{tenant}/v2.0/.well-known/openid-configuration     the discovery document msal reads first
    GET  /{tenant}/oauth2/v2.0/authorize                      a user signs in (the one `signed_in` names, as
                                                              if they had typed their password): 302 back to
                                                              the registered redirect URI with a code and the
                                                              state (the OIDC authorization-code flow, PKCE)
    POST /{tenant}/oauth2/v2.0/token                          client credentials: a secret, or a certificate
                                                              (a PS256 client assertion, checked with the
                                                              app's certificate); or authorization_code: the
                                                              code, the PKCE verifier and the client secret
                                                              for an RS256 ID token with the nonce
    GET  /{tenant}/discovery/v2.0/keys                        the ID tokens' signing key (JWKS)

An ID token names the user's object id (`oid`), the tenant (`tid`, and `iss` ends in /{tid}/v2.0): the tenant
signed in to, or the user's own `tenant` (a user of another tenant, as a multi-tenant authority would let in).
To play an attacker, `forge` overrides claims of the next ID tokens (an `iss` naming another tenant than `tid`,
an absurd `exp`) and `unpublished_key` signs them with a key the JWKS does not publish.
Graph (`GraphEmulator`, another host, under /v1.0):
    POST /users/{sender}/sendMail                             202; the body checked against the reference
                                                              metadata (reference/graph-v1.0-subset.json)
                                                              or in MIME form (text/plain, base64: graph_mime)
    GET  /users/{sender}/messages?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')
                                                              or ?$filter=internetMessageId eq '…'
    GET  /sites/{host}:/{path}
    GET  /sites/{site-id}/pages/microsoft.graph.sitePage?$filter=name eq '…'
    POST /sites/{site-id}/pages                               201 with id and webUrl; 409 if the name is taken
    POST /sites/{site-id}/pages/{page-id}/microsoft.graph.sitePage/publish     204
    GET  /sites/{site-id}/lists                               the site's lists (the pages library: template
                                                              webPageLibrary)
    GET  /sites/{site-id}/lists/{list-id}/items/{item-id}/analytics/allTime   an itemActivityStat (itemAnalytics,
                                                              Files.Read.All or Sites.Read.All): `page_views`
                                                              sets a page's (views, viewers); a new page has no
                                                              `access` yet
    GET  /groups?$filter=mail eq '…'&$select=id                a mail-enabled group by its address (`groups`)
    GET  /groups/{id}/members/$count                          its member count as text; needs the header
                                                              ConsistencyLevel: eventual and GroupMember.Read.All
                                                              (or Group.Read.All, Directory.Read.All)

Every Graph call needs a bearer token the sign-in emulator issued, for the Graph audience, and the app
role the endpoint needs (Mail.Send, Mail.Read, Sites.ReadWrite.All): otherwise 401 or 403 as Graph answers.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import trustme

# the sign-in emulator and the reference metadata have their own modules; their names stay importable from here
from tests.servers.entra import ALL_ROLES, GRAPH_SCOPE, App, Grant, LoginEmulator, Token, User  # noqa: F401
from tests.servers.graph_schema import REFERENCE, Schema  # noqa: F401
from tests.servers.graph_reach import ReachEndpoints
from tests.servers import graph_mime
from tests.servers.https import Emulator, HTTPSServer, Reply, Request


# Graph -----------------------------------------------------------------------------------------------------

def graph_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, "innerError": {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4())}}})


@dataclass
class StoredMessage:
    id: str
    sender: str
    message: dict[str, Any]
    sent_at: str
    internet_message_id: str
    folder: str = "sentitems"
    mime: Any = None  # the parsed mail when it was sent in MIME form (graph_mime)
    visible_at: float = 0.0  # Exchange files the copy in Sent Items a moment after accepting the mail

    def recipients(self) -> list[str]:
        return [r["emailAddress"]["address"] for r in self.message.get("toRecipients", [])]

    def header(self, name: str) -> str | None:
        return next((h["value"] for h in self.message.get("internetMessageHeaders", [])
                     if h["name"].lower() == name.lower()), None)

    def property(self, property_id: str) -> str | None:
        return next((p["value"] for p in self.message.get("singleValueExtendedProperties", [])
                     if p["id"] == property_id), None)


@dataclass
class Site:
    host: str
    path: str
    id: str
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by page id

    @property
    def web_url(self) -> str:
        return f"https://{self.host}/{self.path}"

    def by_name(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.pages.values() if p["name"].lower() == name.lower()), None)


_LOOKUP = re.compile(r"^singleValueExtendedProperties/Any\(ep: ep/id eq '((?:[^']|'')*)' and ep/value eq "
                     r"'((?:[^']|'')*)'\)$")
_BY_NAME = re.compile(r"^name eq '((?:[^']|'')*)'$")


class GraphEmulator(ReachEndpoints, Emulator):
    """Graph v1.0 for mail (sendMail, a mailbox lookup) and SharePoint news pages."""

    def __init__(self, login: LoginEmulator, schema: Schema | None = None) -> None:
        super().__init__()
        self.login = login
        self.schema = schema or Schema()
        self.mailboxes: dict[str, list[StoredMessage]] = {}
        self.sites: dict[str, Site] = {}  # by id
        self.send_delay = 0.0  # seconds a sendMail takes while counted as in flight
        self.filing_delay = 0.0  # seconds before a sent mail shows in Sent Items
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.page_views: dict[str, tuple[int, int]] = {}  # page id (its list item's unique id) → views, viewers
        self.groups: dict[str, tuple[str, int]] = {}  # a group's mail address (lower case) → its id, members

    # state --------------------------------------------------------------------------------------------------

    def add_mailbox(self, address: str) -> None:
        self.mailboxes.setdefault(address.lower(), [])

    def add_site(self, site: str) -> Site:
        host, _, path = site.partition("/")
        entry = Site(host, path, f"{host},{uuid.uuid4()},{uuid.uuid4()}")
        self.sites[entry.id] = entry
        return entry

    def site(self, site: str) -> Site:
        host, _, path = site.partition("/")
        return next(s for s in self.sites.values() if s.host == host and s.path == path)

    def sent(self, sender: str | None = None) -> list[StoredMessage]:
        with self.lock:
            boxes = [self.mailboxes[sender.lower()]] if sender else list(self.mailboxes.values())
            return [m for box in boxes for m in box]

    def send_requests(self) -> list[Request]:
        return [r for r in self.received("POST") if r.path.endswith("/sendMail")]

    # requests -----------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        reply = self._route(request)
        reply.headers.setdefault("request-id", str(uuid.uuid4()))
        if request.header("client-request-id"):
            reply.headers.setdefault("client-request-id", request.header("client-request-id") or "")
        return reply

    def _route(self, request: Request) -> Reply:
        if not request.path.startswith("/v1.0/"):
            return graph_error(400, "BadRequest", f"Invalid version: {request.path.split('/')[1]}")
        token = self._token(request)
        if isinstance(token, Reply):
            return token
        path = unquote(request.path[len("/v1.0"):])
        method = request.method
        match = re.fullmatch(r"/users/([^/]+)/sendMail", path)
        if match and method == "POST":
            return self._send_mail(request, token, match.group(1))
        match = re.fullmatch(r"/users/([^/]+)/messages", path)
        if match and method == "GET":
            return self._messages(request, token, match.group(1))
        match = re.fullmatch(r"/sites/([^/:]+):/(.+)", path)
        if match and method == "GET":
            return self._site(token, match.group(1), match.group(2))
        match = re.fullmatch(r"/sites/([^/]+)/pages/microsoft\.graph\.sitePage", path)
        if match and method == "GET":
            return self._pages(request, token, match.group(1))
        match = re.fullmatch(r"/sites/([^/]+)/pages", path)
        if match and method == "POST":
            return self._create_page(request, token, match.group(1))
        match = re.fullmatch(r"/sites/([^/]+)/pages/([^/]+)/microsoft\.graph\.sitePage/publish", path)
        if match and method == "POST":
            return self._publish(token, match.group(1), match.group(2))
        match = re.fullmatch(r"/sites/([^/]+)/lists", path)
        if match and method == "GET":
            return self._lists(token, match.group(1))
        match = re.fullmatch(r"/sites/([^/]+)/lists/([^/]+)/items/([^/]+)/analytics/allTime", path)
        if match and method == "GET":
            return self._analytics(token, *match.groups())
        if path == "/groups" and method == "GET":
            return self._groups(request, token)
        match = re.fullmatch(r"/groups/([^/]+)/members/\$count", path)
        if match and method == "GET":
            return self._member_count(request, token, match.group(1))
        segment = path.strip("/").split("/")[-1]
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    def _token(self, request: Request) -> Token | Reply:
        value = request.header("Authorization") or ""
        if not value.startswith("Bearer "):
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        with self.login.lock:
            token = self.login.tokens.get(value[len("Bearer "):])
        if token is None or token.expires < time.time():
            return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid "
                               "audience.")
        return token

    @staticmethod
    def _denied(token: Token, *roles: str) -> bool:
        return not any(role in token.roles for role in roles)

    # mail ---------------------------------------------------------------------------------------------------

    def _send_mail(self, request: Request, token: Token, sender: str) -> Reply:
        if self._denied(token, "Mail.Send"):
            return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        box = sender.lower()
        if box not in self.mailboxes:
            return graph_error(404, "ErrorInvalidUser", f"The requested user '{sender}' is invalid.")
        mime, message_id = None, ""
        if graph_mime.is_mime_request(request.header("Content-Type")):
            try:
                message, message_id, mime = graph_mime.parse(request.body)
            except graph_mime.MimeRefused as exc:
                return graph_error(400, exc.code, str(exc))
            body: dict[str, Any] = {"message": message}  # MIME: always saved to Sent Items
        else:
            try:
                body = request.json()
            except ValueError:
                return graph_error(400, "RequestBodyRead", "Unable to read JSON request payload.")
            errors = self.schema.action("sendMail@graph.user", body)
            if errors:
                return graph_error(400, "RequestBodyRead", errors[0])
            message = next(v for k, v in body.items() if k.lower() == "message")
        count = sum(len(message.get(k) or []) for k in ("toRecipients", "ccRecipients", "bccRecipients"))
        if count == 0:
            return graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message "
                               "can't be sent because it contains no recipients.")
        if count > 500:
            return graph_error(400, "ErrorTooManyRecipients", "The message exceeds the maximum supported number "
                               "of recipients (500).")
        headers = message.get("internetMessageHeaders") or []
        if len(headers) > 5 or any(not h.get("name", "").lower().startswith("x-") for h in headers):
            return graph_error(400, "InvalidInternetMessageHeader", "The internet message header name "
                               "should start with 'x-' or 'X-', and at most 5 may be given.")
        with self.lock:
            self.in_flight[box] = self.in_flight.get(box, 0) + 1
            self.max_in_flight[box] = max(self.max_in_flight.get(box, 0), self.in_flight[box])
        try:
            if self.send_delay:
                time.sleep(self.send_delay)
            save = next((v for k, v in body.items() if k.lower() == "savetosentitems"), True)
            stored = StoredMessage(
                id="AAMkAG" + secrets.token_hex(12), sender=sender, message=message,
                sent_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                internet_message_id=message_id or f"<{secrets.token_hex(8)}@emulator.prod.outlook.com>",
                folder="sentitems" if save is not False else "(not saved)", mime=mime,
                visible_at=time.monotonic() + self.filing_delay)
            with self.lock:
                self.mailboxes[box].append(stored)
        finally:
            with self.lock:
                self.in_flight[box] -= 1
        return Reply(202)

    def _messages(self, request: Request, token: Token, sender: str) -> Reply:
        if self._denied(token, "Mail.Read", "Mail.ReadWrite"):
            return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        box = sender.lower()
        if box not in self.mailboxes:
            return graph_error(404, "ErrorInvalidUser", f"The requested user '{sender}' is invalid.")
        unknown = set(request.query) - {"$filter", "$select", "$top"}
        if unknown:
            return graph_error(400, "BadRequest", f"Query option '{sorted(unknown)[0]}' is not allowed.")
        text = (request.query.get("$filter") or [""])[0]
        condition, by_id = _LOOKUP.match(text), graph_mime.BY_MESSAGE_ID.match(text)
        if condition is None and by_id is None:
            return graph_error(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid "
                               "nodes.")
        if condition is not None:
            property_id, value = (g.replace("''", "'") for g in condition.groups())
        top = int((request.query.get("$top") or ["10"])[0])
        with self.lock:
            found = [m for m in self.mailboxes[box]
                     if m.folder == "sentitems" and m.visible_at <= time.monotonic()
                     and (m.internet_message_id == by_id.group(1).replace("''", "'") if by_id is not None
                          else (m.property(property_id) or "").lower() == value.lower())]
        select = (request.query.get("$select") or ["id,subject,internetMessageId,sentDateTime"])[0].split(",")
        items = []
        for m in found[:top]:
            full = {"id": m.id, "subject": m.message.get("subject"), "internetMessageId": m.internet_message_id,
                    "sentDateTime": m.sent_at, "parentFolderId": "AQMkSentItems"}
            items.append({k: full[k] for k in select if k in full})
        return Reply(200, {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{sender}')/messages",
                           "value": items})

    # SharePoint ---------------------------------------------------------------------------------------------

    def _site(self, token: Token, host: str, path: str) -> Reply:
        if self._denied(token, "Sites.ReadWrite.All", "Sites.Read.All"):
            return graph_error(403, "accessDenied", "Access denied")
        site = next((s for s in self.sites.values() if s.host == host and s.path == path.strip("/")), None)
        if site is None:
            return graph_error(404, "itemNotFound", "Requested site could not be found")
        return Reply(200, {"id": site.id, "webUrl": site.web_url, "displayName": site.path.split("/")[-1],
                           "name": site.path.split("/")[-1]})

    def _known_site(self, site_id: str) -> Site | Reply:
        site = self.sites.get(site_id)
        return site if site is not None else graph_error(404, "itemNotFound", "Requested site could not be found")

    def _pages(self, request: Request, token: Token, site_id: str) -> Reply:
        if self._denied(token, "Sites.ReadWrite.All", "Sites.Read.All"):
            return graph_error(403, "accessDenied", "Access denied")
        site = self._known_site(site_id)
        if isinstance(site, Reply):
            return site
        pages = list(site.pages.values())
        if "$filter" in request.query:
            condition = _BY_NAME.match(request.query["$filter"][0])
            if condition is None:
                return graph_error(400, "invalidRequest", "Invalid filter clause")
            name = condition.group(1).replace("''", "'")
            pages = [p for p in pages if p["name"].lower() == name.lower()]
        select = request.query.get("$select")
        if select:
            keys = select[0].split(",")
            pages = [{k: p[k] for k in keys if k in p} for p in pages]
        return Reply(200, {"value": pages})

    def _create_page(self, request: Request, token: Token, site_id: str) -> Reply:
        if self._denied(token, "Sites.ReadWrite.All"):
            return graph_error(403, "accessDenied", "Access denied")
        site = self._known_site(site_id)
        if isinstance(site, Reply):
            return site
        try:
            body = request.json()
        except ValueError:
            return graph_error(400, "invalidRequest", "Unable to read JSON request payload.")
        if not isinstance(body, dict) or body.get("@odata.type") != "#microsoft.graph.sitePage":
            return graph_error(400, "invalidRequest", "The request body must give @odata.type "
                               "#microsoft.graph.sitePage.")
        errors = self.schema.check(body, "graph.sitePage", "sitePage")
        if errors:
            return graph_error(400, "invalidRequest", errors[0])
        name = str(body.get("name") or "")
        if not name.lower().endswith(".aspx"):
            return graph_error(400, "invalidRequest", "A page name ends in .aspx.")
        with self.lock:
            if site.by_name(name) is not None:
                return graph_error(409, "nameAlreadyExists", f"A page named '{name}' already exists.")
            page = {**{k: v for k, v in body.items() if not k.startswith("@")}, "id": str(uuid.uuid4()),
                    "webUrl": f"{site.web_url}/SitePages/{name}", "createdDateTime": _now(),
                    "publishingState": {"level": "checkout", "versionId": "0.1"}}
            site.pages[page["id"]] = page
        return Reply(201, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites('…')/pages/$entity",
                           "@odata.type": "#microsoft.graph.sitePage", **page})

    def _publish(self, token: Token, site_id: str, page_id: str) -> Reply:
        if self._denied(token, "Sites.ReadWrite.All"):
            return graph_error(403, "accessDenied", "Access denied")
        site = self._known_site(site_id)
        if isinstance(site, Reply):
            return site
        with self.lock:
            page = site.pages.get(page_id)
            if page is None:
                return graph_error(404, "itemNotFound", "The page could not be found.")
            page["publishingState"] = {"level": "published", "versionId": "1.0"}
        return Reply(204)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Faults' matchers ------------------------------------------------------------------------------------------

def is_send_mail(request: Request) -> bool:
    return request.method == "POST" and request.path.endswith("/sendMail")


def is_lookup(request: Request) -> bool:
    return request.method == "GET" and request.path.endswith("/messages")


def is_page_create(request: Request) -> bool:
    return request.method == "POST" and request.path.endswith("/pages")


def is_publish(request: Request) -> bool:
    return request.method == "POST" and request.path.endswith("/publish")


def is_token(request: Request) -> bool:
    return request.method == "POST" and request.path.endswith("/oauth2/v2.0/token")


# The whole tenant ------------------------------------------------------------------------------------------

TENANT = "8a1f5c2e-4b7d-4e21-9c3a-1d2e3f4a5b6c"
CLIENT = "c0ffee00-1234-4abc-9def-0123456789ab"
SENDER = "kommunikation@socialomraadet.example"


@dataclass
class M365:
    """A tenant with one app registration, a sending mailbox and SharePoint sites, on two local HTTPS hosts."""

    login: LoginEmulator
    graph: GraphEmulator
    login_url: str
    graph_url: str
    app: App
    secret: str

    def env(self) -> dict[str, str]:
        return {"BUDBRINGER_GRAPH_TENANT_ID": TENANT, "BUDBRINGER_GRAPH_CLIENT_ID": self.app.client_id,
                "BUDBRINGER_GRAPH_CLIENT_SECRET": self.secret, "BUDBRINGER_LOGIN_URL": self.login_url,
                "BUDBRINGER_GRAPH_URL": self.graph_url}


@contextmanager
def m365(ca: trustme.CA, sites: tuple[str, ...] = (), mailboxes: tuple[str, ...] = (SENDER,)) -> Iterator[M365]:
    """Start the sign-in and Graph emulators; the caller puts `env()` into the environment."""
    login = LoginEmulator()
    graph = GraphEmulator(login)
    secret = "bb-secret-" + secrets.token_urlsafe(18)
    app = login.add_app(TENANT, App(CLIENT, secret=secret))
    for address in mailboxes:
        graph.add_mailbox(address)
    for site in sites:
        graph.add_site(site)
    with ExitStack() as stack:
        login_server = stack.enter_context(_quick(HTTPSServer(login, ca)))
        graph_server = stack.enter_context(_quick(HTTPSServer(graph, ca)))
        yield M365(login, graph, login_server.url, graph_server.url + "/v1.0", app, secret)


def _quick(server: HTTPSServer) -> HTTPSServer:
    """serve_forever polls for shutdown every 0.5 s by default: two servers per test would cost a second."""
    server.thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.02},
                                     daemon=True)
    return server


def certificate_pem(ca: trustme.CA, folder: Path) -> tuple[Path, bytes]:
    """An RSA certificate for the app (msal signs a PS256 client assertion with its key): the PEM file with the
    key and the certificate, and the certificate alone (for the sign-in emulator)."""
    leaf = ca.issue_cert("budbringer-app.example", key_type=trustme.KeyType.RSA)
    certificate = leaf.cert_chain_pems[0].bytes()
    path = folder / "budbringer-app.pem"
    path.write_bytes(leaf.private_key_pem.bytes() + certificate)
    return path, certificate
