"""Staff users, their sessions, the append-only login attempt log, the shared rate limiter,
case assignees, saved queue filters, the partial indexes of the work queue (open cases by due time)
and the index of the case page's nearby duplicates (same type, opened near the same time).

Revision ID: 0010
Revises: 0018
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0010"
down_revision = "0018"
branch_labels = None
depends_on = None

_REFUSE = "login_attempts is append-only: attempts are never changed or deleted"
OPEN = "status <> 'closed'"
QUEUE_INDEXES = {
    "ix_cases_queue": ["due_at", "id"],
    "ix_cases_queue_work_group": ["work_group", "due_at", "id"],
    "ix_cases_queue_department": ["department", "due_at", "id"],
}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(60), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("departments", sa.Text, nullable=False, server_default="[]"),
        sa.Column("work_groups", sa.Text, nullable=False, server_default="[]"),
        sa.Column("language", sa.String(10), nullable=False, server_default="en"),
        sa.Column("session_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("password_changed_at", UTCDateTime, nullable=False),
        sa.Column("disabled_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("session_version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_staff_sessions_user", "staff_sessions", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    op.create_table(
        "rate_limits",
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_table(
        "case_assignees",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("assigned_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_case_assignees_user", "case_assignees", ["user_id"])
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_saved_filters_user_name"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER login_attempts_no_{action.lower()} BEFORE {action} ON login_attempts "
                       f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END")
    else:
        op.execute("CREATE FUNCTION login_attempts_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$")
        op.execute("CREATE TRIGGER login_attempts_append_only BEFORE UPDATE OR DELETE ON login_attempts "
                   "FOR EACH ROW EXECUTE FUNCTION login_attempts_refuse_change()")
        op.execute("CREATE TRIGGER login_attempts_no_truncate BEFORE TRUNCATE ON login_attempts "
                   "FOR EACH STATEMENT EXECUTE FUNCTION login_attempts_refuse_change()")
    for name, columns in QUEUE_INDEXES.items():
        op.create_index(name, "cases", columns, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index("ix_cases_type_opened", "cases", ["service_code", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_type_opened", table_name="cases")
    for name in QUEUE_INDEXES:
        op.drop_index(name, table_name="cases")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS login_attempts_no_truncate ON login_attempts")
        op.execute("DROP TRIGGER IF EXISTS login_attempts_append_only ON login_attempts")
        op.execute("DROP FUNCTION IF EXISTS login_attempts_refuse_change()")
    for table in ("saved_filters", "case_assignees", "rate_limits", "login_attempts", "staff_sessions", "users"):
        op.drop_table(table)
