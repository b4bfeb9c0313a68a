"""Each channel's reach, parsed from its provider's documented response and read from the HTTPS stand-ins
(tests/servers/): figures, a new post's empty figures, a missing permission (403) and throttling (429)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from budbringer.adapters import graph, reach_readers
from budbringer.channel import Adapter
from budbringer.adapters.facebook_page import FacebookPageAdapter
from budbringer.adapters.graph_mail import GraphMailAdapter
from budbringer.adapters.instagram import InstagramAdapter
from budbringer.adapters.linkedin import LinkedInAdapter
from budbringer.adapters.newsletter import NewsletterAdapter
from budbringer.adapters.outbox import OutboxAdapter
from budbringer.adapters.sharepoint_news import SharePointNewsAdapter
from budbringer.delivery import Delivery, Receipt
from budbringer.reach import Measure, ReachSubject, read
from budbringer.render import Variant
from tests.reach_support import linkedin_stand_in
from tests.servers.graph import M365, graph_error, m365
from tests.servers.https import Fault, HTTPSServer
from tests.servers.linkedin import LinkedInEmulator
from tests.servers.linkedin import error as linkedin_error
from tests.servers.meta import MetaEmulator, throttled

MESSAGE = "2027-02-demodage"
SITE = "intra.socialomraadet.example/sites/nyheder"
ORGANIZATION = "90210"
LINKEDIN_TOKEN = "AQX-reach-token-never-logged"
FAST = {"attempts": 2, "budget": 3, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}
WHEN = dt.datetime(2027, 2, 3, 9, 0, tzinfo=dt.UTC)


def subject(channel: str, receipt: Receipt, forum: str = "forum", answer: str = "", note: str = "") -> ReachSubject:
    return ReachSubject(key=f"{MESSAGE}/abc/{forum}/{channel}", message_id=MESSAGE, forum=forum, channel=channel,
                        receipt=receipt, delivered_at=WHEN, answer=answer, answer_note=note)


# The documented responses, parsed ---------------------------------------------------------------------------

def test_sharepoint_item_activity_stat_gives_views_and_unique_viewers() -> None:
    # Graph's itemActivityStat example (itemanalytics-get): access.actionCount / actorCount
    documented = {"startDateTime": "2027-02-01T00:00:00Z", "endDateTime": "2027-02-08T00:00:00Z",
                  "access": {"actionCount": 123, "actorCount": 89}, "incompleteData": {"wasThrottled": False}}
    assert reach_readers.sharepoint_figures(documented) == {"views": 123, "unique_viewers": 89}
    assert reach_readers.sharepoint_figures({"isTrending": False}) == {"views": 0, "unique_viewers": 0}


def test_linkedin_total_share_statistics_for_the_post() -> None:
    urn = "urn:li:share:7015970832908775123"
    documented = {"paging": {"count": 10, "start": 0, "links": []}, "elements": [
        {"totalShareStatistics": {"uniqueImpressionsCount": 310, "shareCount": 4, "engagement": 0.07,
                                  "clickCount": 19, "likeCount": 25, "impressionCount": 540, "commentCount": 3},
         "share": urn, "organizationalEntity": "urn:li:organization:90210"}]}
    assert reach_readers.linkedin_figures(documented, urn) == {
        "impressions": 540, "unique_impressions": 310, "clicks": 19, "reactions": 25, "comments": 3, "shares": 4}
    assert set(reach_readers.linkedin_figures({"elements": []}, urn).values()) == {0}


def test_meta_insights_sum_maps_and_leave_out_what_is_not_given() -> None:
    page_post = {"data": [
        {"name": "post_media_view", "period": "lifetime", "values": [{"value": 812}], "id": "1_2/insights/x"},
        {"name": "post_total_media_view_unique", "period": "lifetime", "values": [{"value": 640}]},
        {"name": "post_reactions_by_type_total", "period": "lifetime", "values": [{"value": {"like": 30, "love": 6}}]},
    ]}
    assert reach_readers.insight_figures(page_post, reach_readers.FACEBOOK_FIGURES) == {
        "views": 812, "unique_viewers": 640, "reactions": 36}
    media = {"data": [{"name": "views", "period": "lifetime", "values": [{"value": 97}]},
                      {"name": "total_interactions", "period": "lifetime", "values": [{"value": 11}]}]}
    assert reach_readers.insight_figures(media, reach_readers.INSTAGRAM_FIGURES) == {"views": 97, "interactions": 11}
    assert reach_readers.insight_figures({"data": []}, reach_readers.INSTAGRAM_FIGURES) == {}


# SharePoint against the Graph stand-in ---------------------------------------------------------------------

@pytest.fixture
def tenant(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    with m365(ca, sites=(SITE,)) as t:
        for name, value in t.env().items():
            monkeypatch.setenv(name, value)
        yield t


def _news_page(tenant: M365) -> tuple[SharePointNewsAdapter, Receipt]:
    channel = SharePointNewsAdapter.from_config("nyheder", {"retry": FAST}, os.environ)
    assert isinstance(channel, SharePointNewsAdapter)
    variant = Variant(forum="medarbejdere", forum_title="Medarbejderne", tier="employees", tier_index=3,
                      phase="cascade", medium="page", channel="nyheder", template="intranet_news.html.j2",
                      stakeholder="employees", subject="Demodage i februar", body="<p>Kom og prøv systemet.</p>",
                      body_format="html", summary="Kom og prøv systemet.", link=None, sites=(SITE,))
    return channel, channel.deliver(Delivery(MESSAGE, variant, "nyheder", approval_id=1))


def test_sharepoint_page_views_new_page_refused_and_throttled(tenant: M365) -> None:
    channel, receipt = _news_page(tenant)
    page_id = receipt.details["pages"][0]["page_id"]
    about = subject("nyheder", receipt, "medarbejdere")

    new = read(channel, about)
    assert (new.measure, dict(new.figures)) == (Measure.MEASURED, {"views": 0, "unique_viewers": 0})

    tenant.graph.page_views[page_id] = (57, 41)
    assert dict(read(channel, about).figures) == {"views": 57, "unique_viewers": 41}
    assert tenant.graph.received("GET", "/analytics/allTime")

    tenant.graph.faults.append(Fault("status", lambda r: r.path.endswith("/analytics/allTime"), status=403,
                                     body=graph_error(403, "accessDenied", "Access denied").body))
    refused = read(channel, about)
    assert refused.measure is Measure.REFUSED and "Files.Read.All" in refused.reason

    tenant.graph.faults.append(Fault("status", lambda r: r.path.endswith("/analytics/allTime"), status=429,
                                     headers={"Retry-After": "30"},
                                     body=graph_error(429, "TooManyRequests", "Too many requests").body))
    throttling = read(channel, about)
    assert throttling.measure is Measure.REFUSED and "wait 30 s" in throttling.reason
    channel.close()


# LinkedIn against its stand-in ------------------------------------------------------------------------------

@pytest.fixture
def linkedin(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkedInEmulator]:
    with linkedin_stand_in(ca, monkeypatch, LINKEDIN_TOKEN, ORGANIZATION) as emulator:
        yield emulator


def test_linkedin_statistics_new_post_refused_and_throttled(linkedin: LinkedInEmulator) -> None:
    channel = LinkedInAdapter.from_config("linkedin_api", {"retry": FAST}, os.environ)
    urn = linkedin.add_post("Demodage i februar: kom og prøv det nye system.")
    about = subject("linkedin_api", Receipt("linkedin", urn), "linkedin")

    assert set(read(channel, about).figures.values()) == {0}  # a new post: zeros
    linkedin.statistics[urn] = {"impressionCount": 1200, "uniqueImpressionsCount": 800, "clickCount": 40,
                                "likeCount": 55, "commentCount": 6, "shareCount": 9}
    assert dict(read(channel, about).figures) == {"impressions": 1200, "unique_impressions": 800, "clicks": 40,
                                                   "reactions": 55, "comments": 6, "shares": 9}
    asked = linkedin.received("GET", "organizationalEntityShareStatistics")[-1]
    assert asked.header("LinkedIn-Version") and asked.header("X-Restli-Protocol-Version") == "2.0.0"
    assert asked.query["shares"] == [f"List({urn})"]

    linkedin.statistics_allowed = False
    refused = read(channel, about)
    assert refused.measure is Measure.REFUSED and "rw_organization_admin" in refused.reason
    assert LINKEDIN_TOKEN not in refused.reason

    linkedin.statistics_allowed = True
    linkedin.faults.append(Fault("status", lambda r: "ShareStatistics" in r.path, status=429,
                                 headers={"Retry-After": "120"},
                                 body=linkedin_error(429, "TOO_MANY_REQUESTS", "Resource level throttle").body))
    assert "wait 120 s" in read(channel, about).reason
    channel.close()


# Facebook and Instagram against the Meta stand-in --------------------------------------------------------------

def test_facebook_post_insights(meta: MetaEmulator) -> None:
    channel = FacebookPageAdapter.from_config("facebook_api", {"retry": FAST}, os.environ)
    post = meta.add_post("Demodage i februar")
    about = subject("facebook_api", Receipt("facebook", post), "facebook")

    empty = read(channel, about)
    assert empty.measure is Measure.MEASURED and dict(empty.figures) == {} and "no figures yet" in empty.reason
    meta.insights[post] = {"post_media_view": 300, "post_total_media_view_unique": 210,
                           "post_reactions_by_type_total": {"like": 12, "love": 3}}
    assert dict(read(channel, about).figures) == {"views": 300, "unique_viewers": 210, "reactions": 15}
    asked = meta.received("GET", "/insights")[-1]
    assert asked.query["metric"] == [",".join(reach_readers.FACEBOOK_METRICS)]

    meta.insights_allowed = False
    refused = read(channel, about)
    assert refused.measure is Measure.REFUSED and "read_insights" in refused.reason
    channel.close()


def test_instagram_media_insights_and_throttling(meta: MetaEmulator) -> None:
    channel = InstagramAdapter.from_config("instagram_api", {"retry": FAST}, os.environ)
    media = meta.add_media("Demodage i februar")
    about = subject("instagram_api", Receipt("instagram", media), "instagram")

    assert dict(read(channel, about).figures) == {}  # Instagram's empty set for a new post, not zeros
    meta.insights[media] = {"views": 150, "reach": 120, "likes": 14, "comments": 2, "shares": 1, "saved": 3,
                            "total_interactions": 20}
    assert dict(read(channel, about).figures) == {"views": 150, "reach": 120, "likes": 14, "comments": 2,
                                                   "shares": 1, "saved": 3, "interactions": 20}
    meta.faults.append(Fault("status", lambda r: r.path.endswith("/insights"), status=400, body=throttled(4)))
    throttling = read(channel, about)
    assert throttling.measure is Measure.REFUSED and "throttling" in throttling.reason
    channel.close()


# The channels that need no request ---------------------------------------------------------------------------

def test_newsletter_mail_and_outbox(tmp_path: Path) -> None:
    newsletter = NewsletterAdapter.from_config("nyhedsbrev", {})
    waiting = read(newsletter, subject("nyhedsbrev", Receipt("graph_mail"), "midtnyt"))
    assert waiting.measure is Measure.NOT_MEASURED and "mark" in waiting.reason
    accepted = read(newsletter, subject("nyhedsbrev", Receipt("graph_mail", details={"issue": "2027-02-10"}),
                                        "midtnyt", answer="accepted", note="Bragt forrest, 4.200 læsere"))
    assert dict(accepted.figures) == {"accepted": 1, "readers": 4200} and "2027-02-10" in accepted.reason
    declined = read(newsletter, subject("nyhedsbrev", Receipt("graph_mail"), "perspektiv", answer="declined"))
    assert dict(declined.figures) == {"accepted": 0}

    mail = GraphMailAdapter.from_config("m365_mail", {"sender": "kommunikation@socialomraadet.example"}, {})
    sent = read(mail, subject("m365_mail", Receipt("graph_mail", details={"recipients": 14}), "hmu"))
    assert dict(sent.figures) == {"delivered": 1, "recipients": 14} and "no read tracking" in sent.reason

    outbox = OutboxAdapter.from_config("outbox", {"path": str(tmp_path)})
    assert read(outbox, subject("outbox", Receipt("outbox"))).measure is Measure.NOT_MEASURED


def test_mail_counts_the_members_of_a_group_address_where_graph_may_tell(tenant: M365, workdir: Path) -> None:
    from budbringer import cascade
    from budbringer import plan as plan_
    from budbringer.adapters.registry import REGISTRY
    from tests.conftest import write_plan
    from tests.servers.graph import SENDER

    path = write_plan(workdir, {"channels": {"m365": {"type": "graph_mail", "sender": SENDER}},
                                "fora": {"hmu": {"channel": "m365"}}})
    tenant.graph.groups["hmu@socialomraadet.example"] = ("4f1c0b7e-hmu", 23)
    about = subject("m365", Receipt("graph_mail", details={"recipients": 1}), "hmu")

    def channel() -> Adapter:
        return cascade.channels(plan_.load(path, REGISTRY, dict(os.environ)), environ=dict(os.environ))["m365"]

    without = read(channel(), about)  # the app has no GroupMember.Read.All: the delivery is still counted
    assert dict(without.figures) == {"delivered": 1, "recipients": 1}
    assert "GroupMember.Read.All" in without.reason

    tenant.app.roles.add("GroupMember.Read.All")
    counted = read(channel(), about)
    assert dict(counted.figures) == {"delivered": 1, "recipients": 1, "group_members": 23}
    assert counted.reason == "no read tracking"
    assert tenant.graph.received("GET", "/members/$count")[-1].header("ConsistencyLevel") == "eventual"


def test_the_website_receiver_answers_when_asked_else_not_measured(ca: trustme.CA,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from budbringer.adapters.webhook import WebhookAdapter
    from tests.servers.webhook import WebhookReceiver

    secret = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544"
    receiver = WebhookReceiver(secret)
    with HTTPSServer(receiver, ca) as server:
        monkeypatch.setenv("BUDBRINGER_REACH_WEBHOOK_SECRET", secret)
        settings = {"url": server.url + "/intake/budbringer", "secret_env": "BUDBRINGER_REACH_WEBHOOK_SECRET",
                    "retry": FAST}
        quiet = WebhookAdapter.from_config("website", settings, os.environ)
        asking = WebhookAdapter.from_config("website", {**settings, "reach_url": server.url + "/intake/budbringer/reach"},
                                            os.environ)
        variant = Variant(forum="website", forum_title="Hjemmesiden", tier="external", tier_index=4, phase="publish",
                          medium="web", channel="website", template="x", stakeholder="citizens",
                          subject="Demodage", body="<p>Kom og prøv.</p>", body_format="html", summary="Kom.",
                          link=None)
        delivery = Delivery(MESSAGE, variant, "website", approval_id=1)
        receipt = asking.deliver(delivery)
        about = ReachSubject(key=delivery.key, message_id=MESSAGE, forum="website", channel="website",
                             receipt=receipt, delivered_at=WHEN)

        assert read(quiet, about).measure is Measure.NOT_MEASURED
        assert dict(read(asking, about).figures) == {}  # published, no figures yet
        receiver.views[delivery.key] = 88
        assert dict(read(asking, about).figures) == {"views": 88}
        monkeypatch.setenv("BUDBRINGER_REACH_WEBHOOK_SECRET", "another-secret-" + "0" * 40)
        wrong = WebhookAdapter.from_config("website", {**settings, "reach_url": server.url + "/intake/budbringer/reach"},
                                           os.environ)
        refused = read(wrong, about)
        assert refused.measure is Measure.REFUSED and "BUDBRINGER_REACH_WEBHOOK_SECRET" in refused.reason
        for channel in (quiet, asking, wrong):
            channel.close()
