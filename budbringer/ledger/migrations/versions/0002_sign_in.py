"""Sign-in: which account signed in for a decision (`approval_votes.signer_*`), and the pages' sessions
(`web_sessions`), so that signing out ends a session on the server.

Revision ID: 0002
Revises: 0001
Created: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_votes") as batch:
        batch.add_column(sa.Column("signer_oid", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("signer_tid", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("signer_upn", sa.String(length=320), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("oid", sa.String(length=36), nullable=False),
        sa.Column("tid", sa.String(length=36), nullable=False),
        sa.Column("upn", sa.String(length=320), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    with op.batch_alter_table("approval_votes") as batch:
        batch.drop_column("signer_upn")
        batch.drop_column("signer_tid")
        batch.drop_column("signer_oid")
