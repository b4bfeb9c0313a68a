"""Where the ledger lives and the engines that reach it, one per URL per process.

An engine is handed out only once its schema is at the newest migration: a new ledger is created there, an
existing one that is behind stops the start with one line that says to run `budbringer db upgrade`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import sqlalchemy as sa

from budbringer.ledger import migrate


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def database_url() -> str:
    if os.environ.get("BUDBRINGER_DATABASE_URL"):
        return os.environ["BUDBRINGER_DATABASE_URL"]
    home = Path(os.environ.get("BUDBRINGER_HOME", ".budbringer"))
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'ledger.db').resolve()}"


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def new_engine(url: str) -> sa.Engine:
    """An engine of its own, schema unchecked (for `budbringer db`, which brings the schema up to date)."""
    if url.startswith("sqlite"):
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
            _engines[url] = engine
        return _engines[url]
