"""Plans can't leak secrets (issue 21, item 4): `${VAR}` expands only the variables the plan file's own
`environment:` list names, and never one whose value looks like a secret, whatever its name; `check` refuses
such a plan naming the file, the field and the fix, never the value; `budbringer plan`, the `/plan` page and
every error mask what they show. docs/security.md, "Secrets in plans", lists each case with its test.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from budbringer import plan as plan_
from budbringer.errors import InputError, Problem, mask_secrets, secret_reason
from budbringer.cli import EXIT_OK, EXIT_PROBLEM, main
from budbringer.web.app import create_app
from tests.conftest import MESSAGE, write_plan

#: a Power Automate trigger URL as BUDBRINGER_WEBSITE_WEBHOOK_URL holds it: the signature is the credential
SIGNATURE = "Zx9QmT4rVb7LwK2pNc8YdE5hJ3sFa6Gu1oRiXe0WtHk"
WEBHOOK_URL = ("https://prod-12.westeurope.logic.azure.com:443/workflows/4f1c/triggers/manual/paths/invoke"
               f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIGNATURE}")


@pytest.fixture
def message_copy(workdir: Path) -> Path:
    (workdir / "messages").mkdir()
    return Path(shutil.copy(MESSAGE, workdir / "messages" / MESSAGE.name))


def test_check_refuses_a_plan_that_puts_the_webhook_url_into_a_forum_title_and_never_shows_it(
        workdir: Path, message_copy: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BUDBRINGER_WEBSITE_WEBHOOK_URL", WEBHOOK_URL)
    plan = write_plan(workdir, {"environment": ["BUDBRINGER_WEBSITE_WEBHOOK_URL"],
                                "fora": {"website": {"title": "Hjemmesiden (${BUDBRINGER_WEBSITE_WEBHOOK_URL})"}}})
    assert main(["--plan", str(plan), "check", str(message_copy)]) == EXIT_PROBLEM
    out, err = capsys.readouterr()
    [problem] = [line for line in err.splitlines() if line.startswith("  - ")]
    assert problem.startswith(f"  - {plan}:") and "fora.website.title: ${BUDBRINGER_WEBSITE_WEBHOOK_URL} holds " \
        "what looks like a secret (a `sig=` parameter, which carries a credential)" in problem
    assert "fix: set BUDBRINGER_WEBSITE_WEBHOOK_URL to a value without credentials" in err and "`url_env`" in err
    assert SIGNATURE not in out + err and "logic.azure.com" not in out + err and "Traceback" not in err
    assert not list(workdir.glob("outbox/**/*.*"))  # nothing was sent, not even previewed


def test_a_variable_the_plan_does_not_list_is_refused_even_when_set_or_defaulted(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDBRINGER_DATABASE_URL", "sqlite:///ledger-elsewhere.db")  # harmless, but not listed
    monkeypatch.setenv("BUDBRINGER_ALERT_WEBHOOK_URL", "https://alerts.example/hook")
    plan = write_plan(workdir, {"environment": ["BUDBRINGER_SMTP_HOST"], "fora": {
        "website": {"title": "${BUDBRINGER_DATABASE_URL}",
                    "description": "${BUDBRINGER_ALERT_WEBHOOK_URL:-ingen}"}}})
    with pytest.raises(InputError) as refused:
        plan_.load(plan)
    shown = {(p.field, p.what, p.fix) for p in refused.value.problems}
    assert shown == {
        ("fora.website.title", "uses ${BUDBRINGER_DATABASE_URL}, which this file's `environment:` list does not "
         "name", "add BUDBRINGER_DATABASE_URL to the top-level `environment:` list of this plan file (a plan reads "
         "only the variables it lists), or write the value itself"),
        ("fora.website.description", "uses ${BUDBRINGER_ALERT_WEBHOOK_URL}, which this file's `environment:` "
         "list does not name", "add BUDBRINGER_ALERT_WEBHOOK_URL to the top-level `environment:` list of this "
         "plan file (a plan reads only the variables it lists), or write the value itself")}
    assert all(p.file == str(plan) and p.line for p in refused.value.problems)
    assert "ledger-elsewhere" not in str(refused.value) and "alerts.example" not in str(refused.value)


def test_a_listed_variable_with_a_plain_value_is_expanded(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_TITLE", "Socialområdets hjemmeside (test)")
    monkeypatch.setenv("TENANT_ID", "0b2c1f5e-1234-4abc-9def-0123456789ab")
    plan = write_plan(workdir, {"environment": ["WEBSITE_TITLE", "TENANT_ID"], "fora": {
        "website": {"title": "${WEBSITE_TITLE}", "description": "Lejer ${TENANT_ID}"}}})
    loaded = plan_.load(plan)
    assert loaded.fora["website"].title == "Socialområdets hjemmeside (test)"
    assert loaded.fora["website"].description == "Lejer 0b2c1f5e-1234-4abc-9def-0123456789ab"
    assert loaded.environment == ["WEBSITE_TITLE", "TENANT_ID"]


@pytest.mark.parametrize("value,reason", [
    ("postgresql+psycopg://budbringer:hemmelig kode@db.example:5432/ledger", "user:password@"),
    ("https://budbringer:s3cret@intra.example/side", "user:password@"),
    ("https://AbCdTokenUser@intra.example/side", "user@"),
    (WEBHOOK_URL, "`sig=`"),
    ("https://cms.example/intake#sv=1.0&sig=fragmentsignature", "`sig=`"),
    ("https://cms.example/intake?token=abc123", "`token=`"),
    ("https://cms.example/intake?x=1&secret=abc", "`secret=`"),
    ("https://cms.example/intake#password=abc", "`password=`"),
    ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtZXR0ZSJ9.c2lnbmF0dXJlLWJ5dGVz", "JWT"),
    ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "random-looking"),
    ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "random-looking"),
])
def test_a_value_that_looks_like_a_secret_is_refused_whatever_the_variable_is_called(
        value: str, reason: str) -> None:
    data = {"environment": ["SITE_INFO"], "fora": {"website": {"title": "Se ${SITE_INFO}"}}}
    [problem] = plan_.expand_environment(data, "plan.yaml", {("fora", "website", "title"): 7}, {"SITE_INFO": value})
    assert (problem.file, problem.field, problem.line) == ("plan.yaml", "fora.website.title", 7)
    assert problem.what.startswith("${SITE_INFO} holds what looks like a secret (") and reason in problem.what
    assert value not in str(problem) and data["fora"]["website"]["title"] == "Se ${SITE_INFO}"


@pytest.mark.parametrize("value", [
    "0b2c1f5e-1234-4abc-9def-0123456789ab",  # a tenant or client id
    "https://login.microsoftonline.com/rm.dk", "smtp.rm.dk", "/var/lib/budbringer/outbox",
    "/Users/MetteLund/Documents/Budbringer2026/udbakke", "Sensum_Bosted_koordinatorernes_netvaerk_2026",
    "https://www.rm.dk/socialomraadet/nyheder?side=2&sortering=dato#toppen", "kommunikation@socialomraadet.example",
    "Styregruppen for udbuddet af et nyt dokumentationssystem – november 2026",
])
def test_plain_values_are_not_taken_for_secrets(value: str) -> None:
    assert secret_reason(value) is None
    assert mask_secrets(value) == value


def test_masking_covers_a_password_with_a_space_and_a_sig_in_a_fragment() -> None:
    assert mask_secrets("the ledger postgresql://bud:hemmelig kode@db.example:5432/x cannot be used") == \
        "the ledger postgresql://bud:***@db.example:5432/x cannot be used"
    assert mask_secrets("POST https://cms.example/intake#sv=1.0&sig=fragmentsignature failed") == \
        "POST https://cms.example/intake#sv=1.0&sig=*** failed"
    assert mask_secrets(f'<a href="{WEBHOOK_URL.replace("&", "&amp;")}">') == \
        '<a href="' + WEBHOOK_URL.replace(SIGNATURE, "***").replace("&", "&amp;") + '">'
    assert mask_secrets("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZXR0ZSJ9.c2lnbmF0dXJl") == "token ***"
    assert mask_secrets("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here") == "key *** here"


def test_every_error_masks_what_it_shows() -> None:
    problem = Problem("plan.yaml", "channels.website.url", f"{WEBHOOK_URL} answered 404",
                      "check postgresql://bud:hemmelig kode@db.example/x and eyJhbGciOiJIUzI1NiJ9.eyJhIjoxMjM0NX0.xyz")
    shown = str(InputError([problem]))
    assert SIGNATURE not in shown and "hemmelig" not in shown and "eyJhbGci" not in shown
    assert "sig=***" in shown and "bud:***@db.example" in shown


def test_budbringer_plan_and_the_plan_page_mask_what_a_plan_holds(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets written into the plan itself (not through ${VAR}): shown masked by every view of the plan."""
    plan = write_plan(workdir, {"fora": {
        "website": {"title": "Hjemmesiden https://bud:hemmelig kode@cms.example/ind",
                    "description": f"Indtag: https://cms.example/intake#sv=1.0&sig={SIGNATURE}"},
        "linkedin": {"title": f"LinkedIn {WEBHOOK_URL}"}}})
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "http://approver.test")
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", "web-secret-" + "p4" * 20)
    assert main(["--plan", str(plan), "plan"]) == EXIT_OK
    text = capsys.readouterr().out
    assert main(["--plan", str(plan), "plan", "--format", "md"]) == EXIT_OK
    markdown = capsys.readouterr().out
    page = html.unescape(TestClient(create_app(plan, workdir)).get("/plan").text)
    for shown in (text, markdown, page):
        assert "hemmelig" not in shown and SIGNATURE not in shown
        assert "https://bud:***@cms.example/ind" in shown
    assert "sig=***" in markdown and "sig=***" in page
    assert "Hjemmesiden" in text and "LinkedIn https://prod-12.westeurope.logic.azure.com" in text
