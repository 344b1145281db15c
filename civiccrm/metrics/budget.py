"""Budget linkage: cases closed per department and service type, priced by the profile's unit costs.

One GROUP BY (department, service code) over the cases closed in the period, the same on
SQLite, PostgreSQL and the analytics copy; Python prices the few hundred rows it returns.
Volume and days come from ``summary`` (opened, closed, backlog, median and 90th percentile days).
"""

from datetime import datetime

import attrs
from sqlalchemy import func, select

from civiccrm.metrics.definitions import Metric
from civiccrm.store.tables import cases_table

_c = cases_table.c

COST = Metric(
    "cost", "cost",
    "cost = cases closed in the period x the unit cost of their service type (the type's own row of the cost "
    "table, else its department's default); a unit cost is a cost per case, or hours of work per case x cost "
    "per hour; cases of types without a cost are counted as not costed",
)
COST_PER_CASE = Metric("cost_per_case", "cost per case", "cost per case = cost / cases closed that were costed")
SHARES = Metric(
    "share_of_cases_and_cost", "share of cases, share of cost",
    "share of cases = the department's cases closed / all cases closed; share of cost = its cost / all cost: "
    "a department whose share of cost exceeds its share of cases spends more per case than the city's average",
)
BUDGET_METRICS = (COST, COST_PER_CASE, SHARES)


@attrs.frozen
class ClosedCount:
    department: str | None
    service_code: str | None
    closed: int


def closed_by_type(db, *, start: datetime, end: datetime) -> list[ClosedCount]:
    """Cases closed in [start, end) per department and service type."""
    query = (select(_c.department, _c.service_code, func.count())
             .where(_c.closed_at >= start, _c.closed_at < end)
             .group_by(_c.department, _c.service_code))
    return [ClosedCount(d, s, int(n)) for d, s, n in db.execute(query)]


@attrs.frozen
class Priced:
    department: str | None
    service_code: str | None
    closed: int
    unit: float | None
    basis: str
    hours: float | None

    @property
    def cost(self) -> float | None:
        return None if self.unit is None else self.closed * self.unit


def price(counts: list[ClosedCount], table) -> list[Priced]:
    """Each count with its unit cost (None when the table has none for it)."""
    found = []
    for count in counts:
        unit = table.for_type(count.service_code, count.department)
        found.append(Priced(count.department, count.service_code, count.closed, unit.per_case if unit else None,
                            unit.basis if unit else "not costed",
                            count.closed * unit.hours_per_case if unit and unit.hours_per_case is not None else None))
    return found


__all__ = ["BUDGET_METRICS", "ClosedCount", "Priced", "closed_by_type", "price"]
