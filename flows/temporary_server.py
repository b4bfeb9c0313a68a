"""The temporary Prefect server of one `budbringer send` without a server (no `PREFECT_API_URL`: the ephemeral
default), started by Budbringer as the command's first step instead of by Prefect at the flow's first call.

Prefect starts its temporary server when the flow first needs the API: after the command has imported and
rendered everything (about 3 s), and only after importing the whole server package into the command's own
process to find the class that starts it (about 2 s), then it waits for the server's process to import the same
package again and answer (about 3.5 s). All in a row: about half of the README main job (docs/benchmarks.md).

Here the server's process is started from a thread at once, beside the command's own imports, rendering and
ledger checks, so that its start overlaps them; the command never imports the server package. It is the same
server Prefect would start (`uvicorn prefect.server.api.server:create_app`, the same ephemeral switches, the same
`$PREFECT_HOME` database), used the same way: for this command only, and stopped when it ends. A command that
needs no server (everything delivered: answered from the ledger) stops it unused.

For the rest of Budbringer it is still the ephemeral mode (`is_temporary`): no run waits for a decision made
elsewhere, and `flows.limits` frees slots a killed command left in `$PREFECT_HOME`'s database.
"""

from __future__ import annotations

import collections
import contextvars
import fcntl
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from budbringer.errors import BudbringerError
from budbringer.flows import prefect_seed
from budbringer.settings import prefect_environment, prefect_profile  # Prefect reads its own settings (PREFECT_*) from it

#: the API URLs of temporary servers this process started (and has not stopped)
_temporary: set[str] = set()

#: what Prefect's own temporary server is told (prefect.server.api.server.SubprocessASGIServer)
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
#: uvicorn's exit status when the port is taken (then another port is tried)
PORT_TAKEN = 3
#: where the server's own output goes while it starts and once the command stops it (in its PREFECT_HOME)
SERVER_LOG = "budbringer-temporary-server.log"
#: held (flock) while a command creates a new PREFECT_HOME's database: two first sends must not both migrate it
FIRST_START_LOCK = ".budbringer-first-start.lock"
#: the first bytes of every SQLite database file
SQLITE_HEADER = b"SQLite format 3\x00"


def is_temporary(api_url: str | None) -> bool:
    """True for the API of a temporary server this process started: ephemeral mode for the rest of Budbringer."""
    return bool(api_url) and str(api_url).rstrip("/") in _temporary


class TemporaryServer:
    """Starts, from a thread, the temporary server when the settings name no Prefect API; `api()` waits for it
    to answer and returns its URL (None: a server is configured, nothing was started); `stop()` ends it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.error: BaseException | None = None
        self._spawned = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self._started = False
        self._stopping = threading.Event()  # from here on the server's output goes to its log file
        self._ready = threading.Event()  # it answered: from here on its output shows on stderr
        self._tail: collections.deque[str] = collections.deque(maxlen=400)  # its output while it starts
        self._first_start: int | None = None  # the lock's file descriptor while this creates PREFECT_HOME's db
        self._env: dict[str, str] | None = None
        # the caller's context: Prefect's settings (a test's temporary settings too) live in context variables
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._spawn,), daemon=True,
                                        name="budbringer-temporary-server")

    @classmethod
    def begin(cls, now: bool = True) -> TemporaryServer:
        """The server of one command; started at once, or (`now=False`) only when `start()` is called."""
        server = cls()
        if now:
            server.start()
        return server

    def start(self) -> None:
        """Start it (from its thread), unless it was started already. Safe to call twice."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._thread.start()

    def _spawn(self) -> None:
        try:
            if prefect_environment().get("PREFECT_API_URL"):
                return  # a server is named: nothing to start (and Prefect's settings not imported here for it)
            guess = _no_server_named()
            if guess:  # the usual case: start at once, before Prefect's settings are even imported (~0.5 s)
                self._start_process({**prefect_environment(), **SERVER_ENV})
            from prefect.settings import get_current_settings

            settings = get_current_settings()
            if settings.api.url or not settings.server.ephemeral.enabled:
                self._end_process()  # a configured server (or none allowed) after all: Prefect's own rules apply
                return
            if not guess:
                self._start_process({**prefect_environment(), **settings.to_environment_variables(exclude_unset=True),
                                     **SERVER_ENV})
        except BaseException as exc:  # noqa: BLE001 - said by api(), in the command's thread
            self.error = exc
        finally:
            self._spawned.set()

    def _start_process(self, env: dict[str, str] | None = None) -> None:
        self._env = env if env is not None else self._env
        database = _database(self._env or {})
        if database is not None:
            _refuse_damaged(database)
            if not database.exists():
                self._lock_first_start(database.parent)
                if prefect_seed.seed(database):  # instead of Prefect's migrations from nothing (flows/prefect_seed.py)
                    self._note(f"{database} created from Budbringer's empty Prefect database "
                               f"({prefect_seed.SEEDS.name}), not by Prefect's migrations\n")
        with self._lock:
            if self._stopped:
                return
            self.port = _free_port()
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, Prefect's own server
                [sys.executable, "-m", "uvicorn", "--app-dir", _prefect_parent(), "--factory",
                 "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "error", "--lifespan", "on"], env=self._env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            threading.Thread(target=self._relay, args=(self.process,), daemon=True,
                             name="budbringer-temporary-server-output").start()

    def _relay(self, process: subprocess.Popen[bytes]) -> None:
        """The server's own output: on the command's stderr while the command needs the server (an error at its
        start, or during the run, shows where the operator looks); once the command stops it, into
        `$PREFECT_HOME/budbringer-temporary-server.log` instead. Stopping it mid-flush makes Prefect's services
        log tracebacks about events they will not record: not the operator's to read at the end of a send."""
        assert process.stdout is not None
        for line in process.stdout:
            if self._ready.is_set() and not self._stopping.is_set():
                sys.stderr.write(line.decode("utf-8", "replace"))
                continue
            if not self._ready.is_set():  # while it starts: kept, and said in one line if the start fails
                self._tail.append(line.decode("utf-8", "replace"))
            try:
                home = self.home
                home.mkdir(parents=True, exist_ok=True)
                with open(home / SERVER_LOG, "ab") as log:
                    log.write(line)
            except OSError:
                pass

    def _note(self, text: str) -> None:
        """A line of Budbringer's own in the server's log file."""
        try:
            with open(self.home / SERVER_LOG, "a", encoding="utf-8") as log:
                log.write(text)
        except OSError:
            pass

    @property
    def home(self) -> Path:
        return Path((self._env or {}).get("PREFECT_HOME") or prefect_environment().get("PREFECT_HOME")
                    or "~/.prefect").expanduser()

    def _lock_first_start(self, home: Path) -> None:
        """A new PREFECT_HOME: wait for any other command creating its database, then hold the lock until this
        server answers (its database then exists and is migrated)."""
        if self._first_start is not None:
            return
        try:
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(home / FIRST_START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return  # a home we cannot write to: the server's own start says so
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._first_start = fd

    def _unlock_first_start(self) -> None:
        fd, self._first_start = self._first_start, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _end_process(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        self._unlock_first_start()
        if process is None:
            return
        _temporary.discard(self.url)
        self._stopping.set()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def api(self, timeout: float) -> str | None:
        """Wait until the server answers `/health` (or `timeout` seconds pass) and return its API URL; None when
        none was started because the settings name a server."""
        import httpx

        self.start()
        self._spawned.wait()
        if self.error is not None:
            raise self.error
        if self.process is None:
            return None
        print(f"Starting a temporary Prefect server on {self.url} for this command (a running one, "
              "`prefect server start`, is faster and keeps the runs in its UI: see the README)", file=sys.stderr)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self._failed_start(self.process.returncode)
                    self._start_process()  # another command took the port a moment ago
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        _temporary.add(self.url)
                        self._ready.set()
                        self._unlock_first_start()
                        return self.url
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise BudbringerError(f"the temporary Prefect server did not answer within {timeout:.0f} s "
                              "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS): nothing was sent; the machine may "
                              "be busy: try again, or start a server (`prefect server start`) and set PREFECT_API_URL")

    def _failed_start(self, status: int) -> None:
        """The server ended at its start: return when only its port was taken (another is tried), else raise one
        line that says why (a damaged database: what to do) and where its whole output is."""
        time.sleep(0.2)  # its last lines
        output = "".join(self._tail)
        if status == PORT_TAKEN and "address already in use" in output.lower():
            self._tail.clear()
            return
        self._unlock_first_start()
        database = _database(self._env or {})
        if database is not None and any(sign in output for sign in _DAMAGED):
            raise BudbringerError(_damaged_text(database))
        last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "no output")
        raise BudbringerError(f"the temporary Prefect server ended at its start (exit status {status}: "
                              f"{last[:200]}): nothing was sent; its whole output is in {self.home / SERVER_LOG}")

    @contextmanager
    def settings(self, url: str | None) -> Iterator[None]:
        """Prefect's settings pointed at the temporary server while the flow runs (nothing changed for None)."""
        if url is None:
            yield
            return
        from prefect.settings import (PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_UI_URL,
                                      temporary_settings)

        # No UI link in the run's log: the server (and its UI) ends with this command. No heartbeats: they let a
        # long-lived server mark a run whose process died as crashed, and this server dies with the process; the
        # heartbeat thread sleeps in 1 s steps and the flow's end waits for it (0-1 s per send, docs/benchmarks.md).
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_UI_URL: "",
                                         PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            try:
                yield
            finally:
                _drain()

    def stop(self) -> None:
        """End the server this started (by its process id): SIGTERM, 5 s, then SIGKILL. Safe to call twice."""
        with self._lock:
            self._stopped = True
            started = self._started
        if started:
            self._thread.join(timeout=30)  # not left importing while the interpreter shuts down
        self._end_process()


def _drain() -> None:
    """Send the run's last logs and events to the server while it still runs (Prefect would at exit, after the
    server was stopped)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=5)
        except Exception:  # noqa: BLE001,S110 - logs and events are a courtesy; the run's outcome is in the ledger
            pass


def _no_server_named() -> bool:
    """Read without importing Prefect: True when neither the environment, the active profile nor a settings file
    in this folder names a Prefect API or changes the ephemeral switch (then the server can start at once);
    False when one might (then Prefect's settings decide first)."""
    if any(name in prefect_environment() for name in ("PREFECT_API_URL", "PREFECT_SERVER_EPHEMERAL_ENABLED",
                                           "PREFECT_PROFILES_PATH")):
        return False
    if Path("prefect.toml").exists() or Path(".env").exists():
        return False
    try:
        if Path("pyproject.toml").exists() and "tool.prefect" in Path("pyproject.toml").read_text(encoding="utf-8"):
            return False
        named = prefect_profile(prefect_environment())
        if any(key.startswith(("PREFECT_API_", "PREFECT_SERVER_EPHEMERAL")) for key in named):
            return False
    except (OSError, ValueError):
        return False
    return True


def _prefect_parent() -> str:
    """The folder that holds the `prefect` package (uvicorn's --app-dir), found without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise BudbringerError("Prefect is not installed in this environment: reinstall Budbringer")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: what SQLite says of a file that is not (or no longer) a database
_DAMAGED = ("file is not a database", "database disk image is malformed")


def _database(env: dict[str, str]) -> Path | None:
    """The temporary server's SQLite database: $PREFECT_HOME/prefect.db unless the settings name another
    database (then None: not ours to look at)."""
    if env.get("PREFECT_API_DATABASE_CONNECTION_URL") or env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        return None
    home = env.get("PREFECT_HOME") or prefect_environment().get("PREFECT_HOME") or "~/.prefect"
    return Path(home).expanduser() / "prefect.db"


def _refuse_damaged(database: Path) -> None:
    """A prefect.db that is not an SQLite file is said at once, in one line, instead of a server that fails."""
    try:
        with open(database, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError:
        return  # none yet (it is created), or unreadable (the server's start says so)
    if head and head != SQLITE_HEADER:
        raise BudbringerError(_damaged_text(database))


def _damaged_text(database: Path) -> str:
    return (f"the Prefect database {database} is damaged (not a readable SQLite database): nothing was sent; "
            f"move it aside (mv {database} {database}.damaged) and send again: a new one is created (Prefect's "
            "run history in it is lost; Budbringer's ledger is not affected)")
