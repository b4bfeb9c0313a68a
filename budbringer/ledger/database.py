"""Where the ledger lives and the engines that reach it, one per URL per process.

An engine is handed out only once its schema is at the newest migration: a new ledger is created there, an
existing one that is behind stops the start with one line that says to run `budbringer db upgrade`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import overload

import sqlalchemy as sa

from budbringer.ledger import migrate

from budbringer.clock import default_clock


def now() -> dt.datetime:
    return default_clock()


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...


@overload
def _aware(value: dt.datetime | None) -> dt.datetime | None: ...


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def database_url() -> str:
    """The ledger's URL by the settings of this entry point (`budbringer.settings`): $BUDBRINGER_DATABASE_URL,
    else SQLite in the home folder. A caller with a runtime uses `runtime.settings.ledger_url()`."""
    from budbringer import settings

    return settings.current().ledger_url()


def ledger_home(plan_file: Path | None = None) -> Path:
    """Where the SQLite ledger lives unless BUDBRINGER_DATABASE_URL says otherwise (`Settings.home_for`: the
    one default, beside the plan)."""
    from budbringer import settings

    current = settings.current(plan_file)
    return current.home_for(plan_file) if plan_file is not None else current.home_folder


_engines: dict[str, sa.Engine] = {}
#: how many open ledgers hold each engine of `_engines`: the last `Ledger.close` disposes it (its connections,
#: and for SQLite the file, its -wal and -shm descriptors)
_holders: dict[str, int] = {}
_engines_lock = threading.Lock()


def owner_only(path: Path) -> None:
    """Make a ledger's folder (0700) or file (0600) readable by its owner only; one owned by someone else is
    left as it is (its owner decides)."""
    info = path.stat()
    if info.st_uid != os.geteuid():
        return
    wanted = 0o700 if path.is_dir() else 0o600
    if info.st_mode & 0o777 != wanted:
        path.chmod(wanted)


def _private_sqlite_file(url: str) -> None:
    """The SQLite ledger's file created 0600 before SQLite opens it (its -wal and -shm files take the same
    mode from it), and an existing ledger's files made so: the ledger holds who approved what, and receipts."""
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite says so, with the path, when it opens it
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            owner_only(file)


def new_engine(url: str) -> sa.Engine:
    """An engine of its own, schema unchecked (for `budbringer db`, which brings the schema up to date). A URL
    that cannot be used (no such driver installed, a port that is no number) is one LedgerError line."""
    try:
        return _new_engine(url)
    except (ImportError, ValueError, sa.exc.ArgumentError) as exc:
        from budbringer.ledger.backup import unusable_url

        raise unusable_url(url, exc) from None


def _new_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        try:
            _private_sqlite_file(url)
        except OSError:
            pass  # a read-only folder or a file of another user: SQLite's own error names it when it opens
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


def _engine(url: str) -> sa.Engine:
    with _engines_lock:
        if url not in _engines:
            engine = new_engine(url)
            try:
                migrate.ensure(engine)
            except BaseException:
                engine.dispose()
                raise
            _engines[url], _holders[url] = engine, 0  # (a count left by an engine popped by hand starts over)
        _holders[url] = _holders.get(url, 0) + 1
        return _engines[url]


def release(url: str, engine: sa.Engine) -> None:
    """One holder of `engine` lets it go; the last one disposes it. An engine already taken out of `_engines`
    (a test's fixture, a migration) is disposed by whoever took it."""
    with _engines_lock:
        if _engines.get(url) is not engine:
            return
        _holders[url] = _holders.get(url, 1) - 1
        if _holders[url] > 0:
            return
        del _engines[url], _holders[url]
    engine.dispose()


def checkpoint_all() -> None:
    """At the end of every command: fold each SQLite ledger's write-ahead log (`ledger.db-wal`) into `ledger.db`
    and empty it (PRAGMA wal_checkpoint(TRUNCATE)), so that a copy of `ledger.db` alone holds everything. A
    ledger busy in another process keeps its log (that process checkpoints it when it ends)."""
    with _engines_lock:
        engines = [engine for url, engine in _engines.items() if url.startswith("sqlite")]
    for engine in engines:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except sa.exc.DBAPIError:
            pass  # locked by another process: it checkpoints when it ends; nothing is lost either way
