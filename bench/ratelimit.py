"""Rate-limit efficiency: N Graph mails from one mailbox against the local Graph emulator enforcing Exchange's
per-mailbox limits scaled down in time (30 messages per 2 s instead of per minute, 4 requests at a time),
answering 429 with Retry-After beyond them.

This drives the Graph mail adapter directly (`GraphMailAdapter.deliver`, the domain's Delivery), from a thread
pool as wide as the flow's per-channel concurrency, not the whole Prefect flow: 1,000 task runs would measure
Prefect, not the limiter. The adapter's process-wide `MailboxLimiter` for the mailbox is given the same
scaled window (2 s); its code is unchanged. The lookup after an unknown outcome is on, as in
config/plan.m365.yaml, with its waits scaled by the same factor.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import trustme

from budbringer.adapters import graph, graph_mail
from budbringer.adapters.graph_mail import GraphMailAdapter, MailboxLimiter
from budbringer.delivery import Delivery
from budbringer.errors import DeliveryError
from budbringer.render import Variant
from tests.servers.graph import SENDER, m365
from tests.servers.https import Reply, Request

PER_WINDOW, WINDOW, CONCURRENT = 30, 2.0, 4


class Throttle:
    """Exchange's limits in front of the emulator's sendMail: a sliding window and a concurrency cap."""

    def __init__(self, handle, latency: float) -> None:  # type: ignore[no-untyped-def]
        self.handle, self.latency = handle, latency
        self.lock = threading.Lock()
        self.accepted: deque[float] = deque()
        self.in_flight = 0
        self.throttled = 0
        self.over_rate = 0  # of the 429s, those for the window (the rest: concurrency)
        self.first: float | None = None
        self.last: float | None = None

    def __call__(self, request: Request) -> Reply:
        if not request.path.endswith("/sendMail"):
            time.sleep(self.latency)
            return self.handle(request)
        with self.lock:
            now = time.monotonic()
            while self.accepted and self.accepted[0] <= now - WINDOW:
                self.accepted.popleft()
            if self.in_flight >= CONCURRENT or len(self.accepted) >= PER_WINDOW:
                self.throttled += 1
                full = len(self.accepted) >= PER_WINDOW
                wait = (self.accepted[0] + WINDOW - now) if full else 0.0
                if full:
                    self.over_rate += 1
                return Reply(429, {"error": {"code": "ApplicationThrottled", "message": (
                    "Application is over its MessageRate limit." if full
                    else "Application is over its MailboxConcurrency limit.")}},
                             {"Retry-After": str(max(1, math.ceil(wait)))})
            self.accepted.append(now)
            self.in_flight += 1
            self.first = now if self.first is None else self.first
        try:
            time.sleep(self.latency)
            return self.handle(request)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.last = time.monotonic()


@dataclass
class RateResult:
    mails: int
    seconds: float
    achieved: float  # accepted mails per second, first accepted to last answered
    allowed: float
    throttled: int
    over_rate: int
    failed: int
    duplicates: int
    delivered: int
    errors: list[str]


def mail(number: int) -> Delivery:
    variant = Variant(forum=f"medarbejder{number:04d}", forum_title="Medarbejdere", tier="employees",
                      tier_index=3, phase="cascade", medium="mail", channel="mail", template="oc_briefing.html.j2",
                      stakeholder="employees", subject="Status på udbuddet – november 2026",
                      body=f"<p>Status nr. {number}: forarbejdet er færdigt.</p>", body_format="html",
                      summary="Forarbejdet er færdigt.", link=None,
                      recipients=(f"medarbejder{number:04d}@socialomraadet.example",))
    return Delivery("2026-11-status-udbud", variant, "mail", approval_id=1)


def measure(base: Path, mails: int, latency: float) -> RateResult:
    import os

    ca = trustme.CA()
    bundle = base / "rate-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "BUDBRINGER_GRAPH_TENANT_ID",
                                            "BUDBRINGER_GRAPH_CLIENT_ID", "BUDBRINGER_GRAPH_CLIENT_SECRET",
                                            "BUDBRINGER_LOGIN_URL", "BUDBRINGER_GRAPH_URL", graph.ENV_CERT)}
    try:
        with m365(ca) as tenant:
            os.environ.update(tenant.env())
            os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
            os.environ.pop(graph.ENV_CERT, None)
            throttle = Throttle(tenant.graph.handle, latency)
            tenant.graph.handle = throttle  # type: ignore[method-assign]
            adapter = GraphMailAdapter.from_config("mail", {
                "sender": SENDER, "messages_per_minute": PER_WINDOW, "concurrent_requests": CONCURRENT,
                "retry": {"attempts": 8, "budget": 120, "backoff_initial": 0.05, "backoff_max": 1.0,
                          "max_retry_after": 5, "connect_timeout": 5, "read_timeout": 30},
                # As config/plan.m365.yaml (lookup on; a 429 on sendMail is an unknown outcome there), with
                # the lookup's waits (20 s settle, 10 s between looks) scaled by the same 1/30 as the window.
                "lookup": {"enabled": True, "settle": 20 / 30, "interval": 10 / 30}},
                os.environ)  # the emulators' variables, set above (a channel reads only the environ it is given)
            adapter.limiter = MailboxLimiter(PER_WINDOW, CONCURRENT, window=WINDOW)  # Exchange's minute, scaled
            failed = 0
            errors: list[str] = []

            def one(number: int) -> bool:
                try:
                    adapter.deliver(mail(number))
                    return True
                except DeliveryError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return False

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=GraphMailAdapter.max_concurrency) as pool:
                results = list(pool.map(one, range(mails)))
            seconds = time.perf_counter() - start
            failed = results.count(False)
            keys = [m.property(graph_mail.PROPERTY_ID) for m in tenant.graph.sent(SENDER)]
            duplicates = len(keys) - len(set(keys))
            busy = (throttle.last or 0) - (throttle.first or 0)
            accepted = len(keys)
            # The allowed rate over the busy span: 30 in the first instant, then 30 per 2 s.
            achieved = (accepted - PER_WINDOW) / busy if busy > 0 else 0.0
            return RateResult(mails, seconds, achieved, PER_WINDOW / WINDOW, throttle.throttled,
                              throttle.over_rate, failed, duplicates, accepted, errors[:3])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
