"""Notice records: a notice (an approval request, reminder, escalation or rejection mail) keeps its channel, its
attempt number and its history (`notice_events`), as a delivery does, and is kept by the same rule.

Revision ID: 0003
Revises: 0002
Created: 2026-12-07

Existing notices get attempt 1, an empty channel (it was not recorded) and a history rebuilt from their row:
`attempting` at `started_at`, then their state at `finished_at` if they had finished.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MIGRATED = "recorded before notices kept a history"


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))
    events = op.create_table(
        "notice_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_events_key", "notice_events", ["key"])

    notices = sa.table("notices", sa.column("key", sa.String), sa.column("state", sa.String),
                       sa.column("error", sa.Text), sa.column("started_at", sa.DateTime(timezone=True)),
                       sa.column("finished_at", sa.DateTime(timezone=True)))
    rows = op.get_bind().execute(sa.select(notices).order_by(notices.c.started_at)).mappings().all()
    history: list[dict[str, object]] = []
    for row in rows:
        history.append({"key": row["key"], "at": row["started_at"], "state": "attempting",
                        "detail": f"first attempt ({MIGRATED})"})
        if row["state"] != "attempting":
            history.append({"key": row["key"], "at": row["finished_at"] or row["started_at"], "state": row["state"],
                            "detail": (row["error"] or "")[:2000] or MIGRATED})
    if history:
        op.bulk_insert(events, history)


def downgrade() -> None:
    op.drop_index("ix_notice_events_key", table_name="notice_events")
    op.drop_table("notice_events")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("attempts")
        batch.drop_column("channel")
