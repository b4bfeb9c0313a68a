"""Entra ID sign-in on the approvers' pages, the attacks: the identity is bound to the tenant and to the member's
object id. Another tenant, another object id with the chair's address, iss/tid mismatch, a key the tenant does not
publish, an absurd expiry, a cookie replayed after sign-out are refused; the chair herself approves. The pages,
the identity platform's stand-in and the pinned clock are those of tests/test_web_signin.py.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from budbringer.ledger import Account, Ledger
from tests.servers.graph import TENANT
from tests.test_web_signin import (  # noqa: F401 (site is a fixture)
    MESSAGE_ID, METTE, OBJECT_IDS, OTHER_TENANT, Site, link_of, site, text)

# The example's approval request is open and its links work at its request day (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("example_clock")


# -- the identity is bound to the tenant and to the member's object id --------------------------------------

def refused_sign_in(site: Site, link: str, member: str) -> httpx.Response:
    """Sign in as `site.login.signed_in` from `link`; then try to decide as `member`: the refusal page of the
    sign-in, after asserting that the decision was refused and nothing recorded."""
    with site.browser() as browser:
        signed = site.signs_in(browser, link)
        assert "<form" not in signed.text
        posted = browser.post(link, data={"beslutning": "godkend", "medlem": member})
        assert posted.status_code == 403 and "Log ind for at svare" in text(posted)
    assert site.votes() == [] and site.resumed == []
    assert Ledger().request(MESSAGE_ID).state == "open"  # type: ignore[union-attr]
    return signed


def test_a_token_from_another_tenant_with_the_chairs_email_claim_is_refused(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="budbringer")
    site.login.signed_in = "mette.lund@other-tenant.example"  # its email claim is the chair's, even its oid
    signed = refused_sign_in(site, link_of(METTE), "Mette Lund")
    assert signed.status_code == 400 and "Log-ind mislykkedes" in text(signed)
    claims = site.login.id_tokens[-1]
    assert claims["email"] == METTE and claims["tid"] == OTHER_TENANT and claims["oid"] == OBJECT_IDS["Mette Lund"]
    assert "issuer is not the configured tenant" in caplog.text


def test_a_home_tenant_token_with_another_object_id_and_the_chairs_address_is_refused(site: Site) -> None:
    site.login.signed_in = "impostor@socialomraadet.example"
    site.login.forge = {"preferred_username": METTE}  # both address claims are the chair's
    signed = refused_sign_in(site, link_of(METTE), "Mette Lund")
    assert signed.status_code == 403 and "Du er ikke medlem af styregruppen" in text(signed)
    assert f"Du er logget ind som {METTE}" in text(signed)  # the token is genuine; the account is not hers
    claims = site.login.id_tokens[-1]
    assert claims["tid"] == TENANT and claims["email"] == METTE and claims["oid"] != OBJECT_IDS["Mette Lund"]


@pytest.mark.parametrize("forged, reason", [
    ({"iss": "{host}/" + OTHER_TENANT + "/v2.0"}, "issuer is not the configured tenant"),  # iss: another tenant
    ({"tid": OTHER_TENANT}, "tid is not the configured tenant"),  # tid: another tenant, iss the home one
], ids=["iss-names-another-tenant", "tid-names-another-tenant"])
def test_an_iss_tid_mismatch_is_refused(site: Site, caplog: pytest.LogCaptureFixture, forged: dict[str, str],
                                        reason: str) -> None:
    caplog.set_level(logging.WARNING, logger="budbringer")
    host = site.login_url
    site.login.signed_in = METTE  # the chair herself, with her object id: only the tenant claims are wrong
    site.login.forge = {k: v.format(host=host) for k, v in forged.items()}
    signed = refused_sign_in(site, link_of(METTE), "Mette Lund")
    assert signed.status_code == 400 and "Log-ind mislykkedes" in text(signed)
    claims = site.login.id_tokens[-1]
    assert claims["oid"] == OBJECT_IDS["Mette Lund"] and claims["iss"].split("/")[-2] != claims["tid"]
    assert reason in caplog.text


def test_a_token_signed_with_an_unpublished_key_is_refused(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="budbringer")
    site.login.signed_in = METTE
    site.login.unpublished_key = True  # every claim true, the key id the published one's, the key another
    signed = refused_sign_in(site, link_of(METTE), "Mette Lund")
    assert signed.status_code == 400 and "Log-ind mislykkedes" in text(signed)
    assert "signature does not verify with the tenant's published key" in caplog.text
    # The keys were read from the jwks_uri of the tenant's OpenID configuration.
    assert [r.path for r in site.login.received("GET") if r.path.endswith("/keys")] == \
        [f"/{TENANT}/discovery/v2.0/keys"]


@pytest.mark.parametrize("expiry", [10**30, 253402300800, 1e308, "soon"], ids=["1e30", "year-10000", "1e308", "text"])
def test_a_validly_signed_token_with_an_absurd_expiry_is_refused_cleanly(site: Site, expiry: object) -> None:
    site.login.signed_in = METTE
    site.login.forge = {"exp": expiry}
    signed = refused_sign_in(site, link_of(METTE), "Mette Lund")
    assert signed.status_code == 400 and "Log-ind mislykkedes" in text(signed)


def test_an_expired_token_or_one_for_another_application_is_refused(site: Site) -> None:
    site.login.signed_in = METTE
    site.login.forge = {"exp": int(time.time()) - 3600}
    assert refused_sign_in(site, link_of(METTE), "Mette Lund").status_code == 400
    site.login.forge = {"aud": "another-application"}
    assert refused_sign_in(site, link_of(METTE), "Mette Lund").status_code == 400


def test_a_session_cookie_replayed_after_sign_out_is_refused(site: Site) -> None:
    link = link_of(METTE)
    site.login.signed_in = METTE
    with site.browser() as browser:
        assert "Du er logget ind som" in text(site.signs_in(browser, link))
        copied = browser.cookies.get("budbringer_session")
        assert copied
        with site.browser() as thief:  # the copy works while the session lasts ...
            thief.cookies.set("budbringer_session", copied)
            assert "Du er logget ind som mette.lund@socialomraadet.example" in text(thief.get(link))
        out = browser.get(f"{site.base}/log-ud")
        assert out.status_code == 200 and "Du er logget ud" in text(out)
        assert "budbringer_session" not in browser.cookies
    with site.browser() as thief:  # ... and not after the sign-out: the ledger ended the session
        thief.cookies.set("budbringer_session", copied)
        page = thief.get(link)
        assert "<form" not in page.text and "Log ind med Microsoft" in text(page)
        replayed = thief.post(link, data={"beslutning": "godkend", "medlem": "Mette Lund"})
        assert replayed.status_code == 403 and "Log ind for at svare" in text(replayed)
    assert site.votes() == [] and Ledger().request(MESSAGE_ID).state == "open"  # type: ignore[union-attr]


def test_the_chair_with_her_object_id_and_tenant_approves_and_status_names_the_account(
        site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    from budbringer import cli

    link = link_of(METTE)
    site.login.signed_in = METTE
    with site.browser() as browser:
        assert browser.get(f"{site.base}/plan").status_code == 403  # sign-in required: the plan too
        site.signs_in(browser, link)
        assert browser.get(f"{site.base}/plan").status_code == 200  # signed in as a member
        decided = browser.post(link, data={"beslutning": "godkend", "medlem": "Mette Lund"})
        assert decided.status_code == 200 and "Budskabet er nu godkendt" in text(decided)
        assert f"efter log-ind som {METTE}" in text(decided)
    [vote] = Ledger().votes(site.request_id)
    assert (vote.voter, vote.source, vote.signer) == (
        "Mette Lund", "sign-in", Account(oid=OBJECT_IDS["Mette Lund"], tid=TENANT, upn=METTE))
    assert Ledger().request(MESSAGE_ID).state == "approved"  # type: ignore[union-attr]
    assert cli.main(["status", MESSAGE_ID]) == 0
    out = capsys.readouterr().out
    assert (f"Mette Lund: approve (sign-in as {METTE}, object id {OBJECT_IDS['Mette Lund']}, tenant {TENANT}"
            in out), out
