"""`budbringer send` handed over to a running `budbringer serve` (budbringer/cli/handover.py).

First the desk and the command over a real Unix socket in this process, with a plain runner in place of `main`:
what is printed comes back to the right command, and the exit status; what the desk declines, and why; an old
socket after a crash; a serve that stops during the send. Then the real thing: `budbringer serve` and
`budbringer send` as the commands an operator runs, on the session's Prefect server, with a December draft.
"""

from __future__ import annotations

import argparse
import contextvars
import io
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from budbringer.cli import handover
from budbringer.cli.handover import Desk, hand_over
from budbringer.settings import Settings
from tests.conftest import PINNED_CLOCK
from tests.servers.prefect_server import BIN, make_checkout, prefect_env, stop
from tests.servers.waiting import wait_until

API = "http://127.0.0.1:4999/api"
DRAFT = Path(__file__).parent / "drafts" / "2026-12-evaluering.md"


def _settings(home: Path, **environ: str) -> Settings:
    return Settings.read(None, {"BUDBRINGER_HOME": str(home), "PREFECT_API_URL": API, **environ})


def _args(settings: Settings, *argv: str) -> argparse.Namespace:
    argv = argv or ("send", "messages/x.md", "--approved-by", "Mette Lund", "--approval-ref", "Referat")
    return argparse.Namespace(argv=list(argv), settings=settings, approved_by="Mette" if "--approved-by" in argv else None,
                              verbose="--verbose" in argv, handed_over=False, message=argv[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    # a short path: a Unix socket's path has room for 107 bytes
    folder = Path(f"/tmp/bb-desk-{os.getpid()}-{tmp_path.name[-12:]}")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class Streams:
    """This process's stdout and stderr as strings, set in the test's body (pytest puts its own capture back
    between a fixture's setup and the test), so that a desk opened after wraps them as serve's own."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", self.out)
        monkeypatch.setattr(sys, "stderr", self.err)


def _printing_runner(calls: list) -> handover.Runner:
    """A runner that prints to both streams, from its thread and from a thread it starts in a copy of its
    context (as a lane's deliveries do), and returns 3."""

    def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
        calls.append((list(argv), dict(environ)))
        print("1. oc: 1 delivered", file=sys.stderr)
        worker = threading.Thread(target=contextvars.copy_context().run,
                                  args=(print, "from a delivery thread"), kwargs={"file": sys.stderr})
        worker.start()
        worker.join()
        print(f"table on a terminal: {sys.stdout.isatty()}")
        return 3

    return run


@contextmanager
def _desk(home: Path, run: handover.Runner) -> Iterator[Desk]:
    opened = Desk.open(_settings(home), API, run)
    assert opened is not None
    try:
        yield opened
    finally:
        opened.close()


def test_a_send_goes_through_the_desk_and_its_output_comes_back(home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    streams, calls = Streams(monkeypatch), []
    with _desk(home, _printing_runner(calls)) as opened:
        code = hand_over(_args(_settings(home, BUDBRINGER_APPROVER="Mette Lund")))
        out, err = streams.out.getvalue(), streams.err.getvalue()
        print("serve's own line")
        assert streams.out.getvalue().endswith("serve's own line\n")  # serve's own output: serve's streams
        mode = stat.S_IMODE(opened.path.stat().st_mode)
    assert code == 3
    assert calls[0][0][:2] == ["send", "messages/x.md"]
    assert calls[0][1]["BUDBRINGER_APPROVER"] == "Mette Lund"  # the command's environment, not serve's
    # what the send printed came back over the socket, after the command's own first line
    assert err.index(f"Sending through budbringer serve (pid {os.getpid()})") < err.index("1. oc: 1 delivered")
    assert "from a delivery thread" in err
    assert "table on a terminal: False" in out  # the command's stdout is not a terminal here
    assert mode == 0o600, oct(mode)  # the socket: its owner's only


@pytest.mark.parametrize(("change", "said"), [
    ({"PREFECT_API_URL": "http://127.0.0.1:4998/api"}, "uses the Prefect server http://127.0.0.1:4999/api"),
    ({"cwd": True}, "the command in another folder"),
])
def test_the_desk_declines_a_send_it_would_not_run_as_the_command(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict, said: str) -> None:
    streams, calls = Streams(monkeypatch), []
    with _desk(home, _printing_runner(calls)):
        if change.pop("cwd", False):
            monkeypatch.chdir(tmp_path)
        assert hand_over(_args(_settings(home, **change))) is None
    assert said in streams.err.getvalue()
    assert calls == []


def test_a_send_that_asks_for_approval_or_is_verbose_is_never_handed_over(home: Path) -> None:
    calls: list = []
    with _desk(home, _printing_runner(calls)):
        assert hand_over(_args(_settings(home), "send", "messages/x.md")) is None
        assert hand_over(_args(_settings(home), "send", "messages/x.md", "--approved-by", "M", "--verbose")) is None
    assert calls == []


def test_an_old_socket_after_a_crash_is_not_a_desk(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(home)
    home.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(home / handover.SOCKET_NAME))  # bound, never listening, never removed: a killed serve's
    dead.close()
    assert hand_over(_args(settings)) is None  # the command sends itself
    opened = Desk.open(settings, API, lambda argv, environ: 0)  # a new serve takes the place over
    assert opened is not None
    try:
        assert Desk.open(settings, API, lambda argv, environ: 0) is None  # but not from a live one
        assert "another budbringer serve takes sends" in capsys.readouterr().err
        assert hand_over(_args(settings)) == 0
    finally:
        opened.close()
    assert not (home / handover.SOCKET_NAME).exists()


def test_a_serve_that_stops_during_the_send_is_said(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / handover.SOCKET_NAME))
    listener.listen(1)

    def accept_then_die() -> None:
        connection, _ = listener.accept()
        lines = connection.makefile("r")
        lines.readline()  # the question
        connection.sendall(b'{"accepted": 4242}\n')
        assert '"go": true' in lines.readline()  # the word to go, with the environment
        connection.sendall(b'{"to": "err", "text": "1. oc: 1 delivered\\n"}\n{"to": "err", "te')  # cut off
        connection.close()

    threading.Thread(target=accept_then_die, daemon=True).start()
    try:
        assert hand_over(_args(_settings(home))) == 1
    finally:
        listener.close()
    err = capsys.readouterr().err
    assert "1. oc: 1 delivered" in err
    assert "budbringer serve (pid 4242) stopped during the send" in err and "nothing is sent twice" in err


def test_two_sends_at_once_each_get_their_own_output(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two commands' sends run in serve at the same time, each printing from its thread and its delivery threads:
    each command gets its own lines and its own exit status, and serve's streams none of them."""
    streams = Streams(monkeypatch)
    both = threading.Barrier(2)

    def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
        mark = environ["BUDBRINGER_APPROVER"]
        both.wait(timeout=10)  # the two sends are in serve at once
        for n in range(20):
            print(f"{mark} line {n}")
            delivery = threading.Thread(target=contextvars.copy_context().run, args=(print, f"{mark} delivery {n}"),
                                        kwargs={"file": sys.stderr})
            delivery.start()
            delivery.join()
        return 4 if mark == "A" else 5

    results: dict[str, tuple[int | None, str, str]] = {}
    # each command a process of its own, as commands are (their stdout and stderr are their own)
    client = ("import sys; from tests.test_handover import _args, _settings; from budbringer.cli.handover import "
              "hand_over; from pathlib import Path; "
              "sys.exit(hand_over(_args(_settings(Path(sys.argv[1]), BUDBRINGER_APPROVER=sys.argv[2]))))")

    def command(mark: str) -> None:
        done = subprocess.run([sys.executable, "-c", client, str(home), mark], capture_output=True, text=True,
                              timeout=60, cwd=os.getcwd())
        results[mark] = (done.returncode, done.stdout, done.stderr)

    with _desk(home, run):
        commands = [threading.Thread(target=command, args=(mark,)) for mark in "AB"]
        for thread in commands:
            thread.start()
        for thread in commands:
            thread.join(timeout=30)
    for mark, other, code in (("A", "B", 4), ("B", "A", 5)):
        got, out, err = results[mark]
        assert got == code, (out, err)
        assert out.count(f"{mark} line") == 20 and f"{other} " not in out
        assert err.count(f"{mark} delivery") == 20 and f"{other} delivery" not in err
    assert "line" not in streams.out.getvalue() and "delivery" not in streams.err.getvalue()


def test_serve_runs_nothing_for_a_command_that_gave_up_before_the_word_to_go(home: Path) -> None:
    """The command asked, was accepted, then went away (Ctrl-C, or its wait ran out) before saying go."""
    calls: list = []
    with _desk(home, _printing_runner(calls)) as opened:
        gave_up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        gave_up.connect(str(opened.path))
        ask = {"argv": ["send", "m.md"], "cwd": os.getcwd(), "api_url": API, "install": handover._install()}
        gave_up.sendall(json.dumps(ask).encode() + b"\n")
        assert "accepted" in gave_up.makefile("r").readline()
        gave_up.close()
    assert calls == []  # close() waited for the desk's thread for it, which ran nothing


def test_serve_stopping_lets_a_running_send_end(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C on serve: the desk takes no more sends, and the one running ends before serve does."""
    Streams(monkeypatch)
    started, codes = threading.Event(), []

    def slow(argv: Sequence[str], environ: Mapping[str, str]) -> int:
        started.set()
        time.sleep(1.0)
        print("4. external: 5 delivered", file=sys.stderr)
        return 0

    opened = Desk.open(_settings(home), API, slow)
    assert opened is not None
    command = threading.Thread(target=lambda: codes.append(hand_over(_args(_settings(home)))))
    command.start()
    assert started.wait(10)
    opened.close()  # returns only once the send has ended
    command.join(timeout=10)
    assert codes == [0]
    assert not opened.path.exists()
    assert hand_over(_args(_settings(home))) is None  # no desk any more: the next command sends itself


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the socket to another user needs root")
def test_a_socket_of_another_user_is_never_asked(home: Path) -> None:
    """A `serve.sock` that another user put in a shared home folder gets nothing: not the question, not the
    environment."""
    home.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / handover.SOCKET_NAME))
    listener.listen(1)
    listener.settimeout(0.5)
    os.chown(home / handover.SOCKET_NAME, 65534, 65534)
    try:
        assert hand_over(_args(_settings(home))) is None
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_no_serve_no_desk(home: Path) -> None:
    assert hand_over(_args(_settings(home))) is None
    assert Desk.open(_settings(home), None, lambda argv, environ: 0) is None  # serve on a temporary server


# --- the commands themselves -----------------------------------------------------------------------------------


def _copy_as(draft: Path, to: Path, message_id: str) -> None:
    text = draft.read_text(encoding="utf-8")
    to.write_text(text.replace(f"id: {draft.stem}", f"id: {message_id}", 1), encoding="utf-8")


@pytest.mark.slow
def test_send_runs_in_the_running_serve(prefect_api: None, tmp_path: Path) -> None:
    """`budbringer serve` in a checkout, on the session's Prefect server; `budbringer send --approved-by` from the
    same folder runs there (its pid), delivers the December draft once, and a second send answers from the
    ledger; a send from another folder is declined and runs in its own command, delivering nothing twice."""
    from prefect.settings import PREFECT_API_URL

    checkout = make_checkout(Path(f"/tmp/bb-serve-{os.getpid()}"))
    try:
        # the drafts under ids of their own: other tests send them on the same session's Prefect server, whose
        # artifacts are keyed by the message's id
        _copy_as(DRAFT, checkout / "messages" / DRAFT.name, "2026-12-evaluering-serve")
        env = prefect_env(tmp_path / "prefect-home", str(PREFECT_API_URL.value()),
                          PYTHONPATH=str(PINNED_CLOCK), BUDBRINGER_TEST_CLOCK="2026-12-08T10:00:00+01:00",
                          BUDBRINGER_TEST_CLOCK_SCOPE="budbringer")
        serve = subprocess.Popen([str(BIN / "budbringer"), "serve", "--no-web"], cwd=checkout, env=env,
                                 stdout=open(tmp_path / "serve.out", "w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            wait_until(lambda: "sends from" in (tmp_path / "serve.out").read_text(), 120, "serve's desk",
                       interval=0.2, detail=lambda: (tmp_path / "serve.out").read_text()[-2000:])
            send = [str(BIN / "budbringer"), "send", f"messages/{DRAFT.name}", "--approved-by", "Mette Lund",
                    "--approval-ref", "Styregruppemøde 2026-12-04"]
            first = subprocess.run(send, cwd=checkout, env=env, capture_output=True, text=True, timeout=180)
            assert first.returncode == 0, first.stdout + first.stderr
            assert f"Sending through budbringer serve (pid {serve.pid})" in first.stderr
            assert "1. oc" in first.stderr  # the tier lines, as from the command itself
            assert "12 delivered now, 0 delivered before." in first.stdout
            delivered = sorted(p.name for p in (checkout / "outbox" / "2026-12-evaluering-serve").rglob("*.*"))
            assert len(delivered) == 12, delivered

            again = subprocess.run(send, cwd=checkout, env=env, capture_output=True, text=True, timeout=180)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "Sending through budbringer serve" in again.stderr
            assert "all 12 deliveries of 2026-12-evaluering-serve were delivered before" in again.stdout

            # two handed-over sends of another draft at once, in serve's threads: each delivery once
            other = DRAFT.with_name("2026-12-demodage.md")
            _copy_as(other, checkout / "messages" / other.name, "2026-12-demodage-serve")
            both = [subprocess.Popen([*send[:2], f"messages/{other.name}", *send[3:]], cwd=checkout, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
            said = [p.communicate(timeout=180) for p in both]
            assert [p.returncode for p in both] == [0, 0], said
            assert all("Sending through budbringer serve" in err for _, err in said)
            assert all("tier" in out and "receipt" in out for out, _ in said)  # each its own delivery table
            now = [int(m.group(1)) for out, _ in said for m in re.finditer(r"(\d+) delivered now", out)]
            files = list((checkout / "outbox" / "2026-12-demodage-serve").rglob("*.*"))
            assert sum(now) == len(files) > 0, (now, said)  # every delivery of this draft, once

            elsewhere = subprocess.run([*send[:2], "--plan", str(checkout / "config" / "plan.yaml"),
                                        str(checkout / "messages" / DRAFT.name), *send[3:]],
                                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
            assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
            assert "does not take this send" in elsewhere.stderr and "another folder" in elsewhere.stderr
            assert "were delivered before" in elsewhere.stdout  # the same ledger (beside the plan): nothing twice
            assert serve.poll() is None, (tmp_path / "serve.out").read_text()[-3000:]
        finally:
            stop(serve, first=2)  # Ctrl-C, as an operator stops it
        assert not (checkout / ".budbringer" / handover.SOCKET_NAME).exists()
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
