"""Microsoft Graph for the Microsoft 365 channels: sign-in (msal) and Graph calls under the shared retry policy.

Sign-in is a confidential client (client secret or certificate) from the environment:

    BUDBRINGER_GRAPH_TENANT_ID      the directory (tenant) id of the app registration
    BUDBRINGER_GRAPH_CLIENT_ID      the application (client) id
    BUDBRINGER_GRAPH_CLIENT_SECRET  a client secret, or
    BUDBRINGER_GRAPH_CERT_PATH      a certificate: a PEM file holding the private key and the certificate,
                                    or a .pfx/.p12 file (BUDBRINGER_GRAPH_CERT_PASSPHRASE if it has one)
    BUDBRINGER_LOGIN_URL            the authority host (default https://login.microsoftonline.com)
    BUDBRINGER_GRAPH_URL            Graph's base (default https://graph.microsoft.com/v1.0)

The credentials are read from the environment once per entry point (`budbringer.settings`) and handed to the
channel when it is built (`GraphEnvironment`). There is one msal
application object (`TokenSource`) per run and app registration: the run's Graph channels with the same
credentials share it (`GraphClient.share_sign_in`, from the channels' `bind`), so that its token cache
serves every delivery of the run; another run (another `Runtime`) signs in on its own. msal talks HTTP through the
same retry policy as Graph (`adapters.http`), trusts what `REQUESTS_CA_BUNDLE` names (it is `requests`
underneath), and never asks Microsoft's instance-discovery endpoint: the configured authority is used as it
is, so a test or a national cloud contacts only the host it names.

Secrets are `SecretStr` and are handed to msal only; they never reach a log line, a repr or an error text.

Which layer retries what (the Microsoft 365 channels):

| fault                                  | adapters.http (seconds) | the adapter                       | Prefect task  |
|----------------------------------------|-------------------------|-----------------------------------|---------------|
| 429 (any request but sendMail),        | waits, retries          | –                                 | if http gave  |
| honouring Retry-After (seconds, date)  |                         |                                   | up: retries   |
| 429 on sendMail (it has been seen to   | never: uncertain        | looks the mail up (`lookup:`),    | only once it  |
| deliver): honouring Retry-After        |                         | resends after Retry-After if absent| is not found |
| 5xx / timeout: lookup, publish, sign-in| backs off, retries      | –                                 | as above      |
| connection refused (nothing sent)      | backs off, retries      | –                                 | as above      |
| 5xx / timeout / drop on sendMail       | never: uncertain        | looks the mail up (`lookup:`),    | only once it  |
|                                        |                         | sends again only if it is absent  | is not found  |
| 5xx / timeout / drop on a page create  | never: uncertain        | looks the page up by name, makes  | only once it  |
|                                        |                         | it again only if it is absent     | is not found  |
| 400 / 401 / 403 / 404                  | never                   | PermanentDeliveryError + the fix  | never         |

The Prefect task retries only TransientDeliveryError, which means "nothing was delivered": an unsafe request
is therefore never repeated by two layers at once.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from budbringer.adapters import http
from budbringer.adapters.base import ChannelEnvironment, ChannelSettings
from budbringer.errors import DeliveryError, PermanentDeliveryError, Problem, TransientDeliveryError

log = logging.getLogger("budbringer.graph")

DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
#: Graph hosts of the national clouds: a token for one of them asks for that host's `.default` scope.
GRAPH_HOSTS = {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
               "microsoftgraph.chinacloudapi.cn"}

ENV_TENANT = "BUDBRINGER_GRAPH_TENANT_ID"
ENV_CLIENT = "BUDBRINGER_GRAPH_CLIENT_ID"
ENV_SECRET = "BUDBRINGER_GRAPH_CLIENT_SECRET"
ENV_CERT = "BUDBRINGER_GRAPH_CERT_PATH"
ENV_CERT_PASSPHRASE = "BUDBRINGER_GRAPH_CERT_PASSPHRASE"
ENV_LOGIN_URL = "BUDBRINGER_LOGIN_URL"
ENV_GRAPH_URL = "BUDBRINGER_GRAPH_URL"

DOC = "docs/microsoft365.md"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*$")
#: every answer below 500 but 429 goes back to msal, which turns OAuth errors into its own result
_SIGN_IN_ANSWERS = tuple(status for status in range(200, 500) if status != 429)


class RetrySettings(ChannelSettings):
    """How hard one HTTP call tries (adapters.http.Policy). Tests make the waits tiny here."""

    attempts: int = Field(default=5, ge=1)
    budget: float = Field(default=120.0, gt=0, description="Seconds one call may take, waits included.")
    backoff_initial: float = Field(default=1.0, ge=0)
    backoff_max: float = Field(default=30.0, ge=0)
    max_retry_after: float = Field(default=120.0, ge=0, description="Longest Retry-After honoured.")
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)

    def policy(self) -> http.Policy:
        return http.Policy(attempts=self.attempts, budget=self.budget, backoff_initial=self.backoff_initial,
                           backoff_max=self.backoff_max, max_retry_after=self.max_retry_after,
                           connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)


class GraphEnvironment(ChannelEnvironment):
    """What the Microsoft 365 channels read from the environment (once, by the entry point's settings)."""

    tenant_id: str | None = Field(default=None, validation_alias=ENV_TENANT,
                                  description="The directory (tenant) id of the app registration.")
    client_id: str | None = Field(default=None, validation_alias=ENV_CLIENT,
                                  description="The application (client) id.")
    client_secret: SecretStr | None = Field(default=None, validation_alias=ENV_SECRET,
                                            description="A client secret (or a certificate instead).")
    cert_path: str | None = Field(default=None, validation_alias=ENV_CERT,
                                  description="A certificate: PEM (key and certificate) or .pfx/.p12.")
    cert_passphrase: SecretStr | None = Field(default=None, validation_alias=ENV_CERT_PASSPHRASE,
                                              description="The certificate's passphrase, if it has one.")
    login_url: str | None = Field(default=None, validation_alias=ENV_LOGIN_URL,
                                  description=f"The authority host (default {DEFAULT_LOGIN_URL}).")
    graph_url: str | None = Field(default=None, validation_alias=ENV_GRAPH_URL,
                                  description=f"Graph's base URL (default {DEFAULT_GRAPH_URL}).")

    def by_variable(self) -> dict[str, str]:
        """The values by their variables' names, secrets revealed: for `GraphCredentials.from_env` only."""
        out: dict[str, str] = {}
        for field, info in type(self).model_fields.items():
            value = getattr(self, field)
            if value is not None and isinstance(info.validation_alias, str):
                out[info.validation_alias] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return out


class GraphCredentials(BaseModel):
    """The app registration Budbringer signs in as, read from the environment."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    client_id: str
    client_secret: SecretStr | None = None
    cert_path: Path | None = None
    cert_passphrase: SecretStr | None = None
    login_url: str = DEFAULT_LOGIN_URL
    graph_url: str = DEFAULT_GRAPH_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> tuple[GraphCredentials | None, list[Problem]]:
        """The credentials from the variables as the entry point read them (`GraphEnvironment.by_variable`),
        or the problems that keep Budbringer from signing in (nothing is contacted)."""

        def get(name: str) -> str:
            return (env.get(name) or "").strip()

        problems: list[Problem] = []

        def missing(name: str, what: str, fix: str) -> None:
            problems.append(Problem("environment", name, what, fix))

        tenant, client, secret, cert = get(ENV_TENANT), get(ENV_CLIENT), get(ENV_SECRET), get(ENV_CERT)
        if not tenant:
            missing(ENV_TENANT, "is not set",
                    f"set it to the Directory (tenant) ID shown on the app registration's overview (see {DOC})")
        elif not _TENANT.match(tenant):
            missing(ENV_TENANT, f"{tenant!r} is not a tenant id or domain",
                    "use the Directory (tenant) ID, a GUID, or the tenant's domain (contoso.onmicrosoft.com)")
        if not client:
            missing(ENV_CLIENT, "is not set",
                    f"set it to the Application (client) ID shown on the app registration's overview (see {DOC})")
        if not secret and not cert:
            missing(ENV_SECRET, f"neither {ENV_SECRET} nor {ENV_CERT} is set",
                    "create a client secret (or upload a certificate) under Certificates & secrets, and set one "
                    f"of them (see {DOC})")
        elif secret and cert:
            missing(ENV_CERT, f"both {ENV_SECRET} and {ENV_CERT} are set",
                    "set only one of them, so that it is clear which credential signs in")
        elif cert and not Path(cert).is_file():
            missing(ENV_CERT, f"{cert} is not a file",
                    "point it at the PEM (private key and certificate) or .pfx file of the app's certificate")
        login_url = get(ENV_LOGIN_URL) or DEFAULT_LOGIN_URL
        graph_url = get(ENV_GRAPH_URL) or DEFAULT_GRAPH_URL
        for name, url in ((ENV_LOGIN_URL, login_url), (ENV_GRAPH_URL, graph_url)):
            if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
                missing(name, f"{url!r} is not an https:// URL", "give the base URL, e.g. the default")
        if problems:
            return None, problems
        passphrase = get(ENV_CERT_PASSPHRASE)
        return cls(tenant_id=tenant, client_id=client, client_secret=SecretStr(secret) if secret else None,
                   cert_path=Path(cert) if cert else None,
                   cert_passphrase=SecretStr(passphrase) if passphrase else None,
                   login_url=login_url.rstrip("/"), graph_url=graph_url.rstrip("/")), []

    @property
    def authority(self) -> str:
        return f"{self.login_url}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        parts = urlsplit(self.graph_url)
        return f"https://{parts.hostname}/.default" if parts.hostname in GRAPH_HOSTS else DEFAULT_SCOPE

    def secrets(self) -> list[str]:
        """The secret values, to scrub from any text that leaves this module."""
        return [s.get_secret_value() for s in (self.client_secret, self.cert_passphrase) if s is not None]

    def msal_credential(self) -> str | dict[str, Any]:
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        assert self.cert_path is not None
        passphrase = self.cert_passphrase.get_secret_value() if self.cert_passphrase else None
        if self.cert_path.suffix.lower() in (".pfx", ".p12"):
            credential: dict[str, Any] = {"private_key_pfx_path": str(self.cert_path)}
        else:
            pem = self.cert_path.read_text(encoding="ascii")
            certificate = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
            # msal computes the SHA-256 thumbprint from the public certificate (x5t#S256).
            credential = {"private_key": pem, "public_certificate": certificate.group(0) if certificate else None}
        if passphrase:
            credential["passphrase"] = passphrase
        return credential


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass
class _Caller:
    channel: str
    forum: str
    policy: http.Policy


class _SignInHttp:
    """msal's HTTP client: every sign-in request runs under adapters.http's policy, as the caller's channel.

    Answers below 500 (but 429) go back to msal, which reads OAuth errors from them; 429, 5xx and broken
    connections are retried here and end as TransientDeliveryError.
    """

    def __init__(self) -> None:
        self.session = requests.Session()
        self._local = threading.local()

    def calling(self, caller: _Caller | None) -> None:
        self._local.caller = caller

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        caller = getattr(self._local, "caller", None) or _Caller("microsoft 365 sign-in", "-", http.Policy())
        return http.call(self.session, method, url, channel=caller.channel, forum=caller.forum, safe=True,
                         policy=caller.policy, expect=_SIGN_IN_ANSWERS, **kwargs)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> requests.Response:
        return self._call("GET", url, params=params, headers=headers, **kwargs)

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None,
             **kwargs: Any) -> requests.Response:
        return self._call("POST", url, params=params, data=data, headers=headers, **kwargs)

    def close(self) -> None:
        self.session.close()


class TokenSource:
    """One msal ConfidentialClientApplication (and its token cache) for one app registration."""

    def __init__(self, credentials: GraphCredentials) -> None:
        self.credentials = credentials
        self._http = _SignInHttp()
        self._app: Any = None
        self._lock = threading.Lock()
        # One sign-in at a time: deliveries running side by side share the first token instead of each asking.
        self._acquiring = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenSource(authority={self.credentials.authority!r}, client_id={self.credentials.client_id!r})"

    def close(self) -> None:
        self._http.close()

    def _application(self) -> Any:
        with self._lock:
            if self._app is None:
                import msal  # costs a little at import: only the Microsoft 365 channels need it

                # Building the app reads `{authority}/v2.0/.well-known/openid-configuration`.
                # instance_discovery=False: never ask login.microsoftonline.com about another authority host.
                self._app = msal.ConfidentialClientApplication(
                    self.credentials.client_id, client_credential=self.credentials.msal_credential(),
                    authority=self.credentials.authority, http_client=self._http, instance_discovery=False,
                )
            return self._app

    def token(self, channel: str, forum: str, policy: http.Policy) -> str:
        """An access token for Graph (from msal's cache while it is valid). Raises a DeliveryError."""
        with self._acquiring:
            return self._token(channel, forum, policy)

    def _token(self, channel: str, forum: str, policy: http.Policy) -> str:
        secrets = self.credentials.secrets()
        login_host = urlsplit(self.credentials.login_url).netloc
        self._http.calling(_Caller(channel, forum, policy))
        try:
            result = self._application().acquire_token_for_client(scopes=[self.credentials.scope])
        except TransientDeliveryError as exc:
            raise TransientDeliveryError(channel, forum, f"sign-in at {login_host}: {exc.reason}",
                                         "nothing was sent; the run retries later") from None
        except ValueError as exc:  # msal: the tenant's OpenID configuration could not be read (4xx)
            raise PermanentDeliveryError(
                channel, forum, f"sign-in at {login_host} failed: {scrub(_discovery_error(exc), secrets)}",
                f"check {ENV_TENANT} (the Directory (tenant) ID) and {ENV_LOGIN_URL}") from None
        except OSError as exc:  # reading the certificate
            raise PermanentDeliveryError(channel, forum, f"cannot read the certificate: {exc.strerror or exc}",
                                         f"check {ENV_CERT}") from None
        finally:
            self._http.calling(None)
        if "access_token" in result:
            return str(result["access_token"])
        error = str(result.get("error", "unknown_error"))
        description = scrub(_first_line(str(result.get("error_description", ""))), secrets)
        raise PermanentDeliveryError(channel, forum, f"sign-in refused: {error}: {description}".rstrip(": "),
                                     sign_in_fix(error, description))


def sign_in_fix(error: str, description: str) -> str:
    if "AADSTS7000215" in description or "AADSTS7000222" in description or error == "invalid_client":
        return (f"the client secret or certificate was refused: check {ENV_SECRET} / {ENV_CERT}; a secret may have "
                "expired: create a new one under Certificates & secrets")
    if "AADSTS700016" in description or error == "unauthorized_client":
        return f"check {ENV_CLIENT}: the app must be registered in the tenant {ENV_TENANT} names"
    if "AADSTS90002" in description or error == "invalid_tenant":
        return f"check {ENV_TENANT}: no such tenant"
    if error == "invalid_scope":
        return f"check {ENV_GRAPH_URL}: the token is asked for its host's .default scope"
    return f"check the app registration and the {ENV_TENANT}/{ENV_CLIENT} settings (see {DOC})"


#: a Graph error → what the operator should do; given the status, Graph's error code and the request
Fix = Callable[[int, str], str]


class GraphClient:
    """Graph calls for one channel: bearer token, base URL, retry policy, and Graph's errors explained.

    The credentials come from the environment as the entry point read it (`GraphEnvironment`), checked once,
    here; what is missing is kept as problems, which `preflight` reports and every request raises."""

    def __init__(self, channel: str, retry: RetrySettings, environment: GraphEnvironment) -> None:
        self.channel = channel
        self.policy = retry.policy()
        self.session = requests.Session()
        self._credentials, self._problems = GraphCredentials.from_env(environment.by_variable())
        self.tokens: TokenSource | None = TokenSource(self._credentials) if self._credentials else None

    def __repr__(self) -> str:
        return f"GraphClient(channel={self.channel!r})"

    def share_sign_in(self, clients: Iterable[GraphClient]) -> None:
        """Sign in once per run: take the token source of the first of the run's Graph clients (in the plan's
        order, possibly this one) that has the same credentials."""
        for other in clients:
            if other._credentials is not None and other._credentials == self._credentials:
                if other.tokens is not self.tokens and self.tokens is not None:
                    self.tokens.close()
                self.tokens = other.tokens
                return

    def credentials(self, forum: str) -> GraphCredentials:
        if self._credentials is None:
            first = self._problems[0]
            raise PermanentDeliveryError(self.channel, forum, f"{first.field} {first.what}", first.fix)
        return self._credentials

    def token(self, forum: str) -> str:
        self.credentials(forum)
        assert self.tokens is not None
        return self.tokens.token(self.channel, forum, self.policy)

    def preflight(self) -> list[Problem]:
        """Every missing setting in the environment, else one sign-in: nothing is sent."""
        if self._problems:
            return [Problem(p.file, p.field, f"{p.what} (needed by channel {self.channel!r})", p.fix)
                    for p in self._problems]
        try:
            self.token("(preflight)")
        except DeliveryError as exc:
            return [Problem(f"channels.{self.channel}", "credentials", exc.reason, exc.fix)]
        return []

    def request(self, method: str, path: str, *, forum: str, safe: bool, fix: Fix,
                expect: tuple[int, ...] = (200, 201, 202, 204), **kwargs: Any) -> requests.Response:
        """One Graph call. `path` starts with `/` (below the Graph base). 4xx become PermanentDeliveryError
        with Graph's code, message and `fix(status, code)`, unless the status is in `expect`."""
        credentials = self.credentials(forum)
        token = self.token(forum)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **kwargs.pop("headers", {})}
        try:
            return http.call(self.session, method, credentials.graph_url + path, channel=self.channel, forum=forum,
                             safe=safe, policy=self.policy, expect=expect, headers=headers, **kwargs)
        except http.Refused as exc:
            what = f"Graph answered {method} {_route(path)} with HTTP {exc.status}"
            detail = f" {exc.code}: {exc.text}" if exc.code or exc.text else ""
            raise PermanentDeliveryError(self.channel, forum, what + detail, fix(exc.status, exc.code)) from None

    def close(self) -> None:
        self.session.close()
        if self.tokens is not None:
            self.tokens.close()


def clients(channels: Mapping[str, object]) -> list[GraphClient]:
    """The Graph clients of a run's channels, in the plan's order (for `GraphClient.share_sign_in`)."""
    return [graph for adapter in channels.values() if isinstance(graph := getattr(adapter, "graph", None), GraphClient)]


def token_fix(status: int, code: str) -> str | None:
    """The fix every Graph channel shares: a refused token."""
    if status == 401:
        return (f"Graph refused the app's token: check that {ENV_TENANT} and {ENV_CLIENT} name the app registration "
                f"of this tenant and that {ENV_GRAPH_URL} is the Graph of the same cloud")
    return None


def odata_string(value: str) -> str:
    """A string literal in an OData $filter: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


_QUERY_SAFE = "$,()'="


def query(**params: str) -> str:
    """An OData query string (`$name=value&…`). Graph's documentation asks for spaces, colons and slashes in
    a $filter to be URL-encoded: everything but a few OData characters is."""
    return "?" + "&".join(f"${name}={quote(value, safe=_QUERY_SAFE)}" for name, value in params.items())


def _route(path: str) -> str:
    return path.split("?")[0]


def _discovery_error(exc: ValueError) -> str:
    """msal wraps Entra's answer (`OIDC Discovery failed … Error: {json}`) in a generic message: dig it out."""
    for candidate in (exc.__context__, exc):
        found = re.search(r'"error_description"\s*:\s*"([^"]+)"', str(candidate))
        if found:
            return "the tenant's OpenID configuration: " + found.group(1).split("\\r\\n")[0]
    return _first_line(str(exc))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
