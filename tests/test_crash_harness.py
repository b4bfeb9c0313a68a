"""The crash harness: the whole plan (Microsoft 365 mail and SharePoint, LinkedIn, the website webhook, the
newsletter submissions over Graph mail) against the local HTTPS servers, in a subprocess that the servers
SIGKILL on the k-th provider request they receive — before acting on it, or after acting and before
answering. Then the same send runs again, without a kill, and must leave every forum served exactly once
(counted on the servers' side) with a ledger that agrees.

Every provider request of a clean run is a kill point, twice (before / after acting): sign-in, preflight
lookups, every sendMail, every page lookup, create and publish, the LinkedIn post, the webhook POST. A kill
at the first request of a tier is the kill "between tiers". The subprocess runs `tests/crash_runner.py`: the
production runtime and tier engine (`budbringer.engine`, the loop the Prefect flow runs) with the engine's
in-process executor instead of Prefect's (a Prefect run per kill point would cost seconds each); the
production code has no test hooks: the servers do the killing (tests/servers/https.py KillSwitch).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from budbringer import plan as plan_
from budbringer.ledger import Ledger, State
from tests.conftest import MESSAGE, ROOT
from tests.servers.graph import M365, SENDER, m365
from tests.servers.https import HTTPSServer, KillSwitch
from tests.servers.linkedin import LinkedInEmulator
from tests.servers.webhook import WebhookReceiver

pytestmark = pytest.mark.slow  # a real Prefect server and worker, or the crash harness (.ci/run runs it)

M365_PLAN = ROOT / "config" / "plan.m365.yaml"
MESSAGE_ID = "2026-11-status-udbud"
LINKEDIN_TOKEN = "AQX-crash-token-never-logged-77aa"
ORGANIZATION = "2414183"
WEBHOOK_SECRET = "c0ffee" * 8
FAST = {"attempts": 3, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}


def plan_file(folder: Path) -> Path:
    """plan.m365.yaml with LinkedIn and the website connected too (as plan.public.yaml does), waits tiny."""
    path = folder / "plan.crash.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(M365_PLAN),
        "channels": {
            "m365_mail": {"retry": FAST, "lookup": {"settle": 0.02, "checks": 2, "interval": 0.02, "resends": 3}},
            "m365_intranet": {"retry": FAST, "confirm_after": 0.02},
            "linkedin_api": {"type": "linkedin", "version": "202605", "retry": FAST, "reconcile_delay": 0.0},
            "website_webhook": {"type": "webhook", "url_env": "BUDBRINGER_WEBSITE_WEBHOOK_URL",
                                "secret_env": "BUDBRINGER_WEBSITE_WEBHOOK_SECRET", "retry": FAST},
        },
        "fora": {"linkedin": {"channel": "linkedin_api"}, "website": {"channel": "website_webhook"}},
    }), encoding="utf-8")
    return path


@dataclass
class World:
    """One fresh set of providers and one fresh ledger: what a kill point runs against."""

    folder: Path
    plan: Path
    message: Path
    tenant: M365
    linkedin: LinkedInEmulator
    webhook: WebhookReceiver
    env: dict[str, str]
    mail_fora: dict[str, str] = field(default_factory=dict)  # recipient → forum
    site_fora: dict[str, str] = field(default_factory=dict)  # site → forum

    def emulators(self) -> list:
        return [self.tenant.login, self.tenant.graph, self.linkedin, self.webhook]

    def arm(self, switch: KillSwitch | None) -> None:
        for emulator in self.emulators():
            emulator.kill_switch = switch

    def run(self, kill_at: int | None = None, after: bool = False) -> tuple[subprocess.CompletedProcess, KillSwitch]:
        process = subprocess.Popen([sys.executable, "-m", "tests.crash_runner", str(self.plan), str(self.message)],
                                   cwd=self.folder, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        switch = KillSwitch(process.pid, kill_at or 10**9, after)
        self.arm(switch)
        try:
            out, err = process.communicate(timeout=60)
        finally:
            self.arm(None)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err), switch

    def ledger(self) -> Ledger:
        return Ledger(f"sqlite:///{(self.folder / '.budbringer' / 'ledger.db').resolve()}")

    # what the providers hold ----------------------------------------------------------------------------------

    def served(self) -> dict[str, int]:
        """Forum → how many copies its provider holds (mails, published pages per site, posts, web pages)."""
        counts: dict[str, int] = {}
        for mail in self.tenant.graph.sent(SENDER):
            forum = self.mail_fora[mail.recipients()[0]]
            counts[forum] = counts.get(forum, 0) + 1
        for site, forum in self.site_fora.items():
            pages = list(self.tenant.graph.site(site).pages.values())
            key = f"{forum}@{site}"
            counts[key] = len(pages)
            counts[key + " published"] = sum(p["publishingState"]["level"] == "published" for p in pages)
        counts["linkedin"] = len(self.linkedin.created())
        counts["website"] = len(self.webhook.published)
        return counts


@contextmanager
def world(ca, base: Path, name: str) -> Iterator[World]:
    folder = base / name
    folder.mkdir()
    plan = plan_file(folder)
    message = folder / MESSAGE.name
    shutil.copy(MESSAGE, message)
    loaded = plan_.load(plan)
    sites = {site: f for f, forum in loaded.fora.items() if forum.channel == "m365_intranet" for site in forum.sites}
    mail_fora = {}
    for f, forum in loaded.fora.items():
        if forum.channel in ("m365_mail", "m365_newsletter") and forum.enabled:
            for address in forum.recipients or ((forum.newsletter.editor,) if forum.newsletter else ()):
                mail_fora[address] = f
    with ExitStack() as stack:
        tenant = stack.enter_context(m365(ca, sites=tuple(sites)))
        linkedin = LinkedInEmulator(LINKEDIN_TOKEN, ORGANIZATION)
        webhook = WebhookReceiver(WEBHOOK_SECRET)
        linkedin_server = stack.enter_context(HTTPSServer(linkedin, ca))
        webhook_server = stack.enter_context(HTTPSServer(webhook, ca))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDBRINGER_", "PREFECT_"))}
        env.update(tenant.env())
        env.update({
            "BUDBRINGER_HOME": str(folder / ".budbringer"),
            "BUDBRINGER_LINKEDIN_URL": linkedin_server.url, "BUDBRINGER_LINKEDIN_TOKEN": LINKEDIN_TOKEN,
            "BUDBRINGER_LINKEDIN_ORGANIZATION": ORGANIZATION,
            "BUDBRINGER_WEBSITE_WEBHOOK_URL": webhook_server.url + "/intake/budbringer",
            "BUDBRINGER_WEBSITE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "REQUESTS_CA_BUNDLE": os.environ["REQUESTS_CA_BUNDLE"],
            "PYTHONPATH": str(ROOT),
        })
        yield World(folder, plan, message, tenant, linkedin, webhook, env, mail_fora, sites)


def check_exactly_once(w: World) -> list[str]:
    """What is wrong after the last run: a forum served twice or not at all, a ledger that disagrees."""
    wrong = [f"{forum}: {count} copies" for forum, count in w.served().items() if count != 1]
    records = w.ledger().records(MESSAGE_ID)
    expected_fora = set(w.mail_fora.values()) | set(w.site_fora.values()) | {"linkedin", "website"}
    if {r.forum for r in records} != expected_fora:
        wrong.append(f"ledger has {sorted(r.forum for r in records)}")
    wrong += [f"ledger: {r.forum} is {r.state.value}: {r.error}" for r in records if r.state != State.DELIVERED]
    return wrong


def settle_uncertain(w: World) -> int:
    """Where the ledger says uncertain, the operator checks the provider and settles it (`budbringer resolve`)."""
    ledger, served, settled = w.ledger(), w.served(), 0
    for record in ledger.records(MESSAGE_ID):
        if record.state == State.UNCERTAIN:
            there = served.get(record.forum, 0) or any(v for k, v in served.items()
                                                       if k.startswith(record.forum + "@") and "published" in k)
            ledger.resolve(record.key, "sent" if there else "resend", note="crash harness")
            settled += 1
    return settled


@pytest.mark.timeout(1800)  # 64 kill points; speed is measured in benchmarks, not here
def test_every_kill_point_holds(ca, tmp_path: Path) -> None:
    started = time.monotonic()
    with world(ca, tmp_path, "census") as w:
        clean, switch = w.run()
        assert clean.returncode == 0, clean.stderr[-3000:]
        assert check_exactly_once(w) == []
        census = list(switch.seen)
    points = [(k, after) for k in range(1, len(census) + 1) for after in (False, True)]
    assert len(census) >= 20, census  # sign-in, preflight, 7 mails, 3 × (find, create, publish), post, webhook

    held, failures, settled_by_operator = 0, [], 0
    for k, after in points:
        with world(ca, tmp_path, f"kill-{k}-{'after' if after else 'before'}") as w:
            killed, switch = w.run(kill_at=k, after=after)
            where = f"kill {'after' if after else 'before'} request {k} ({switch.fired_on})"
            if killed.returncode != -signal.SIGKILL:
                failures.append(f"{where}: not killed (exit {killed.returncode}): {killed.stderr[-500:]}")
                continue
            again, _ = w.run()
            settled = settle_uncertain(w)
            if settled:
                settled_by_operator += 1
                again, _ = w.run()
            wrong = check_exactly_once(w)
            if again.returncode != 0 or wrong:
                failures.append(f"{where}: exit {again.returncode}; {wrong}; {again.stderr[-800:]}")
            else:
                held += 1
    report = (f"crash harness: {held} of {len(points)} kill points held ({len(census)} provider requests × "
              f"before/after acting; {settled_by_operator} needed the operator's resolve) in "
              f"{time.monotonic() - started:.0f} s")
    print(report)
    (tmp_path / "report.txt").write_text(report + "\n" + "\n".join(census), encoding="utf-8")
    assert failures == [], "\n".join(failures)
    assert held == len(points)
