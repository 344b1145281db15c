"""Initial schema: taxonomy, customers, cases, append-only case history.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_REFUSE_MESSAGE = "case_events is append-only: history rows cannot be changed or deleted"


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "departments",
        sa.Column("code", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "work_groups",
        sa.Column("code", sa.String(150), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
    )
    op.create_table(
        "service_types",
        sa.Column("code", sa.String(150), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("category", sa.String(200)),
        sa.Column("type", sa.String(200)),
        sa.Column("detail", sa.String(200)),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("work_group", sa.String(150)),
        sa.Column("sla_target", sa.Float, nullable=False),
        sa.Column("sla_basis", sa.String(20), nullable=False),
        sa.Column("sla_source", sa.String(20), nullable=False),
        sa.Column("calendar", sa.String(100)),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(40)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("redacted_at", UTCDateTime),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tracking_number", sa.String(40), nullable=False, unique=True),
        sa.Column("service_code", sa.String(150), nullable=False),
        sa.Column("request_type", sa.String(300), nullable=False),
        sa.Column("category", sa.String(200)),
        sa.Column("department", sa.String(100)),
        sa.Column("work_group", sa.String(150)),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("address", sa.String(300)),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("zip_code", sa.String(10)),
        sa.Column("council_district", sa.String(20)),
        sa.Column("neighborhood", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("resolution", sa.String(20)),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime),
        sa.Column("closed_at", UTCDateTime),
        sa.Column("days_to_close", sa.Float),
        sa.Column("on_time", sa.Boolean),
        sa.Column("duplicate_of", sa.String(40)),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("external_id", sa.String(60)),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")),
        sa.Column("city_exceeded_timeframe", sa.Boolean),
        sa.Column("city_days_to_close", sa.Float),
        sa.UniqueConstraint("origin", "external_id", name="uq_cases_origin_external_id"),
    )
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"])
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"])
    op.create_index("ix_cases_status_due_at", "cases", ["status", "due_at"])
    op.create_index("ix_cases_department", "cases", ["department"])
    op.create_index("ix_cases_service_code", "cases", ["service_code"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "tracking_counters",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )

    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER case_events_no_{action.lower()} BEFORE {action} ON case_events "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE_MESSAGE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION case_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_REFUSE_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events "
            "FOR EACH ROW EXECUTE FUNCTION case_events_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION case_events_refuse_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS case_events_no_truncate ON case_events")
        op.execute("DROP TRIGGER IF EXISTS case_events_append_only ON case_events")
        op.execute("DROP FUNCTION IF EXISTS case_events_refuse_change()")
    for table in ("tracking_counters", "case_events", "cases", "customers", "service_types",
                  "work_groups", "departments", "settings"):
        op.drop_table(table)
