"""Duplicates at intake: an index of open cases by type and point; case followers and links.

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0017"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_CASE = "status <> 'closed' AND latitude IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_cases_open_point", "cases", ["service_code", "latitude", "longitude", "opened_at"],
                    sqlite_where=sa.text(OPEN_CASE), postgresql_where=sa.text(OPEN_CASE))
    op.create_table(
        "case_followers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("via_case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("case_id", "customer_id", name="uq_case_followers_case_customer"),
    )
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("linked_case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.UniqueConstraint("case_id", "linked_case_id", "kind", name="uq_case_links"),
    )
    op.create_index("ix_case_links_case_id", "case_links", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_links_case_id", table_name="case_links")
    op.drop_table("case_links")
    op.drop_table("case_followers")
    op.drop_index("ix_cases_open_point", table_name="cases")
