"""The sharepoint_news adapter against a local Graph and sign-in emulator (real HTTPS on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from budbringer.adapters import graph, http
from budbringer.adapters.sharepoint_news import SharePointNewsAdapter, page_body, page_name
from budbringer.delivery import Delivery
from budbringer.errors import PermanentDeliveryError, TransientDeliveryError
from budbringer.render import Variant
from tests.servers.graph import M365, Schema, is_page_create, is_publish, m365
from tests.servers.https import Fault, Request

MAIN = "socialomraadet.sharepoint.example/sites/socialomraadet"
LOCAL = ("socialomraadet.sharepoint.example/sites/specialomraade-autisme",
         "socialomraadet.sharepoint.example/sites/specialomraade-hjerneskade")
FAST = {"attempts": 4, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
BODY = "<div>\n<p><strong>Forarbejdet er færdigt.</strong></p>\n<h2>Hvad betyder det for dig?</h2>\n</div>\n"


@pytest.fixture
def tenant(ca, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    with m365(ca, sites=(MAIN, *LOCAL)) as t:
        for name, value in t.env().items():
            monkeypatch.setenv(name, value)
        yield t


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(http, "time", SimpleNamespace(sleep=recorded.append))
    return recorded


def adapter(**settings: object) -> SharePointNewsAdapter:
    return SharePointNewsAdapter.from_config("intranet", {"retry": FAST, "confirm_after": 0.05,
                                                          **settings}, os.environ)  # type: ignore[return-value]


def delivery(sites: tuple[str, ...] = (MAIN,), message: str = "2026-11-status-udbud", body: str = BODY,
             body_format: str = "html") -> Delivery:
    variant = Variant(forum="intranet", forum_title="Socialområdets intranet", tier="employees", tier_index=3,
                      phase="cascade", medium="page", channel="intranet", template="intranet_news.html.j2",
                      stakeholder="employees", subject="Status på udbuddet – november 2026", body=body,
                      body_format=body_format, summary="Forarbejdet er færdigt.", link=None, sites=sites)
    return Delivery(message, variant, "intranet", approval_id=1)


def calls(tenant: M365, test) -> list[Request]:  # type: ignore[no-untyped-def]
    return [r for r in tenant.graph.requests if test(r)]


def site_lookups(tenant: M365) -> list[Request]:
    return [r for r in tenant.graph.received("GET") if ":/" in r.path]


def page_lookups(tenant: M365) -> list[Request]:
    return [r for r in tenant.graph.received("GET") if r.path.endswith("/microsoft.graph.sitePage")]


def test_one_page_created_and_published_per_site(tenant: M365) -> None:
    item = delivery((MAIN, *LOCAL))
    receipt = adapter().deliver(item)

    name = page_name(item)
    assert name == f"budbringer-{item.short_key}.aspx"
    creates = calls(tenant, is_page_create)
    assert len(creates) == 3 and len(calls(tenant, is_publish)) == 3
    for request in creates:
        body = request.json()
        assert Schema().check(body, "graph.sitePage", "sitePage") == []
        assert body["@odata.type"] == "#microsoft.graph.sitePage"
        assert (body["name"], body["title"]) == (name, "Status på udbuddet – november 2026")
        assert (body["pageLayout"], body["promotionKind"]) == ("article", "newsPost")
        [section] = body["canvasLayout"]["horizontalSections"]
        [column] = section["columns"]
        [webpart] = column["webparts"]
        assert section["layout"] == "oneColumn" and webpart["@odata.type"] == "#microsoft.graph.textWebPart"
        assert webpart["innerHtml"] == BODY.strip()
    for site in (MAIN, *LOCAL):
        [page] = tenant.graph.site(site).pages.values()
        assert page["name"] == name and page["publishingState"]["level"] == "published"
    pages = receipt.details["pages"]
    assert [p["site"] for p in pages] == [MAIN, *LOCAL]
    assert [p["webUrl"] for p in pages] == [f"https://{s}/SitePages/{name}" for s in (MAIN, *LOCAL)]
    assert receipt.provider_id.split(",") == [p["page_id"] for p in pages]
    assert receipt.url == pages[0]["webUrl"]
    lookup = page_lookups(tenant)[0]
    assert lookup.query["$filter"] == [f"name eq '{name}'"]
    assert lookup.header("Authorization", ).startswith("Bearer ")


def test_site_ids_are_resolved_once_per_run(tenant: M365) -> None:
    news = adapter()
    news.deliver(delivery((MAIN, *LOCAL), message="m1"))
    news.deliver(delivery((MAIN, *LOCAL), message="m2"))
    paths = [f"/v1.0/sites/{s.replace('/', ':/', 1)}" for s in (MAIN, *LOCAL)]
    assert [r.path for r in site_lookups(tenant)] == paths
    assert len(tenant.login.token_requests()) == 1
    # Another run (its own channel object) shares nothing with this one: it looks the site up and signs in.
    adapter().deliver(delivery((MAIN,), message="m3"))
    assert [r.path for r in site_lookups(tenant)] == [*paths, paths[0]]
    assert len(tenant.login.token_requests()) == 2


def test_delivering_again_makes_no_second_page(tenant: M365) -> None:
    item = delivery((MAIN, *LOCAL))
    adapter().deliver(item)
    receipt = adapter().deliver(item)
    assert len(calls(tenant, is_page_create)) == 3 and len(calls(tenant, is_publish)) == 3
    assert not any(p["created"] or p["published_now"] for p in receipt.details["pages"])


def test_a_page_that_exists_unpublished_is_published(tenant: M365) -> None:
    item = delivery()
    site = tenant.graph.site(MAIN)
    site.pages["p-1"] = {"id": "p-1", "name": page_name(item), "webUrl": f"https://{MAIN}/SitePages/x.aspx",
                         "publishingState": {"level": "checkout", "versionId": "0.1"}}
    receipt = adapter().deliver(item)
    assert calls(tenant, is_page_create) == []
    [publish] = calls(tenant, is_publish)
    assert "/pages/p-1/microsoft.graph.sitePage/publish" in publish.path
    assert site.pages["p-1"]["publishingState"]["level"] == "published"
    assert receipt.details["pages"][0] | {"created": False, "published_now": True} == receipt.details["pages"][0]


CASES = [
    # id, faults, settings, creates seen, publishes seen
    ("429-on-create", [Fault("status", is_page_create, 429, {"Retry-After": "3"})], {}, 2, 1),
    ("503-burst-on-create", [Fault("status", is_page_create, 503, times=2)], {"creates": 3}, 3, 1),
    ("503-after-creating", [Fault("status_after", is_page_create, 503)], {}, 1, 1),
    ("409-after-creating", [Fault("status_after", is_page_create, 409,
                                  body={"error": {"code": "nameAlreadyExists", "message": "exists"}})], {}, 1, 1),
    ("drop-before-create", [Fault("drop_before", is_page_create)], {}, 2, 1),
    ("drop-after-create", [Fault("drop_after", is_page_create)], {}, 1, 1),
    ("slow-create", [Fault("delay", is_page_create, seconds=0.5)],
     {"confirm_after": 0.6, "retry": {**FAST, "read_timeout": 0.2}}, 1, 1),
    ("503-burst-on-publish", [Fault("status", is_publish, 503, times=2)], {}, 1, 3),
    ("drop-after-publish", [Fault("drop_after", is_publish)], {}, 1, 2),
    ("503-on-site-and-page-lookups", [Fault("status", lambda r: r.method == "GET", 503, times=2)], {}, 1, 1),
]


@pytest.mark.parametrize("faults,settings,creates,publishes", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_faults_still_end_with_one_published_page(tenant: M365, faults: list[Fault], settings: dict, creates: int,
                                                  publishes: int) -> None:
    tenant.graph.faults.extend(faults)
    receipt = adapter(**settings).deliver(delivery())
    assert len(calls(tenant, is_page_create)) == creates
    assert len(calls(tenant, is_publish)) == publishes
    [page] = tenant.graph.site(MAIN).pages.values()
    assert page["publishingState"]["level"] == "published"
    assert receipt.details["pages"][0]["page_id"] == page["id"]
    assert all(r.json() == calls(tenant, is_page_create)[0].json() for r in calls(tenant, is_page_create))


def test_retry_after_is_honoured_on_create(tenant: M365, no_waits: list[float]) -> None:
    tenant.graph.faults.append(Fault("status", is_page_create, 429, {"Retry-After": "11"}))
    adapter(retry={**FAST, "max_retry_after": 60}).deliver(delivery())
    assert no_waits == [11.0]


def test_a_create_that_never_lands_is_transient(tenant: M365) -> None:
    tenant.graph.faults.append(Fault("status", is_page_create, 503, times=99))
    with pytest.raises(TransientDeliveryError, match="the page is not there"):
        adapter(creates=2).deliver(delivery())
    assert len(calls(tenant, is_page_create)) == 2 and tenant.graph.site(MAIN).pages == {}


def test_site_not_found_stops_the_forum_before_its_first_page(tenant: M365) -> None:
    wrong = "socialomraadet.sharepoint.example/sites/findes-ikke"
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(delivery((MAIN, wrong)))
    error = raised.value
    assert (error.channel, error.forum) == ("intranet", "intranet")
    assert "HTTP 404 itemNotFound: Requested site could not be found" in error.reason
    assert error.fix == f"site not found: check the path {wrong!r} in the forum's `sites` (host/sites/name)"
    assert calls(tenant, is_page_create) == []


@pytest.mark.parametrize("roles,fault,fix", [
    ({"Mail.Send"}, None, "grant the application permission Sites.ReadWrite.All"),
    (None, Fault("status", is_page_create, 401, body={"error": {"code": "InvalidAuthenticationToken",
                                                                "message": "Access token has expired."}}),
     "BUDBRINGER_GRAPH_TENANT_ID"),
    (None, Fault("status", is_page_create, 400, body={"error": {"code": "invalidRequest",
                                                                "message": "Invalid canvasLayout"}}),
     "check the template's output"),
])
def test_refusals_are_permanent_with_the_fix(tenant: M365, roles: set | None, fault: Fault | None,
                                             fix: str) -> None:
    if roles is not None:
        tenant.app.roles = roles
    if fault is not None:
        tenant.graph.faults.append(fault)
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(delivery())
    assert fix in raised.value.fix
    assert tenant.graph.site(MAIN).pages == {}


def test_a_failure_on_a_later_site_keeps_the_earlier_pages_and_a_rerun_completes(tenant: M365) -> None:
    second = tenant.graph.site(LOCAL[0])
    tenant.graph.faults.append(Fault("status", lambda r: is_publish(r) and second.id in r.path, 403, times=1,
                                     body={"error": {"code": "accessDenied", "message": "Access denied"}}))
    item = delivery((MAIN, *LOCAL))
    with pytest.raises(PermanentDeliveryError) as raised:
        adapter().deliver(item)
    assert f"published on {MAIN}; {LOCAL[0]}:" in raised.value.reason
    receipt = adapter().deliver(item)
    assert len(calls(tenant, is_page_create)) == 3
    assert [p["created"] for p in receipt.details["pages"]] == [False, False, True]
    assert all(p["publishingState"]["level"] == "published"
               for s in (MAIN, *LOCAL) for p in tenant.graph.site(s).pages.values())


def test_find(tenant: M365) -> None:
    item = delivery((MAIN, *LOCAL))
    assert adapter().find(item) is None
    adapter().deliver(item)
    found = adapter().find(item)
    assert found is not None and len(found.details["pages"]) == 3
    next(iter(tenant.graph.site(LOCAL[1]).pages.values()))["publishingState"]["level"] = "checkout"
    assert adapter().find(item) is None


def test_preflight_resolves_the_sites(tenant: M365) -> None:
    assert adapter().preflight((MAIN, *LOCAL)) == []
    wrong = "socialomraadet.sharepoint.example/sites/stavefejl"
    [problem] = adapter().preflight((MAIN, wrong))
    assert problem.field == f"site {wrong}" and "site not found" in problem.fix
    assert calls(tenant, is_page_create) == []


def test_a_plain_text_body_becomes_escaped_paragraphs() -> None:
    body = page_body(delivery(body="Første afsnit <b>\nlinje to\n\nAndet afsnit", body_format="text"), "x.aspx")
    webpart = body["canvasLayout"]["horizontalSections"][0]["columns"][0]["webparts"][0]
    assert webpart["innerHtml"] == "<p>Første afsnit &lt;b&gt;<br>linje to</p><p>Andet afsnit</p>"
