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
    GET  /users/{sender}/messages?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')
    GET  /sites/{host}:/{path}
    GET  /sites/{site-id}/pages/microsoft.graph.sitePage?$filter=name eq '…'
    POST /sites/{site-id}/pages                               201 with id and webUrl; 409 if the name is taken
    POST /sites/{site-id}/pages/{page-id}/microsoft.graph.sitePage/publish     204

Every Graph call needs a bearer token the sign-in emulator issued, for the Graph audience, and the app
role the endpoint needs (Mail.Send, Mail.Read, Sites.ReadWrite.All): otherwise 401 or 403 as Graph answers.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
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
from urllib.parse import parse_qs, unquote

import trustme

from tests.servers.https import Emulator, HTTPSServer, Reply, Request

REFERENCE = Path("/work/shared/reference/graph-v1.0-subset.json")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ALL_ROLES = frozenset({"Mail.Send", "Mail.Read", "Sites.ReadWrite.All"})


# The reference metadata ------------------------------------------------------------------------------------

class Schema:
    """Checks a JSON body against Microsoft's CSDL, trimmed to the types Budbringer sends.

    Property names are exact (Graph's JSON is camelCase); action parameters and enum members are matched
    without regard to case, as Graph does.
    """

    PRIMITIVES = {"Edm.String": str, "Edm.Boolean": bool, "Edm.Int32": int, "Edm.DateTimeOffset": str,
                  "Edm.Binary": str}

    def __init__(self, path: Path = REFERENCE) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.types: dict[str, Any] = data["types"]
        self.enums: dict[str, list[str]] = data["enums"]
        self.actions: dict[str, Any] = data["actions"]

    def members(self, type_name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        while type_name:
            entry = self.types[type_name]
            out = {**entry["properties"], **entry["navigation"], **out}
            type_name = entry.get("base") or ""
        return out

    def derives(self, child: str, parent: str) -> bool:
        while child:
            if child == parent:
                return True
            child = self.types.get(child, {}).get("base") or ""
        return False

    def action(self, name: str, body: Any) -> list[str]:
        params = self.actions[name]
        if not isinstance(body, dict):
            return ["the body is not a JSON object"]
        errors = []
        lowered = {k.lower(): (k, v) for k, v in params.items()}
        for key, value in body.items():
            if key.lower() not in lowered:
                errors.append(f"The parameter '{key}' in the request payload is not a valid parameter for the "
                              f"operation '{name.split('@')[0]}'.")
                continue
            declared, spec = lowered[key.lower()]
            errors += self.check(value, spec["type"], declared)
        for key, (declared, spec) in lowered.items():
            if not spec.get("nullable", True) and key not in {k.lower() for k in body}:
                errors.append(f"The parameter '{declared}' is required.")
        return errors

    def check(self, value: Any, type_name: str, where: str) -> list[str]:
        if value is None:
            return []
        collection = re.fullmatch(r"Collection\((.+)\)", type_name)
        if collection:
            if not isinstance(value, list):
                return [f"{where}: expected a collection of {collection.group(1)}"]
            return [e for i, item in enumerate(value) for e in self.check(item, collection.group(1), f"{where}[{i}]")]
        if type_name in self.PRIMITIVES:
            expected = self.PRIMITIVES[type_name]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            return [] if ok else [f"{where}: expected {type_name}, got {type(value).__name__}"]
        if type_name == "Edm.Untyped":
            return []
        if type_name in self.enums:
            members = {m.lower() for m in self.enums[type_name]}
            if not isinstance(value, str) or value.lower() not in members:
                return [f"{where}: {value!r} is not a member of {type_name}"]
            return []
        if type_name == "graph.singleValueLegacyExtendedProperty":
            if not (isinstance(value, dict) and set(value) == {"id", "value"}
                    and all(isinstance(v, str) for v in value.values())):
                return [f"{where}: an extended property has exactly `id` and `value`, both strings"]
            return []
        if type_name not in self.types:
            return []  # a type the reference does not carry (Budbringer never sends it)
        if not isinstance(value, dict):
            return [f"{where}: expected an object of type {type_name}"]
        actual = type_name
        odata_type = value.get("@odata.type")
        if odata_type is not None:
            actual = "graph." + str(odata_type).lstrip("#").removeprefix("microsoft.graph.")
            if actual not in self.types or not self.derives(actual, type_name):
                return [f"{where}: @odata.type {odata_type!r} is not a {type_name}"]
        members = self.members(actual)
        errors = []
        for key, item in value.items():
            if key.startswith("@odata."):
                continue
            if key not in members:
                errors.append(f"The property '{key}' does not exist on type "
                              f"'{actual.replace('graph.', 'microsoft.graph.')}'.")
                continue
            errors += self.check(item, members[key], f"{where}.{key}")
        return errors


# Sign-in --------------------------------------------------------------------------------------------------

@dataclass
class App:
    client_id: str
    secret: str | None = None
    certificate_pem: bytes | None = None
    roles: set[str] = field(default_factory=lambda: set(ALL_ROLES))
    redirect_uris: list[str] = field(default_factory=list)  # web apps: where the authorize endpoint sends back


@dataclass
class User:
    """A directory user: what their ID token says."""

    upn: str  # preferred_username
    name: str
    email: str | None = None  # the optional `email` claim
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))
    tenant: str | None = None  # the user's tenant, when it is not the one signed in to


@dataclass
class Grant:
    """An authorization code the authorize endpoint issued, good once."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    challenge: str
    user: User
    expires: float


@dataclass
class Token:
    client_id: str
    tenant: str
    roles: frozenset[str]
    audience: str
    expires: float


def _aad_error(status: int, error: str, code: int, text: str) -> Reply:
    return Reply(status, {"error": error, "error_description": f"AADSTS{code}: {text}", "error_codes": [code],
                          "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                          "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())})


class LoginEmulator(Emulator):
    """Entra ID's v2.0 endpoints for one or more tenants (client credentials only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tenants: dict[str, dict[str, App]] = {}
        self.tokens: dict[str, Token] = {}
        self.users: dict[str, User] = {}  # by upn, lower case
        self.signed_in: str | None = None  # the upn of who signs in at the authorize endpoint next
        self.grants: dict[str, Grant] = {}
        self.id_tokens: list[dict[str, Any]] = []  # the claims of every ID token issued
        self.forge: dict[str, Any] = {}  # claims the next ID tokens carry instead of the true ones
        self.unpublished_key = False  # sign the next ID tokens with a key the JWKS does not publish
        self._key: Any = None
        self._other_key: Any = None

    def add_user(self, user: User) -> User:
        self.users[user.upn.lower()] = user
        return user

    @property
    def signing_key(self) -> Any:
        if self._key is None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._key

    def add_app(self, tenant: str, app: App) -> App:
        self.tenants.setdefault(tenant, {})[app.client_id] = app
        return app

    def revoke(self) -> None:
        with self.lock:
            self.tokens.clear()

    def token_requests(self) -> list[Request]:
        return [r for r in self.received("POST") if r.path.endswith("/oauth2/v2.0/token")]

    def handle(self, request: Request) -> Reply:
        host = request.header("Host") or ""
        parts = request.path.strip("/").split("/")
        tenant = parts[0] if parts else ""
        rest = "/".join(parts[1:])
        if request.method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            if tenant not in self.tenants:
                return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure "
                                  "you have the correct tenant ID and are signing into the correct cloud.")
            base = f"https://{host}/{tenant}"
            return Reply(200, {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                          "client_secret_basic"],
                "jwks_uri": f"https://{host}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
            })
        if request.method == "POST" and rest == "oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
            if form.get("grant_type") == "authorization_code":
                return self._code_token(form, tenant, f"https://{host}")
            return self._token(request, tenant, f"https://{host}{request.path}")
        if request.method == "GET" and rest == "oauth2/v2.0/authorize":
            return self._authorize(request, tenant)
        if request.method == "GET" and rest == "discovery/v2.0/keys":
            import jwt

            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key()))
            return Reply(200, {"keys": [{**jwk, "kid": "emulator-1", "use": "sig", "alg": "RS256"}]})
        return _aad_error(404, "invalid_request", 900561, "The endpoint only accepts the documented requests.")

    def _token(self, request: Request, tenant: str, endpoint: str) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        apps = self.tenants.get(tenant)
        if apps is None:
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        app = apps.get(form.get("client_id", ""))
        if app is None:
            return _aad_error(400, "unauthorized_client", 700016, f"Application with identifier "
                              f"'{form.get('client_id')}' was not found in the directory '{tenant}'.")
        scope = form.get("scope", "")
        if scope.split() != [GRAPH_SCOPE]:
            return _aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid. "
                              "Client credential flows must have a scope value with /.default suffixed.")
        if not self._authenticated(app, form, endpoint):
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                              "being sent in the request is the client secret value, not the client secret ID.")
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = Token(app.client_id, tenant, frozenset(app.roles), "https://graph.microsoft.com",
                                       time.time() + 3599)
        return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                           "access_token": token})

    def _authorize(self, request: Request, tenant: str) -> Reply:
        query = {k: v[0] for k, v in request.query.items()}
        app = self.tenants.get(tenant, {}).get(query.get("client_id", ""))
        if app is None:
            return _aad_error(400, "unauthorized_client", 700016, f"Application with identifier "
                              f"'{query.get('client_id')}' was not found in the directory '{tenant}'.")
        redirect = query.get("redirect_uri", "")
        if redirect not in app.redirect_uris:
            return _aad_error(400, "invalid_request", 50011, f"The redirect URI '{redirect}' specified in the "
                              "request does not match the redirect URIs configured for the application.")
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return _aad_error(400, "invalid_request", 900144, "The request body must contain the following "
                              "parameter: 'response_type' (code) and the scope 'openid'.")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return _aad_error(400, "invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
        user = self.users.get((self.signed_in or "").lower())
        if user is None:
            return Reply(200, "Log ind på din konto (no user is signed in at the emulator)")
        code = "0.AXoA" + secrets.token_urlsafe(32)
        with self.lock:
            self.grants[code] = Grant(app.client_id, redirect, query.get("scope", ""), query.get("nonce"),
                                      query["code_challenge"], user, time.time() + 600)
        from urllib.parse import urlencode

        back = {"code": code, "session_state": str(uuid.uuid4())}
        if "state" in query:
            back["state"] = query["state"]
        return Reply(302, b"", {"Location": f"{redirect}?{urlencode(back)}"})

    def _code_token(self, form: dict[str, str], tenant: str, host: str) -> Reply:
        import hashlib

        import jwt

        app = self.tenants.get(tenant, {}).get(form.get("client_id", ""))
        if app is None:
            return _aad_error(400, "unauthorized_client", 700016, "Application not found in the directory.")
        if not (app.secret and secrets.compare_digest(form.get("client_secret", ""), app.secret)):
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        with self.lock:
            grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.time() or grant.client_id != app.client_id:
            return _aad_error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has "
                              "expired due to inactivity, or was already redeemed.")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _aad_error(400, "invalid_grant", 70001, "The redirect URI does not match the one the code "
                              "was issued for.")
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant.challenge:
            return _aad_error(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                              "supplied in the authorization request.")
        now = int(time.time())
        home = grant.user.tenant or tenant
        claims = {"aud": app.client_id, "iss": f"{host}/{home}/v2.0", "iat": now, "nbf": now, "exp": now + 3600,
                  "name": grant.user.name, "oid": grant.user.oid, "preferred_username": grant.user.upn,
                  "sub": secrets.token_urlsafe(16), "tid": home, "ver": "2.0"}
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if grant.user.email:
            claims["email"] = grant.user.email
        claims.update(self.forge)
        with self.lock:
            self.id_tokens.append(claims)
        key = self.signing_key
        if self.unpublished_key:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self._other_key = self._other_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key = self._other_key
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "emulator-1"})
        client_info = base64.urlsafe_b64encode(json.dumps({"uid": grant.user.oid, "utid": tenant}).encode())
        return Reply(200, {"token_type": "Bearer", "scope": "openid profile email User.Read", "expires_in": 3599,
                           "ext_expires_in": 3599, "access_token": "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24),
                           "refresh_token": "0.AXoA" + secrets.token_urlsafe(40), "id_token": id_token,
                           "client_info": client_info.rstrip(b"=").decode()})

    def _authenticated(self, app: App, form: dict[str, str], endpoint: str) -> bool:
        if "client_secret" in form:
            return app.secret is not None and secrets.compare_digest(form["client_secret"], app.secret)
        if form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return app.certificate_pem is not None and self._assertion_ok(app, form.get("client_assertion", ""),
                                                                          endpoint)
        return False

    @staticmethod
    def _assertion_ok(app: App, assertion: str, endpoint: str) -> bool:
        import jwt
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        certificate = x509.load_pem_x509_certificate(app.certificate_pem or b"")
        header = jwt.get_unverified_header(assertion)
        thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
        if str(header.get("x5t#S256", "")).rstrip("=") != thumbprint:  # msal keeps the base64 padding
            return False
        try:
            claims = jwt.decode(assertion, certificate.public_key(), algorithms=["PS256", "RS256"],
                                audience=endpoint, issuer=app.client_id)
        except jwt.PyJWTError:
            return False
        return claims.get("sub") == app.client_id


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


class GraphEmulator(Emulator):
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
                internet_message_id=f"<{secrets.token_hex(8)}@emulator.prod.outlook.com>",
                folder="sentitems" if save is not False else "(not saved)",
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
        condition = _LOOKUP.match((request.query.get("$filter") or [""])[0])
        if condition is None:
            return graph_error(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid "
                               "nodes.")
        property_id, value = (g.replace("''", "'") for g in condition.groups())
        top = int((request.query.get("$top") or ["10"])[0])
        with self.lock:
            found = [m for m in self.mailboxes[box]
                     if m.folder == "sentitems" and m.visible_at <= time.monotonic()
                     and (m.property(property_id) or "").lower() == value.lower()]
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
