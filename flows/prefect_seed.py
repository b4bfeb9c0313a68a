"""A new Prefect home's database, seeded from an empty one Prefect migrated when it was made.

The first `budbringer send` on a machine (no `$PREFECT_HOME/prefect.db` yet) waited for Prefect to create its
SQLite database through its Alembic migrations: about 7 s of a 2-core machine's 14 s for the README main job
(docs/benchmarks.md). Every new database goes through the same migrations to the same empty schema, so Budbringer
ships that result (`SEEDS`: made by Prefect's own `prefect server database upgrade`, then VACUUMed and gzipped,
18 KB) and the temporary server starts on a copy of it. Prefect still checks the database at its start.

The seed is used only when its revision is the installed Prefect's newest (so Prefect runs no migration on it at
its start; with a Prefect older or newer than the seed, Prefect creates its database itself, as before), only for
the default database in `$PREFECT_HOME`, only for a database that does not exist yet, under the first-start lock
(flows/temporary_server.py), and written whole or not at all.

After a Prefect upgrade, make a new seed: `python -m budbringer.flows.prefect_seed` (tests/test_prefect_seed.py
says when the shipped one no longer equals what Prefect's migrations make).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from budbringer.settings import prefect_environment

#: the shipped seed: `<alembic revision>.sqlite.gz`
SEEDS = Path(__file__).parent / "prefect_seed"


def shipped() -> Path | None:
    """The shipped seed, when its revision is the head of the installed Prefect's SQLite migrations (read without
    importing Prefect): then Prefect runs no migration on it at its start. Else None (a Prefect older or newer
    than the seed creates its database itself, under the first-start lock, as before)."""
    found = sorted(SEEDS.glob("*.sqlite.gz"))
    if len(found) != 1:
        return None
    return found[0] if found[0].name.removesuffix(".sqlite.gz") == _prefect_head() else None


#: `revision = "…"` and `down_revision = "…"` in an Alembic migration
_REVISION = re.compile(r'^(down_revision|revision)\s*(?::[^=]*)?=\s*["\']([0-9a-f]+)["\']', re.MULTILINE)


def _prefect_head() -> str | None:
    """The newest revision of the installed Prefect's SQLite migrations: the one no other migration follows."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = (Path(next(iter(spec.submodule_search_locations))) / "server" / "database" / "_migrations" / "versions"
                / "sqlite")
    revisions: set[str] = set()
    followed: set[str] = set()
    for migration in versions.glob("*.py"):
        for kind, value in _REVISION.findall(migration.read_text(encoding="utf-8")):
            (revisions if kind == "revision" else followed).add(value)
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None


def seed(database: Path) -> bool:
    """Create `database` (which does not exist) from the shipped seed; False when there is none to use, or it
    could not be written (then Prefect creates the database itself)."""
    source = shipped()
    if source is None or database.exists():
        return False
    partial = database.with_name(f".{database.name}.seeding-{os.getpid()}")
    try:
        with gzip.open(source, "rb") as packed, open(partial, "wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)
            unpacked.flush()
            os.fsync(unpacked.fileno())
        os.link(partial, database)  # whole or not at all, and never over a database another process made
        return True
    except (OSError, EOFError, zlib.error):
        return False
    finally:
        partial.unlink(missing_ok=True)


def revision(database: Path) -> str:
    with sqlite3.connect(database) as db:
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def make(folder: Path) -> Path:
    """A new seed in `folder`: Prefect's own migrations on an empty database in a temporary home, VACUUMed and
    gzipped (no timestamp in the gzip header: the same Prefect makes the same bytes)."""
    with tempfile.TemporaryDirectory(prefix="budbringer-prefect-seed-") as home:
        env = {**prefect_environment(), "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
        for name in ("PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL",
                     "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
            env.pop(name, None)
        subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"], env=env,
                       check=True, capture_output=True)
        database = Path(home) / "prefect.db"
        with sqlite3.connect(database) as db:
            db.execute("VACUUM")
        made = folder / f"{revision(database)}.sqlite.gz"
        made.write_bytes(gzip.compress(database.read_bytes(), compresslevel=9, mtime=0))
        return made


def main() -> int:
    """Replace the shipped seed with one the installed Prefect makes."""
    SEEDS.mkdir(exist_ok=True)
    old = set(SEEDS.glob("*.sqlite.gz"))
    made = make(SEEDS)
    for stale in old - {made}:
        stale.unlink()
    print(f"{made} ({made.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
