"""The holdings' records of the provider limits (flows/limits.py): who holds a slot on this machine, written down
and locked while it lives, and the freeing of the slots no live holder accounts for (ephemeral mode).

A record is a small JSON file (limit names, slots, pid, since) in `$PREFECT_HOME/budbringer-limits/`, held
under an exclusive `flock` by its holder until it has released its slots: the operating system drops the lock
when the process dies, so a record whose lock can be taken belongs to a holder that is gone. A reconciler takes
`.reconcile.lock` exclusively, each try to take a slot takes it shared (grant and record together), so a
reconciler never sees a slot granted and its record not yet written (docs/exactly-once.md, "Limits after a
crash").
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("budbringer.limits")


def records_dir() -> Path:
    """Where the holdings of `$PREFECT_HOME`'s limits are written down: beside the database that counts them."""
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home) / "budbringer-limits"


@contextmanager
def record(names: list[str], slots: int) -> Iterator[Path]:
    """A record of this holding, locked while this process holds it (the lock dies with the process).

    Written under a temporary name, locked, then renamed: a reader never sees a record that is not yet locked
    (it would take it for a gone holder's)."""
    folder = records_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    temporary, path = folder / f".{name}.tmp", folder / f"{name}.json"
    handle = open(temporary, "w", encoding="utf-8")  # noqa: SIM115 - held open (and locked) while we hold
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        json.dump({"names": names, "slots": slots, "pid": os.getpid(),
                   "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}, handle)
        handle.flush()
        os.replace(temporary, path)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # after the slot was released: a reader may only under-count
    finally:
        handle.close()


def live_records(folder: Path) -> list[dict[str, Any]]:
    """The records of live holders; a record whose lock can be taken belongs to a gone holder and is removed."""
    live: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            handle: IO[str] = open(path, encoding="utf-8")  # noqa: SIM115
        except FileNotFoundError:  # released meanwhile
            continue
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    live.append(json.loads(handle.read()))
                except ValueError:
                    pass
                continue
            path.unlink(missing_ok=True)  # its holder is gone (the limit's slots are counted, not these)
    for path in folder.glob(".*.tmp"):  # a holder killed while writing its record (a fresh one is being written)
        try:
            if time.time() - path.stat().st_mtime > 60:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
    return live


@contextmanager
def reconcile_lock(folder: Path, mode: int) -> Iterator[None]:
    """Exclusive for a reconciler, shared for a try to take a slot: a reconciler never sees a slot granted and
    its record not yet written, and two reconcilers never free the same orphan twice."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".reconcile.lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), mode)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def free_orphans(names: list[str]) -> dict[str, int]:
    """Ephemeral mode: free the slots of `names` that no live holder accounts for, and say so (one line per
    limit). Returns the slots freed per limit."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    folder = records_dir()
    freed: dict[str, int] = {}
    with reconcile_lock(folder, fcntl.LOCK_EX), get_client(sync_client=True) as client:
        active: dict[str, int] = {}
        for name in names:  # the counts first, then the records: a new holder is in both or only the records
            try:
                limit = client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                continue
            if limit.active:  # a switched-off limit is not enforced (and its slots are not decremented)
                active[name] = limit.active_slots
        live = live_records(folder)
        for name, count in active.items():
            held = sum(int(record.get("slots", 1)) for record in live if name in record.get("names", ()))
            orphans = count - held
            if orphans > 0:
                client.release_concurrency_slots([name], orphans, None)
                freed[name] = orphans
                run_logger().warning("%s: freed %d slot%s held by a run that is gone (killed before it released "
                                  "them); %d held by live runs", name, orphans, "s" if orphans != 1 else "", held)
    return freed



def run_logger() -> Any:
    """The flow or task run's logger (the run's log in the UI), else this module's."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return log
