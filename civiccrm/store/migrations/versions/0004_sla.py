"""SLA engine: pause bookkeeping, escalation level and first response on cases; policy versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("sla_paused_seconds", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("sla_paused_at", UTCDateTime))
        batch.add_column(sa.Column("sla_level", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("sla_clock_from", UTCDateTime))
        batch.add_column(sa.Column("response_due_at", UTCDateTime))
        batch.add_column(sa.Column("responded_at", UTCDateTime))
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_code", sa.String(150), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("target", sa.Float, nullable=False),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("calendar", sa.String(100), nullable=False),
        sa.Column("first_response", sa.Float),
        sa.Column("pause_statuses", sa.String(200), nullable=False),
        sa.Column("clock_start", sa.String(20), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("service_code", "effective_from", name="uq_sla_policies_code_from"),
    )


def downgrade() -> None:
    op.drop_table("sla_policies")
    with op.batch_alter_table("cases") as batch:
        for column in ("responded_at", "response_due_at", "sla_level", "sla_clock_from", "sla_paused_at", "sla_paused_seconds"):
            batch.drop_column(column)
