"""The work queue by council district: a partial index of open cases by (district, due time, id), so the
queue filtered by district reads its page and its counts from the index instead of walking every open case.

Revision ID: 0025
Revises: 0026
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

OPEN_ONLY = sa.text("status <> 'closed'")

revision = "0025"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_queue_district", "cases", ["council_district", "due_at", "id"],
                    sqlite_where=OPEN_ONLY, postgresql_where=OPEN_ONLY)


def downgrade() -> None:
    op.drop_index("ix_cases_queue_district", table_name="cases")
