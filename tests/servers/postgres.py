"""A throwaway PostgreSQL database per test, on the server at $BUDBRINGER_TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test). Without a server the tests are skipped, except under CI
(`CI` set), where they fail. conftest.py loads the fixtures as a plugin: every test module has them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from budbringer import ledger as ledger_

POSTGRES_URL = os.environ.get("BUDBRINGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT connection to the test server, or a skip (a failure under CI) when there is none."""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # no server, wrong credentials, no driver
        admin.dispose()
        where = sa.make_url(POSTGRES_URL).render_as_string(hide_password=True)
        reason = f"no PostgreSQL at {where}: set BUDBRINGER_TEST_POSTGRES_URL ({type(exc).__name__}: {exc})"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    yield admin
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: sa.Engine) -> Iterator[str]:
    """A fresh database of its own, dropped afterwards, so that runs never see each other's rows."""
    name = f"budbringer_test_{secrets.token_hex(6)}"
    with postgres_server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine = ledger_._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        with postgres_server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
