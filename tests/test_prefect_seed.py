"""A new Prefect home's database from the shipped seed (flows/prefect_seed.py): what Prefect's migrations make,
used only when the installed Prefect knows its revision, never over an existing database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from budbringer.flows import prefect_seed


def _schema(database: Path) -> dict[str, object]:
    """Each table's columns, indexes (with their columns) and foreign keys. (Not the CREATE text: Alembic's
    batch migrations on SQLite write a table's constraints in an order that differs from run to run.)"""
    with sqlite3.connect(database) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        shape: dict[str, object] = {}
        for table in tables:
            columns = frozenset(tuple(c[1:]) for c in db.execute(f'PRAGMA table_info("{table}")'))
            # an automatic index is numbered in the order of the constraints: named by its columns alone
            indexes = frozenset(("auto" if i[1].startswith("sqlite_autoindex_") else i[1], i[2],
                                 tuple(c[2] for c in db.execute(f'PRAGMA index_info("{i[1]}")')))
                                for i in db.execute(f'PRAGMA index_list("{table}")'))
            keys = frozenset(tuple(k[2:]) for k in db.execute(f'PRAGMA foreign_key_list("{table}")'))
            shape[table] = (columns, indexes, keys)
        return shape


def test_a_new_database_is_the_shipped_seed(tmp_path: Path) -> None:
    shipped = prefect_seed.shipped()
    assert shipped is not None, "no seed the installed Prefect knows: run `python -m budbringer.flows.prefect_seed`"
    database = tmp_path / "home" / "prefect.db"
    database.parent.mkdir()
    assert prefect_seed.seed(database)
    assert prefect_seed.revision(database) == shipped.name.removesuffix(".sqlite.gz")
    assert {"flow_run", "task_run", "concurrency_limit_v2", "block_document"} <= set(_schema(database))
    assert not [p for p in database.parent.iterdir() if "seeding" in p.name]  # no partial file left beside it


def test_an_existing_database_is_never_replaced(tmp_path: Path) -> None:
    database = tmp_path / "prefect.db"
    database.write_bytes(b"kept")
    assert not prefect_seed.seed(database)
    assert database.read_bytes() == b"kept"


def test_a_broken_seed_leaves_nothing_and_prefect_creates_the_database(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = prefect_seed.shipped()
    assert shipped is not None
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / shipped.name).write_bytes(shipped.read_bytes()[:4000])  # cut off
    monkeypatch.setattr(prefect_seed, "SEEDS", tmp_path / "seeds")
    assert not prefect_seed.seed(tmp_path / "prefect.db")
    assert [p.name for p in tmp_path.iterdir()] == ["seeds"]


def test_a_seed_the_installed_prefect_does_not_know_is_not_used(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed that is not the installed Prefect's newest revision (an older or newer Prefect): then Prefect
    creates the database itself, as before."""
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "ffffffffffff.sqlite.gz").write_bytes(b"")
    monkeypatch.setattr(prefect_seed, "SEEDS", tmp_path / "seeds")
    assert prefect_seed.shipped() is None
    assert not prefect_seed.seed(tmp_path / "prefect.db")
    assert not (tmp_path / "prefect.db").exists()


@pytest.mark.slow
def test_the_shipped_seed_is_what_the_installed_prefect_migrates_to(tmp_path: Path) -> None:
    """Prefect's own migrations, run now, make the same schema at the same revision as the shipped seed: after a
    Prefect upgrade this fails until a new seed is made."""
    shipped = prefect_seed.shipped()
    assert shipped is not None
    made = prefect_seed.make(tmp_path)
    assert made.name == shipped.name, "Prefect's head moved: run `python -m budbringer.flows.prefect_seed`"
    fresh, ours = tmp_path / "fresh.db", tmp_path / "ours.db"
    import gzip

    fresh.write_bytes(gzip.decompress(made.read_bytes()))
    ours.write_bytes(gzip.decompress(shipped.read_bytes()))
    assert _schema(fresh) == _schema(ours)
