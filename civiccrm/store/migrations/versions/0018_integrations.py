"""Integrations: work orders, updates received from destinations, and fetches.

Revision ID: 0018
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0018"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("external_status", sa.String(100)),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("completed_at", UTCDateTime),
        sa.Column("resolution", sa.String(20)),
        sa.UniqueConstraint("case_id", "destination", name="uq_work_orders_case_destination"),
    )
    op.create_index("ix_work_orders_destination_external", "work_orders", ["destination", "external_id"])
    op.create_table(
        "integration_updates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("update_id", sa.String(200)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("work_order_id", sa.Integer, sa.ForeignKey("work_orders.id")),
        sa.Column("status", sa.String(100)),
        sa.Column("at", UTCDateTime),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("raw", sa.Text),
        sa.UniqueConstraint("destination", "update_id", name="uq_integration_updates_destination_update"),
    )
    op.create_index("ix_integration_updates_destination_received", "integration_updates",
                    ["destination", "received_at"])
    op.create_table(
        "integration_fetches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("since", UTCDateTime),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("updates", sa.Integer, nullable=False),
        sa.Column("refused", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_integration_fetches_destination", "integration_fetches", ["destination", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_integration_fetches_destination", table_name="integration_fetches")
    op.drop_table("integration_fetches")
    op.drop_index("ix_integration_updates_destination_received", table_name="integration_updates")
    op.drop_table("integration_updates")
    op.drop_index("ix_work_orders_destination_external", table_name="work_orders")
    op.drop_table("work_orders")
