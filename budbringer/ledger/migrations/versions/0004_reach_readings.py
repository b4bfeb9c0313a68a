"""Reach readings: one row per delivery key and point (days after delivery), never replaced.

Revision ID: 0004
Revises: 0003
Created: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reach_readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("forum", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("point", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=20), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "point", name="one_reading_per_point"),
    )
    op.create_index("ix_reach_readings_message_id", "reach_readings", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_reach_readings_message_id", table_name="reach_readings")
    op.drop_table("reach_readings")
