"""The knowledge base (articles and their append-only versions) and the append-only log of
configuration changes made in the admin (who, when, what before and after).

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.append_only import allow_changes, refuse_changes
from civiccrm.store.types import UTCDateTime

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_code", sa.String(150), nullable=True),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_kb_articles_service_code", "kb_articles", ["service_code"])
    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("article_id", sa.Integer, sa.ForeignKey("kb_articles.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("questions", sa.Text, nullable=False, server_default=""),
        sa.Column("timeframe", sa.String(200), nullable=False, server_default=""),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("article_id", "number", name="uq_kb_versions_article_number"),
    )
    op.create_table(
        "config_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
    )
    op.create_index("ix_config_changes_at", "config_changes", ["at"])
    refuse_changes(op, "kb_versions", "kb_versions is append-only: a change is a new version")
    refuse_changes(op, "config_changes", "config_changes is append-only: the record of changes is never edited")


def downgrade() -> None:
    for table in ("config_changes", "kb_versions"):
        allow_changes(op, table)
    op.drop_index("ix_config_changes_at", table_name="config_changes")
    op.drop_table("config_changes")
    op.drop_table("kb_versions")
    op.drop_index("ix_kb_articles_service_code", table_name="kb_articles")
    op.drop_table("kb_articles")
