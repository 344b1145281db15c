"""Case lists: one filter for every face (CLI, admin, Open311), translated to one SELECT."""

import functools
import operator
from datetime import datetime

import attrs
from sqlalchemy import and_, bindparam, select
from sqlmodel import Session

from civiccrm.domain.cases import Case
from civiccrm.store.repo import case_from_row
from civiccrm.store.tables import CaseRow, case_is_open, cases_table


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


#: (CaseFilter field, column of ``cases``, comparison) of every filter but tracking_numbers; ``in`` takes a tuple.
_FILTERS = (
    ("statuses", "status", "in"), ("service_codes", "service_code", "in"),
    ("department", "department", operator.eq), ("work_group", "work_group", operator.eq),
    ("district", "council_district", operator.eq), ("channel", "channel", operator.eq),
    ("opened_from", "opened_at", operator.ge), ("opened_before", "opened_at", operator.lt),
    ("opened_to", "opened_at", operator.le), ("updated_after", "updated_at", operator.ge),
    ("updated_before", "updated_at", operator.le), ("overdue_at", "due_at", operator.lt),
    ("due_before", "due_at", operator.lt),
)


def filter_shape(filters: CaseFilter) -> tuple[str, ...]:
    """The names of the fields ``filters`` sets: statements of one shape differ only in their values."""
    if filters.tracking_numbers:
        return ("tracking_numbers",)
    return tuple(field for field, _, _ in _FILTERS if getattr(filters, field) not in (None, ()))


def filter_values(filters: CaseFilter) -> dict:
    """The bound values of ``bound_conditions(filter_shape(filters))``."""
    values = {}
    for field in filter_shape(filters):
        value = getattr(filters, field)
        values[field] = list(value) if isinstance(value, tuple) else value
    return values


def _conditions(shape: tuple[str, ...], value_of) -> list:
    c = cases_table.c
    if shape == ("tracking_numbers",):
        return [c.tracking_number.in_(value_of("tracking_numbers", c.tracking_number, True))]
    conditions = []
    for field, column_name, compare in _FILTERS:
        if field in shape:
            column = c[column_name]
            if compare == "in":
                conditions.append(column.in_(value_of(field, column, True)))
            else:
                conditions.append(compare(column, value_of(field, column, False)))
    if "overdue_at" in shape or "due_before" in shape:
        conditions += [case_is_open(), c.due_at.is_not(None),
                       c.sla_paused_at.is_(None)]  # on hold: the clock is stopped
    return conditions


def case_conditions(filters: CaseFilter) -> list:
    """The WHERE conditions on ``cases`` that ``filters`` asks for, with its values in them."""
    return _conditions(filter_shape(filters), lambda field, column, many: getattr(filters, field))


@functools.cache
def bound_conditions(shape: tuple[str, ...]) -> tuple:
    """The same conditions with a bound parameter per field (values from ``filter_values``): a statement
    built once per shape and reused skips SQLAlchemy's building and cache-key walk on every request."""
    return tuple(_conditions(shape, lambda field, column, many: bindparam(field, type_=column.type, expanding=many)))


def list_cases(*, session: Session, filters: CaseFilter) -> list[Case]:
    """The cases ``filters`` selects, newest first (by due time for overdue and due-soon lists)."""
    query = select(CaseRow).where(and_(True, *case_conditions(filters)))
    order = CaseRow.due_at if filters.by_due_time else CaseRow.opened_at.desc()
    query = query.order_by(order, CaseRow.id).limit(filters.limit).offset(filters.offset)
    return [case_from_row(r) for r in session.scalars(query)]


__all__ = ["CaseFilter", "bound_conditions", "case_conditions", "filter_shape", "filter_values", "list_cases"]
