"""A real HTTPS server on 127.0.0.1 for provider emulators (Graph, LinkedIn, webhooks), with a trustme CA.

An emulator subclasses `Emulator` and implements `handle(request) -> Reply`. Every request is recorded
(method, path, query, headers, body) so tests can assert on what the server received. Faults are queued per
test with `emulator.faults.append(Fault(...))`: the next matching request gets the fault instead of (or after)
normal handling — a status with headers, a delay, or a dropped connection before or after acting.
A `KillSwitch` shared by several emulators SIGKILLs a client process on the k-th request they receive,
before or after acting on it (the crash harness): the production code needs no hooks of its own.

Replies go out in one write with TCP_NODELAY (no Nagle / delayed-ACK stalls of ~40 ms per answer), and the
server polls for shutdown every 20 ms.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme


E = TypeVar("E", bound="Emulator")

@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """Injected on the next request for which `match(request)` is true, `times` times.

    kind: "status" (answer `status` with `headers`/`body`, without acting), "status_after" (act, then answer
    `status` anyway — the provider did it but said otherwise), "delay" (sleep `seconds`, then act normally),
    "drop_before" (close the connection without acting), "drop_after" (act, then close without answering),
    "hang_before" (say nothing for `seconds`, then close without acting: the client times out, nothing done),
    "hang_after" (act, then say nothing for `seconds` and close: the client times out, the thing is done),
    "reset_before" / "reset_after" (a TCP reset — RST, not FIN — without acting / after acting).
    """

    kind: str
    match: Callable[[Request], bool] = lambda request: True
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    times: int = 1


class KillSwitch:
    """SIGKILL the client process `pid` on the `at`-th request (1-based) that any emulator sharing this switch
    receives: before acting on it (nothing done) or after (done, and the client never hears)."""

    def __init__(self, pid: int, at: int, after: bool) -> None:
        self.pid, self.at, self.after = pid, at, after
        self.seen: list[str] = []
        self.fired_on: str | None = None
        self.lock = threading.Lock()

    def trips(self, request: Request) -> bool:
        with self.lock:
            self.seen.append(f"{request.method} {request.path}")
            if len(self.seen) == self.at and self.fired_on is None:
                self.fired_on = self.seen[-1]
                return True
        return False

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Emulator:
    """Base of a provider emulator. Subclasses implement handle()."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.kill_switch: KillSwitch | None = None

    def handle(self, request: Request) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match(request):
                    fault.times -= 1
                    return fault
        return None

    def received(self, method: str | None = None, path_contains: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and path_contains in r.path]


class _Drop(Exception):
    pass


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def setup(self) -> None:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def _reset(self) -> None:
            """Close with SO_LINGER 0: the client sees a TCP reset."""
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
            with emulator.lock:
                emulator.requests.append(request)
            switch = emulator.kill_switch
            if switch is not None and switch.trips(request):
                if switch.after:
                    emulator.handle(request)
                switch.kill()
                self._reset()
                return
            fault = emulator.take_fault(request)
            try:
                if fault and fault.kind in ("reset_before", "reset_after"):
                    if fault.kind == "reset_after":
                        emulator.handle(request)
                    self._reset()
                    return
                if fault and fault.kind in ("hang_before", "hang_after"):
                    if fault.kind == "hang_after":
                        emulator.handle(request)
                    time.sleep(fault.seconds)
                    raise _Drop
                if fault and fault.kind == "drop_before":
                    raise _Drop
                if fault and fault.kind == "status":
                    self._reply(Reply(fault.status, fault.body, fault.headers))
                    return
                if fault and fault.kind == "delay":
                    time.sleep(fault.seconds)
                reply = emulator.handle(request)
                if fault and fault.kind == "drop_after":
                    raise _Drop
                if fault and fault.kind == "status_after":
                    reply = Reply(fault.status, fault.body, fault.headers)
                self._reply(reply)
            except _Drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def _reply(self, reply: Reply) -> None:
            if isinstance(reply.body, (dict, list)):
                payload = json.dumps(reply.body).encode()
                content_type = "application/json"
            elif isinstance(reply.body, str):
                payload, content_type = reply.body.encode(), "text/plain; charset=utf-8"
            else:
                payload, content_type = reply.body or b"", "application/octet-stream"
            self.send_response(reply.status)
            headers = {"Content-Type": content_type, **reply.headers} if payload else dict(reply.headers)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            # The head and the body in one write (end_headers() would write the head alone).
            self._headers_buffer.append(b"\r\n" + payload)
            self.flush_headers()

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


class HTTPSServer:
    """Runs an emulator over TLS on 127.0.0.1 with a certificate from the given trustme CA."""

    def __init__(self, emulator: Emulator, ca: trustme.CA) -> None:
        self.emulator = emulator
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(emulator))
        self.server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HTTPSServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fresh(self, kind: type[E], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> E:
        """This server's emulator, reset, with `env` set for one test: one server serves a whole test module
        (starting and stopping one costs half a second); each test starts from nothing."""
        emulator = self.emulator
        assert isinstance(emulator, kind)
        emulator.reset()  # type: ignore[attr-defined]
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return emulator
