"""The triage queue (open cases without a service type) by department: a partial index of those few cases, so a
department worker's queue counts its untyped cases (the Triage badge, on every queue page) from the index
instead of looking up the service type of every open case of the department in the table.

Revision ID: 0029
Revises: 0025
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

OPEN_UNTYPED = sa.text("status <> 'closed' AND service_code IS NULL")

revision = "0029"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_queue_triage", "cases", ["department", "due_at", "id"],
                    sqlite_where=OPEN_UNTYPED, postgresql_where=OPEN_UNTYPED)


def downgrade() -> None:
    op.drop_index("ix_cases_queue_triage", table_name="cases")
