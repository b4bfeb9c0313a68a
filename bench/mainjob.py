"""The README's main job (`budbringer send` of the example message, default outbox plan, ephemeral Prefect),
its re-run with nothing to deliver, the interactive commands, and the peak RSS of a run with the Prefect
server kept out of the process tree (a warm `prefect server start` in its own home)."""

from __future__ import annotations

import shutil
import signal
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Run, budbringer, run
from tests.servers.prefect_server import prefect_env, stop
from tests.servers.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
MESSAGE = "messages/2026-11-status-udbud.md"
APPROVAL = ["--approved-by", "Mette Lund", "--approval-ref", "Styregruppemøde 2026-11-20"]


def workspace(base: Path, name: str) -> Path:
    """A folder like a fresh checkout: the plan, the templates and the messages; no outbox, no ledger."""
    folder = base / name
    folder.mkdir(parents=True)
    for part in ("config", "templates", "messages"):
        shutil.copytree(ROOT / part, folder / part)
    return folder


def env_for(base: Path, folder: Path, api_url: str | None = None) -> dict[str, str]:
    env = prefect_env(base / "prefect-home", api_url)
    env["BUDBRINGER_HOME"] = str(folder / ".budbringer")
    env.pop("BUDBRINGER_DATABASE_URL", None)
    env.pop("BUDBRINGER_PLAN", None)
    # As on a user's machine, Python keeps the compiled modules (.pyc): some sandboxes set
    # PYTHONDONTWRITEBYTECODE=1, and every command would then compile the project's modules again (0.1 s).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def send(folder: Path, env: dict[str, str], verbose: bool = True) -> Run:
    return run([budbringer(), "send", MESSAGE, *APPROVAL, *(["--verbose"] if verbose else [])], folder, env).check()


def new_home(base: Path, repeat: int) -> list[Run]:
    """The README's main job as written, each time in a brand-new Prefect home (no prefect.db yet): the first run
    on a machine. Its database comes from the shipped seed (flows/prefect_seed.py)."""
    runs = []
    for n in range(repeat):
        folder = workspace(base, f"new-home-{n}")
        env = env_for(base, folder)
        env["PREFECT_HOME"] = str(base / f"new-prefect-home-{n}")
        runs.append(send(folder, env, verbose=False))
    return runs


@dataclass
class MainJob:
    first: list[Run]
    again: list[Run]
    delivered: int


def main_job(base: Path, repeat: int) -> MainJob:
    warm = workspace(base, "warm-up")
    send(warm, env_for(base, warm))  # creates and migrates the Prefect home's database once
    first, again = [], []
    delivered = 0
    for n in range(repeat):
        folder = workspace(base, f"main-{n}")
        env = env_for(base, folder)
        first.append(send(folder, env))
        delivered = sum(1 for p in (folder / "outbox").rglob("*") if p.is_file())
        again.append(send(folder, env))
        after = sum(1 for p in (folder / "outbox").rglob("*") if p.is_file())
        if after != delivered:
            raise RuntimeError(f"the re-run wrote {after - delivered} more outbox files")
    return MainJob(first, again, delivered)


def through_serve(base: Path, api_url: str, home: Path, repeat: int) -> tuple[Run, list[Run]]:
    """The README's send as written (no --verbose) with `budbringer serve` running in the same folder on the warm
    server: the command hands the send to serve (budbringer/cli/handover.py). Each send is the example message
    under its own id (serve keeps its ledger open, so a send needs a message it has not delivered). The first
    send after serve's start (serve imports the domain's modules then), and the next `repeat`."""
    folder = workspace(base, "served")
    env = env_for(base, folder, api_url)
    env["PREFECT_HOME"] = str(home)
    log = folder / "serve.log"
    with log.open("w") as output:
        serve = subprocess.Popen([budbringer(), "serve", "--no-web"], cwd=folder, env=env, stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "sends from" in log.read_text(), 180, "budbringer serve's desk", interval=0.2,
                   detail=lambda: log.read_text()[-2000:])
        example = (folder / MESSAGE).read_text(encoding="utf-8")
        runs = []
        for n in range(repeat + 1):
            name = f"messages/served-{n}.md"
            (folder / name).write_text(example.replace("id: 2026-11-status-udbud", f"id: served-{n}", 1),
                                       encoding="utf-8")
            done = run([budbringer(), "send", name, *APPROVAL], folder, env).check()
            if "Sending through budbringer serve" not in done.output:
                raise RuntimeError(f"the send was not handed to serve:\n{done.output[-2000:]}")
            runs.append(done)
        return runs[0], runs[1:]
    finally:
        stop(serve, first=signal.SIGINT)


def interactive(base: Path, repeat: int) -> dict[str, list[Run]]:
    folder = workspace(base, "interactive")
    env = env_for(base, folder)
    # `check` and `preview` judge the message's dates against the clock: the example's approval deadline was
    # 3 December 2026, so they run with the clock at its request day (Debian's faketime; overhead: a few
    # clock_gettime calls), else a passed deadline is (rightly) an error and the bench stops.
    pin = ["faketime", "-f", "@2026-11-24 10:00:00"] if shutil.which("faketime") else []
    commands = {
        "--help": [budbringer(), "--help"],
        "check": [*pin, budbringer(), "check", MESSAGE],
        "preview": [*pin, budbringer(), "preview", MESSAGE],
    }
    return {name: [run(command, folder, env).check() for _ in range(repeat)] for name, command in commands.items()}


def median(values: list[float]) -> float:
    return statistics.median(values)
