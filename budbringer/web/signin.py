"""Microsoft Entra ID sign-in for the approval pages: the OpenID Connect authorization-code flow through msal.

The plan's `approval.sign_in` names the tenant (its id), the app registration (client id) and the sign-in
host; the client secret comes from $BUDBRINGER_ENTRA_CLIENT_SECRET and is never logged, shown or put in a repr.

`start()` begins msal's flow (`initiate_auth_code_flow`: state, nonce and PKCE) and gives the address to send
the browser to; the web app keeps the flow in its signed session cookie. `finish()` hands the flow and the
query of the redirect back to `acquire_token_by_auth_code_flow`, which checks the state and the nonce and
redeems the code. msal does not validate the ID token, so `verify()` does: its RS256 signature against the
keys the tenant publishes (`jwks_uri` of the tenant's OpenID configuration), the audience (the client id),
the issuer and `tid` (the configured tenant), the expiry (not past, and not implausibly far ahead), and an
object id. The signed-in account is `Account(oid, tid, upn)`; a member is matched by the object id written
in the plan (`approval.members[].object_id`), never by an e-mail or user name claim, which Microsoft says
are mutable and not for authorization (docs/approval-web.md cites the pages).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Any

from budbringer.errors import InputError, Problem
from budbringer.ledger import Account
from budbringer.plan import GUID, Member, Plan, SignIn

log = logging.getLogger("budbringer")

ENV_CLIENT_SECRET = "BUDBRINGER_ENTRA_CLIENT_SECRET"
#: where Entra ID sends the browser back: register BASE + this path as the app's redirect URI
CALLBACK_PATH = "/auth/callback"
#: how long a sign-in counts on the approval pages
IDENTITY_SECONDS = 3600
#: only the ID token is needed: msal adds the OpenID scopes (openid, profile, offline_access) itself
SCOPES: list[str] = []
#: clock skew allowed on `exp`, `nbf` and `iat`
LEEWAY_SECONDS = 120
#: an Entra ID token lives about an hour: one that claims to live longer than a day is refused
MAX_TOKEN_SECONDS = 24 * 3600
#: the tenant's signing keys are read again for an unknown key id at most this often (key rollover)
KEYS_REFRESH_SECONDS = 300
#: where an admin finds a member's object id
OBJECT_ID_FIX = ("copy the member's Object ID from the Entra admin center (Identity → Users → the user → "
                 "Overview → Object ID; or `az ad user show --id ADDRESS --query id -o tsv`) into "
                 "`object_id:` under the member")

class SignInFailed(Exception):
    """The sign-in could not be completed (the reason is for the log; the page says it in Danish)."""


def client_secret(plan_path: str = "the plan") -> str:
    """$BUDBRINGER_ENTRA_CLIENT_SECRET (as the settings read it), or a clear error naming what to set."""
    from budbringer import settings

    given = settings.current().entra_client_secret
    value = given.get_secret_value().strip() if given is not None else ""
    if not value:
        raise InputError([Problem(plan_path, "approval.sign_in",
                                  f"Entra ID sign-in is configured but ${ENV_CLIENT_SECRET} is not set",
                                  f"set ${ENV_CLIENT_SECRET} to the app registration's client secret")])
    return value


def member_of(members: list[Member], account: Account) -> Member | None:
    """The member whose object id is the account's (the tenant was checked when the ID token was verified)."""
    return next((m for m in members if m.object_id and m.object_id == account.oid.lower()), None)


def configuration_problems(plan: Plan) -> list[Problem]:
    """What keeps sign-in from working, for `check` and for `web`/`serve` at start: the client secret missing,
    and (with `required: true`) members without an object id, who could not sign in and so not decide."""
    config = plan.approval.sign_in
    if config is None:
        return []
    where = str(plan.path or "the plan")
    problems: list[Problem] = []
    try:
        client_secret(where)
    except InputError as exc:
        problems += exc.problems
    if config.required:
        problems += [Problem(where, f"approval.members[{i}].object_id",
                             f"{member.name} has no object id, so cannot sign in to decide (sign-in is required)",
                             OBJECT_ID_FIX)
                     for i, member in enumerate(plan.approval.members) if not member.object_id]
    return problems


class EntraSignIn:
    """One app registration's sign-in: one msal ConfidentialClientApplication, made on first use (that reads
    `{authority}/v2.0/.well-known/openid-configuration`)."""

    def __init__(self, config: SignIn, secret: str | None = None) -> None:
        self.config = config
        self._secret = secret
        self._app: Any = None
        self._lock = threading.Lock()
        self._issuer = ""  # from the tenant's OpenID configuration
        self._jwks_uri = ""
        self._keys: dict[str, Any] = {}  # key id → the tenant's published signing key
        self._keys_read = float("-inf")  # time.monotonic() of the last read

    def __repr__(self) -> str:
        return f"EntraSignIn(authority={self.config.authority!r}, client_id={self.config.client_id!r})"

    def _application(self) -> Any:
        with self._lock:
            if self._app is None:
                import msal

                try:
                    # instance_discovery=False: never ask login.microsoftonline.com about another authority host.
                    self._app = msal.ConfidentialClientApplication(
                        self.config.client_id, client_credential=self._secret or client_secret(),
                        authority=self.config.authority, instance_discovery=False, timeout=15)
                except InputError:
                    raise
                except Exception as exc:  # noqa: BLE001 - msal raises ValueError, requests' errors, …
                    raise SignInFailed(f"the authority {self.config.authority} could not be read: "
                                       f"{type(exc).__name__}") from None
            return self._app

    def start(self, redirect_uri: str, login_hint: str | None = None) -> dict[str, Any]:
        """msal's auth-code flow: `flow["auth_uri"]` is where the browser goes; keep the rest for finish().

        The answer comes back as a query (a top-level GET), so the session cookie can stay SameSite=Lax; the
        code in it is good once, only with the PKCE verifier and the client secret, and the pages send
        `Referrer-Policy: no-referrer`."""
        application = self._application()
        with warnings.catch_warnings():
            # msal recommends response_mode=form_post; that answer is a cross-site POST, which a SameSite=Lax
            # session cookie does not come with. The reasons the query is safe here are in the docstring.
            warnings.filterwarnings("ignore", message=r"response_mode='form_post' is recommended")
            return dict(application.initiate_auth_code_flow(scopes=SCOPES, redirect_uri=redirect_uri,
                                                            login_hint=login_hint))

    def finish(self, flow: dict[str, Any], response: dict[str, str]) -> Account:
        """The account the verified ID token names; SignInFailed otherwise."""
        try:
            result = self._application().acquire_token_by_auth_code_flow(flow, response)
        except (ValueError, RuntimeError) as exc:  # state or nonce mismatch, a flow from another session
            raise SignInFailed(f"the sign-in answer did not match its request ({type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - the token endpoint could not be reached
            raise SignInFailed(f"the token endpoint could not be reached ({type(exc).__name__})") from None
        if "error" in result:
            raise SignInFailed(f"Entra ID answered {result.get('error')}: "
                               f"{str(result.get('error_description', '')).splitlines()[0][:200]}")
        id_token = result.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInFailed("the token endpoint answered without an ID token")
        return self.verify(id_token)

    def verify(self, id_token: str) -> Account:
        """Check the ID token as Microsoft's guidance asks (the module's docstring) and name its account."""
        import jwt

        try:
            header = jwt.get_unverified_header(id_token)
            if header.get("alg") != "RS256":
                raise SignInFailed(f"the ID token is signed with {str(header.get('alg'))[:20]!r}, not RS256")
            key = self._signing_key(str(header.get("kid", "")))
            claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=self.config.client_id,
                                issuer=self._issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iat", "aud", "iss", "tid", "oid"]})
            expires = float(claims["exp"])
        except SignInFailed:
            raise
        except jwt.InvalidSignatureError:
            raise SignInFailed("the ID token's signature does not verify with the tenant's published key") from None
        except jwt.InvalidAudienceError:
            raise SignInFailed("the ID token was issued for another application") from None
        except jwt.ExpiredSignatureError:
            raise SignInFailed("the ID token has expired") from None
        except jwt.InvalidIssuerError:
            raise SignInFailed("the ID token's issuer is not the configured tenant") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:  # malformed, absurd numbers
            raise SignInFailed(f"the ID token is not valid ({type(exc).__name__})") from None
        if expires > time.time() + MAX_TOKEN_SECONDS:
            raise SignInFailed("the ID token claims to be valid for more than a day")
        tenant, oid = str(claims["tid"]).lower(), str(claims["oid"]).lower()
        if tenant != self.config.tenant:
            raise SignInFailed("the ID token's tid is not the configured tenant")
        if not GUID.fullmatch(oid):
            raise SignInFailed("the ID token's oid is not an object id")
        upn = next((str(claims[name]) for name in ("preferred_username", "upn", "email") if claims.get(name)), "")
        return Account(oid=oid, tid=tenant, upn=upn[:320])

    def _signing_key(self, kid: str) -> Any:
        """The tenant's published key with this id: the OpenID configuration names the JWKS (and the issuer);
        an unknown id reads the keys again (Entra ID rolls them over), at most every KEYS_REFRESH_SECONDS."""
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._keys_read >= KEYS_REFRESH_SECONDS:
                self._read_keys()
            key = self._keys.get(kid)
        if key is None:
            raise SignInFailed("the ID token is signed with a key the tenant does not publish")
        return key

    def _read_keys(self) -> None:
        import jwt
        import requests

        try:
            if not self._jwks_uri:
                found = requests.get(f"{self.config.authority}/v2.0/.well-known/openid-configuration", timeout=15)
                found.raise_for_status()
                document = found.json()
                issuer, jwks_uri = str(document.get("issuer", "")), str(document.get("jwks_uri", ""))
                if not issuer.rstrip("/").endswith(f"/{self.config.tenant}/v2.0") or \
                        not jwks_uri.startswith("https://"):
                    raise SignInFailed("the tenant's OpenID configuration names another tenant as issuer, or no "
                                       "https jwks_uri")
                self._issuer, self._jwks_uri = issuer, jwks_uri
            answer = requests.get(self._jwks_uri, timeout=15)
            answer.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(answer.json())
        except SignInFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - requests' errors, bad JSON, no usable key
            raise SignInFailed(f"the tenant's signing keys could not be read ({type(exc).__name__})") from None
        self._keys = {str(k.key_id): k.key for k in keys.keys if k.key_id}
        self._keys_read = time.monotonic()
