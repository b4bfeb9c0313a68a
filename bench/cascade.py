"""Cascade overhead: the seed plan through Budbringer against the local Microsoft 365 emulators
(tests/servers/graph.py: real HTTPS with a trustme CA) with a fixed latency per provider call, against a plain
script that makes the same calls, in the same order, with a thread pool: the calls' critical path.

Budbringer runs `config/plan.m365.yaml` (Graph mail for OC, HMU, the networks and the newsletter editors;
SharePoint news pages for the intranets; the website and LinkedIn stay in the outbox), as the README's
`budbringer send` command in a child process. Every request the emulators get is recorded; the plain script
then replays them: the sign-in first, then tier by tier, each forum's requests in their recorded order and the
fora of a tier side by side (a page's publish uses the id its create just returned), at most as many of one
channel at a time as Budbringer lets run (`engine.max_concurrency`: 4 for Graph mail, Exchange's own limit per
mailbox, and for SharePoint).

With `deliveries` above the seed plan's 12 (1,000 in issue 15), copies of the example message under ids of their
own are sent one after another (84 sends for 1,000: 1,008 deliveries), each replayed right after its send, and
the times are summed.

With `fora` (issue 26), **one message to that many fora** in one send: the seed plan's 12 fora and as many more,
half Graph mail fora (one per local MED committee, in HMU's tier, each its own address) and half SharePoint news
pages (one site each, in the employees' tier), so that every tier's calls are made as in the seed plan. The
variants never travel as Prefect parameters (flows/executor.py), so there is no cap on a message's fora.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import requests
import trustme
import yaml

from bench.mainjob import APPROVAL, MESSAGE, env_for, workspace
from bench.measure import Run, budbringer, run
from budbringer import engine
from budbringer import plan as plan_
from tests.servers.graph import M365, m365
from tests.servers.https import Emulator, Reply, Request

FAST = {"attempts": 4, "budget": 10, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05,
        "connect_timeout": 5, "read_timeout": 10}


@dataclass
class Timed:
    request: Request
    start: float
    end: float


def add_latency(emulator: Emulator, seconds: float, log: list[Timed]) -> None:
    """Every request waits `seconds` before the emulator answers; each is logged with its times."""
    handle = emulator.handle
    lock = threading.Lock()

    def slow(request: Request) -> Reply:
        start = time.monotonic()
        time.sleep(seconds)
        reply = handle(request)
        with lock:
            log.append(Timed(request, start, time.monotonic()))
        return reply

    emulator.handle = slow  # type: ignore[method-assign]


SEED_DELIVERIES = 12  # the seed plan's deliveries of the example message (config/plan.m365.yaml)


def bench_plan(folder: Path, lift_rate: bool = False, fora: int = 0) -> Path:
    """The seed M365 plan with fast retries. `lift_rate`: the mailbox's per-minute limit out of the way (the
    emulators enforce none and the raw script keeps none; at Exchange's 30 a minute, 84 sends' 588 mails would
    wait about 20 minutes for the shared rate bucket, on Budbringer's path alone). `fora`: that many enabled
    fora in all (`more_fora`)."""
    path = folder / "config" / "plan.bench.yaml"
    overlay: dict[str, Any] = {"extends": "plan.m365.yaml", "channels": {
        "m365_mail": {"retry": FAST, "lookup": {"settle": 0.05, "interval": 0.05, "resends": 3}},
        "m365_intranet": {"retry": FAST, "confirm_after": 0.05},
    }}
    if lift_rate:
        overlay["channels"]["m365_mail"]["messages_per_minute"] = 1_000_000
    if fora:
        overlay.update(more_fora(folder, fora - SEED_DELIVERIES))
    path.write_text(yaml.safe_dump(overlay, allow_unicode=True), encoding="utf-8")
    return path


def more_fora(folder: Path, count: int) -> dict[str, Any]:
    """`count` more fora, as a plan overlay (`fora` and the whole `tiers` list): half Graph mail fora in HMU's
    tier (copies of the health network's, each its own address), half SharePoint news pages in the employees'
    tier (copies of the local intranet pages, one site each)."""
    base = yaml.safe_load((folder / "config" / "plan.yaml").read_text(encoding="utf-8"))
    tiers = {tier["name"]: tier for tier in base["tiers"]}
    fora: dict[str, Any] = {}
    for n in range(count):
        if n % 2 == 0:
            name, forum = f"lmu_{n // 2:04d}", dict(base["fora"]["network_health"])
            forum.update(title=f"LMU {n // 2:04d}", channel="m365_mail", shares_text_with="network_health",
                         recipients=[f"lmu-{n // 2:04d}@socialomraadet.example"])
            tiers["hmu_and_networks"]["fora"].append(name)
        else:
            name, forum = f"page_{n // 2:04d}", dict(base["fora"]["intranet_local"])
            forum.update(title=f"Lokal intranetside {n // 2:04d}", channel="m365_intranet",
                         sites=[f"socialomraadet.sharepoint.example/sites/lokal-{n // 2:04d}"])
            tiers["employees"]["fora"].append(name)
        fora[name] = forum
    return {"fora": fora, "tiers": base["tiers"]}


def bench_messages(folder: Path, count: int) -> list[str]:
    """`count` copies of the example message under ids of their own (a message's deliveries are keyed by its id),
    in the workspace's messages/ folder; one message: the example itself."""
    if count <= 1:
        return [MESSAGE]
    text = (folder / MESSAGE).read_text(encoding="utf-8")
    found = re.search(r"^id: (\S+)$", text, flags=re.M)
    if found is None:
        raise ValueError(f"{MESSAGE}: no `id:` line")
    names = []
    for n in range(count):
        name = f"messages/bench-{n:03d}.md"
        (folder / name).write_text(text.replace(found.group(0), f"id: {found.group(1)}-bench-{n:03d}", 1),
                                   encoding="utf-8")
        names.append(name)
    return names


_STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+\s*\| Flow run '([^']+)' - (.*)$")


def in_flow_seconds(output: str) -> float | None:
    """From the top flow's "Beginning flow run" to its "Finished in state", from the run's own log."""
    first = name = None
    last = None
    for line in output.splitlines():
        found = _STAMP.match(line.strip())
        if not found:
            continue
        stamp = dt.datetime.strptime(found.group(1), "%H:%M:%S.%f")
        if name is None and "Beginning flow run" in found.group(3):
            first, name = stamp, found.group(2)
        elif name is not None and found.group(2) == name and found.group(3).startswith("Finished in state"):
            last = stamp
    if first is None or last is None:
        return None
    return (last - first).total_seconds() % 86400


@dataclass
class Cascade:
    messages: int  # sends, one after another (each a `budbringer send` of its own message)
    deliveries: int
    provider_calls: int
    latency: float
    command: Run  # one send; with several messages, the sums of their wall and CPU times
    in_flow: float | None  # summed over the messages
    calls_span: float  # first request in to last answer out, as the emulators saw Budbringer's run (summed)
    raw: float  # the plain script's wall time, same calls (summed over the messages)
    raw_calls: int


def forum_index(plan: plan_.Plan) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    addresses: dict[str, str] = {}
    sites: dict[str, str] = {}
    for name, forum in plan.fora.items():
        for value in _strings(forum.model_dump()) + _strings(forum.addressing_fields):
            if "@" in value:
                addresses.setdefault(value.lower(), name)
        for site in forum.address.page_sites():
            sites[site] = name
    tier_of = {forum: i for i, tier in enumerate(plan.tiers) for forum in tier.fora}
    return addresses, sites, tier_of


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def forum_of(request: Request, tenant: M365, addresses: dict[str, str], sites: dict[str, str]) -> str | None:
    if request.path.endswith("/sendMail"):
        message = request.json()["message"]
        for r in message.get("toRecipients") or []:
            found = addresses.get(r["emailAddress"]["address"].lower())
            if found:
                return found
        return None
    path = unquote(request.path)
    host_path = re.fullmatch(r"/v1\.0/sites/([^/:]+):/(.+)", path)
    if host_path:
        return sites.get(f"{host_path.group(1)}/{host_path.group(2).strip('/')}")
    by_id = re.match(r"/v1\.0/sites/([^/]+)/", path)
    if by_id and by_id.group(1) in tenant.graph.sites:
        site = tenant.graph.sites[by_id.group(1)]
        return sites.get(f"{site.host}/{site.path}")
    return None


@dataclass
class CreatedPage:
    request: Request  # the create request of Budbringer's run
    page_id: str  # the id it got back


def replay(tenant: M365, log_in: list[Request], calls: list[Request], created: list[CreatedPage],
           plan: plan_.Plan, verify: str) -> tuple[float, int]:
    """The plain script: the same calls, tier by tier, each forum's calls in turn, the fora side by side, at most
    `engine.max_concurrency` fora of one channel at a time (a pool per channel; the channels side by side)."""
    addresses, sites, tier_of = forum_index(plan)
    chains: dict[str, list[Request]] = {}
    setup: list[Request] = []
    for request in calls:
        forum = forum_of(request, tenant, addresses, sites)
        (chains.setdefault(forum, []) if forum else setup).append(request)
    waves: dict[int, list[tuple[str, list[Request]]]] = {}
    for forum, chain in chains.items():
        waves.setdefault(tier_of.get(forum, 0), []).append((plan.fora[forum].channel, chain))
    widths = {name: engine.max_concurrency(plan, name) for name in plan.channels}
    login = tenant.login_url
    graph = tenant.graph_url[: -len("/v1.0")]
    local = threading.local()
    pages: dict[str, str] = {}

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.verify = verify
        return local.session

    def send(base: str, request: Request, token: str | None) -> requests.Response:
        path = request.path
        for old, new in list(pages.items()):
            path = path.replace(old, new)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "accept", "client-request-id")}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        query = urlencode([(k, v) for k, vs in request.query.items() for v in vs], quote_via=quote)
        url = f"{base}{path}" + (f"?{query}" if query else "")
        response = session().request(request.method, url, data=request.body or None, headers=headers, verify=verify,
                                     timeout=30)
        if response.status_code >= 400:
            raise RuntimeError(f"replay {request.method} {path}: {response.status_code} {response.text[:200]}")
        return response

    def chain(requests_: list[Request], token: str) -> int:
        for request in requests_:
            response = send(graph, request, token)
            if request.method == "POST" and request.path.endswith("/pages"):
                old = page_ids.get((request.path, request.body))
                if old:
                    pages[old] = response.json()["id"]
        return len(requests_)

    # The page ids Budbringer's run got back, by their create request: the replay maps them to the new ones.
    page_ids = {(c.request.path, c.request.body): c.page_id for c in created}

    start = time.perf_counter()
    token = ""
    for request in log_in:
        response = send(login, request, None)
        if request.path.endswith("/token"):
            token = response.json()["access_token"]
    count = len(log_in)
    pools = {name: ThreadPoolExecutor(max_workers=width) for name, width in widths.items()}
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            count += sum(pool.map(lambda r: chain([r], token), setup))
        for tier in sorted(waves):
            futures = [pools[channel].submit(chain, c, token) for channel, c in waves[tier]]
            count += sum(f.result() for f in futures)
    finally:
        for pool_ in pools.values():
            pool_.shutdown()
    return time.perf_counter() - start, count


def measure(base: Path, latency: float, api_url: str | None = None, home: Path | None = None,
            deliveries: int = SEED_DELIVERIES, fora: int = 0) -> Cascade:
    """The seed plan through `budbringer send`, then the raw replay of its calls; above 12 deliveries, as many
    messages as it takes (12 deliveries each), sent one after another, each replayed after its send. `fora`
    (more than the seed plan's 12): one message to that many fora instead, in one send."""
    ca = trustme.CA()
    bundle = base / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    kind = f"{fora}-fora" if fora else str(deliveries)
    folder = workspace(base, f"cascade-{kind}-{'server' if api_url else 'ephemeral'}")
    plan_path = bench_plan(folder, lift_rate=deliveries > SEED_DELIVERIES or fora > SEED_DELIVERIES, fora=fora)
    plan = plan_.load(plan_path)
    messages = bench_messages(folder, 1 if fora else -(-deliveries // SEED_DELIVERIES))
    site_names = tuple(s for f in plan.fora.values() for s in f.address.page_sites())
    graph_log: list[Timed] = []
    login_log: list[Timed] = []
    sends: list[Run] = []
    delivered = calls_made = raw_calls = 0
    in_flow: float | None = 0.0
    span = raw = 0.0
    with m365(ca, sites=site_names) as tenant:
        add_latency(tenant.graph, latency, graph_log)
        add_latency(tenant.login, latency, login_log)
        env = env_for(base, folder, api_url)
        if home is not None:
            env["PREFECT_HOME"] = str(home)
        env.update(tenant.env())
        env["REQUESTS_CA_BUNDLE"] = str(bundle)
        env["BUDBRINGER_PLAN"] = str(plan_path)
        for message in messages:
            graph_log.clear()
            login_log.clear()
            command = run([budbringer(), "send", message, *APPROVAL, "--verbose"], folder, env, timeout=3600).check()
            sends.append(command)
            delivered += command.output.count(": delivered")
            seconds = in_flow_seconds(command.output)
            in_flow = None if in_flow is None or seconds is None else in_flow + seconds
            everything = sorted(graph_log + login_log, key=lambda t: t.start)
            calls_made += len(everything)
            span += everything[-1].end - everything[0].start
            calls = [t.request for t in sorted(graph_log, key=lambda t: t.start)]
            log_in = [t.request for t in sorted(login_log, key=lambda t: t.start)]
            # Remember the ids of the pages Budbringer made, then clear the sites so the replay can make them
            # again (and again after it, for the next message).
            creates = {(unquote(r.path), r.json().get("name")): r for r in calls
                       if r.method == "POST" and r.path.endswith("/pages")}
            created: list[CreatedPage] = []
            for site in tenant.graph.sites.values():
                for page in site.pages.values():
                    create = next(r for (path, name), r in creates.items()
                                  if name == page["name"] and site.id in path)
                    created.append(CreatedPage(create, page["id"]))
                site.pages.clear()
            seconds, count = replay(tenant, log_in, calls, created, plan, str(bundle))
            raw += seconds
            raw_calls += count
            if len(messages) > 1:  # a line per send on stderr: a long run shows how far it got
                print(f"  [{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.1f}] send "
                      f"{len(sends)}/{len(messages)}: {delivered} deliveries so far; in the flow "
                      f"{in_flow if in_flow is not None else float('nan'):.2f} s, raw {raw:.2f} s in all",
                      file=sys.stderr, flush=True)
            for site in tenant.graph.sites.values():
                site.pages.clear()
    command = sends[0] if len(sends) == 1 else Run(
        sends[0].command, sum(r.wall for r in sends), sum(r.cpu for r in sends),
        max((r.peak_rss_mb for r in sends if r.peak_rss_mb is not None), default=None), 0, sends[-1].output)
    return Cascade(len(messages), delivered, calls_made, latency, command, in_flow, span, raw, raw_calls)
