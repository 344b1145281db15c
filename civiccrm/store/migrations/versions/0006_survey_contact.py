"""Surveys: the customer's preferred contact channel; action plans keyed by a profile code.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("contact_by", sa.String(10)))
    op.add_column("survey_action_plans", sa.Column("code", sa.String(100)))
    # a unique index (not a constraint): plans added with the CLI have no code, and NULLs do not collide
    op.create_index("ux_survey_action_plans_code", "survey_action_plans", ["code"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_survey_action_plans_code", table_name="survey_action_plans")
    with op.batch_alter_table("survey_action_plans") as batch:
        batch.drop_column("code")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("contact_by")
