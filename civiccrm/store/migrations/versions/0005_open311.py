"""Open311: answers to service attributes, media links, and an index for updated_after.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_attributes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_case_attributes_case_id", "case_attributes", ["case_id"])
    op.create_table(
        "case_media",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
    )
    op.create_index("ix_case_media_case_id", "case_media", ["case_id"])
    op.create_index("ix_cases_updated_at", "cases", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_updated_at", table_name="cases")
    op.drop_index("ix_case_media_case_id", table_name="case_media")
    op.drop_table("case_media")
    op.drop_index("ix_case_attributes_case_id", table_name="case_attributes")
    op.drop_table("case_attributes")
