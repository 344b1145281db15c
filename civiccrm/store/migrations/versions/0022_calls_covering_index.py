"""Calls: covering indexes for the report's two sorts. The caller index also holds the local date and
outcome, so first-contact resolution reads only the index, already in (caller, code, time) order; a
partial index of answered calls by (code, talk time) gives the wrap-up percentiles without a sort.

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

ANSWERED_ONLY = sa.text("outcome = 'answered'")

revision = "0022"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_calls_caller", table_name="calls")
    op.create_index("ix_calls_caller_code", "calls", ["caller_key", "wrap_up", "started_epoch", "local_date", "outcome"])
    op.create_index("ix_calls_answered_talk", "calls", ["wrap_up", "talk_seconds", "local_date", "case_number", "outcome"],
                    sqlite_where=ANSWERED_ONLY, postgresql_where=ANSWERED_ONLY)


def downgrade() -> None:
    op.drop_index("ix_calls_answered_talk", table_name="calls")
    op.drop_index("ix_calls_caller_code", table_name="calls")
    op.create_index("ix_calls_caller", "calls", ["caller_key", "wrap_up", "started_epoch"])
