"""`budbringer db backup FILE`: a complete, consistent copy of the SQLite ledger while it may be in use.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database page by page, the write-ahead log
included, under SQLite's own locking: a copy of `ledger.db` taken with `cp` while a command runs may miss what
sits in `ledger.db-wal`. A PostgreSQL ledger is backed up with PostgreSQL's own tool (`pg_dump`).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import sqlalchemy as sa

from budbringer.errors import LedgerError, mask_url


def backup(url: str, target: Path) -> Path:
    """Copy the SQLite ledger at `url` to `target` (a new file, readable by its owner only); the path written.
    Refuses an existing target, a ledger that does not exist, and a database that is not SQLite (with the
    `pg_dump` command to use instead)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        safe = parsed.set(drivername=parsed.get_backend_name())
        raise LedgerError(
            f"the ledger is {parsed.get_backend_name()} ({mask_url(url)}), not SQLite: back it up with "
            f"PostgreSQL's own tool, e.g. pg_dump --format=custom --file {target} "
            f"'{safe.render_as_string(hide_password=True)}' (the password from ~/.pgpass or PGPASSWORD)")
    source = Path(parsed.database or "")
    if not source.is_file():
        raise LedgerError(f"there is no ledger at {source} yet: nothing to back up (check BUDBRINGER_HOME or "
                          "--plan)")
    target = Path(target)
    if target.exists():
        raise LedgerError(f"{target} exists already: give the backup a new file name (nothing was overwritten)")
    if not target.parent.is_dir():
        raise LedgerError(f"the folder {target.parent} does not exist: create it, or give another path")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner only, like the ledger
    os.close(fd)
    done = False
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as reader, \
                closing(sqlite3.connect(target)) as writer:
            reader.backup(writer)
            writer.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        done = True
    except sqlite3.Error as exc:
        raise LedgerError(f"the ledger {source} could not be copied: {exc}; wait for other commands to finish, "
                          "then try again") from None
    finally:
        if not done:
            target.unlink(missing_ok=True)
    return target


def unusable_url(url: str, exc: BaseException) -> LedgerError:
    """The database URL ($BUDBRINGER_DATABASE_URL) as one line: what is wrong with it and what to do. (Here,
    beside the backup, to keep `database` small: both are about what an operator does with the URL.)"""
    shown = mask_url(url)
    fix = ("set BUDBRINGER_DATABASE_URL to a URL such as postgresql+psycopg://HOST:5432/DATABASE "
           "(psycopg comes with Budbringer), or unset it for the SQLite ledger")
    if isinstance(exc, ImportError):
        driver = getattr(exc, "name", None) or str(exc)
        what = f"its driver ({driver}) is not installed"
        fix = f"install the driver into Budbringer's environment, or {fix}"
    elif isinstance(exc, sa.exc.NoSuchModuleError):
        what = f"SQLAlchemy knows no database type {url.split('://', 1)[0]!r}"
    elif isinstance(exc, ValueError) and "int()" in str(exc):
        port = str(exc).rpartition(":")[2].strip()
        what = f"the port {port} is not a number"
        fix = "write the port as digits (e.g. :5432), or leave it out for the default"
    else:
        what = "it is not a database URL SQLAlchemy can read"
    return LedgerError(f"BUDBRINGER_DATABASE_URL ({shown}) cannot be used: {what}; {fix}")
