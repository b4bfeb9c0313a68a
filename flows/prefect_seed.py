"""A new Prefect home's database, seeded from an empty one Prefect migrated when it was made.

The first `budbringer send` on a machine (no `$PREFECT_HOME/prefect.db` yet) waited for Prefect to create its
SQLite database through its Alembic migrations: about 7 s of a 2-core machine's 14 s for the README main job
(docs/benchmarks.md). Every new database goes through the same migrations to the same empty schema, so Budbringer
ships that result (`SEED`: made by Prefect's own `prefect server database upgrade`, then VACUUMed and gzipped,
18 KB) and the temporary server starts on a copy of it. Prefect still checks the database at its start: if the
installed Prefect has migrations after the seed's revision, it runs them from there.

The seed is used only when the installed Prefect knows its revision (a Prefect older than the seed would not: then
Prefect creates its database itself, as before), only for the default database in `$PREFECT_HOME`, and only for a
database that does not exist yet, under the first-start lock (flows/temporary_server.py).

After a Prefect upgrade, make a new seed: `python -m budbringer.flows.prefect_seed` (tests/test_prefect_seed.py
says when the shipped one no longer equals what Prefect's migrations make).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from budbringer.settings import prefect_environment

#: the shipped seed: `<alembic revision>.sqlite.gz`
SEEDS = Path(__file__).parent / "prefect_seed"


def shipped() -> Path | None:
    """The shipped seed, when the installed Prefect knows its revision (found without importing Prefect)."""
    found = sorted(SEEDS.glob("*.sqlite.gz"))
    if len(found) != 1:
        return None
    revision = found[0].name.removesuffix(".sqlite.gz")
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(next(iter(spec.submodule_search_locations))) / "server" / "database" / "_migrations" / "versions"
    return found[0] if any((versions / "sqlite").glob(f"*_{revision}_*.py")) else None


def seed(database: Path) -> bool:
    """Create `database` (which does not exist) from the shipped seed; False when there is none to use."""
    source = shipped()
    if source is None or database.exists():
        return False
    partial = database.with_name(f".{database.name}.seeding-{os.getpid()}")
    try:
        with gzip.open(source, "rb") as packed, open(partial, "wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)
        os.replace(partial, database)  # whole or not at all: a killed command leaves no half database
    except OSError:
        partial.unlink(missing_ok=True)
        return False  # Prefect creates it itself
    return True


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
