"""The ledger's schema version, kept by Alembic (the migrations ship in the package: `migrations/`).

- A new ledger (no tables at all) is created at the newest revision (head) on first use, with no step for
  the operator: from `schema.py`, with head recorded in Alembic's version table (the migrations build the
  same tables; tests/test_migrations.py holds them equal), without importing Alembic.
- A ledger made before Alembic (by `create_all`: our tables, no version) is recognised: the baseline
  revision creates only what is missing, as `create_all` did, and records the version.
- A ledger behind head stops the start with one line: run `budbringer db upgrade`. A ledger at a revision
  this Budbringer does not know (a newer one upgraded it) stops too.

Migrations run under a lock (an flock beside a SQLite file, an advisory lock on PostgreSQL), so that workers
starting at the same moment do not migrate twice.
"""

from __future__ import annotations

import fcntl
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from budbringer.errors import BudbringerError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported where it is used: importing it costs a noticeable part of a second, and `check` and
# `preview` import the ledger without opening it.

log = logging.getLogger("budbringer")

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
# The tables `create_all` made before Alembic: any of them without a version table is a pre-Alembic ledger.
BASELINE_TABLES = frozenset({"approvals", "deliveries", "delivery_events", "editor_answers", "approval_requests",
                             "approval_votes", "notices"})
_LOCK_NUMBER = 0x6275646272696E67  # "budbring": the advisory lock that serialises migrations on PostgreSQL


class SchemaError(BudbringerError):
    """The ledger's schema is not the one this Budbringer works with. Nothing was sent."""


def shown(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations, on this connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script(location: str) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(location)


def script() -> ScriptDirectory:
    return _script(str(MIGRATIONS))


def head() -> str:
    return script().get_current_head()  # type: ignore[return-value]


def current(connection: sa.Connection) -> str | None:
    """The ledger's revision, or None when it has none (new, or made before Alembic)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _pre_alembic(connection: sa.Connection) -> bool:
    return bool(BASELINE_TABLES & set(sa.inspect(connection).get_table_names()))


@contextmanager
def _locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection, held alone among the processes that migrate this ledger."""
    database = engine.url.database
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:n)"), {"n": _LOCK_NUMBER})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:n)"), {"n": _LOCK_NUMBER})
                conn.commit()
    elif engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
        folder = Path(database).resolve().parent / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "schema.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                with engine.connect() as conn:
                    yield conn
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    else:
        with engine.connect() as conn:
            yield conn


def _upgrade(conn: sa.Connection, target: str) -> None:
    from alembic import command

    conn.commit()  # alembic begins (and commits) its own transaction
    command.upgrade(config(conn), target)
    conn.commit()


def _adopt(engine: sa.Engine, conn: sa.Connection) -> bool:
    """Give a pre-Alembic ledger its baseline revision. True if it was one."""
    if current(conn) is not None or not _pre_alembic(conn):
        return False
    _upgrade(conn, BASELINE)
    log.info("ledger %s: made before schema versions; recognised as revision %s", shown(engine), BASELINE)
    return True


def newest_shipped() -> str | None:
    """The newest revision shipped, by the migrations' file names (`NNNN_topic.py`, numbered in order; a test
    holds it equal to Alembic's head), read without importing Alembic; None when a file is named otherwise
    (then only Alembic knows)."""
    names = [path.name for path in (MIGRATIONS / "versions").glob("*.py")]
    numbers = [name.split("_", 1)[0] for name in names]
    if not numbers or not all(number.isdigit() and len(number) == 4 for number in numbers):
        return None
    return max(numbers)


def _create_at(conn: sa.Connection, revision: str) -> None:
    """Create a new (empty) ledger's tables from `schema.py` and record `revision`, the newest shipped, in
    Alembic's own version table, as `alembic upgrade head` would have left it. The migrations and `schema.py`
    build the same tables (tests/test_migrations.py holds them equal), so this is the same ledger, made without
    importing Alembic (about 0.5 s of the README main job's first run)."""
    from budbringer.ledger.schema import metadata

    version = sa.Table("alembic_version", sa.MetaData(),
                       sa.Column("version_num", sa.String(32), nullable=False),
                       sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    metadata.create_all(conn)
    version.create(conn)
    conn.execute(version.insert().values(version_num=revision))
    conn.commit()
    log.info("ledger %s: created at schema revision %s", shown(conn.engine), revision)


def _recorded(conn: sa.Connection) -> str | None:
    """The revision in the ledger's version table, read without Alembic; None without one (or several)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def ensure(engine: sa.Engine) -> None:
    """At start: a new ledger is created at head; an older one must be at head already (SchemaError if not)."""
    with _locked(engine) as conn:
        newest = newest_shipped()
        if newest is not None and _recorded(conn) == newest:  # the usual case, without Alembic's import (~0.5 s)
            return
        if newest is not None and not sa.inspect(conn).get_table_names():  # a new ledger, also without Alembic
            _create_at(conn, newest)
            return
        _adopt(engine, conn)
        found = current(conn)
        if found is None:
            _upgrade(conn, "head")
            return
    wanted = head()
    if found == wanted:
        return
    if found in {revision.revision for revision in script().walk_revisions()}:
        raise SchemaError(f"the ledger at {shown(engine)} has schema revision {found}, this Budbringer needs "
                          f"{wanted}: run `budbringer db upgrade` (with the same BUDBRINGER_DATABASE_URL), "
                          "then start again")
    raise SchemaError(f"the ledger at {shown(engine)} has schema revision {found}, which this Budbringer does not "
                      f"know (its newest is {wanted}): a newer Budbringer upgraded it; run that version everywhere")


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str | None
    adopted: bool  # it was made before schema versions, and got the baseline revision

    def __str__(self) -> str:
        adopted = f"recognised a ledger made before schema versions as {BASELINE}; " if self.adopted else ""
        if self.before == self.after:
            return f"{adopted}at {self.after} (head): nothing to upgrade"
        return f"{adopted}upgraded from {self.before or 'an empty database'} to {self.after} (head)"


def upgrade(engine: sa.Engine, target: str = "head") -> Upgrade:
    """Bring the ledger to `target` (`budbringer db upgrade`)."""
    with _locked(engine) as conn:
        adopted = _adopt(engine, conn)
        before = current(conn)
        _upgrade(conn, target)
        return Upgrade(before=before, after=current(conn), adopted=adopted)


def downgrade(engine: sa.Engine, target: str) -> None:
    """Take the ledger back to `target` (a revision, or `base`: every table dropped). For tests and rollbacks."""
    from alembic import command

    with _locked(engine) as conn:
        conn.commit()
        command.downgrade(config(conn), target)
        conn.commit()


def describe(engine: sa.Engine) -> tuple[str, bool]:
    """What `budbringer db current` says, and whether the ledger is at head."""
    wanted = head()
    with engine.connect() as conn:
        found = current(conn)
        pre_alembic = found is None and _pre_alembic(conn)
    if found == wanted:
        return f"{found} (head)", True
    if pre_alembic:
        return (f"no revision: made before schema versions (recognised as {BASELINE} on the next start or "
                f"`budbringer db upgrade`); head is {wanted}"), wanted == BASELINE
    if found is None:
        return f"empty: created at {wanted} (head) on first use", True
    if found not in {revision.revision for revision in script().walk_revisions()}:
        return f"{found}, unknown to this Budbringer (its head is {wanted}): a newer Budbringer upgraded it", False
    return f"{found}, behind head {wanted}: run `budbringer db upgrade`", False
