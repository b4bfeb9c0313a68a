"""The crash harness's worlds: a plan against local HTTPS servers, run in a subprocess (`tests/crash_runner.py`,
the production runtime and engine with the engine's in-process executor) that the servers SIGKILL at the k-th
provider request they receive (tests/servers/https.py KillSwitch), before acting on it or after acting and
before answering. Then the same send runs again, without a kill, and must leave every forum served exactly once
(counted on the servers' side) with a ledger that agrees.

- `world()`: the whole plan (Microsoft 365 mail and SharePoint, LinkedIn, the website webhook, the newsletter
  submissions over Graph mail); tests/test_crash_harness.py and tests/test_limits_after_crash.py.
- `meta_world()`: the shipped plan with the Facebook Page and Instagram fora on the Meta emulator;
  tests/test_crash_meta.py.
- `every_kill_point()`: the loop both harnesses run: every request of a clean run, killed before and after.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from budbringer import plan as plan_
from budbringer.ledger import Ledger, State
from tests.conftest import MESSAGE, PLAN, ROOT
from tests.servers.graph import M365, SENDER, m365
from tests.servers.https import Emulator, HTTPSServer, KillSwitch
from tests.servers.linkedin import LinkedInEmulator
from tests.servers.meta import ACCOUNT, PAGE, TOKEN, MetaEmulator, meta_env, meta_message
from tests.servers.webhook import WebhookReceiver

M365_PLAN = ROOT / "config" / "plan.m365.yaml"
MESSAGE_ID = "2026-11-status-udbud"
LINKEDIN_TOKEN = "AQX-crash-token-never-logged-77aa"
ORGANIZATION = "2414183"
WEBHOOK_SECRET = "c0ffee" * 8
FAST = {"attempts": 3, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 2, "read_timeout": 2}


def subprocess_env(folder: Path, **extra: str) -> dict[str, str]:
    """The runner's environment: this one without Budbringer's or Prefect's settings, its own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDBRINGER_", "PREFECT_"))}
    env.update({"BUDBRINGER_HOME": str(folder / ".budbringer"), "PYTHONPATH": str(ROOT),
                "REQUESTS_CA_BUNDLE": os.environ["REQUESTS_CA_BUNDLE"]}, **extra)
    return env


@dataclass
class CrashWorld:
    """One fresh set of providers and one fresh ledger: what a kill point runs against."""

    folder: Path
    plan: Path
    message: Path
    env: dict[str, str]

    timeout: ClassVar[float] = 60  # seconds a run may take

    def emulators(self) -> list[Emulator]:
        raise NotImplementedError

    def served(self) -> dict[str, int]:
        """Forum → how many copies its provider holds."""
        raise NotImplementedError

    def wrong(self) -> list[str]:
        """What is wrong after the last run: a forum served twice or not at all, a ledger that disagrees."""
        raise NotImplementedError

    def served_forum(self, forum: str, served: dict[str, int]) -> bool:
        """Whether the provider holds the forum's copy: what the operator looks up before `budbringer resolve`."""
        return bool(served.get(forum))

    def arm(self, switch: KillSwitch | None) -> None:
        for emulator in self.emulators():
            emulator.kill_switch = switch  # type: ignore[attr-defined]

    def run(self, kill_at: int | None = None, after: bool = False) -> tuple[subprocess.CompletedProcess, KillSwitch]:
        process = subprocess.Popen([sys.executable, "-m", "tests.crash_runner", str(self.plan), str(self.message)],
                                   cwd=self.folder, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        switch = KillSwitch(process.pid, kill_at or 10**9, after)
        self.arm(switch)
        try:
            out, err = process.communicate(timeout=self.timeout)
        finally:
            self.arm(None)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err), switch

    def ledger(self) -> Ledger:
        return Ledger(f"sqlite:///{(self.folder / '.budbringer' / 'ledger.db').resolve()}")

    def settle_uncertain(self) -> int:
        """Where the ledger says uncertain, the operator checks the provider and settles it (`budbringer resolve`)."""
        ledger, served, settled = self.ledger(), self.served(), 0
        for record in ledger.records(MESSAGE_ID):
            if record.state == State.UNCERTAIN:
                ledger.resolve(record.key, "sent" if self.served_forum(record.forum, served) else "resend",
                               note="crash harness")
                settled += 1
        return settled


# -- the whole plan: Microsoft 365, LinkedIn, the website ----------------------------------------------------

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
class World(CrashWorld):
    tenant: M365
    linkedin: LinkedInEmulator
    webhook: WebhookReceiver
    mail_fora: dict[str, str] = field(default_factory=dict)  # recipient → forum
    site_fora: dict[str, str] = field(default_factory=dict)  # site → forum

    def emulators(self) -> list[Emulator]:
        return [self.tenant.login, self.tenant.graph, self.linkedin, self.webhook]

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

    def served_forum(self, forum: str, served: dict[str, int]) -> bool:
        return bool(served.get(forum, 0) or any(v for k, v in served.items()
                                                if k.startswith(forum + "@") and "published" in k))

    def wrong(self) -> list[str]:
        wrong = [f"{forum}: {count} copies" for forum, count in self.served().items() if count != 1]
        records = self.ledger().records(MESSAGE_ID)
        expected_fora = set(self.mail_fora.values()) | set(self.site_fora.values()) | {"linkedin", "website"}
        if {r.forum for r in records} != expected_fora:
            wrong.append(f"ledger has {sorted(r.forum for r in records)}")
        wrong += [f"ledger: {r.forum} is {r.state.value}: {r.error}" for r in records if r.state != State.DELIVERED]
        return wrong


@contextmanager
def world(ca, base: Path, name: str) -> Iterator[World]:
    folder = base / name
    folder.mkdir()
    plan = plan_file(folder)
    message = folder / MESSAGE.name
    shutil.copy(MESSAGE, message)
    loaded = plan_.load(plan)
    sites = {site: f for f, forum in loaded.fora.items() if forum.channel == "m365_intranet" for site in forum.address.page_sites()}
    mail_fora = {}
    for f, forum in loaded.fora.items():
        if forum.channel in ("m365_mail", "m365_newsletter") and forum.enabled:
            for address in forum.address.mail_to():
                mail_fora[address] = f
    with ExitStack() as stack:
        tenant = stack.enter_context(m365(ca, sites=tuple(sites)))
        linkedin = LinkedInEmulator(LINKEDIN_TOKEN, ORGANIZATION)
        webhook = WebhookReceiver(WEBHOOK_SECRET)
        linkedin_server = stack.enter_context(HTTPSServer(linkedin, ca))
        webhook_server = stack.enter_context(HTTPSServer(webhook, ca))
        env = subprocess_env(folder, **tenant.env(), **{
            "BUDBRINGER_LINKEDIN_URL": linkedin_server.url, "BUDBRINGER_LINKEDIN_TOKEN": LINKEDIN_TOKEN,
            "BUDBRINGER_LINKEDIN_ORGANIZATION": ORGANIZATION,
            "BUDBRINGER_WEBSITE_WEBHOOK_URL": webhook_server.url + "/intake/budbringer",
            "BUDBRINGER_WEBSITE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        })
        yield World(folder, plan, message, env, tenant=tenant, linkedin=linkedin, webhook=webhook,
                    mail_fora=mail_fora, site_fora=sites)


# -- the Meta fora: the Facebook Page and Instagram ----------------------------------------------------------

def meta_crash_plan(folder: Path) -> Path:
    common = {"retry": FAST, "reconcile_delay": 0.0}
    path = folder / "plan.crash-meta.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(PLAN),
        "channels": {"facebook_api": {"type": "facebook_page", **common},
                     "instagram_api": {"type": "instagram", "poll_interval": 0.02, "container_wait": 5, **common}},
        "fora": {"facebook": {"enabled": True, "channel": "facebook_api"},
                 "instagram": {"enabled": True, "channel": "instagram_api"}},
    }), encoding="utf-8")
    return path


@dataclass
class MetaWorld(CrashWorld):
    meta: MetaEmulator

    timeout: ClassVar[float] = 90

    def emulators(self) -> list[Emulator]:
        return [self.meta]

    def served(self) -> dict[str, int]:
        return {"facebook": len(self.meta.page_posts()), "instagram": len(self.meta.published_media())}

    def wrong(self) -> list[str]:
        wrong = [f"{forum}: {count} posts" for forum, count in self.served().items() if count != 1]
        records = {r.forum: r for r in self.ledger().records(MESSAGE_ID)}
        wrong += [f"ledger: {r.forum} is {r.state.value}: {r.error}" for r in records.values()
                  if r.state != State.DELIVERED]
        for forum, items in (("facebook", self.meta.page_posts()), ("instagram", self.meta.published_media())):
            receipt = records[forum].receipt if forum in records else None
            if items and (receipt is None or receipt.provider_id != items[0]["id"]):
                wrong.append(f"{forum}: the ledger's receipt is not the post ({receipt})")
        return wrong


@contextmanager
def meta_world(ca, base: Path, name: str) -> Iterator[MetaWorld]:
    folder = base / name
    folder.mkdir()
    emulator = MetaEmulator(TOKEN, PAGE, ACCOUNT)
    with HTTPSServer(emulator, ca) as server:
        env = subprocess_env(folder, **meta_env(server.url))
        yield MetaWorld(folder, meta_crash_plan(folder), meta_message(folder), env, meta=emulator)


# -- the loop ------------------------------------------------------------------------------------------------

@dataclass
class KillPoints:
    """What `every_kill_point` found."""

    points: int
    held: int = 0
    by_operator: int = 0  # kill points that needed the operator's `budbringer resolve`
    failures: list[str] = field(default_factory=list)


def every_kill_point(census: int, open_world: Callable[[str], AbstractContextManager[CrashWorld]],
                     budget: Callable[[KillPoints], None] | None = None) -> KillPoints:
    """Kill a fresh world's run at each of the `census` requests of a clean run, before and after acting; run
    it again (and once more after the operator settled what stayed uncertain); note what is wrong after."""
    points = [(k, after) for k in range(1, census + 1) for after in (False, True)]
    found = KillPoints(len(points))
    for k, after in points:
        with open_world(f"kill-{k}-{'after' if after else 'before'}") as w:
            killed, switch = w.run(kill_at=k, after=after)
            where = f"kill {'after' if after else 'before'} request {k} ({switch.fired_on})"
            if killed.returncode != -signal.SIGKILL:
                found.failures.append(f"{where}: not killed (exit {killed.returncode}): {killed.stderr[-500:]}")
                continue
            again, _ = w.run()
            if w.settle_uncertain():
                found.by_operator += 1
                again, _ = w.run()
            wrong = w.wrong()
            if again.returncode != 0 or wrong:
                found.failures.append(f"{where}: exit {again.returncode}; {wrong}; {again.stderr[-800:]}")
            else:
                found.held += 1
        if budget is not None:
            budget(found)
    return found
