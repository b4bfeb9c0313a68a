"""Entra ID sign-in on the approvers' pages, end to end: the pages served by a real uvicorn, a real HTTP client
that follows redirects and keeps cookies (httpx, as a browser does), and a real local HTTPS stand-in of the
Microsoft identity platform (tests/servers/graph.py: discovery, authorize, the auth-code token exchange with
PKCE, an RS256 ID token with msal's nonce) with a trustme certificate.

The chain a member walks: the personal link → the page asks for sign-in → /godkend/TOKEN/log-ind → the
authorize endpoint → back to /auth/callback with a code → msal redeems it → the page with the buttons → the
decision, recorded as given by "sign-in" for the member whose e-mail the ID token names.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trustme
import uvicorn
import yaml

from budbringer import approval_request, cascade
from budbringer.adapters import memory
from budbringer.approval_request import Decision
from budbringer.errors import InputError
from budbringer.ledger import Ledger
from budbringer.plan import SignIn
from budbringer.web import signin
from budbringer.web.app import create_app
from tests.conftest import MESSAGE, memory_plan
from tests.servers.graph import CLIENT, TENANT, App, LoginEmulator, User, _quick
from tests.servers.https import HTTPSServer

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")

MESSAGE_ID = "2026-11-status-udbud"
LINK = re.compile(r'href="(https?://[^"]+/godkend/[^"]+)"')
JENS = "jens.kragh@socialomraadet.example"
WEB_SECRET = "web-secret-" + "x9" * 20


def text(response: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def link_of(email: str) -> str:
    mails = {d.variant.recipients[0]: d.variant.body for d in memory.SENT if d.forum.startswith("approval-request")}
    found = LINK.findall(mails[email])
    assert len(found) == 1
    return html.unescape(found[0])


class Site:
    """The approval pages on a real uvicorn, the identity stand-in, and what was resumed."""

    def __init__(self, base: str, login: LoginEmulator, client_secret: str, request_id: int) -> None:
        self.base, self.login, self.client_secret, self.request_id = base, login, client_secret, request_id
        self.resumed: list[tuple[str, Decision]] = []

    def browser(self) -> httpx.Client:
        """A fresh browser: its own cookie jar; trusts the test CA (REQUESTS_CA_BUNDLE, as msal does)."""
        import os
        import ssl

        context = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
        return httpx.Client(verify=context, follow_redirects=True, timeout=30)

    def votes(self) -> list[tuple[str, str, str]]:
        return [(v.voter, v.decision, v.source) for v in Ledger().votes(self.request_id)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(workdir: Path, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, required: bool) -> Iterator[Site]:
    login = LoginEmulator()
    client_secret = "entra-secret-" + "q7" * 16
    app_registration = login.add_app(TENANT, App(CLIENT, secret=client_secret, roles=set()))
    login.add_user(User(upn="Jens.Kragh@SocialOmraadet.example", name="Jens Kragh"))  # another case than the plan
    login.add_user(User(upn="sofie@socialomraadet.onmicrosoft.example", name="Sofie Dahl",
                        email="sofie.dahl@socialomraadet.example"))  # the member's address is in `email` only
    login.add_user(User(upn="hanne.holm@socialomraadet.example", name="Hanne Holm"))  # not a member
    with _quick(HTTPSServer(login, ca)) as server:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        app_registration.redirect_uris.append(base + signin.CALLBACK_PATH)
        monkeypatch.setenv("BUDBRINGER_WEB_URL", base)
        monkeypatch.setenv("BUDBRINGER_WEB_SECRET", WEB_SECRET)
        monkeypatch.setenv(signin.ENV_CLIENT_SECRET, client_secret)
        (workdir / "messages").mkdir()
        message = workdir / "messages" / MESSAGE.name
        shutil.copy(MESSAGE, message)
        plan = workdir / "signin-plan.yaml"
        plan.write_text(yaml.safe_dump({"extends": str(memory_plan(workdir)), "approval": {"sign_in": {
            "tenant": TENANT, "client_id": CLIENT, "authority_url": server.url, "required": required}}}),
            encoding="utf-8")
        prepared = cascade.prepare(plan, message)
        ledger = Ledger()
        request, _ = approval_request.open_request(prepared, ledger)
        ledger.waiting_run(request.id, "run-7")
        approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
        site = Site(base, login, client_secret, request.id)
        web = uvicorn.Server(uvicorn.Config(
            create_app(plan, workdir / "messages", resume=lambda run, d: site.resumed.append((run, d)) or "ok"),
            host="127.0.0.1", port=port, log_level="warning", access_log=False))
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
def site(workdir: Path, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA) -> Iterator[Site]:
    yield from _start(workdir, monkeypatch, ca, required=True)


@pytest.fixture
def optional_site(workdir: Path, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA) -> Iterator[Site]:
    yield from _start(workdir, monkeypatch, ca, required=False)


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
        assert "Du er logget ind som jens.kragh@socialomraadet.example" in text(signed)
        assert '<button type="submit" class="approve">Godkend</button>' in signed.text

        decided = browser.post(link, data={"beslutning": "godkend", "medlem": "Jens Kragh"})
        assert decided.status_code == 200 and "Din godkendelse er registreret" in text(decided)
        assert "efter log-ind" in text(decided)
    assert site.votes() == [("Jens Kragh", "approve", "sign-in")]
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


def test_the_member_is_matched_by_the_email_claim_when_the_username_differs(site: Site) -> None:
    link = link_of("sofie.dahl@socialomraadet.example")
    site.login.signed_in = "sofie@socialomraadet.onmicrosoft.example"
    with site.browser() as browser:
        signed = browser.get(link + "/log-ind")
        assert "Du er logget ind som sofie.dahl@socialomraadet.example" in text(signed)
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
    path.write_text(yaml.safe_dump({"extends": str(memory_plan(workdir)), "approval": {"sign_in": {
        "tenant": TENANT, "client_id": CLIENT, "authority_url": "https://127.0.0.1:1"}}}), encoding="utf-8")
    monkeypatch.delenv(signin.ENV_CLIENT_SECRET, raising=False)
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 1
    err = capsys.readouterr().err
    assert "approval.sign_in" in err and "BUDBRINGER_ENTRA_CLIENT_SECRET" in err and str(path) in err
    monkeypatch.setenv(signin.ENV_CLIENT_SECRET, "very-secret-value")
    assert cli.main(["check", "--plan", str(path), str(MESSAGE)]) == 0
    assert "very-secret-value" not in "".join(capsys.readouterr())
