"""The Entra ID sign-in endpoints msal uses, emulated for the tests (`LoginEmulator`): the tenants' apps and users,
client credentials (a secret or a certificate) and the authorization-code flow with its ID tokens. The endpoints
and what they check are listed in tests/servers/graph.py's docstring; the Graph emulator there accepts the tokens
this one issues."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.servers.https import Emulator, Reply, Request

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ALL_ROLES = frozenset({"Mail.Send", "Mail.Read", "Sites.ReadWrite.All"})


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
