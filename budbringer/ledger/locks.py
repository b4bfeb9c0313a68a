"""The right to work on one delivery, held while a process lives: an flock beside a SQLite ledger, a session
advisory lock on PostgreSQL. Released when the process dies, so a crashed run never blocks the next one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import sqlalchemy as sa


class Locks:
    """Holds on deliveries and notices, on the ledger's engine: beside its SQLite file, or in its PostgreSQL."""

    def __init__(self, engine: sa.Engine, home: Callable[[], Path] | None = None) -> None:
        """`home`: where the lock files go when the ledger is no SQLite file (an in-memory one): the settings'
        home folder, asked for only then."""
        self.engine = engine
        self._home = home

    @property
    def home(self) -> Path:
        if self._home is None:
            from budbringer import settings

            return settings.current().home_folder
        return self._home()

    def hold(self, key: str) -> AbstractContextManager[bool]:
        """Hold the right to work on one delivery while this process lives: yields False when another run
        holds it now. Released at the end, or by the operating system / the database when the process dies,
        so a crashed run never blocks the next one (see budbringer.cascade.deliver)."""
        if self.engine.dialect.name == "postgresql":
            return _pg_hold(self.engine, key)
        folder = (Path(self.engine.url.database).resolve().parent if self.engine.dialect.name == "sqlite"
                  and self.engine.url.database not in (None, "", ":memory:")
                  else self.home)
        return _file_hold(folder / "locks", key)


@contextmanager
def _file_hold(folder: Path, key: str) -> Iterator[bool]:
    """An exclusive flock on a file per delivery key: conflicts between processes and between threads."""
    import fcntl
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _pg_hold(engine: sa.Engine, key: str) -> Iterator[bool]:
    """A PostgreSQL session advisory lock on the key's hash, held on a connection of its own."""
    import hashlib

    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:
        held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:n)"), {"n": number}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:n)"), {"n": number})
                conn.commit()
