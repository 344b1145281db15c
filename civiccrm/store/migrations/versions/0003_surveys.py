"""Surveys: sampling plans and draws, invitations, responses and answers, opt-outs, action plans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(100), nullable=False, unique=True),
        sa.Column("instrument", sa.String(100), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("sample_size", sa.Integer),
        sa.Column("rate", sa.Float),
        sa.Column("strata", sa.String(20)),
        sa.Column("allocation", sa.String(20), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "survey_draws",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("survey_plans.id"), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("frame_definition", sa.Text, nullable=False),
        sa.Column("frame", sa.Text, nullable=False),
        sa.Column("sample", sa.Text, nullable=False),
        sa.Column("strata", sa.Text, nullable=False),
        sa.Column("frame_size", sa.Integer, nullable=False),
        sa.Column("sample_size", sa.Integer, nullable=False),
        sa.Column("drawn_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("instrument", sa.String(100), nullable=False),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("survey_plans.id")),
        sa.Column("draw_id", sa.Integer, sa.ForeignKey("survey_draws.id")),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")),
        sa.Column("address", sa.String(320)),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stratum", sa.String(200)),
        sa.Column("weight", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("answered_at", UTCDateTime),
    )
    op.create_index("ix_survey_invitations_address", "survey_invitations", ["address", "created_at"])
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("instrument", sa.String(100), nullable=False),
        sa.Column("invitation_id", sa.Integer, sa.ForeignKey("survey_invitations.id"), unique=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(60)),
        sa.Column("wave", sa.String(40)),
        sa.Column("method", sa.String(40)),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("answered_at", UTCDateTime, nullable=False),
        sa.Column("department", sa.String(100)),
        sa.Column("work_group", sa.String(150)),
        sa.Column("service_code", sa.String(150)),
        sa.Column("district", sa.String(20)),
        sa.Column("channel", sa.String(40)),
        sa.Column("audience", sa.String(40)),
        sa.Column("stratum", sa.String(200)),
        sa.Column("weight", sa.Float),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("survey_plans.id")),
        sa.UniqueConstraint("instrument", "wave", "external_id", name="uq_survey_responses_wave_respondent"),
    )
    op.create_index("ix_survey_responses_instrument", "survey_responses", ["instrument", "answered_at"])
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("response_id", sa.Integer, sa.ForeignKey("survey_responses.id"), nullable=False),
        sa.Column("item", sa.String(60), nullable=False),
        sa.Column("value", sa.Integer),
        sa.Column("raw", sa.Integer),
        sa.Column("acceptable", sa.Integer),
        sa.Column("text", sa.Text),
    )
    op.create_index("ix_survey_answers_response", "survey_answers", ["response_id"])
    op.create_index("ix_survey_answers_item", "survey_answers", ["item"])
    op.create_table(
        "survey_response_attrs",
        sa.Column("response_id", sa.Integer, sa.ForeignKey("survey_responses.id"), primary_key=True),
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "survey_optouts",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "survey_action_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("instrument", sa.String(100), nullable=False),
        sa.Column("item", sa.String(60), nullable=False),
        sa.Column("department", sa.String(100)),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime),
    )


def downgrade() -> None:
    for table in ("survey_action_plans", "survey_optouts", "survey_response_attrs", "survey_answers",
                  "survey_responses", "survey_invitations", "survey_draws", "survey_plans"):
        op.drop_table(table)
