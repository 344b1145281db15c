"""Drop ix_cases_service_code: ix_cases_type_opened (service_code, opened_at) begins with the same column, so it
answers every lookup by type the one-column index did, and every new case wrote both (one index of sixteen less
on each intake and import).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-02
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_service_code", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_service_code", "cases", ["service_code"])
