"""The ledger's tables, all of them, in one place. This is the schema at the newest migration (head).

A change here needs a migration in `budbringer/ledger/migrations/versions/` (docs/ledger.md says how);
tests/test_migrations.py fails while the two disagree. States are stored as plain strings (see `states`).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Approvals: the steering group's approval of one exact content (its variants' hashes).

approvals = sa.Table(
    "approvals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("approval_hash", sa.String(64), nullable=False),
    sa.Column("variant_hashes", sa.Text, nullable=False),
    sa.Column("approved_by", sa.String(500), nullable=False),
    sa.Column("reference", sa.String(500), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("override_order", sa.Boolean, nullable=False, default=False),
    sa.Column("override_reason", sa.Text, nullable=False, default=""),
)

# Deliveries: one row per delivery key (message, content hash, forum, channel), and every change of state.

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("forum", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("tier", sa.String(100), nullable=False),
    sa.Column("tier_index", sa.Integer, nullable=False),
    sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # states.State
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

delivery_events = sa.Table(
    "delivery_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # states.State
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

# Editors' answers: a newsletter is edited by people, who accept or decline a submission after it was
# delivered (`budbringer mark`). Kept apart from `deliveries`: the delivery succeeded either way.

editor_answers = sa.Table(
    "editor_answers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("forum", sa.String(100), nullable=False),
    sa.Column("answer", sa.String(20), nullable=False),  # states.Answer
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
)

# Approval inside a run: a request for the approval of one exact content (its approval hash), the approvers'
# decisions, and the notices sent about it (the request, reminders, the escalation, a rejection) — each
# notice keyed so that it is sent once however often a run is resumed or retried.

approval_requests = sa.Table(
    "approval_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("approval_hash", sa.String(64), nullable=False),
    sa.Column("title", sa.String(300), nullable=False, default=""),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("meeting", sa.Date, nullable=True),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
    sa.Column("flow_run_id", sa.String(64), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),  # states.RequestState
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=True),
    sa.UniqueConstraint("message_id", "approval_hash", name="one_request_per_content"),
)

approval_votes = sa.Table(
    "approval_votes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("approval_requests.id"), nullable=False, index=True),
    sa.Column("voter", sa.String(200), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),  # states.VoteDecision
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # With Entra ID sign-in (source "sign-in"): the account that signed in (object id, tenant id, and the UPN
    # it had then); empty for the other sources.
    sa.Column("signer_oid", sa.String(36), nullable=True),
    sa.Column("signer_tid", sa.String(36), nullable=True),
    sa.Column("signer_upn", sa.String(320), nullable=True),
    sa.UniqueConstraint("request_id", "voter", name="one_vote_per_approver"),
)

# Sign-in sessions of the approval pages: the cookie carries a random token, the ledger its SHA-256 (`id`),
# the account and until when it counts. Signing out sets `ended_at`, so a copied cookie is refused after it.

web_sessions = sa.Table(
    "web_sessions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("member", sa.String(200), nullable=False),
    sa.Column("oid", sa.String(36), nullable=False),
    sa.Column("tid", sa.String(36), nullable=False),
    sa.Column("upn", sa.String(320), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
)

notices = sa.Table(
    "notices", metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("approval_requests.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),  # states.NoticeKind (reminders numbered: reminder-1, …)
    sa.Column("channel", sa.String(100), nullable=False, server_default=""),  # the plan's channel that carried it
    sa.Column("state", sa.String(20), nullable=False),  # states.State
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

# Every change of a notice's state, as `delivery_events` for deliveries (the rule: `attempts`).

notice_events = sa.Table(
    "notice_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # states.State
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

# Reach after sending: one reading per delivery and point (days after delivery), with what the provider said
# (`reach.Measure`: figures, not measured, or refused with its reason). A reading once stored is never replaced.

reach_readings = sa.Table(
    "reach_readings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("message_id", sa.String(100), nullable=False, index=True),
    sa.Column("forum", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("point", sa.Integer, nullable=False),
    sa.Column("measure", sa.String(20), nullable=False),  # reach.Measure
    sa.Column("figures", sa.Text, nullable=False),  # JSON: metric → number
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("key", "point", name="one_reading_per_point"),
)
