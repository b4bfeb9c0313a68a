"""`budbringer send` handed over to a running `budbringer serve`: the send runs in the process that has Prefect
loaded and its server connection open, and the command only says what the send says.

Why: a command that runs a flow spends most of a short send importing Prefect (2 to 3 s of a 2-core machine,
docs/benchmarks.md), however warm the server is. `serve` imported it once, at its start.

How: `serve` opens its desk, a Unix socket `serve.sock` in the ledger's home folder (the folder is its owner's
only, 0700, and so is the socket), as it starts. `send --approved-by` looks there first. When a desk answers and
takes the send, the command sends it its arguments, working folder and environment (what `main` reads its
settings from: the plan, the home, the channels' secrets; over a socket only its owner can open, never written
anywhere), and `serve` runs the very same `main` with them in a thread of its own, while the command prints what
comes back, line by line, and ends with its exit status. The same checks, the same ledger and the same flow:
exactly once is the ledger's, as for any two sends at once.

The desk takes a send only when it would run as the command would have run it: from the same working folder
(the plan's relative paths and the outbox resolve the same) and on the same Prefect server. Otherwise, and when
no `serve` answers (none running, an old socket after a crash), the command runs the send itself, as before.
`--verbose` (Prefect's own lines on the terminal) and a send that asks for approval (no `--approved-by`: it may
wait for days, bound to its terminal) always run in the command.

If the command is interrupted, the send goes on in `serve` to its end (what it delivers is in the ledger: `status`
shows it); if `serve` stops during the send, the command says so, and a new send delivers the rest, nothing twice.
"""

from __future__ import annotations

import contextvars
import importlib.metadata
import io
import json
import os
import socket
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

    from budbringer.settings import Settings

#: the desk's socket, in the ledger's home folder
SOCKET_NAME = "serve.sock"
#: how long the command waits for a desk to say whether it takes the send (then it runs the send itself)
ANSWER_SECONDS = 5.0
#: the exit status of a command interrupted while `serve` runs its send (128 + SIGINT, as a shell says)
EXIT_INTERRUPTED = 130

#: a command that runs a send for a caller: `main(argv, environ)` as the caller would have run it
Runner = Callable[[Sequence[str], Mapping[str, str]], int]


def socket_path(settings: Settings) -> Path:
    return settings.home_folder / SOCKET_NAME


def prefect_api_url(environ: Mapping[str, str]) -> str | None:
    """The Prefect server a command in this environment would use, read without importing Prefect:
    $PREFECT_API_URL, else the active profile's (`prefect config set PREFECT_API_URL=…`); None for neither."""
    from budbringer import settings

    url = (environ.get("PREFECT_API_URL") or settings.prefect_profile(environ).get("PREFECT_API_URL") or "").strip()
    return url.rstrip("/") or None


# --- the command's side ----------------------------------------------------------------------------------------


def hand_over(args: argparse.Namespace) -> int | None:
    """Hand this `send` to a running `serve` and print what it says: its exit status; None when no desk takes
    it (then the command sends itself).

    In two steps, so that serve never runs a send its command gave up on: the command asks (its arguments, folder,
    Prefect server and install, no environment yet); serve says whether it takes it; only then, and only to a
    serve of the same user, the command sends its environment and the word to go."""
    if not args.approved_by or args.verbose or getattr(args, "handed_over", False):
        return None
    path = socket_path(args.settings)
    try:
        if not path.is_socket() or path.lstat().st_uid != os.geteuid():
            return None  # none, or not this user's: never sent anything
    except OSError:
        return None
    environ = dict(args.settings.environ)
    if sys.stdout.isatty():  # the delivery table's width, as this terminal has it
        environ.setdefault("COLUMNS", str(os.get_terminal_size(sys.stdout.fileno()).columns))
    ask = {"argv": list(args.argv), "cwd": os.getcwd(), "api_url": prefect_api_url(environ), "install": _install(),
           "tty": {"out": sys.stdout.isatty(), "err": sys.stderr.isatty()}}
    desk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        desk.settimeout(ANSWER_SECONDS)
        desk.connect(str(path))
        if _peer_uid(desk) != os.geteuid():
            desk.close()
            return None
        desk.sendall(_line(ask))
        lines = desk.makefile("r", encoding="utf-8")
        answer = json.loads(lines.readline() or "{}")
        if "accepted" not in answer:
            desk.close()
            if answer.get("declined"):
                print(f"budbringer serve is running but does not take this send ({answer['declined']}): sending "
                      "from this command", file=sys.stderr)
            return None
        desk.sendall(_line({"go": True, "environ": environ}))
    except (OSError, ValueError):
        desk.close()
        return None  # no serve behind the socket (an old one), or it did not answer in time: send here
    except KeyboardInterrupt:
        desk.close()  # before the word to go: serve runs nothing
        print("\ninterrupted: nothing was sent", file=sys.stderr)
        return EXIT_INTERRUPTED
    pid = answer["accepted"]
    print(f"Sending through budbringer serve (pid {pid}), which has Prefect loaded.", file=sys.stderr, flush=True)
    desk.settimeout(None)
    try:
        with desk, lines:
            return _relay(lines, pid)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the send goes on in budbringer serve (pid {pid}) to its end; `budbringer status "
              f"{args.message}` shows what it delivered", file=sys.stderr)
        return EXIT_INTERRUPTED


def _relay(lines: io.TextIOWrapper, pid: int) -> int:
    """Print what the desk says until it says how the send ended."""
    streams = {"out": sys.stdout, "err": sys.stderr}
    try:
        for line in lines:
            said = json.loads(line)
            if "exit" in said:
                return int(said["exit"])
            stream = streams[said["to"]]
            stream.write(said["text"])
            stream.flush()
    except (OSError, ValueError, KeyError):
        pass  # cut off mid-line: as if it stopped
    print(f"error: budbringer serve (pid {pid}) stopped during the send; what it delivered is in the ledger "
          "(`budbringer status MESSAGE`): send again to deliver the rest, nothing is sent twice (a delivery it "
          "left uncertain is settled first with `budbringer resolve`, as `send` then says)", file=sys.stderr)
    return 1


def _line(said: Mapping[str, Any]) -> bytes:
    return json.dumps(said).encode("utf-8") + b"\n"


def _peer_uid(connection: socket.socket) -> int:
    """The user of the process at the other end of a Unix socket (Linux's SO_PEERCRED)."""
    _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(uid)


def _install() -> str:
    """Which Budbringer this is (its version and where it is installed): serve runs a send with its own code, so
    only a command of the same install hands one over."""
    import budbringer

    try:
        version = importlib.metadata.version("budbringer")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"{version} {Path(budbringer.__file__).resolve().parent}"


# --- serve's side ----------------------------------------------------------------------------------------------


@dataclass
class _Caller:
    """One command a desk is sending for: where its output goes, and whether its streams are terminals."""

    connection: socket.socket
    tty: dict[str, bool]
    gone: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, **said: Any) -> None:
        """One line to the command; a command that went away (Ctrl-C) is not written to again, and the send
        goes on."""
        with self.lock:
            if self.gone:
                return
            try:
                self.connection.sendall(json.dumps(said).encode("utf-8") + b"\n")
            except OSError:
                self.gone = True


#: the caller whose send this thread (and the threads it starts in its context) runs; None: serve's own output
_caller: contextvars.ContextVar[_Caller | None] = contextvars.ContextVar("budbringer_caller", default=None)


class _Routed(io.TextIOBase):
    """`sys.stdout` or `sys.stderr` in serve's process: what a handed-over send prints goes to its command
    (`_caller`, which the send's delivery threads inherit in their copied context); the rest to serve's own."""

    def __init__(self, name: str, own: TextIO) -> None:
        self.name_ = name
        self.own = own

    def write(self, text: str) -> int:
        caller = _caller.get()
        if caller is None:
            return self.own.write(text)
        caller.say(to=self.name_, text=text)
        return len(text)

    def flush(self) -> None:
        if _caller.get() is None:
            self.own.flush()

    def isatty(self) -> bool:
        caller = _caller.get()
        return self.own.isatty() if caller is None else caller.tty.get(self.name_, False)

    def fileno(self) -> int:
        if _caller.get() is not None:
            raise io.UnsupportedOperation("a handed-over send's output has no file descriptor")
        return self.own.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.own, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True


class Desk:
    """Serve's desk: takes `send` commands on its socket and runs them here, each in a thread, with `run`."""

    def __init__(self, listener: socket.socket, path: Path, api_url: str, run: Runner) -> None:
        self.listener, self.path, self.api_url, self.run = listener, path, api_url, run
        self.folder = os.path.realpath(os.getcwd())
        self.install = _install()
        self._inode = path.stat().st_ino  # ours to remove at the end (not a socket a later serve put there)
        self._sends: set[threading.Thread] = set()
        self._sends_lock = threading.Lock()
        self._own = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _Routed("out", sys.stdout), _Routed("err", sys.stderr)
        self._thread = threading.Thread(target=self._serve, daemon=True, name="budbringer-desk")
        self._thread.start()

    @classmethod
    def open(cls, settings: Settings, api_url: str | None, run: Runner) -> Desk | None:
        """The desk on the home folder's socket; None (said on stderr) when it cannot be opened: no Prefect server
        of its own, another serve has it, or its path is too long for a Unix socket (then sends run in their
        commands)."""
        if not api_url:
            print("note: sends run in their own commands: this serve has no Prefect server of its own "
                  "(set PREFECT_API_URL, see the README)", file=sys.stderr)
            return None
        path = socket_path(settings)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.is_socket():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # a serve that ended without closing it (killed)
            else:
                print(f"note: another budbringer serve takes sends at {path}; this one does not", file=sys.stderr)
                return None
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            path.chmod(0o600)  # its owner's only (and until now inside the owner's 0700 home folder)
            listener.listen(8)
        except OSError as exc:
            listener.close()
            print(f"note: sends run in their own commands: no socket at {path} ({exc.strerror or exc})",
                  file=sys.stderr)
            return None
        return cls(listener, path, api_url.rstrip("/"), run)

    def close(self) -> None:
        """Take no more sends, let the running ones end (a second Ctrl-C cuts them off), then give serve its
        streams back."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.listener.close()
        try:
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass
        with self._sends_lock:
            running = [t for t in self._sends if t.is_alive()]
        if running:
            print(f"waiting for the {len(running)} send(s) handed to this serve to end (Ctrl-C again cuts them "
                  "off: a delivery cut off is then uncertain, for `budbringer resolve`)", file=sys.stderr)
        for thread in running:
            thread.join()
        sys.stdout, sys.stderr = self._own

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._take, args=(connection,), daemon=True,
                                      name="budbringer-desk-send")
            with self._sends_lock:
                self._sends = {t for t in self._sends if t.is_alive()} | {thread}
            thread.start()

    def _take(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.settimeout(ANSWER_SECONDS)
                lines = connection.makefile("r", encoding="utf-8")
                request = json.loads(lines.readline() or "{}")
                caller = _Caller(connection, {k: bool(v) for k, v in dict(request.get("tty") or {}).items()})
                why = self._declines(request, _peer_uid(connection))
                if why:
                    caller.say(declined=why)
                    return
                caller.say(accepted=os.getpid())
                go = json.loads(lines.readline() or "{}")  # the command may have given up meanwhile: then nothing
                if go.get("go") is not True or not isinstance(go.get("environ"), dict):
                    return
                connection.settimeout(None)
            except (OSError, ValueError, AttributeError):
                return
            _caller.set(caller)  # this thread's own context: a new thread starts with an empty one
            try:
                code = self.run(list(request["argv"]), {str(k): str(v) for k, v in go["environ"].items()})
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # noqa: BLE001 - serve goes on; the command is told in one line
                _caller.set(None)
                traceback.print_exc()
                _caller.set(caller)
                print(f"error: budbringer serve failed on this send ({type(exc).__name__}; its log has the "
                      "traceback); what was delivered is in the ledger: send again", file=sys.stderr)
                code = 1
            caller.say(exit=code)

    def _declines(self, request: Mapping[str, Any], uid: int) -> str:
        """Why this desk does not take the send ('' when it does)."""
        argv = request.get("argv")
        if uid != os.geteuid():
            return "another user's command"
        if not isinstance(argv, list) or "send" not in argv:
            return "not a send"
        if request.get("install") != self.install:
            return f"it runs Budbringer {self.install}, the command another install or version"
        if os.path.realpath(str(request.get("cwd"))) != self.folder:
            return f"it runs in {self.folder}, the command in another folder"
        if request.get("api_url") != self.api_url:
            return f"it uses the Prefect server {self.api_url}, the command another"
        return ""
