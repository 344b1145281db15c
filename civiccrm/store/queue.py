"""The work queue's SQL: open cases by due time, one keyset page at a time, and their counts."""

from datetime import datetime, timedelta

from sqlalchemy import and_, false, func, or_, select, tuple_
from sqlalchemy.engine import Connection

from civiccrm.domain.queue import Cursor, QueueFilter
from civiccrm.store.tables import case_assignees_table, case_is_open, cases_table, users_table

c = cases_table.c

COLUMNS = (c.id, c.tracking_number, c.request_type, c.service_code, c.status, c.due_at, c.opened_at, c.department,
           c.work_group, c.council_district, c.channel, c.address, c.sla_paused_at)


def _conditions(filters: QueueFilter, *, scope, now: datetime, user_id: int | None) -> list:
    """WHERE terms; ``status <> 'closed'`` first, as the partial queue indexes say."""
    terms = [case_is_open()]
    for column, value in ((c.status, filters.status), (c.service_code, filters.service_code),
                          (c.department, filters.department), (c.work_group, filters.work_group),
                          (c.council_district, filters.district), (c.channel, filters.channel)):
        if value is not None:
            terms.append(column == value)
    if scope is not None:  # a QueueScope
        parts = [c.work_group.in_(scope.work_groups)] if scope.work_groups else []
        if scope.departments:
            whole = c.department.in_(scope.departments)
            if scope.except_work_groups:
                whole = and_(whole, or_(c.work_group.is_(None), c.work_group.not_in(scope.except_work_groups)))
            parts.insert(0, whole)
        terms.append(or_(*parts) if parts else false())
    if filters.overdue:
        terms.append(c.due_at < now)
    if filters.due_within_hours:
        terms.append(c.due_at < now + timedelta(hours=filters.due_within_hours))
    if filters.triage:
        terms.append(c.service_code.is_(None))
    if filters.mine:
        mine = select(case_assignees_table.c.case_id).where(case_assignees_table.c.user_id == user_id)
        terms.append(c.id.in_(mine))
    return terms


def page(*, connection: Connection, filters: QueueFilter, scope, now: datetime, user_id: int | None,
         after: Cursor | None, limit: int) -> list:
    """Up to ``limit`` open cases after ``after`` in (due_at, id) order, cases without a due time last.

    Keyset paging: each page is an index range scan from the cursor, as fast on page 1,000 as on page 1."""
    terms = _conditions(filters, scope=scope, now=now, user_id=user_id)
    assignee = (select(users_table.c.username).select_from(case_assignees_table)
                .join(users_table, users_table.c.id == case_assignees_table.c.user_id)
                .where(case_assignees_table.c.case_id == c.id).scalar_subquery().label("assignee"))
    rows = []
    if after is None or after.due_at is not None:
        dated = and_(*terms, c.due_at.is_not(None))
        if after is not None:
            dated = and_(dated, tuple_(c.due_at, c.id) > tuple_(after.due_at, after.id))
        rows = list(connection.execute(select(*COLUMNS, assignee).where(dated).order_by(c.due_at, c.id).limit(limit)))
    if len(rows) < limit:
        undated = and_(*terms, c.due_at.is_(None))
        if after is not None and after.due_at is None:
            undated = and_(undated, c.id > after.id)
        rows += connection.execute(select(*COLUMNS, assignee).where(undated).order_by(c.id).limit(limit - len(rows)))
    return rows


def counts(*, connection: Connection, filters: QueueFilter, scope, now: datetime, user_id: int | None) -> dict:
    """How many cases the filter holds, how many are overdue and how many are due in the next 24 hours."""
    terms = _conditions(filters, scope=scope, now=now, user_id=user_id)
    row = connection.execute(select(
        func.count(),
        func.count().filter(c.due_at < now),
        func.count().filter(and_(c.due_at >= now, c.due_at < now + timedelta(hours=24))),
    ).select_from(cases_table).where(*terms)).one()
    return {"total": row[0], "overdue": row[1], "due_today": row[2]}
