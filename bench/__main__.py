"""`python -m bench`: every figure of issue 15 in one run (see docs/benchmarks.md). Run it from the repository
root, in the project's venv. It starts local HTTPS emulators and Prefect servers of its own (in a temporary
folder with its own PREFECT_HOME) and stops them by their process id; nothing outside 127.0.0.1 is called."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import cascade, mainjob, ratelimit
from bench import reach as reach_bench
from bench.measure import GNU_TIME, Run, group_peak_rss_mb, server_rows
from tests.servers.prefect_server import PrefectServer

TARGETS = {"main": 8.0, "again": 5.0, "overhead": 1.0, "overhead_large": 1.05, "overhead_fora": 1.3, "efficiency": 0.95,
           "rss": 300.0, "rss_fora": 500.0}
FORA = [100, 1000]  # one message to this many fora (issue 26), on the warm server


def _row(name: str, runs: list[Run], target: str = "") -> str:
    wall = mainjob.median([r.wall for r in runs])
    cpu = mainjob.median([r.cpu for r in runs])
    rss = [r.peak_rss_mb for r in runs if r.peak_rss_mb is not None]
    peak = f"{max(rss):.0f} MB" if rss else "n/a"
    flows = [f for r in runs if (f := cascade.in_flow_seconds(r.output)) is not None]
    inside = f" (in the flow: {mainjob.median(flows):.2f} s)" if flows else ""
    return f"| {name}{inside} | {wall:.2f} s | {cpu:.2f} s | {peak} | {target} |"


def _cascade_rows(label: str, c: cascade.Cascade) -> list[str]:
    rows = [f"| {label}: messages / deliveries / provider calls | {c.messages} / {c.deliveries} / "
            f"{c.provider_calls} (raw script: {c.raw_calls}) | |",
            f"| {label}: whole command (imports, server, flow) | {c.command.wall:.2f} s wall, {c.command.cpu:.2f} s "
            f"CPU | |",
            f"| {label}: in the flow (Beginning flow run → Finished) | "
            + (f"{c.in_flow:.2f} s" if c.in_flow is not None else "not found in the log") + " | |",
            f"| {label}: provider calls' span as the emulators saw it | {c.calls_span:.2f} s | |",
            f"| {label}: raw script, same calls, thread pool (critical path) | {c.raw:.2f} s | |"]
    if c.in_flow is not None:
        target = (f"≤ +{TARGETS['overhead']:.1f} s" if c.deliveries <= cascade.SEED_DELIVERIES
                  else f"≤ × {TARGETS['overhead_fora']:.1f} (warm server)" if c.messages == 1
                  else f"≤ {TARGETS['overhead_large'] - 1:.0%} over raw")
        rows.append(f"| {label}: **in-flow overhead over raw** | **{c.in_flow - c.raw:+.2f} s, "
                    f"× {c.in_flow / c.raw:.2f}** | {target} |")
    rows.append(f"| {label}: whole command over raw | {c.command.wall - c.raw:+.2f} s, "
                f"× {c.command.wall / c.raw:.1f} | |")
    return rows


def _progress(label: str, c: cascade.Cascade) -> None:
    """One line on stderr as each cascade run ends (the tables come at the end)."""
    flow = f"{c.in_flow:.2f} s" if c.in_flow is not None else "n/a"
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S} UTC, load {os.getloadavg()[0]:.1f}] cascade {label}: "
          f"{c.messages} messages, {c.deliveries} deliveries, {c.provider_calls} calls; in the flow {flow}, raw {c.raw:.2f} s, "
          f"command {c.command.wall:.2f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each timed command (medians; default 1)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per provider call (default 0.05)")
    parser.add_argument("--mails", type=int, default=300, help="Graph mails for the rate bench (default 300)")
    parser.add_argument("--deliveries", type=int, action="append",
                        help="deliveries of the cascade bench (repeatable; default 12, the seed plan's; above 12, "
                             "copies of the example message sent one after another, 12 deliveries each, e.g. "
                             "--deliveries 12 --deliveries 1000: 84 sends)")
    parser.add_argument("--fora", type=int, action="append",
                        help=f"cascade bench on the warm server: one message to this many fora in one send "
                             f"(repeatable; default {' and '.join(map(str, FORA))}; 0: none)")
    parser.add_argument("--no-ephemeral", action="store_true",
                        help="cascade bench: skip the ephemeral runs (only the warm server's)")
    parser.add_argument("--no-server", action="store_true", help="skip the runs on a warm `prefect server start`")
    parser.add_argument("--server-database", metavar="URL",
                        help="the warm server's database (e.g. postgresql+asyncpg://postgres@127.0.0.1/prefect_bench, "
                             "an empty database); default: SQLite in its home")
    parser.add_argument("--reach-messages", type=int, default=2,
                        help="delivered messages (6 fora each) for the reach collection bench (default 2)")
    parser.add_argument("--only", choices=["main", "interactive", "cascade", "rate", "reach"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    parts = set(args.only or ["main", "interactive", "cascade", "rate", "reach"])
    sizes = args.deliveries or [cascade.SEED_DELIVERIES]
    if min(sizes) < cascade.SEED_DELIVERIES:
        parser.error(f"--deliveries: at least {cascade.SEED_DELIVERIES} (the seed plan's)")
    fora_sizes = [n for n in (args.fora if args.fora is not None else FORA) if n]
    if fora_sizes and min(fora_sizes) <= cascade.SEED_DELIVERIES:
        parser.error(f"--fora: more than {cascade.SEED_DELIVERIES} (the seed plan's), or 0 for none")
    logging.getLogger("budbringer").setLevel(logging.ERROR)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")

    warm = "warm server on PostgreSQL" if args.server_database else "warm server"
    base = Path(tempfile.mkdtemp(prefix="budbringer-bench-"))
    started = time.perf_counter()
    out: list[str] = [
        f"Budbringer bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: `python -m bench "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip() + "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}, Python {platform.python_version()}; "
        f"peak RSS from {'/usr/bin/time -v' if GNU_TIME else 'n/a'}; latency {args.latency * 1000:.0f} ms per "
        f"provider call; medians of {args.repeat}.", "",
    ]
    if parts & {"main", "interactive"} or (not args.no_server and "cascade" in parts):
        out += ["| what | wall | CPU | peak RSS | target |", "|---|---|---|---|---|"]
    try:
        if "main" in parts:
            job = mainjob.main_job(base, args.repeat)
            out.append(_row(f"README main job, {job.delivered} new outbox files, ephemeral Prefect", job.first,
                            f"≤ {TARGETS['main']:.0f} s"))
            out.append(_row("the same command again, nothing to deliver", job.again, f"≤ {TARGETS['again']:.0f} s"))
            out.append(_row("README main job in a brand-new Prefect home (the first run on a machine)",
                            mainjob.new_home(base, args.repeat), f"≤ {TARGETS['main']:.0f} s"))
        if "interactive" in parts:
            for name, runs in mainjob.interactive(base, args.repeat).items():
                out.append(_row(f"`budbringer {name}`", runs, "< 1 s" if name != "--help" else "< 0.5 s"))
        server_cascade: dict[int, cascade.Cascade] = {}
        # and the server's peak RSS after it, and the rows the send added to the server's database
        fora_cascade: dict[int, tuple[cascade.Cascade, float | None, dict[str, int]]] = {}
        if not args.no_server and parts & {"main", "cascade"}:
            home = base / "server-home"
            t0 = time.perf_counter()
            with PrefectServer(home, database_url=args.server_database) as server:
                up = time.perf_counter() - t0
                out.append(f"| `prefect server start` until /api/health answers | {up:.2f} s | | | |")
                if "main" in parts:
                    runs = []
                    for n in range(args.repeat + 1):  # the first run warms the client's flow registration
                        folder = mainjob.workspace(base, f"server-main-{n}")
                        env = mainjob.env_for(base, folder, server.api_url)
                        env["PREFECT_HOME"] = str(home)
                        runs.append((mainjob.send(folder, env), mainjob.send(folder, env)))
                    runs = runs[1:]
                    out.append(_row(f"main job on a {warm} (RSS: the client alone)", [r[0] for r in runs],
                                    f"< {TARGETS['rss']:.0f} MB"))
                    out.append(_row(f"its re-run on the {warm}", [r[1] for r in runs], "≤ 2 s"))
                    first, served = mainjob.through_serve(base, server.api_url, home, args.repeat)
                    out.append(_row(f"README send, `budbringer serve` running on the {warm}: its first send",
                                    [first], "≤ 2 s"))
                    out.append(_row(f"README send, `budbringer serve` running on the {warm}: the next sends",
                                    served, "≤ 2 s"))
                if "cascade" in parts:
                    for size in sizes:
                        server_cascade[size] = cascade.measure(base, args.latency, server.api_url, home, size)
                        _progress(f"{size}, {warm}", server_cascade[size])
                    for size in fora_sizes:
                        before = server_rows(args.server_database or home / "prefect.db")
                        one = cascade.measure(base, args.latency, server.api_url, home, fora=size)
                        time.sleep(5)  # the server records task runs and events from a queue, a moment later
                        after = server_rows(args.server_database or home / "prefect.db")
                        assert server.process is not None
                        fora_cascade[size] = (one, group_peak_rss_mb(server.process.pid),
                                              {t: after[t] - before[t] for t in after})
                        _progress(f"one message to {size} fora, {warm}", one)
        if "cascade" in parts:
            out += ["", "Cascade overhead, `config/plan.m365.yaml` against the local Graph and sign-in emulators:", "",
                    "| what | figure | target |", "|---|---|---|"]
            for size in sizes:
                if not args.no_ephemeral:
                    ephemeral = cascade.measure(base, args.latency, deliveries=size)
                    _progress(f"{size}, ephemeral", ephemeral)
                    out += _cascade_rows(f"{size}, ephemeral", ephemeral)
                if size in server_cascade:
                    out += _cascade_rows(f"{size}, {warm}", server_cascade[size])
            for size, (one, server_peak, rows) in fora_cascade.items():
                label = f"one message to {size} fora, {warm}"
                out += _cascade_rows(label, one)
                client = f"{one.command.peak_rss_mb:.0f} MB" if one.command.peak_rss_mb is not None else "n/a"
                served = f"{server_peak:.0f} MB" if server_peak is not None else "n/a"
                out.append(f"| {label}: peak RSS of the client alone / of the server's largest process (its whole "
                           f"life so far) | {client} / {served} | < {TARGETS['rss_fora']:.0f} MB each |")
                per = one.deliveries or 1
                tables = ", ".join(f"{t} {n / per:.1f}" for t, n in rows.items())
                out.append(f"| {label}: rows the send added to the server's database, per delivery | "
                           f"{sum(rows.values()) / per:.1f} ({tables}) | |")
        if "rate" in parts:
            r = ratelimit.measure(base, args.mails, args.latency)
            out += ["", f"Rate-limit efficiency: {r.mails} Graph mails, one mailbox, the adapter driven directly; "
                        f"server limits {ratelimit.PER_WINDOW} per {ratelimit.WINDOW:.0f} s and "
                        f"{ratelimit.CONCURRENT} at a time, 429 + Retry-After beyond:", "",
                    "| what | figure | target |", "|---|---|---|",
                    f"| wall time | {r.seconds:.2f} s | |",
                    f"| achieved / allowed rate | {r.achieved:.2f} / {r.allowed:.2f} per s = "
                    f"**{r.achieved / r.allowed:.0%}** | ≥ 95 % |",
                    f"| 429s received (of them for the window; the rest for concurrency) | {r.throttled} "
                    f"({r.over_rate}) | |",
                    f"| failed deliveries (the adapter gave up; a task retry would try again) | {r.failed} | 0 |",
                    f"| duplicates (same delivery key twice in the mailbox) | {r.duplicates} | 0 |",
                    f"| delivered | {r.delivered} of {r.mails} | |"]
            out += [f"| error | {e[:200]} | |" for e in r.errors]
        if "reach" in parts:
            c = reach_bench.measure(base, args.reach_messages, args.latency)
            out += ["", f"Reach collection (`budbringer.reach.collect`, no Prefect): {c.messages} delivered messages, "
                        "6 fora each (SharePoint, LinkedIn, Facebook, Instagram, newsletter, outbox), read at day 1 "
                        "against the local emulators:", "",
                    "| what | figure | target |", "|---|---|---|",
                    f"| readings stored / refused | {c.readings} / {c.refused} | |",
                    f"| provider calls | {c.provider_calls} | |",
                    f"| collection, wall / CPU | {c.first_wall:.2f} s / {c.first_cpu:.2f} s | |",
                    f"| per reading | {c.first_wall / max(c.readings, 1) * 1000:.0f} ms | |",
                    f"| re-run (nothing due) | {c.again_wall:.3f} s | |"]
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    out += ["", f"Bench took {time.perf_counter() - started:.0f} s."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
