"""Channels: inbound messages and what became of them, addresses not to send to, attachments, a
customer's language, and the outbox row of a survey invitation.

Revision ID: 0013
Revises: 0022
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0013"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("language", sa.String(10)))
    op.add_column("survey_invitations", sa.Column("outbox_id", sa.Integer))
    op.create_table(
        "contact_addresses",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("opted_out_at", UTCDateTime),
        sa.Column("bouncing_since", UTCDateTime),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(300)),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("subject", sa.String(300)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("pending_body", sa.Text),
        sa.UniqueConstraint("channel", "message_id", name="uq_inbound_messages_channel_message_id"),
    )
    op.create_index("ix_inbound_messages_sender", "inbound_messages", ["channel", "sender", "received_at"])
    op.create_index("ix_inbound_messages_case_id", "inbound_messages", ["case_id"])
    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_case_attachments_case_id", "case_attachments", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_attachments_case_id", table_name="case_attachments")
    op.drop_table("case_attachments")
    op.drop_index("ix_inbound_messages_case_id", table_name="inbound_messages")
    op.drop_index("ix_inbound_messages_sender", table_name="inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_table("contact_addresses")
    with op.batch_alter_table("survey_invitations") as batch:
        batch.drop_column("outbox_id")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("language")
