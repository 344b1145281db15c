"""SLA first-response escalation: the scan's level on cases and an index of cases awaiting a response.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

AWAITING = "responded_at IS NULL AND response_due_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("sla_response_level", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_cases_awaiting_response", "cases", ["response_due_at"],
                    sqlite_where=sa.text(AWAITING), postgresql_where=sa.text(AWAITING))


def downgrade() -> None:
    op.drop_index("ix_cases_awaiting_response", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("sla_response_level")
