"""A slot request the Prefect server answers 503 is sent again after a short pause, not after Prefect's 2 s.

On SQLite the server answers 503 when a slot request's transaction read the limit and another writer came first
(SQLITE_BUSY_SNAPSHOT); the transaction was rolled back. Prefect's client then waits 2 s (4 s, …) before it tries
again, which cost the M365 cascade about 2 s per tier of mails (docs/benchmarks.md). `flows.limits._post` sends
the request once through the client's own session and tries a 503 again at once.

The server here is a real HTTP server on 127.0.0.1 that answers the three slot endpoints the way Prefect's does
(scripted: first some 503s, then the answer); the client is Prefect's own `SyncPrefectClient` pointed at it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from budbringer.flows import limits

LEASE = "7a1c1d0e-4c57-4d36-9a39-2f5d3e1f0c11"
LIMIT = {"id": "5f0c1d0e-4c57-4d36-9a39-2f5d3e1f0c22", "name": "budbringer-graph-mailbox-abc", "limit": 4}


class SlotServer(ThreadingHTTPServer):
    """Answers each POST with the next scripted status (then 200 with the endpoint's body); records the paths."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[int] = []
        self.seen: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"


class _Handler(BaseHTTPRequestHandler):
    server: SlotServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        with self.server.lock:
            self.server.seen.append((self.path, body))
            status = self.server.script.pop(0) if self.server.script else 200
        if status == 0:  # drop the connection without an answer (a kept-alive connection the server closed)
            self.close_connection = True
            return
        if status == 200 and self.path.endswith("/increment-with-lease"):
            payload: object = {"lease_id": LEASE, "limits": [LIMIT]}
        elif status == 200 and self.path.endswith("/increment"):
            payload = [LIMIT]
        elif status == 200:
            status, payload = 204, None
        elif status == 503:
            payload = {"exception_message": "Service Unavailable"}
        else:
            payload = {"detail": "Locked"}
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if status == 423:
            self.send_header("Retry-After", "0.05")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the client asks for a CSRF token first, as of a real server
        data = json.dumps({"detail": "CSRF protection is disabled."}).encode()
        self.send_response(422)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slots() -> Iterator[SlotServer]:
    server = SlotServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(slots: SlotServer) -> Iterator[object]:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(slots.url) as prefect_client:  # no server version check: the stand-in has none
        yield prefect_client


def _no_client_retry(caplog: pytest.LogCaptureFixture) -> None:
    """Prefect's client says at DEBUG when it waits to retry a request itself; it must not have."""
    assert not [r for r in caplog.records if "retryable status code" in r.getMessage()]


def test_a_busy_slot_request_is_sent_again_at_once(slots: SlotServer, client: object,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="prefect.client")
    slots.script = [503, 503, 503]
    response = limits._post(client, "/v2/concurrency_limits/increment-with-lease",
                            {"names": [LIMIT["name"]], "slots": 1, "mode": "concurrency", "lease_duration": 60})
    assert response.json()["lease_id"] == LEASE
    assert [path for path, _ in slots.seen] == ["/api/v2/concurrency_limits/increment-with-lease"] * 4
    assert slots.seen[-1][1] == {"names": [LIMIT["name"]], "slots": 1, "mode": "concurrency", "lease_duration": 60}
    _no_client_retry(caplog)


def test_a_locked_limit_is_the_callers_to_wait_for(slots: SlotServer, client: object) -> None:
    slots.script = [423]
    with pytest.raises(httpx.HTTPStatusError) as raised:
        limits._post(client, "/v2/concurrency_limits/increment", {"names": ["x"], "slots": 1, "mode": "rate_limit"})
    assert raised.value.response.status_code == 423 and raised.value.response.headers["Retry-After"] == "0.05"
    assert len(slots.seen) == 1  # not tried again here: `_take` and `_take_rate` wait as the server says


def test_busy_past_the_short_tries_goes_to_the_clients_own_retries(slots: SlotServer, client: object,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="prefect.client")
    monkeypatch.setattr(limits, "BUSY_SECONDS", 0.0)  # no short tries at all: straight to the client's loop
    slots.script = [503]
    limits._post(client, "/v2/concurrency_limits/decrement-with-lease", {"lease_id": LEASE})
    assert [body for _, body in slots.seen] == [{"lease_id": LEASE}] * 2  # the 503, then the client's retry
    assert [r for r in caplog.records if "retryable status code 503" in r.getMessage()]


def test_the_rate_place_is_taken_after_waiting_as_the_server_says(slots: SlotServer, client: object,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    monkeypatch.setattr("prefect.get_client", lambda sync_client=True: SyncPrefectClient(slots.url))
    emitted: list[tuple[list, int]] = []
    monkeypatch.setattr("prefect.concurrency._events.emit_concurrency_acquisition_events",
                        lambda granted, occupy: emitted.append((granted, occupy)))
    slots.script = [503, 423, 503]
    limits._take_rate(LIMIT["name"], 2)
    assert [body for _, body in slots.seen] == [{"names": [LIMIT["name"]], "slots": 2, "mode": "rate_limit"}] * 4
    assert [(str(g[0].name), n) for g, n in emitted] == [(LIMIT["name"], 2)]


def test_a_dropped_connection_goes_to_the_clients_own_retries(slots: SlotServer, client: object) -> None:
    slots.script = [0]  # the first request's connection is closed with no answer
    response = limits._post(client, "/v2/concurrency_limits/increment-with-lease",
                            {"names": [LIMIT["name"]], "slots": 1, "mode": "concurrency", "lease_duration": 60})
    assert response.json()["lease_id"] == LEASE
    assert len(slots.seen) == 2  # dropped, then sent again by Prefect's client (which retries such errors)
