"""The public pages: photos sent with reports, service-alert subscriptions and the alerts posted.

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0015"
down_revision = "0016"
branch_labels = None
depends_on = None


def _area() -> list[sa.Column]:
    return [sa.Column("district", sa.String(40), nullable=True), sa.Column("latitude", sa.Float, nullable=True),
            sa.Column("longitude", sa.Float, nullable=True), sa.Column("radius_m", sa.Float, nullable=True)]


def upgrade() -> None:
    op.create_table(
        "public_photos",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_public_photos_case", "public_photos", ["case_id"])
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("language", sa.String(10), nullable=False, server_default="en"),
        *_area(),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_alert_subscriptions_email", "alert_subscriptions", ["email"])
    op.create_index("ix_alert_subscriptions_active", "alert_subscriptions", ["confirmed_at", "unsubscribed_at"])
    op.create_table(
        "service_alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        *_area(),
        sa.Column("posted_at", UTCDateTime, nullable=False),
        sa.Column("posted_by", sa.String(100), nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_service_alerts_posted", "service_alerts", ["posted_at"])


def downgrade() -> None:
    op.drop_table("service_alerts")
    op.drop_table("alert_subscriptions")
    op.drop_table("public_photos")
