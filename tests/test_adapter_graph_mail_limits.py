"""The graph_mail adapter and Exchange's per-mailbox limits: 30 messages a minute, four requests at a time per
mailbox shared by every delivery of a run, and nothing shared between two runs. Against the local Graph and
sign-in emulator of tests/test_adapter_graph_mail.py.
"""

from __future__ import annotations

import threading
import time

from budbringer.adapters.graph_mail import GraphMailAdapter, MailboxLimiter
from tests.servers.graph import M365, SENDER
from tests.test_adapter_graph_mail import adapter, delivery, one_run


# Exchange's per-mailbox limits ---------------------------------------------------------------------------------

def test_limiter_holds_30_messages_a_minute() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = MailboxLimiter(30, 4, clock=lambda: now[0], sleep=sleep)
    started = []
    for _ in range(65):
        with limiter.message():
            started.append(now[0])
        now[0] += 0.5
    assert slept and all(s > 0 for s in slept)
    for index, moment in enumerate(started):
        in_window = [t for t in started[:index + 1] if t > moment - 60.0]
        assert len(in_window) <= 30
    assert started[30] >= 60.0 and started[60] >= 120.0


def test_four_requests_at_a_time_per_mailbox_shared_by_every_delivery(tenant: M365) -> None:
    tenant.graph.send_delay = 0.15
    first, second = adapter("mail", concurrent_requests=2), adapter("network_mail", concurrent_requests=2)
    one_run(first, second)
    assert first.limiter is second.limiter and first.graph.tokens is second.graph.tokens
    errors: list[BaseException] = []

    def send(channel: GraphMailAdapter, number: int) -> None:
        try:
            channel.deliver(delivery(message=f"m{number}"))
        except BaseException as exc:  # pragma: no cover - shown below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(first if n % 2 else second, n)) for n in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tenant.graph.max_in_flight[SENDER] == 2
    assert len(tenant.login.token_requests()) == 1  # one sign-in, though eight deliveries started at once
    assert len(tenant.graph.sent(SENDER)) == 8
    assert time.monotonic() - started >= 4 * 0.15


def test_two_runs_share_no_sign_in_and_no_limiter(tenant: M365) -> None:
    first, second = adapter("mail"), adapter("mail")  # the same channel, built by two runs
    assert first.limiter is not second.limiter and first.graph.tokens is not second.graph.tokens
    first.deliver(delivery(message="m1"))
    first.deliver(delivery(message="m2"))
    second.deliver(delivery(message="m3"))
    assert len(tenant.login.token_requests()) == 2 and len(tenant.graph.sent(SENDER)) == 3
