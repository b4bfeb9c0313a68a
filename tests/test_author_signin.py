"""Entra ID sign-in on the author's page, where the plan requires it: the pages on a real uvicorn, a real HTTP
client that follows redirects and keeps cookies, and the local HTTPS stand-in of the Microsoft identity platform
(tests/servers/graph.py) with a trustme certificate, as in tests/test_web_signin.py. The clock is pinned."""

from __future__ import annotations

import html
import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from budbringer import author_links
from budbringer import plan as plan_
from budbringer.clock import default_clock
from budbringer.errors import InputError
from budbringer.web import author
from tests.author_server import Pages
from tests.conftest import EntraStandIn, write_plan
from tests.servers.graph import CLIENT, TENANT, LoginEmulator, User

pytestmark = pytest.mark.usefixtures("example_clock")
SECRET = "a-test-secret-for-the-author-links-0123456789"
ANNE = {"name": "Anne Holm", "email": "anne.holm@socialomraadet.example",
        "object_id": "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
BO = {"name": "Bo Berg", "email": "bo.berg@socialomraadet.example", "object_id": "7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"}


def text(response: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


@pytest.fixture
def site(workdir: Path, monkeypatch: pytest.MonkeyPatch, entra: EntraStandIn) -> Iterator[tuple[Pages, LoginEmulator]]:
    entra.login.add_user(User(upn=ANNE["email"], name=ANNE["name"], oid=ANNE["object_id"]))
    entra.login.add_user(User(upn=BO["email"], name=BO["name"], oid=BO["object_id"]))
    entra.registration.redirect_uris.append(entra.base + author.CALLBACK_PATH)
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", SECRET)
    plan = write_plan(workdir, {"authors": [ANNE, BO], "approval": {"sign_in": entra.sign_in()}})
    (workdir / "messages").mkdir()
    pages = Pages(plan, workdir / "messages", entra.port).start()
    try:
        yield pages, entra.login
    finally:
        pages.stop()


def browser() -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"]),
                        follow_redirects=True, timeout=30)


def link(pages: Pages, who: dict[str, str]) -> str:
    plan = plan_.load(pages.plan)
    found = plan.author(who["name"])
    assert found is not None
    return author_links.AuthorSigner(SECRET).url(plan, found, default_clock())


def test_with_sign_in_required_an_author_signs_in_as_the_author_the_link_names(
        site: tuple[Pages, LoginEmulator]) -> None:
    pages, login = site
    anne = link(pages, ANNE)
    with browser() as client:
        alone = client.get(anne)
        assert alone.status_code == 403 and "Log ind med Microsoft" in text(alone)
        assert client.post(f"{anne}/nyt").status_code == 403 and not list(pages.messages.glob("*.md"))
        login.signed_in = ANNE["email"]
        signed = client.get(f"{anne}/log-ind")
        assert signed.status_code == 200 and "Hej Anne Holm" in text(signed), text(signed)[:300]
        assert str(signed.url) == anne
        assert client.post(f"{anne}/nyt").status_code == 200 and list(pages.messages.glob("*.md"))
    # Bo signs in on Anne's link: refused, and Bo's own sign-in does not open Anne's page.
    with browser() as client:
        login.signed_in = BO["email"]
        refused = client.get(f"{anne}/log-ind")
        assert refused.status_code == 403
        assert client.get(anne).status_code == 403
        bo = link(pages, BO)
        assert client.get(f"{bo}/log-ind").status_code == 200
        assert client.get(anne).status_code == 403 and client.get(bo).status_code == 200


def test_with_sign_in_required_an_author_without_an_object_id_is_a_clear_error(workdir: Path) -> None:
    plan = write_plan(workdir, {"authors": [{"name": "Anne Holm", "email": "anne.holm@socialomraadet.example"}],
                                "approval": {"sign_in": {"tenant": TENANT, "client_id": CLIENT}}})
    with pytest.raises(InputError) as raised:
        plan_.load(plan)
    assert "authors[0]" in str(raised.value) and "object_id" in str(raised.value)
