"""Helpers for a flow run on the session's Prefect API (conftest.py's `prefect_api`, Prefect's test harness):
act on a run once it waits for approval, from a background thread, as an approver would."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from uuid import UUID

from budbringer.ledger import Ledger
from tests.servers.waiting import wait_until

MESSAGE_ID = "2026-11-status-udbud"


def paused_run(message_id: str = MESSAGE_ID) -> str | None:
    """The id of the message's approval run if it is Paused now (its id is in the ledger), else None."""
    from prefect import get_client

    request = Ledger().request(message_id)
    if request is None or not request.flow_run_id:
        return None
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(request.flow_run_id)).state
    return request.flow_run_id if state is not None and state.is_paused() else None


def when_paused(action: Callable[[str], None], timeout: float = 90, message_id: str = MESSAGE_ID
                ) -> threading.Thread:
    """In the background: wait until the run waits for approval (Paused, with its id in the ledger), then act.
    What went wrong in the thread is in its `failures` (the test asserts it is empty)."""
    failures: list[BaseException] = []

    def watch() -> None:
        try:
            action(wait_until(lambda: paused_run(message_id), timeout, "the run to pause for approval",
                              interval=0.2))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    # Prefect's test settings (the harness's API URL) live in a context variable: hand them to the thread.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(watch,), daemon=True)
    thread.failures = failures  # type: ignore[attr-defined]
    thread.start()
    return thread


def paused_again(run_id: str, after: str, timeout: float = 60) -> None:
    """Wait until the run pauses in a round after the pause keyed `after` (it refused or counted the last answer)."""
    from prefect import get_client

    def paused_in_a_later_round() -> bool:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(run_id)).state
        return state is not None and state.is_paused() and state.state_details.pause_key != after

    wait_until(paused_in_a_later_round, timeout, f"the run to wait again after {after}", interval=0.2)
