"""How the project's on-time verdicts compare with the city's own (``civiccrm sla compare``)."""

import attrs
from sqlalchemy import and_, case, func, select

from civiccrm.store.tables import DepartmentRow, cases_table


@attrs.frozen
class Agreement:
    """How often the project's on-time verdict agrees with the city's, for one group."""

    group: str
    cases: int
    agree: int
    project_late_city_on_time: int
    project_on_time_city_late: int

    @property
    def share(self) -> float | None:
        return self.agree / self.cases if self.cases else None


def compare(deployment) -> tuple[Agreement, list[Agreement]]:
    """Overall and per-department agreement of ``on_time`` with ``not city_exceeded_timeframe`` (one GROUP BY)."""
    c = cases_table.c
    agree = func.sum(case((c.on_time == ~c.city_exceeded_timeframe, 1), else_=0))
    late_vs_ok = func.sum(case((and_(~c.on_time, ~c.city_exceeded_timeframe), 1), else_=0))
    ok_vs_late = func.sum(case((and_(c.on_time, c.city_exceeded_timeframe), 1), else_=0))
    name = func.coalesce(DepartmentRow.name, c.department, "(none)")
    query = (
        select(name, func.count(), agree, late_vs_ok, ok_vs_late)
        .select_from(cases_table.outerjoin(DepartmentRow.__table__, DepartmentRow.code == c.department))
        .where(c.on_time.is_not(None), c.city_exceeded_timeframe.is_not(None))
        .group_by(name)
        .order_by(func.count().desc(), name)
    )
    with deployment.session() as s:
        rows = [Agreement(group=r[0], cases=r[1], agree=int(r[2] or 0), project_late_city_on_time=int(r[3] or 0),
                          project_on_time_city_late=int(r[4] or 0)) for r in s.execute(query)]
    total = Agreement(
        group="all", cases=sum(r.cases for r in rows), agree=sum(r.agree for r in rows),
        project_late_city_on_time=sum(r.project_late_city_on_time for r in rows),
        project_on_time_city_late=sum(r.project_on_time_city_late for r in rows),
    )
    return total, rows
