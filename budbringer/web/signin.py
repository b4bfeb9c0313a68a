"""Microsoft Entra ID sign-in for the approval pages: the OpenID Connect authorization-code flow through msal.

The plan's `approval.sign_in` names the tenant, the app registration (client id) and the sign-in host; the
client secret comes from $BUDBRINGER_ENTRA_CLIENT_SECRET and is never logged, shown or put in a repr.

`start()` begins msal's flow (`initiate_auth_code_flow`: state, nonce and PKCE) and gives the address to send
the browser to; the web app keeps the flow in its signed session cookie. `finish()` hands the flow and the
query of the redirect back to `acquire_token_by_auth_code_flow`, which checks the state and the nonce, and
returns the addresses the ID token names (`preferred_username`, `email`). The ID token comes straight from the
token endpoint over TLS, in exchange for the code and the client secret, so (as msal does) its signature is
not checked again; its audience and expiry are.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from typing import Any

from budbringer.errors import InputError, Problem
from budbringer.plan import Member, SignIn

log = logging.getLogger("budbringer")

ENV_CLIENT_SECRET = "BUDBRINGER_ENTRA_CLIENT_SECRET"
#: where Entra ID sends the browser back: register BASE + this path as the app's redirect URI
CALLBACK_PATH = "/auth/callback"
#: how long a sign-in counts on the approval pages
IDENTITY_SECONDS = 3600
#: only the ID token is needed: msal adds the OpenID scopes (openid, profile, offline_access) itself
SCOPES: list[str] = []


class SignInFailed(Exception):
    """The sign-in could not be completed (the reason is for the log; the page says it in Danish)."""


def client_secret(plan_path: str = "the plan") -> str:
    """$BUDBRINGER_ENTRA_CLIENT_SECRET, or a clear error naming what to set."""
    value = os.environ.get(ENV_CLIENT_SECRET, "").strip()
    if not value:
        raise InputError([Problem(plan_path, "approval.sign_in",
                                  f"Entra ID sign-in is configured but ${ENV_CLIENT_SECRET} is not set",
                                  f"set ${ENV_CLIENT_SECRET} to the app registration's client secret")])
    return value


def member_by_email(members: list[Member], addresses: list[str]) -> Member | None:
    """The member whose e-mail is one of `addresses` (any case)."""
    wanted = {a.strip().casefold() for a in addresses if a and a.strip()}
    return next((m for m in members if m.email.casefold() in wanted), None)


class EntraSignIn:
    """One app registration's sign-in: one msal ConfidentialClientApplication, made on first use (that reads
    `{authority}/v2.0/.well-known/openid-configuration`)."""

    def __init__(self, config: SignIn, secret: str | None = None) -> None:
        self.config = config
        self._secret = secret
        self._app: Any = None
        self._lock = threading.Lock()

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

    def finish(self, flow: dict[str, Any], response: dict[str, str]) -> list[str]:
        """The e-mail addresses the ID token names (preferred_username, then email); SignInFailed otherwise."""
        try:
            result = self._application().acquire_token_by_auth_code_flow(flow, response)
        except (ValueError, RuntimeError) as exc:  # state or nonce mismatch, a flow from another session
            raise SignInFailed(f"the sign-in answer did not match its request ({type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - the token endpoint could not be reached
            raise SignInFailed(f"the token endpoint could not be reached ({type(exc).__name__})") from None
        if "error" in result:
            raise SignInFailed(f"Entra ID answered {result.get('error')}: "
                               f"{str(result.get('error_description', '')).splitlines()[0][:200]}")
        claims = result.get("id_token_claims") or {}
        audience = claims.get("aud")
        if (audience if isinstance(audience, list) else [audience]).count(self.config.client_id) != 1:
            raise SignInFailed("the ID token was issued for another application")
        if float(claims.get("exp", 0)) < time.time() - 120:
            raise SignInFailed("the ID token has expired")
        addresses = [str(claims[name]) for name in ("preferred_username", "email") if claims.get(name)]
        if not addresses:
            raise SignInFailed("the ID token names no e-mail address (preferred_username or email)")
        return addresses
