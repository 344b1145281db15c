"""Cases without a service type: what nobody could classify waits in the triage queue with no
``service_code`` and no ``request_type`` (so no department and no due time) until staff type it.

SQLite cannot drop NOT NULL in place, and batch mode's copy of the table would have to drop
``cases``, which other tables reference (foreign keys are on and cannot be turned off inside the
migration's transaction) and which carries the append-only triggers. SQLite documents a procedure
for removing a NOT NULL constraint without touching the stored rows: edit the table's definition
in ``sqlite_schema`` under ``writable_schema`` and bump ``schema_version``
(https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes");
indexes, triggers and foreign keys stay as they are. The downgrade puts NOT NULL back the same way
once no case lacks a type (checked first, then ``integrity_check``).

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-01
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None

COLUMNS = (("service_code", sa.String(150), "VARCHAR(150)"), ("request_type", sa.String(300), "VARCHAR(300)"))


def _sqlite_not_null(nullable: bool) -> None:
    connection = op.get_bind()
    sql = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'cases'").scalar()
    for name, _, declared in COLUMNS:
        old = rf"\b{name} {re.escape(declared)}" + (r" NOT NULL\b" if nullable else r"(?=\s*,)")
        new = f"{name} {declared}" + ("" if nullable else " NOT NULL")
        sql, count = re.subn(old, new, sql)
        if count != 1:
            raise RuntimeError(f"0026: cases.{name} is not declared as expected in the SQLite schema")
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        connection.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'cases'",
                                   (sql,))
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"0026: integrity_check after changing cases: {problems[:5]}")


def _nullable(nullable: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_not_null(nullable)
        return
    for name, type_, _ in COLUMNS:
        op.alter_column("cases", name, existing_type=type_, nullable=nullable)


def upgrade() -> None:
    _nullable(True)


def downgrade() -> None:
    # An untyped case has no place in the old schema: refuse rather than invent a type for it.
    untyped = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM cases WHERE service_code IS NULL OR request_type IS NULL")).scalar()
    if untyped:
        raise RuntimeError(f"0026 downgrade: {untyped} case(s) have no service type; type them first "
                           "(the admin's triage queue)")
    _nullable(False)
