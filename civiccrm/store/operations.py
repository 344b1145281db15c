"""The operations screen's SQL: deliveries that failed, and open cases whose SLA is breached or close to it."""

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from civiccrm.domain.outbox import DeliveryState
from civiccrm.store.tables import cases_table, outbox_table

c = cases_table.c
o = outbox_table.c


def failing_deliveries(*, connection: Connection, limit: int) -> list:
    """Dead deliveries and those waiting for another try after a failure, newest first."""
    failing = or_(o.state == DeliveryState.DEAD.value, and_(o.state == DeliveryState.PENDING.value, o.tries > 0))
    return connection.execute(
        select(o.id, o.kind, o.destination, o.subject, o.state, o.tries, o.max_attempts, o.last_error,
               o.next_attempt_at, o.created_at)
        .where(failing).order_by(o.id.desc()).limit(limit)).all()


def sla_at_risk(*, connection: Connection, now: datetime, within: timedelta, limit: int = 50) -> list:
    """Per work group: open, unpaused cases already past their due time and those due within ``within``,
    most overdue first."""
    running = and_(c.status != "closed", c.due_at.is_not(None), c.sla_paused_at.is_(None))
    overdue = func.sum(case((c.due_at < now, 1), else_=0))
    soon = func.sum(case((c.due_at >= now, 1), else_=0))
    return connection.execute(
        select(c.work_group, overdue.label("overdue"), soon.label("due_soon"), func.min(c.due_at).label("oldest_due"))
        .where(running, c.due_at < now + within)
        .group_by(c.work_group).order_by(overdue.desc(), soon.desc(), c.work_group).limit(limit)).all()
