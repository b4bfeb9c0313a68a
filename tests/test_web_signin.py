"""Entra ID sign-in on the approvers' pages, end to end: the pages served by a real uvicorn, a real HTTP client
that follows redirects and keeps cookies (httpx, as a browser does), and a real local HTTPS stand-in of the
Microsoft identity platform (tests/servers/graph.py: discovery, authorize, the auth-code token exchange with
PKCE, an RS256 ID token with msal's nonce, the tenant's JWKS) with a trustme certificate.

The chain a member walks: the personal link → the page asks for sign-in → /godkend/TOKEN/log-ind → the
authorize endpoint → back to /auth/callback with a code → msal redeems it → the ID token is verified (signature
against the tenant's published keys, audience, issuer and tid, expiry) → the member whose object id the token
names → the page with the buttons → the decision, recorded as given by "sign-in" with the account (oid, tid,
UPN). Then the attacks: another tenant, another object id with the chair's address, iss/tid mismatch, a key the
tenant does not publish, an absurd expiry, a cookie replayed after sign-out.

The example's links expire at its approval deadline (2026-12-03): every test here runs on the clock pinned at
the example's request day (tests/conftest.py, `example_clock`).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
import yaml

from budbringer import approval_request, cascade
from budbringer.adapters import memory
from budbringer.approval_request import Decision
from budbringer.errors import InputError
from budbringer.ledger import Account, Ledger
from budbringer.plan import SignIn
from budbringer.web import signin
from budbringer.web.app import create_app
from tests.conftest import MESSAGE, EntraStandIn, memory_plan
from tests.servers.graph import CLIENT, TENANT, LoginEmulator, User

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")

MESSAGE_ID = "2026-11-status-udbud"
LINK = re.compile(r'href="(https?://[^"]+/godkend/[^"]+)"')
JENS = "jens.kragh@socialomraadet.example"
METTE = "mette.lund@socialomraadet.example"  # the chair
WEB_SECRET = "web-secret-" + "x9" * 20
#: the members' object ids in the home tenant (TENANT), as the plan writes them
OBJECT_IDS = {"Mette Lund": "0b8e2c1a-5d3f-4e6a-9b7c-1f2e3d4c5b6a",
              "Jens Kragh": "1c9f3d2b-6e4a-4f7b-8c8d-2a3b4c5d6e7f",
              "Sofie Dahl": "2d0a4e3c-7f5b-4a8c-9d9e-3b4c5d6e7f80", "Lars Bech": "3e1b5f4d-8a6c-4b9d-8eaf-4c5d6e7f8091"}
OTHER_TENANT = "5f2c7a9e-1b3d-4c5e-8f70-9a1b2c3d4e5f"


def members_with_object_ids(workdir: Path) -> list[dict[str, str]]:
    base = yaml.safe_load((workdir / "memory-plan.yaml").read_text(encoding="utf-8"))
    return [{**m, "object_id": OBJECT_IDS[m["name"]]} for m in base["approval"]["members"]]


def text(response: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def link_of(email: str) -> str:
    mails = {d.variant.recipients[0]: d.variant.body for d in memory.SENT if d.forum.startswith("approval-request")}
    found = LINK.findall(mails[email])
    assert len(found) == 1
    return html.unescape(found[0])


class Site:
    """The approval pages on a real uvicorn, the identity stand-in, and what was resumed."""

    def __init__(self, base: str, login: LoginEmulator, login_url: str, client_secret: str, request_id: int) -> None:
        self.base, self.login, self.login_url = base, login, login_url
        self.client_secret, self.request_id = client_secret, request_id
        self.resumed: list[tuple[str, Decision]] = []

    def browser(self) -> httpx.Client:
        """A fresh browser: its own cookie jar; trusts the test CA (REQUESTS_CA_BUNDLE, as msal does)."""
        import os
        import ssl

        context = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
        return httpx.Client(verify=context, follow_redirects=True, timeout=30)

    def votes(self) -> list[tuple[str, str, str]]:
        return [(v.voter, v.decision, v.source) for v in Ledger().votes(self.request_id)]

    def signs_in(self, browser: httpx.Client, link: str) -> httpx.Response:
        """The whole sign-in, from the link's /log-ind to the page it ends on."""
        return browser.get(link + "/log-ind")


def _start(workdir: Path, monkeypatch: pytest.MonkeyPatch, entra: EntraStandIn, required: bool) -> Iterator[Site]:
    login = entra.login
    login.add_user(User(upn=METTE, name="Mette Lund", oid=OBJECT_IDS["Mette Lund"]))
    login.add_user(User(upn="Jens.Kragh@SocialOmraadet.example", name="Jens Kragh", oid=OBJECT_IDS["Jens Kragh"]))
    login.add_user(User(upn="sofie@socialomraadet.onmicrosoft.example", name="Sofie Dahl",
                        email="sofie.dahl@socialomraadet.example", oid=OBJECT_IDS["Sofie Dahl"]))
    login.add_user(User(upn="lars.bech@socialomraadet.example", name="Lars Bech", oid=OBJECT_IDS["Lars Bech"]))
    login.add_user(User(upn="hanne.holm@socialomraadet.example", name="Hanne Holm"))  # not a member
    # A user of another tenant whose address claims are the chair's, even with the chair's object id: only the
    # tenant (tid, iss) tells the tokens apart.
    login.add_user(User(upn="mette.lund@other-tenant.example", name="Mette Lund", email=METTE,
                        oid=OBJECT_IDS["Mette Lund"], tenant=OTHER_TENANT))
    # A user of the home tenant with another object id who carries the chair's address in `email`.
    login.add_user(User(upn="impostor@socialomraadet.example", name="Mette Lund", email=METTE))
    entra.registration.redirect_uris.append(entra.base + signin.CALLBACK_PATH)
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", WEB_SECRET)
    (workdir / "messages").mkdir()
    message = workdir / "messages" / MESSAGE.name
    shutil.copy(MESSAGE, message)
    plan = workdir / "signin-plan.yaml"
    shipped = memory_plan(workdir)
    plan.write_text(yaml.safe_dump({"extends": str(shipped), "approval": {
        "members": members_with_object_ids(workdir), "sign_in": entra.sign_in(required)}}), encoding="utf-8")
    prepared = cascade.prepare(plan, message)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    ledger.waiting_run(request.id, "run-7")
    approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
    site = Site(entra.base, login, entra.url, entra.client_secret, request.id)
    web = uvicorn.Server(uvicorn.Config(
        create_app(plan, workdir / "messages", resume=lambda run, d: site.resumed.append((run, d)) or "ok"),
        host="127.0.0.1", port=entra.port, log_level="warning", access_log=False))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield site
    finally:
        web.should_exit = True
        thread.join(10)


@pytest.fixture
def site(workdir: Path, monkeypatch: pytest.MonkeyPatch, entra: EntraStandIn,
         example_clock: dt.datetime) -> Iterator[Site]:
    yield from _start(workdir, monkeypatch, entra, required=True)


@pytest.fixture
def optional_site(workdir: Path, monkeypatch: pytest.MonkeyPatch, entra: EntraStandIn,
                  example_clock: dt.datetime) -> Iterator[Site]:
    yield from _start(workdir, monkeypatch, entra, required=False)


def test_with_sign_in_required_the_link_asks_for_sign_in_and_the_decision_is_recorded_as_sign_in(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    link = link_of(JENS)
    token = link.rsplit("/", 1)[1]
    with site.browser() as browser:
        opened = browser.get(link)
        assert opened.status_code == 200 and "Hej Jens Kragh" in text(opened)
        assert "<form" not in opened.text and "Log ind med Microsoft" in text(opened)
        assert f'href="/godkend/{token}/log-ind"' in opened.text
        # The link alone records nothing.
        alone = browser.post(link, data={"beslutning": "godkend", "medlem": "Jens Kragh"})
        assert alone.status_code == 403 and "Log ind for at svare" in text(alone)
        assert site.votes() == []

        site.login.signed_in = "jens.kragh@socialomraadet.example"
        signed = browser.get(f"{site.base}/godkend/{token}/log-ind")
        hops = [(r.status_code, urlsplit(str(r.url)).path) for r in signed.history]
        assert hops == [(303, f"/godkend/{token}/log-ind"), (302, f"/{TENANT}/oauth2/v2.0/authorize"),
                        (303, "/auth/callback")], hops
        assert signed.status_code == 200 and str(signed.url) == link
        cookie = signed.history[0].headers["set-cookie"].lower()  # the msal flow, in a signed session cookie
        assert cookie.startswith("budbringer_session=") and "httponly" in cookie and "samesite=lax" in cookie
        assert "Du er logget ind som Jens.Kragh@SocialOmraadet.example" in text(signed)
        assert '<button type="submit" class="approve">Godkend</button>' in signed.text

        decided = browser.post(link, data={"beslutning": "godkend", "medlem": "Jens Kragh"})
        assert decided.status_code == 200 and "Din godkendelse er registreret" in text(decided)
        assert "efter log-ind som Jens.Kragh@SocialOmraadet.example" in text(decided)
    assert site.votes() == [("Jens Kragh", "approve", "sign-in")]
    # The ledger records which account signed in: its object id and tenant, and the UPN it had then.
    assert [v.signer for v in Ledger().votes(site.request_id)] == [
        Account(oid=OBJECT_IDS["Jens Kragh"], tid=TENANT, upn="Jens.Kragh@SocialOmraadet.example")]
    deadline = time.monotonic() + 10
    while not site.resumed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(run, d.by) for run, d in site.resumed] == [("run-7", "Jens Kragh")]

    # What the stand-in saw: msal's authorize request (PKCE, nonce, the member as login hint) and the exchange.
    authorize = site.login.received("GET", "/oauth2/v2.0/authorize")
    assert len(authorize) == 1
    query = {k: v[0] for k, v in authorize[0].query.items()}
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert query["login_hint"] == JENS and query["redirect_uri"] == site.base + "/auth/callback"
    exchanges = [parse_qs(r.body.decode()) for r in site.login.token_requests()]
    assert [e["grant_type"] for e in exchanges] == [["authorization_code"]] and "code_verifier" in exchanges[0]
    assert [c["preferred_username"] for c in site.login.id_tokens] == ["Jens.Kragh@SocialOmraadet.example"]
    # The client secret went to the token endpoint and nowhere else: not in a log line, a page, a repr.
    assert exchanges[0]["client_secret"] == [site.client_secret]
    assert site.client_secret not in caplog.text and WEB_SECRET not in caplog.text
    for response in (opened, alone, signed, decided):
        assert site.client_secret not in response.text and WEB_SECRET not in response.text
        assert site.client_secret not in str(response.headers) and WEB_SECRET not in str(response.headers)


def test_the_member_is_matched_by_object_id_whatever_the_user_name(site: Site) -> None:
    link = link_of("sofie.dahl@socialomraadet.example")
    site.login.signed_in = "sofie@socialomraadet.onmicrosoft.example"
    with site.browser() as browser:
        signed = browser.get(link + "/log-ind")
        assert "Du er logget ind som sofie@socialomraadet.onmicrosoft.example" in text(signed)
        rejected = browser.post(link, data={"beslutning": "afvis", "medlem": "Sofie Dahl",
                                            "bemaerkning": "Tidsplanen mangler."})
        assert "Budskabet er afvist" in text(rejected)
    assert site.votes() == [("Sofie Dahl", "reject", "sign-in")]


def test_a_non_member_or_another_member_who_signs_in_is_refused_and_nothing_changes(site: Site) -> None:
    link = link_of(JENS)
    site.login.signed_in = "hanne.holm@socialomraadet.example"
    with site.browser() as browser:
        refused = browser.get(link + "/log-ind")
        assert refused.status_code == 403 and "Du er ikke medlem af styregruppen" in text(refused)
        assert "Du er logget ind som hanne.holm@socialomraadet.example" in text(refused)
        assert "<form" not in refused.text
        again = browser.post(link, data={"beslutning": "godkend", "medlem": "Jens Kragh"})
        assert again.status_code == 403 and "Log ind for at svare" in text(again)
    # Sofie, a member, signs in with Jens's link: not hers.
    site.login.signed_in = "sofie@socialomraadet.onmicrosoft.example"
    with site.browser() as browser:
        foreign = browser.get(link + "/log-ind")
        assert foreign.status_code == 403 and "Linket er ikke til dig" in text(foreign)
        posted = browser.post(link, data={"beslutning": "godkend", "medlem": "Jens Kragh"})
        assert posted.status_code == 403
    assert site.votes() == [] and Ledger().request(MESSAGE_ID).state == "open"  # type: ignore[union-attr]
    assert site.resumed == []


def test_a_forged_callback_is_refused(site: Site) -> None:
    link = link_of(JENS)
    site.login.signed_in = JENS
    with site.browser() as browser:
        started = browser.get(link + "/log-ind", follow_redirects=False)
        assert started.status_code == 303
        authorize = browser.get(started.headers["location"], follow_redirects=False)
        back = urlsplit(authorize.headers["location"])
        code = parse_qs(back.query)["code"][0]
        forged = browser.get(f"{site.base}/auth/callback", params={"code": code, "state": "not-the-state"})
        assert forged.status_code == 400 and "Log-ind mislykkedes" in text(forged)
        # The flow is used up: the genuine answer afterwards does not sign in either.
        late = browser.get(f"{site.base}/auth/callback?{back.query}")
        assert late.status_code == 400 and "Log-ind mislykkedes" in text(late)
        assert "<form" not in browser.get(link).text
    with site.browser() as stranger:  # a callback in a browser that never started a sign-in
        assert stranger.get(f"{site.base}/auth/callback?code=x&state=y").status_code == 400
    assert site.votes() == []


def test_with_sign_in_optional_the_link_still_works_and_a_signed_in_decision_says_so(optional_site: Site) -> None:
    site = optional_site
    with site.browser() as browser:
        opened = browser.get(link_of("lars.bech@socialomraadet.example"))
        assert "<form" in opened.text and "logge ind med Microsoft" in text(opened)
        by_link = browser.post(link_of("lars.bech@socialomraadet.example"),
                               data={"beslutning": "godkend", "medlem": "Lars Bech"})
        assert by_link.status_code == 200
    site.login.signed_in = JENS
    with site.browser() as browser:
        browser.get(link_of(JENS) + "/log-ind")
        assert browser.post(link_of(JENS), data={"beslutning": "godkend", "medlem": "Jens Kragh"}).status_code == 200
    assert site.votes() == [("Lars Bech", "approve", "link"), ("Jens Kragh", "approve", "sign-in")]
    assert Ledger().request(MESSAGE_ID).state == "approved"  # type: ignore[union-attr]


def test_sign_in_without_the_client_secret_is_a_clear_error_and_the_secret_never_shows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = SignIn(tenant=TENANT, client_id=CLIENT, authority_url="https://127.0.0.1:1")
    monkeypatch.delenv(signin.ENV_CLIENT_SECRET, raising=False)
    with pytest.raises(InputError) as error:
        signin.client_secret("plan.yaml")
    assert "approval.sign_in" in str(error.value) and "BUDBRINGER_ENTRA_CLIENT_SECRET" in str(error.value)
    monkeypatch.setenv(signin.ENV_CLIENT_SECRET, "very-secret-value")
    shown: Any = signin.EntraSignIn(config, "very-secret-value")
    assert "very-secret-value" not in repr(shown) and CLIENT in repr(shown)
    with pytest.raises(signin.SignInFailed) as failed:  # nothing answers on port 1
        shown.start("http://127.0.0.1:8400/auth/callback")
    assert "very-secret-value" not in str(failed.value)


def test_the_plan_refuses_a_sign_in_authority_that_is_not_https(workdir: Path) -> None:
    from budbringer import plan as plan_

    path = workdir / "plan.yaml"
    path.write_text(yaml.safe_dump({"extends": str(memory_plan(workdir)), "approval": {"sign_in": {
        "tenant": TENANT, "client_id": CLIENT, "authority_url": "http://login.example"}}}), encoding="utf-8")
    with pytest.raises(InputError) as error:
        plan_.load(path)
    assert "approval.sign_in.authority_url" in str(error.value)


@pytest.mark.usefixtures("before_deadline")
def test_check_says_the_sign_in_secret_is_missing_before_the_pages_would_refuse_to_start(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from budbringer import cli

    path = workdir / "plan.yaml"
    base = memory_plan(workdir)
    path.write_text(yaml.safe_dump({"extends": str(base), "approval": {
        "members": members_with_object_ids(workdir), "sign_in": {
            "tenant": TENANT, "client_id": CLIENT, "authority_url": "https://127.0.0.1:1"}}}), encoding="utf-8")
    monkeypatch.delenv(signin.ENV_CLIENT_SECRET, raising=False)
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 1
    err = capsys.readouterr().err
    assert "approval.sign_in" in err and "BUDBRINGER_ENTRA_CLIENT_SECRET" in err and str(path) in err
    monkeypatch.setenv(signin.ENV_CLIENT_SECRET, "very-secret-value")
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 0
    assert "very-secret-value" not in "".join(capsys.readouterr())


# -- check, web and serve refuse what cannot be bound to the tenant ------------------------------------------

@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers", "Common", "rm.dk"])
def test_check_and_web_refuse_a_multi_tenant_authority_or_a_tenant_that_is_no_id(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tenant: str) -> None:
    from budbringer import cli

    monkeypatch.setenv(signin.ENV_CLIENT_SECRET, "very-secret-value")
    path = workdir / "plan.yaml"
    shipped = memory_plan(workdir)
    path.write_text(yaml.safe_dump({"extends": str(shipped), "approval": {
        "members": members_with_object_ids(workdir), "sign_in": {"tenant": tenant, "client_id": CLIENT}}}),
        encoding="utf-8")
    for command in (["check", "--plan", str(path), str(MESSAGE)], ["web", "--plan", str(path), "--port", "1"]):
        assert cli.main(command) == 1, command
        err = capsys.readouterr().err
        assert str(path) in err and "approval.sign_in.tenant" in err and "Tenant ID" in err, err
        assert ("any tenant" in err) == (tenant.lower() != "rm.dk") and "Traceback" not in err


def test_check_and_web_say_which_member_has_no_object_id_when_sign_in_is_required(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from budbringer import cli
    from budbringer.flows import web

    monkeypatch.setenv(signin.ENV_CLIENT_SECRET, "very-secret-value")
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", WEB_SECRET)
    path = workdir / "plan.yaml"
    shipped = memory_plan(workdir)
    members = members_with_object_ids(workdir)
    del members[3]["object_id"]  # Lars Bech
    overlay = {"extends": str(shipped), "approval": {"members": members, "sign_in": {
        "tenant": TENANT, "client_id": CLIENT}}}
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 1
    err = capsys.readouterr().err
    assert "approval.members[3].object_id" in err and "Lars Bech has no object id" in err and "Object ID" in err
    with pytest.raises(InputError) as refused:  # `web` and `serve` build the pages here
        web.app(path)
    assert "approval.members[3].object_id" in str(refused.value)
    # Optional sign-in: the link still works for him, so it is no error.
    overlay["approval"]["sign_in"]["required"] = False  # type: ignore[index]
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 0
    # Two members with one object id: a plan error wherever the plan is read.
    members[3]["object_id"] = OBJECT_IDS["Jens Kragh"]
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 1
    assert "approval.members[3].object_id" in capsys.readouterr().err


def test_an_object_id_that_is_no_guid_is_refused_with_the_fix(workdir: Path) -> None:
    from budbringer import plan as plan_

    path = workdir / "plan.yaml"
    shipped = memory_plan(workdir)
    members = members_with_object_ids(workdir)
    members[0]["object_id"] = "mette.lund@socialomraadet.example"
    path.write_text(yaml.safe_dump({"extends": str(shipped), "approval": {"members": members}}), encoding="utf-8")
    with pytest.raises(InputError) as error:
        plan_.load(path)
    assert "approval.members[0].object_id" in str(error.value) and "Object ID" in str(error.value)


def test_the_runs_summary_names_the_account_that_signed_in_for_a_decision() -> None:
    import datetime as dt

    from budbringer.flows.approval import _where
    from budbringer.ledger import Account, Vote

    at = dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC)
    signed = Vote("Mette Lund", "approve", "", "sign-in", at,
                  Account(oid="8d1f7a52-0000-4000-8000-000000000001", tid="4c3b2a10-0000-4000-8000-000000000000",
                          upn="mette.lund@rm.example"))
    assert _where(signed) == "sign-in as mette.lund@rm.example (8d1f7a52-0000-4000-8000-000000000001)"
    assert _where(Vote("Jens Kragh", "approve", "", "cli", at)) == "cli"
