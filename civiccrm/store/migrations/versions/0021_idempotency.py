"""Idempotency keys of Open311 POSTs: a retried request gets the first answer again, not a second case.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("api_key_id", sa.Integer, sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("idem_key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("response", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("api_key_id", "idem_key", name="uq_idempotency_keys"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
