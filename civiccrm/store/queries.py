"""Case lists: one filter for every face (CLI, admin, Open311), translated to one SELECT."""

import operator
from datetime import datetime

import attrs
from sqlalchemy import and_, select
from sqlmodel import Session

from civiccrm.domain.cases import Case, Status
from civiccrm.store.repo import case_from_row
from civiccrm.store.tables import CaseRow, cases_table


@attrs.frozen
class CaseFilter:
    """What a list of cases can be filtered on (``civiccrm case list``, the admin, Open311 GET
    requests), already checked; empty or None means any."""

    tracking_numbers: tuple[str, ...] = ()
    """When given, every other filter but the page is ignored."""
    statuses: tuple[str, ...] = ()
    """Internal status values."""
    service_codes: tuple[str, ...] = ()
    department: str | None = None
    work_group: str | None = None
    district: str | None = None
    channel: str | None = None
    opened_from: datetime | None = None
    """Opened at or after this instant."""
    opened_before: datetime | None = None
    """Opened before this instant."""
    opened_to: datetime | None = None
    """Opened at or before this instant (Open311's inclusive ``end_date``)."""
    updated_after: datetime | None = None
    """Updated at or after this instant."""
    updated_before: datetime | None = None
    """Updated at or before this instant."""
    overdue_at: datetime | None = None
    """Only open cases whose due time has passed at this instant."""
    due_before: datetime | None = None
    """Only open cases due before this instant (not yet overdue included)."""
    limit: int = 50
    offset: int = 0

    @property
    def by_due_time(self) -> bool:
        """Overdue and due-soon lists are ordered by due time, most overdue first."""
        return self.overdue_at is not None or self.due_before is not None


def case_conditions(filters: CaseFilter) -> list:
    """The WHERE conditions on ``cases`` that ``filters`` asks for."""
    c = cases_table.c
    if filters.tracking_numbers:
        return [c.tracking_number.in_(filters.tracking_numbers)]
    conditions = []
    for column, values in ((c.status, filters.statuses), (c.service_code, filters.service_codes)):
        if values:
            conditions.append(column.in_(values))
    for column, value in ((c.department, filters.department), (c.work_group, filters.work_group),
                          (c.council_district, filters.district), (c.channel, filters.channel)):
        if value is not None:
            conditions.append(column == value)
    for column, compare, value in (
        (c.opened_at, operator.ge, filters.opened_from), (c.opened_at, operator.lt, filters.opened_before),
        (c.opened_at, operator.le, filters.opened_to), (c.updated_at, operator.ge, filters.updated_after),
        (c.updated_at, operator.le, filters.updated_before), (c.due_at, operator.lt, filters.overdue_at),
        (c.due_at, operator.lt, filters.due_before),
    ):
        if value is not None:
            conditions.append(compare(column, value))
    if filters.by_due_time:
        conditions += [c.status != Status.CLOSED.value, c.due_at.is_not(None),
                       c.sla_paused_at.is_(None)]  # on hold: the clock is stopped
    return conditions


def list_cases(*, session: Session, filters: CaseFilter) -> list[Case]:
    """The cases ``filters`` selects, newest first (by due time for overdue and due-soon lists)."""
    query = select(CaseRow).where(and_(True, *case_conditions(filters)))
    order = CaseRow.due_at if filters.by_due_time else CaseRow.opened_at.desc()
    query = query.order_by(order, CaseRow.id).limit(filters.limit).offset(filters.offset)
    return [case_from_row(r) for r in session.scalars(query)]


__all__ = ["CaseFilter", "case_conditions", "list_cases"]
