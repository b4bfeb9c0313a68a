"""Provider limits across runs and workers, which cannot outlive the run that holds them.

A lane (one channel's deliveries of a release, one `deliver` task: flows/executor.py) takes the limits its
channel declares (`Adapter.limits`: per Graph mailbox, per LinkedIn organisation) as Prefect global concurrency
limits: `<name>` for concurrent deliveries, plus `<name>-rate` with slot decay when the limit has a per-minute
rate. Both are created or set to the plan's values here (once per process and value) and then taken strictly, so
a missing limit is never skipped. They are taken once per lane, not per delivery (`holding`): as many slots of
`<name>` as the lane runs deliveries side by side, under one lease, and the rate places in batches of at most a
burst as its deliveries start (`Held.pace`); a notice or a single delivery is a lane of one (`hold`). So the
server's slot requests grow with the tiers and channels of a send, not with its fora.

A slot must not outlive its holder (docs/exactly-once.md, "Limits after a crash"):

- **Every slot is taken under a short lease** (`LEASE_SECONDS`, Prefect's shortest), renewed by a thread of
  this process while it lives. A long-running server's repossessor frees the slots of a holder that is gone
  once its lease runs out.
- **Every holding is written down, locked** (flows/limit_records.py). In the same step as the server grants a
  slot, a lane writes a record (limit names, slots, pid) into `$PREFECT_HOME/budbringer-limits/` and holds an
  exclusive `flock` on it until it has released the slot: the same kind of hold the ledger keeps on a delivery,
  which the operating system drops when the process dies. A record whose lock can be taken belongs to a run that
  is gone.
- **In the ephemeral default** (no `PREFECT_API_URL`) the leases live in the temporary server of the command
  that took them, and a temporary server runs no repossessor: a killed command's slots stay taken in
  `$PREFECT_HOME`'s database for ever. So before it first takes a limit, and again while it waits for one, a
  run frees what no live holder accounts for: active slots minus the slots of the live records. Every run of
  that database is on this machine (it is a file in `$PREFECT_HOME`), so the records see every holder.
  Counting (rather than releasing the records of dead holders) also frees slots left by a version that kept
  no records, or by a run killed between the grant and its record. It cannot free a live slot or one slot
  twice: a reconciler takes a lock exclusively, each try to take a slot takes it shared (grant and record
  together), and a holder removes its record only after it released the slot.
- **Against a server**, holders may be on other machines, whose records this one cannot see: the lease
  bounds how long a gone holder's slots stay taken (`LEASE_SECONDS` plus the repossessor's 15-second loop).

A run that must wait for a limit says so in one line: who holds it (live runs on this machine, by pid), and
whether slots of a gone run were freed or will be freed by the lease. Waiting more than 30 minutes is a
transient failure: nothing was sent, the task tries again.
"""

from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from budbringer.delivery import Delivery
from budbringer.errors import TransientDeliveryError
from budbringer.flows import limit_records
from budbringer.flows.limit_records import free_orphans, records_dir, run_logger
from budbringer.ledger import Ledger, State

#: Prefect's shortest lease; the holding process renews it every 45 s while it lives
LEASE_SECONDS = 60
#: how often a server frees expired leases (`PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS`)
REPOSSESSOR_SECONDS = 15
#: the longest a delivery waits for its limits before it fails as transient (nothing sent)
WAIT_SECONDS = 1800
#: how long a delivery waits before it says who holds the limit, then how often it looks again
FIRST_LOOK_SECONDS = 3.0
LOOK_SECONDS = 30.0
#: the longest pause between two tries to take a limit (the server's Retry-After may say less)
POLL_SECONDS = 5.0
#: the pause (from, to; seconds, drawn at random) before a slot request the server answered 503 is tried again.
#: On SQLite the server answers 503 when a request's transaction read the limit and another run's write came
#: first (SQLITE_BUSY_SNAPSHOT); it was rolled back, nothing was taken. Prefect's client would wait 2 s, then 4 s
#: (docs/benchmarks.md: that was the M365 cascade's overhead), for a conflict that lasts milliseconds.
BUSY_PAUSE = (0.01, 0.1)
#: how long slot requests answered 503 are tried again this way before the client's own backoff takes over
BUSY_SECONDS = 10.0

log = logging.getLogger("budbringer.limits")

#: the shared limits this process has created or set (name, (size, decay)): set once, then only taken
_limits_set: set[tuple[str, tuple[int, float]]] = set()
#: the limits this process has reconciled at start (ephemeral mode)
_reconciled: set[str] = set()
_reconciled_lock = threading.Lock()
#: when this process last said who holds a limit (by its names): one line per limit while deliveries wait
_announced: dict[tuple[str, ...], float] = {}
_announced_lock = threading.Lock()


def hold(adapter: Any, delivery: Delivery, ledger: Ledger | None = None) -> ExitStack:
    """Take the provider limits one delivery (or notice) consumes, across every run and worker; the returned
    context releases them: a lane of one (`holding`), its rate places taken at once."""
    stack = ExitStack()
    held = stack.enter_context(holding(adapter, [delivery], ledger, 1, delivery.forum))
    try:
        held.pace(delivery)
    except BaseException:
        stack.close()
        raise
    return stack


class Held:
    """What a lane holds while it delivers: `slots` deliveries may be in flight at once (each concurrency
    limit's slots, taken under one lease), and `pace(delivery)`, which a delivery calls just before its provider
    request: it takes the delivery's rate places from the lane's budget, topping the budget up from the server
    when it runs out (at most a burst at once, never more than the lane's deliveries still need)."""

    def __init__(self, adapter: Any, todo: list[Delivery], slots: int) -> None:
        self.slots = slots
        self._adapter = adapter
        self._todo = {d.key for d in todo}
        self._lock = threading.Lock()
        self._budget: dict[str, int] = {}
        self._left: dict[str, int] = {}  # rate places the lane's deliveries not yet paced still need
        for delivery in todo:
            for limit in adapter.limits(delivery):
                if limit.rate():
                    self._left[limit.rate_name] = self._left.get(limit.rate_name, 0) + limit.weight

    def pace(self, delivery: Delivery) -> None:
        if delivery.key not in self._todo:  # delivered before the lane took its limits: no provider request
            return
        with self._lock:  # one top-up at a time; the lane's other deliveries wait for the places they need too
            self._todo.discard(delivery.key)
            for limit in self._adapter.limits(delivery):
                if not (rate := limit.rate()):
                    continue
                name, burst = limit.rate_name, rate[0]
                while self._budget.get(name, 0) < limit.weight:
                    have = self._budget.get(name, 0)
                    more = min(burst, max(self._left.get(name, 0) - have, limit.weight - have))
                    try:
                        _take_rate(name, more)
                    except TimeoutError:
                        raise TransientDeliveryError(
                            self._adapter.name, delivery.forum, f"waited 30 minutes for the provider's rate "
                            f"limit ({name}) held by other runs; nothing was sent",
                            "the task tries again; see `prefect gcl ls` for who holds it") from None
                    self._budget[name] = have + more
                self._budget[name] -= limit.weight
                self._left[name] = self._left.get(name, 0) - limit.weight


@contextmanager
def holding(adapter: Any, deliveries: Sequence[Delivery], ledger: Ledger | None, slots: int,
            label: str) -> Iterator[Held]:
    """Take the provider limits a lane of one channel's `deliveries` consumes, once for the lane: `slots` of
    each concurrency limit (at most the smallest limit's size) under one lease, renewed while this process
    lives; rate places as its deliveries start (`Held.pace`). Slots left by a run that is gone are freed first
    (ephemeral mode) or said to be waiting for their lease (server). Deliveries the ledger has as delivered make
    no provider request: they take nothing. `label` names the lane in what is said while it waits."""
    todo = [d for d in deliveries if adapter.limits(d) and not _delivered(ledger, d)]
    limits = {limit.name: limit for delivery in todo for limit in adapter.limits(delivery)}
    if not limits:
        yield Held(adapter, [], max(1, slots))
        return
    slots = max(1, min(slots, len(todo), *(limit.concurrency for limit in limits.values())))
    wanted = {limit.name: (limit.concurrency, 0.0) for limit in limits.values()}
    wanted |= {limit.rate_name: rate for limit in limits.values() if (rate := limit.rate())}
    _set_limits(wanted)
    names = list(limits)
    if ephemeral():
        with _reconciled_lock:  # the other lanes of the tier wait for the first look, not for the slots
            first = [name for name in names if name not in _reconciled]
            if first:
                free_orphans(first)
            _reconciled.update(first)
    with ExitStack() as stack:
        try:
            stack.enter_context(_holding(names, label, slots))
        except TimeoutError:
            raise TransientDeliveryError(adapter.name, label, "waited 30 minutes for the provider's limits "
                                         f"({', '.join(wanted)}) held by other runs; nothing was sent",
                                         "the task tries again; see `prefect gcl ls` for who holds them") from None
        run_logger().debug("%s: holding %d of %s", label, slots, ", ".join(wanted))
        yield Held(adapter, todo, slots)


def _delivered(ledger: Ledger | None, delivery: Delivery) -> bool:
    record = ledger.record(delivery.key) if ledger is not None else None
    return record is not None and record.state == State.DELIVERED


def ephemeral() -> bool:
    """No `PREFECT_API_URL` (or the temporary server `budbringer send` started for itself): each command runs
    its own temporary server on `$PREFECT_HOME`'s database."""
    from prefect.settings import get_current_settings

    from budbringer.flows.temporary_server import is_temporary

    url = get_current_settings().api.url
    return not url or is_temporary(url)


def _set_limits(wanted: dict[str, tuple[int, float]]) -> None:
    from prefect import get_client
    from prefect.exceptions import ObjectAlreadyExists

    missing = {name: value for name, value in wanted.items() if (name, value) not in _limits_set}
    if not missing:  # once per process and value, not once per delivery
        return
    with get_client(sync_client=True) as client:
        for name, (size, decay) in missing.items():
            try:
                client.upsert_global_concurrency_limit_by_name(name, size, slot_decay_per_second=decay)
            except ObjectAlreadyExists:  # another run created it a moment ago: set its values
                client.upsert_global_concurrency_limit_by_name(name, size, slot_decay_per_second=decay)
            _limits_set.add((name, (size, decay)))


@contextmanager
def _holding(names: list[str], label: str, slots: int) -> Iterator[None]:
    """Take `slots` slots of each limit under a short lease, renewed while this process lives, and write the holding
    down (locked); on leaving, release the slot, then remove the record.

    Prefect's `concurrency()` does the same, but this process must write its record in the same step as the
    server grants the slot, or a reconciler could see the slot without its holder (and free it early) or a
    waiting delivery as a holder (and free nothing). So each try takes the reconcile lock shared, and the
    reconciler takes it exclusively. While it waits, a watcher says who holds the limit."""
    from prefect import get_client

    started = time.monotonic()
    record = ExitStack()
    with _watching(names, label), get_client(sync_client=True) as client:
        lease_id = _take(client, names, started, record, slots)
    waited = time.monotonic() - started
    if waited > FIRST_LOOK_SECONDS:
        run_logger().info("%s: got %s after %.0f s", label, ", ".join(names), waited)
    try:
        with _renewing(lease_id):
            yield
    finally:
        try:
            with get_client(sync_client=True) as client:
                _post(client, "/v2/concurrency_limits/decrement-with-lease", {"lease_id": str(lease_id)})
        except Exception as exc:  # noqa: BLE001 - the lease runs out by itself; the record is then an orphan's
            run_logger().warning("%s: could not release %s (%s): freed when its lease runs out", label,
                              ", ".join(names), exc)
        record.close()


def _take(client: Any, names: list[str], started: float, record: ExitStack, slots: int = 1) -> Any:
    """Try until the server grants `slots` slots of each limit (or 30 minutes pass): returns the lease's id, with the
    holding's record entered into `record`."""
    import httpx
    from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse

    folder = records_dir()
    while True:
        with limit_records.reconcile_lock(folder, fcntl.LOCK_SH):
            try:
                response = _post(client, "/v2/concurrency_limits/increment-with-lease", {
                    "names": names, "slots": slots, "mode": "concurrency", "lease_duration": LEASE_SECONDS})
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:
                    raise
                retry_after = float(exc.response.headers.get("Retry-After") or 1.0)
            else:
                granted = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
                if len(granted.limits) != len(names):  # strict: a limit that does not exist is never skipped
                    client.release_concurrency_slots_with_lease(granted.lease_id)
                    raise RuntimeError(f"the shared limits {names} do not all exist on the Prefect server")
                record.enter_context(limit_records.record(names, slots))
                return granted.lease_id
        if time.monotonic() - started >= WAIT_SECONDS:
            raise TimeoutError(f"waited {WAIT_SECONDS} s for {names}")
        time.sleep(min(max(retry_after, 0.5), POLL_SECONDS))


def _take_rate(name: str, slots: int) -> None:
    """Take `slots` places in a rate limit (slot decay), waiting as the server says (423 with Retry-After) for
    up to 30 minutes; strict: a limit that does not exist is never skipped. Prefect's `rate_limit()` does the
    same, but with the client's 2-second backoff on every 503 (`_post`)."""
    import httpx
    from prefect import get_client
    from prefect.client.schemas.responses import MinimalConcurrencyLimitResponse
    from prefect.concurrency._events import emit_concurrency_acquisition_events

    started = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            try:
                response = _post(client, "/v2/concurrency_limits/increment",
                                 {"names": [name], "slots": slots, "mode": "rate_limit"})
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:
                    raise
                retry_after = float(exc.response.headers.get("Retry-After") or 1.0)
            else:
                granted = [MinimalConcurrencyLimitResponse.model_validate(limit) for limit in response.json()]
                if not granted:
                    raise RuntimeError(f"the shared limit {name} does not exist on the Prefect server")
                emit_concurrency_acquisition_events(granted, slots)  # as `rate_limit()` does, for the UI
                return
            if time.monotonic() - started >= WAIT_SECONDS:
                raise TimeoutError(f"waited {WAIT_SECONDS} s for {name}")
            time.sleep(min(max(retry_after, 0.05), POLL_SECONDS))


def _post(client: Any, path: str, body: dict[str, Any]) -> Any:
    """POST a slot request (`/v2/concurrency_limits/…`) and return the response, raising for an error status.

    While the server answers 503 (its SQLite was busy and the request's transaction was rolled back: nothing was
    taken or released) the request is sent again after a short pause, for up to `BUSY_SECONDS`. Prefect's client
    would wait 2 s, then 4 s, … (its retry loop sleeps even with `PREFECT_CLIENT_MAX_RETRIES=0`), so the request
    goes out once through the client's own httpx session (`SyncPrefectClient._client`: its base URL, headers and
    auth, without the retry loop). Anything else — a dropped connection or a timeout, a CSRF token asked for, busy
    past `BUSY_SECONDS` — goes through the client's full `request()`, retries and all, as before. (A request the
    server took before the connection dropped may then take a second slot, as with Prefect's own retries: its
    lease is never renewed, so it is freed when the lease runs out, or at the next start in ephemeral mode.)"""
    import httpx

    session = getattr(client, "_client", None)
    deadline = time.monotonic() + BUSY_SECONDS
    while isinstance(session, httpx.Client) and time.monotonic() < deadline:
        try:
            response = httpx.Client.send(session, session.build_request("POST", path, json=body))
        except httpx.TransportError:  # e.g. a kept-alive connection the server closed: the client's retries
            break
        if response.status_code == 503:
            time.sleep(random.uniform(*BUSY_PAUSE))
            continue
        if response.status_code == 403:  # a CSRF token is wanted: the client's request() fetches it
            break
        response.raise_for_status()
        return response
    return client.request("POST", path, json=body)


@contextmanager
def _renewing(lease_id: Any) -> Iterator[None]:
    """Renew the lease while this process lives (every 3/4 of it); a failed renewal is said, never raised: it
    must not interrupt a request that may already be out."""
    from prefect import get_client

    done = threading.Event()

    def renew() -> None:
        with get_client(sync_client=True) as client:
            while not done.wait(LEASE_SECONDS * 0.75):
                try:
                    client.renew_concurrency_lease(lease_id, LEASE_SECONDS)
                except Exception as exc:  # noqa: BLE001 - tried again at the next beat
                    log.warning("could not renew the lease %s of a provider limit: %s", lease_id, exc)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(renew,), daemon=True,
                              name=f"limits-lease-{lease_id}")
    thread.start()
    try:
        yield
    finally:
        done.set()


@contextmanager
def _watching(names: list[str], forum: str) -> Iterator[None]:
    """While a delivery waits for its limits: after a few seconds say in one line who holds them; then keep
    looking (in ephemeral mode freeing what a run that died meanwhile left), quietly unless it frees some."""
    done = threading.Event()

    def watch() -> None:
        announce = True
        while not done.wait(FIRST_LOOK_SECONDS if announce else LOOK_SECONDS):
            try:
                _say_who_holds(names, forum, announce=announce)
            except Exception as exc:  # noqa: BLE001 - looking is a courtesy; the wait goes on regardless
                log.debug("could not look at %s: %s", names, exc)
            announce = False

    context = contextvars.copy_context()  # Prefect's settings and run context live in context variables
    thread = threading.Thread(target=context.run, args=(watch,), daemon=True, name=f"limits-watch-{forum}")
    thread.start()
    try:
        yield
    finally:
        done.set()


def _say_who_holds(names: list[str], forum: str, announce: bool) -> None:
    """One line on who holds the limit a delivery waits for (once per limit and process while it waits, not
    once per waiting delivery); in ephemeral mode first free what a gone run left (which says so itself)."""
    from prefect import get_client

    if ephemeral() and free_orphans(names):
        return
    key, now = tuple(sorted(names)), time.monotonic()
    with _announced_lock:
        if not announce or now - _announced.get(key, -LOOK_SECONDS) < LOOK_SECONDS:
            return
        _announced[key] = now
    live = limit_records.live_records(records_dir())
    pids = {record.get("pid") for record in live if set(names) & set(record.get("names", ()))}
    holders = (["this run"] if os.getpid() in pids else []) + [f"pid {pid}" for pid in sorted(pids - {os.getpid()})]
    with get_client(sync_client=True) as client:
        counts = []
        for name in names:
            limit = client.read_global_concurrency_limit_by_name(name)
            counts.append(f"{name} {limit.active_slots} of {limit.limit}")
    here = f"live holders on this machine: {', '.join(holders)}" if holders else "no live holder on this machine"
    if ephemeral():
        gone = "a gone run's slots are freed as it looks again every 30 s"
    else:
        gone = (f"a gone run's slots are freed by the server when its lease runs out (within "
                f"{LEASE_SECONDS + REPOSSESSOR_SECONDS} s)")
    run_logger().warning("%s waits for %s (%s; %s); waiting up to %d minutes", forum, "; ".join(counts), here, gone,
                      WAIT_SECONDS // 60)
