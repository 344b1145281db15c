"""Call centre: per-call records and ACD interval rows.

Revision ID: 0014
Revises: 0021
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0014"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("external_id", sa.String(120), nullable=False),
        sa.Column("queue", sa.String(120), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("started_epoch", sa.BigInteger, nullable=False),
        sa.Column("local_date", sa.String(10), nullable=False),
        sa.Column("local_slot", sa.Integer, nullable=False),
        sa.Column("local_weekday", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("wait_seconds", sa.Float, nullable=False),
        sa.Column("talk_seconds", sa.Float, nullable=False),
        sa.Column("hold_seconds", sa.Float, nullable=False),
        sa.Column("acw_seconds", sa.Float, nullable=False),
        sa.Column("wrap_up", sa.String(120)),
        sa.Column("agent", sa.String(120)),
        sa.Column("caller_key", sa.String(32)),
        sa.Column("case_number", sa.String(60)),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("updated_at", UTCDateTime),
        sa.UniqueConstraint("source", "external_id", name="uq_calls_source_external_id"),
    )
    op.create_index("ix_calls_local_date", "calls", ["local_date"])
    op.create_index("ix_calls_caller", "calls", ["caller_key", "wrap_up", "started_epoch"])
    op.create_table(
        "call_intervals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("queue", sa.String(120), nullable=False),
        sa.Column("interval_start", UTCDateTime, nullable=False),
        sa.Column("length_seconds", sa.Integer, nullable=False),
        sa.Column("local_date", sa.String(10), nullable=False),
        sa.Column("local_slot", sa.Integer, nullable=False),
        sa.Column("local_weekday", sa.Integer, nullable=False),
        sa.Column("offered", sa.Integer, nullable=False),
        sa.Column("handled", sa.Integer, nullable=False),
        sa.Column("abandoned", sa.Integer, nullable=False),
        sa.Column("short_abandoned", sa.Integer, nullable=False),
        sa.Column("answered_within_t", sa.Integer),
        sa.Column("wait_seconds", sa.Float, nullable=False),
        sa.Column("handle_seconds", sa.Float, nullable=False),
        sa.Column("agents", sa.Float),
        sa.Column("service_level_seconds", sa.Float),
        sa.Column("short_abandon_seconds", sa.Float),
        sa.UniqueConstraint("source", "queue", "interval_start", name="uq_call_intervals_source_queue_start"),
    )
    op.create_index("ix_call_intervals_local_date", "call_intervals", ["local_date"])


def downgrade() -> None:
    op.drop_index("ix_call_intervals_local_date", table_name="call_intervals")
    op.drop_table("call_intervals")
    op.drop_index("ix_calls_caller", table_name="calls")
    op.drop_index("ix_calls_local_date", table_name="calls")
    op.drop_table("calls")
