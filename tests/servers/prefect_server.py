"""A real Prefect server and worker in subprocesses, for the operations tests (and nothing else), with a
checkout to deploy from and a wait for a flow run to end.

Each gets its own PREFECT_HOME, telemetry off, and is stopped by its PID: SIGTERM (SIGINT for the worker,
which turns SIGTERM into SIGINT anyway and may linger: Prefect #22528), a wait, then SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.servers.ports import free_port
from tests.servers.waiting import wait_until

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def prefect_env(home: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "budbringer",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env.update(extra)
    return env


def stop(process: subprocess.Popen, first: int = signal.SIGTERM, wait: float = 15.0) -> None:
    """Stop one process we started, by its PID: a signal, a wait, then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, first)
    except ProcessLookupError:
        return
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)


class PrefectServer:
    """`prefect server start` on 127.0.0.1 and a free port; SQLite in its home unless `database_url`."""

    def __init__(self, home: Path, database_url: str | None = None, timeout: float = 120.0) -> None:
        self.home = home
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.database_url = database_url
        self.timeout = timeout
        self.log = home / "server.log"
        self.process: subprocess.Popen | None = None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a client of this server (the CLI, a worker, a flow run)."""
        return prefect_env(self.home, self.api_url, **extra)

    def __enter__(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        extra = {"PREFECT_API_DATABASE_CONNECTION_URL": self.database_url} if self.database_url else {}
        env = prefect_env(self.home, **extra)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port),
                 "--no-ui"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process = self.process

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"prefect server exited ({process.returncode}):\n{self.tail()}")
            try:
                return requests.get(f"{self.api_url}/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_until(healthy, self.timeout, f"prefect server at {self.api_url} to answer", interval=0.5,
                       detail=self.tail)
        except AssertionError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def prefect(self, *args: str, cwd: Path | None = None, timeout: float = 180, **extra: str
                ) -> subprocess.CompletedProcess:
        """Run the `prefect` CLI against this server; raise with its output when it fails."""
        done = subprocess.run([str(BIN / "prefect"), *args], cwd=cwd, env=self.env(**extra),
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def get(self, path: str) -> object:
        response = requests.get(f"{self.api_url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict) -> object:
        response = requests.post(f"{self.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()


class Worker:
    """`prefect worker start --pool NAME` in the background; stopped by PID (SIGINT, wait, SIGKILL)."""

    def __init__(self, server: PrefectServer, pool: str, cwd: Path, log: Path, **extra: str) -> None:
        self.server, self.pool, self.cwd, self.log, self.extra = server, pool, cwd, log, extra
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Worker:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", self.pool, "--type", "process"],
                cwd=self.cwd, env=self.server.env(**self.extra), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGINT, wait=10)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def make_checkout(folder: Path) -> Path:
    """What an operator has on the worker machine: the repository's flows, plan, templates and messages."""
    folder.mkdir()
    for name in ("flows", "config", "templates", "messages"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "prefect.yaml", folder / "prefect.yaml")
    return folder


def wait_for_run(server: PrefectServer, run_id: str, worker: Worker, timeout: float = 300) -> dict:
    def finished() -> dict | None:
        run = server.get(f"/flow_runs/{run_id}")
        assert isinstance(run, dict)
        if run["state_type"] in TERMINAL:
            return run
        if worker.process is not None and worker.process.poll() is not None:
            pytest.fail(f"the worker exited ({worker.process.returncode}):\n{worker.tail()}")
        return None

    return wait_until(finished, timeout, f"flow run {run_id} to finish", interval=1, detail=worker.tail)
