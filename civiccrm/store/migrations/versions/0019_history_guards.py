"""History that cannot be rewritten: no REPLACE over history or cases, no deleting a case, a hash chain.

SQLite's ``INSERT OR REPLACE`` (and ``REPLACE INTO``) deletes a conflicting row without
firing its DELETE trigger (unless every connection turns on recursive triggers), so
the append-only triggers of 0001 did not stop it. An insert whose key already exists is
refused here instead, whatever the connection's settings. A case is never deleted, on
either database, even with foreign keys off (as in the sqlite3 shell).

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from civiccrm.store.types import UTCDateTime

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None

_HISTORY = "case_events is append-only: history rows cannot be changed or deleted"
_CASES = "cases are never deleted or replaced: close, merge or redact them instead"
_CHAIN = "audit_chain is append-only: links cannot be changed or deleted"

# SQLite: (trigger name, timing and table, condition, message).
_SQLITE_TRIGGERS = (
    ("case_events_no_replace", "BEFORE INSERT ON case_events",
     "WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM case_events WHERE id = NEW.id)", _HISTORY),
    ("cases_no_replace", "BEFORE INSERT ON cases",
     "WHEN EXISTS (SELECT 1 FROM cases WHERE id = NEW.id OR tracking_number = NEW.tracking_number"
     " OR (NEW.external_id IS NOT NULL AND origin = NEW.origin AND external_id = NEW.external_id))", _CASES),
    ("cases_no_delete", "BEFORE DELETE ON cases", "", _CASES),
    ("audit_chain_no_update", "BEFORE UPDATE ON audit_chain", "", _CHAIN),
    ("audit_chain_no_delete", "BEFORE DELETE ON audit_chain", "", _CHAIN),
    ("audit_chain_no_replace", "BEFORE INSERT ON audit_chain",
     "WHEN EXISTS (SELECT 1 FROM audit_chain WHERE seq = NEW.seq OR event_id = NEW.event_id)", _CHAIN),
)


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("sealed_at", UTCDateTime, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, timing, condition, message in _SQLITE_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {timing} FOR EACH ROW {condition} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        return
    op.execute("CREATE FUNCTION cases_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
               f"BEGIN RAISE EXCEPTION '{_CASES}'; END $$")
    op.execute("CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases "
               "FOR EACH ROW EXECUTE FUNCTION cases_refuse_delete()")
    op.execute("CREATE TRIGGER cases_no_truncate BEFORE TRUNCATE ON cases "
               "FOR EACH STATEMENT EXECUTE FUNCTION cases_refuse_delete()")
    op.execute("CREATE FUNCTION audit_chain_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
               f"BEGIN RAISE EXCEPTION '{_CHAIN}'; END $$")
    op.execute("CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain "
               "FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change()")
    op.execute("CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, *_ in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.drop_table("audit_chain")
        return
    op.drop_table("audit_chain")
    op.execute("DROP FUNCTION IF EXISTS audit_chain_refuse_change()")
    op.execute("DROP TRIGGER IF EXISTS cases_no_truncate ON cases")
    op.execute("DROP TRIGGER IF EXISTS cases_no_delete ON cases")
    op.execute("DROP FUNCTION IF EXISTS cases_refuse_delete()")
