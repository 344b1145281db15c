"""The work queue of one work group by due time reads the partial index on (work_group, due_at, id) of open
cases, on SQLite and on PostgreSQL, there also in the generic plan a prepared statement ends up with (psycopg
prepares a query from its fifth run): ``status <> 'closed'`` is written as a literal, as the index says."""

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from civiccrm.domain.queue import QueueFilter, QueueScope
from civiccrm.store import queue
from civiccrm.store.queries import CaseFilter, case_conditions
from civiccrm.store.tables import cases_table

c = cases_table.c
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def statements():
    """The SLA/`case list` due-time list and the admin queue's page, as their modules build them."""
    listed = select(c.id).where(*case_conditions(CaseFilter(work_group="wg", due_before=NOW + timedelta(days=3))))
    paged = select(c.id).where(*queue._conditions(QueueFilter(work_group="wg"), scope=None, now=NOW, user_id=None),
                               c.due_at.is_not(None))
    return {"list": listed.order_by(c.due_at, c.id).limit(50), "queue": paged.order_by(c.due_at, c.id).limit(50)}


def plan(conn, statement) -> str:
    compiled = statement.compile(conn, compile_kwargs={"render_postcompile": True})  # IN (...) as its values
    if conn.dialect.name == "sqlite":
        values = tuple(compiled.construct_params()[name] for name in compiled.positiontup)
        return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), values))
    # PostgreSQL: PREPARE with $n placeholders, then the generic plan of EXECUTE (no values known to it).
    names, sql = [], str(compiled)

    def number(match):
        names.append(match.group(1))
        return f"${len(names)}"

    sql = re.sub(r"%\((\w+)\)s", number, sql)
    values = compiled.construct_params()
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table: ask which indexes can serve at all
    conn.exec_driver_sql("DEALLOCATE ALL")
    conn.exec_driver_sql(f"PREPARE queue_plan AS {sql}")
    literals = ", ".join(_literal(values[name]) for name in names)
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE queue_plan({literals})"))


def _literal(value) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def test_work_group_queue_reads_its_index(deployment):
    with deployment.engine.connect() as conn:
        for name, statement in statements().items():
            assert "ix_cases_queue_work_group" in plan(conn, statement), name


def test_a_department_workers_triage_count_reads_the_triage_index(deployment):
    """The Triage badge of a department worker's queue (open, untyped, of their departments) reads the partial
    index of open untyped cases (migration 0029), not every open case of the department."""
    scope = QueueScope(departments=("public-works",), except_work_groups=("wg",), work_groups=())
    terms = queue._conditions(QueueFilter(triage=True), scope=scope, now=NOW, user_id=None)
    statement = select(func.count(), func.count().filter(c.due_at < NOW)).select_from(cases_table).where(*terms)
    with deployment.engine.connect() as conn:
        assert "ix_cases_queue_triage" in plan(conn, statement)
