"""Read queries for case lists (filters translate to one SELECT)."""

from datetime import datetime

import attrs
from sqlalchemy import and_, select
from sqlmodel import Session

from civiccrm.domain.cases import Case, Status
from civiccrm.store.repo import case_from_row
from civiccrm.store.tables import CaseRow


@attrs.frozen
class CaseFilter:
    """What ``civiccrm case list`` and the admin can filter on; None means any."""

    statuses: tuple[str, ...] = ()
    department: str | None = None
    work_group: str | None = None
    district: str | None = None
    service_code: str | None = None
    channel: str | None = None
    opened_from: datetime | None = None
    opened_before: datetime | None = None
    overdue_at: datetime | None = None
    """Only open cases whose due time has passed at this instant."""
    due_before: datetime | None = None
    """Only open cases due before this instant (not yet overdue included)."""
    limit: int = 50
    offset: int = 0


def list_cases(*, session: Session, filters: CaseFilter) -> list[Case]:
    conditions = []
    if filters.statuses:
        conditions.append(CaseRow.status.in_(filters.statuses))
    for column, value in (
        (CaseRow.department, filters.department), (CaseRow.work_group, filters.work_group),
        (CaseRow.council_district, filters.district), (CaseRow.service_code, filters.service_code),
        (CaseRow.channel, filters.channel),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.opened_from is not None:
        conditions.append(CaseRow.opened_at >= filters.opened_from)
    if filters.opened_before is not None:
        conditions.append(CaseRow.opened_at < filters.opened_before)
    if filters.overdue_at is not None or filters.due_before is not None:
        conditions.append(CaseRow.status != Status.CLOSED.value)
        conditions.append(CaseRow.due_at.is_not(None))
        conditions.append(CaseRow.sla_paused_at.is_(None))  # on hold: the clock is stopped
    if filters.overdue_at is not None:
        conditions.append(CaseRow.due_at < filters.overdue_at)
    if filters.due_before is not None:
        conditions.append(CaseRow.due_at < filters.due_before)
    query = select(CaseRow).where(and_(True, *conditions))
    order = CaseRow.due_at if (filters.overdue_at or filters.due_before) else CaseRow.opened_at.desc()
    query = query.order_by(order, CaseRow.id).limit(filters.limit).offset(filters.offset)
    return [case_from_row(r) for r in session.scalars(query)]


__all__ = ["CaseFilter", "list_cases"]
