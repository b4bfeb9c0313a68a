"""Run one command as a child process and measure it: wall time (time.perf_counter), CPU time of the child and
everything it waited for (resource.getrusage(RUSAGE_CHILDREN), before and after), and peak RSS from GNU
`/usr/bin/time -v` when present (the largest single process of the tree, e.g. the temporary Prefect server)."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


@dataclass
class Run:
    command: list[str]
    wall: float
    cpu: float
    peak_rss_mb: float | None
    returncode: int
    output: str

    def check(self) -> Run:
        if self.returncode != 0:
            kept = Path(tempfile.mkstemp(prefix="bench-failed-", suffix=".log")[1])
            kept.write_text(self.output, encoding="utf-8")
            raise RuntimeError(f"{' '.join(self.command)} exited {self.returncode} (its whole output: {kept}):\n"
                               f"{self.output[-3000:]}")
        return self


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> Run:
    with tempfile.NamedTemporaryFile(prefix="bench-time-", suffix=".txt", delete=False) as handle:
        report = Path(handle.name)
    wrapped = [GNU_TIME, "-v", "-o", str(report), *command] if GNU_TIME else command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(wrapped, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = None
    if GNU_TIME:
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read_text(errors="replace"))
        peak = int(found.group(1)) / 1024 if found else None
    report.unlink(missing_ok=True)
    return Run(command, wall, cpu, peak, done.returncode, done.stdout + done.stderr)


def budbringer() -> str:
    """The `budbringer` script of the venv this bench runs in."""
    import sys

    found = Path(sys.executable).parent / "budbringer"
    return str(found) if found.exists() else (shutil.which("budbringer") or "budbringer")


def group_peak_rss_mb(group: int) -> float | None:
    """The largest peak RSS (`VmHWM`, over each process's life so far) among the live processes of a process
    group, e.g. a `prefect server start` started in a session of its own; None when none is found."""
    peak = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the name: state, ppid, pgrp, …
            if int(fields[2]) != group:
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
    return peak / 1024 if peak else None


#: the tables of Prefect's server database a send adds rows to (UPDATEs, e.g. a task run's current state, and
#: the slot leases, are not rows and not counted)
SERVER_TABLES = ("task_run", "task_run_state", "log", "events", "event_resources", "artifact", "flow_run_state")


def server_rows(database: Path | str) -> dict[str, int]:
    """How many rows each of `SERVER_TABLES` holds in a Prefect server's database: its SQLite file (read-only), or
    a PostgreSQL URL (`postgresql+asyncpg://…`, as the server's setting)."""
    import sqlite3

    if isinstance(database, str):
        import psycopg

        with psycopg.connect(database.replace("+asyncpg", "", 1)) as pg:
            return {table: pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                    for table in SERVER_TABLES}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in SERVER_TABLES}
