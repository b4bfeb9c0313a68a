"""Alembic's environment for the ledger.

Budbringer passes its own connection (`config.attributes["connection"]`). From the `alembic` command line
(`alembic -c budbringer/ledger/migrations/alembic.ini …`) the ledger is `-x url=…`, else the one Budbringer
uses ($BUDBRINGER_DATABASE_URL, else SQLite under $BUDBRINGER_HOME).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from budbringer.ledger.schema import metadata


def _configure(**options: Any) -> None:
    # Batch mode: SQLite cannot ALTER most things, so autogenerate writes `batch_alter_table`, which copies
    # the table on SQLite and is a plain ALTER on PostgreSQL.
    context.configure(target_metadata=metadata, render_as_batch=True, compare_type=True, **options)


def _url() -> str:
    from budbringer.ledger.database import database_url

    return context.get_x_argument(as_dictionary=True).get("url") or database_url()


def run(connection: sa.Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # `alembic upgrade --sql`: the SQL for a DBA to read or run
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := context.config.attributes.get("connection")) is not None:
    run(given)
else:
    engine = sa.create_engine(_url())
    try:
        with engine.connect() as connection:
            run(connection)
            connection.commit()
    finally:
        engine.dispose()
