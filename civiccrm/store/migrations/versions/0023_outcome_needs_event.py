"""A case's outcome changes only with an event: ``cases.last_event_id`` must advance to a new event of
the case whenever a column that holds an outcome changes.

``UPDATE cases SET resolution = ...`` typed in a shell used to change a published outcome with no
history. Now a trigger (SQLite and PostgreSQL) refuses an update that changes an outcome column
unless the same update moves ``last_event_id`` forward to an event of that case (written first,
in the same transaction); ``last_event_id`` itself never moves back or to another case's event.
NULL means no change was saved since the case was created or imported (existing cases start so:
no backfill over a large history).

Revision ID: 0023
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0013"
branch_labels = None
depends_on = None

#: The columns that hold an outcome (what the published figures are made of).
OUTCOME_COLUMNS = ("status", "resolution", "opened_at", "closed_at", "days_to_close", "on_time", "duplicate_of",
                   "city_exceeded_timeframe", "city_days_to_close")
_MESSAGE = ("cases: an outcome (status, resolution, dates, on-time verdict) changes only with an event: "
            "write the case_events row first and set last_event_id to it")
_WATCHED = ", ".join((*OUTCOME_COLUMNS, "last_event_id"))
_NO_NEW_EVENT = ("NEW.last_event_id IS NULL OR NEW.last_event_id <= COALESCE(OLD.last_event_id, 0) OR NOT EXISTS "
                 "(SELECT 1 FROM case_events WHERE id = NEW.last_event_id AND case_id = NEW.id)")


def upgrade() -> None:
    op.add_column("cases", sa.Column("last_event_id", sa.Integer))
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*OUTCOME_COLUMNS, "last_event_id"))
        op.execute(f"CREATE TRIGGER cases_outcome_needs_event BEFORE UPDATE OF {_WATCHED} ON cases FOR EACH ROW "
                   f"WHEN ({changed}) AND ({_NO_NEW_EVENT}) BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")
        return
    new = ", ".join(f"NEW.{c}" for c in (*OUTCOME_COLUMNS, "last_event_id"))
    old = ", ".join(f"OLD.{c}" for c in (*OUTCOME_COLUMNS, "last_event_id"))
    op.execute("CREATE FUNCTION cases_outcome_needs_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"IF ROW({new}) IS DISTINCT FROM ROW({old}) AND ({_NO_NEW_EVENT}) THEN "
               f"RAISE EXCEPTION '{_MESSAGE}'; END IF; RETURN NEW; END $$")
    op.execute(f"CREATE TRIGGER cases_outcome_needs_event BEFORE UPDATE OF {_WATCHED} ON cases "
               "FOR EACH ROW EXECUTE FUNCTION cases_outcome_needs_event()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS cases_outcome_needs_event")
    else:
        op.execute("DROP TRIGGER IF EXISTS cases_outcome_needs_event ON cases")
        op.execute("DROP FUNCTION IF EXISTS cases_outcome_needs_event()")
    op.execute("ALTER TABLE cases DROP COLUMN last_event_id")
