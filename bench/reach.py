"""The reach collection's cost: N delivered messages (6 fora each: a SharePoint page, a LinkedIn post, a Facebook
post, an Instagram media object, a newsletter submission and an outbox file) read at day 1 against the local
Graph, LinkedIn and Meta emulators with `latency` seconds per provider call, then read again (nothing due: the
idempotent re-run). `budbringer.reach.collect` is driven directly (no Prefect: the flow adds one task-less flow
run and an artifact); the ledger is SQLite in the bench's folder."""

from __future__ import annotations

import datetime as dt
import os
import resource
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from budbringer import reach
from budbringer.adapters import graph
from budbringer.adapters.facebook_page import FacebookPageAdapter
from budbringer.adapters.instagram import InstagramAdapter
from budbringer.adapters.linkedin import LinkedInAdapter
from budbringer.adapters.newsletter import NewsletterAdapter
from budbringer.adapters.outbox import OutboxAdapter
from budbringer.adapters.sharepoint_news import SharePointNewsAdapter
from budbringer.approval import Approval
from budbringer.channel import Adapter
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger import Ledger
from budbringer.render import Variant
from tests.servers.https import HTTPSServer, Reply, Request
from tests.servers.graph import m365
from tests.servers.linkedin import LinkedInEmulator
from tests.servers.meta import TOKEN as META_TOKEN
from tests.servers.meta import MetaEmulator, meta_env

SITE = "intra.bench.example/sites/nyheder"
ORGANIZATION = "55555"
LINKEDIN_TOKEN = "AQX-bench-token"


@dataclass
class ReachCost:
    messages: int
    readings: int
    provider_calls: int
    first_wall: float
    first_cpu: float
    again_wall: float
    refused: int


def _slow(emulator: Any, latency: float) -> None:
    handle = emulator.handle

    def slowly(request: Request) -> Reply:
        time.sleep(latency)
        return handle(request)

    emulator.handle = slowly


def _variant(forum: str, message: str) -> Variant:
    return Variant(forum=forum, forum_title=forum, tier="t", tier_index=1, phase="publish", medium="post",
                   channel=forum, template="x", stakeholder="others", subject=f"Bench {message}",
                   body=f"Bench {message} {forum}", body_format="text", summary="Bench.", link=None, sites=(SITE,))


def measure(base: Path, messages: int = 2, latency: float = 0.05) -> ReachCost:
    ca = trustme.CA()
    bundle = base / "reach-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    names = ("REQUESTS_CA_BUNDLE", "BUDBRINGER_LINKEDIN_URL", "BUDBRINGER_LINKEDIN_TOKEN",
             "BUDBRINGER_LINKEDIN_ORGANIZATION", graph.ENV_CERT, *meta_env("x"))
    saved = {k: os.environ.get(k) for k in names}
    with ExitStack() as stack:
        tenant = stack.enter_context(m365(ca, sites=(SITE,)))
        names += tuple(tenant.env())
        saved |= {k: os.environ.get(k) for k in tenant.env()}
        linkedin = LinkedInEmulator(LINKEDIN_TOKEN, ORGANIZATION)
        meta = MetaEmulator(META_TOKEN)
        linkedin_url = stack.enter_context(HTTPSServer(linkedin, ca)).url
        meta_url = stack.enter_context(HTTPSServer(meta, ca)).url
        try:
            os.environ.update({**tenant.env(), "REQUESTS_CA_BUNDLE": str(bundle), "BUDBRINGER_LINKEDIN_URL": linkedin_url,
                               "BUDBRINGER_LINKEDIN_TOKEN": LINKEDIN_TOKEN,
                               "BUDBRINGER_LINKEDIN_ORGANIZATION": ORGANIZATION, **meta_env(meta_url)})
            os.environ.pop(graph.ENV_CERT, None)
            channels: dict[str, Adapter] = {
                "intranet": SharePointNewsAdapter.from_config("intranet", {}, os.environ),
                "linkedin": LinkedInAdapter.from_config("linkedin", {}, os.environ),
                "facebook": FacebookPageAdapter.from_config("facebook", {}, os.environ),
                "instagram": InstagramAdapter.from_config("instagram", {}, os.environ),
                "midtnyt": NewsletterAdapter.from_config("midtnyt", {}),
                "outbox": OutboxAdapter.from_config("outbox", {"path": str(base / "reach-outbox")}),
            }
            ledger = Ledger(f"sqlite:///{base / 'reach-ledger.db'}")
            delivered_at = dt.datetime.now(dt.UTC)
            for n in range(messages):
                message = f"2027-{n % 12 + 1:02d}-bench-{n}"
                receipts = {
                    "intranet": channels["intranet"].deliver(Delivery(message, _variant("intranet", message),
                                                                     "intranet", 1)),
                    "linkedin": Receipt("linkedin", linkedin.add_post(f"Bench {message}")),
                    "facebook": Receipt("facebook", meta.add_post(f"Bench {message}")),
                    "instagram": Receipt("instagram", meta.add_media(f"Bench {message}")),
                    "midtnyt": Receipt("outbox", "x"), "outbox": Receipt("outbox", "x")}
                approval = ledger.record_approval(Approval(
                    message_id=message, variant_hashes={f: _variant(f, message).content_hash for f in receipts},
                    approved_by="Bench", reference="bench"))
                for forum, receipt in receipts.items():
                    delivery = Delivery(message, _variant(forum, message), forum, approval_id=approval.id or 0)
                    ledger.claim(delivery)
                    ledger.delivered(delivery.key, receipt)
            for emulator in (tenant.graph, linkedin, meta):
                _slow(emulator, latency)
                emulator.requests.clear()
            day_one = delivered_at + dt.timedelta(days=1, minutes=5)
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            first = reach.collect(ledger, channels, lambda: day_one)
            first_wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            calls = sum(len(e.requests) for e in (tenant.graph, linkedin, meta))
            started = time.perf_counter()
            again = reach.collect(ledger, channels, lambda: day_one)
            again_wall = time.perf_counter() - started
            assert not again.stored
            for adapter in channels.values():
                adapter.close()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ReachCost(messages, len(first.stored), calls, first_wall, cpu, again_wall, len(first.refused))
