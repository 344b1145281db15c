"""The 311 matrix: per work group, timeliness (on-time share) against satisfaction (acceptable answers).

One GROUP BY query, the same on SQLite and PostgreSQL. Its source is a UNION ALL of
two kinds of row, each carrying the case's work group:

- one row per case closed in the period: ``closed`` 1, ``on_time`` and ``on_time_known``
  as 1/0 from the case's verdict (``cases.on_time``, fixed at close);
- one row per answer to the survey question given in the period: ``answered`` 1 and
  ``acceptable`` 1/0 (value at or above the question's acceptable point). An answer
  reaches its case through ``survey_answers.response_id -> survey_responses.invitation_id
  -> survey_invitations.case_id``; responses without an invitation (imported resident
  surveys) have no case and are not counted.

Summing those per work group counts each closed case and each answer exactly once,
whatever the number of invitations a case had, so no DISTINCT is needed. Python only
divides and places the handful of groups in their quadrants.
"""

from datetime import datetime

import attrs
from sqlalchemy import Integer, and_, case, func, literal_column, select, true, union_all

from civiccrm.errors import CivicError
from civiccrm.metrics.definitions import MATRIX_METRICS, Metric
from civiccrm.metrics.summary import UNKNOWN, check_period, read_snapshot
from civiccrm.store.tables import (
    WorkGroupRow,
    cases_table,
    survey_answers_table,
    survey_invitations_table,
    survey_responses_table,
)

QUADRANTS: dict[str, str] = {
    "meets-both": "meets both targets",
    "timely-only": "on time, below the satisfaction target",
    "satisfied-only": "satisfied, below the timeliness target",
    "below-both": "below both targets",
}
"""Quadrant code -> what it means; a group with either share undefined has no quadrant (None)."""

_c = cases_table.c
_i = survey_invitations_table.c
_r = survey_responses_table.c
_a = survey_answers_table.c
_work_groups = WorkGroupRow.__table__


def quadrant(timeliness: float | None, satisfaction: float | None, *, timeliness_target: float,
             satisfaction_target: float) -> str | None:
    """The quadrant code for a pair of shares (at or above a target meets it); None if either is None."""
    if timeliness is None or satisfaction is None:
        return None
    timely, satisfied = timeliness >= timeliness_target, satisfaction >= satisfaction_target
    if timely and satisfied:
        return "meets-both"
    if timely:
        return "timely-only"
    return "satisfied-only" if satisfied else "below-both"


@attrs.frozen
class MatrixRow:
    """One work group's place in the matrix (or the totals, with ``work_group`` None)."""

    work_group: str | None
    """The work group code; None for cases without one (label "unknown") and for the totals."""
    label: str
    department: str | None
    closed: int
    """Cases closed in the period."""
    on_time: int
    on_time_known: int
    answered: int
    """Answers to the question, given in the period, about the group's cases (with a value)."""
    acceptable: int
    quadrant: str | None

    @property
    def timeliness(self) -> float | None:
        return self.on_time / self.on_time_known if self.on_time_known else None

    @property
    def satisfaction(self) -> float | None:
        return self.acceptable / self.answered if self.answered else None

    def to_dict(self) -> dict:
        return {
            "work_group": self.work_group, "label": self.label, "department": self.department,
            "closed": self.closed, "on_time": self.on_time, "on_time_known": self.on_time_known,
            "timeliness": self.timeliness, "answered": self.answered, "acceptable": self.acceptable,
            "satisfaction": self.satisfaction, "quadrant": self.quadrant,
        }


@attrs.frozen
class MatrixReport:
    """What ``matrix`` returns: the period, the question, the targets, the groups and the totals."""

    start: datetime
    end: datetime
    instrument: str
    question: str
    acceptable_from: int
    """Answers at or above this value are acceptable."""
    timeliness_target: float
    satisfaction_target: float
    rows: tuple[MatrixRow, ...]
    """Sorted by label; a work group appears when it closed a case or had an answer in the period."""
    total: MatrixRow
    definitions: tuple[Metric, ...] = MATRIX_METRICS

    def to_dict(self) -> dict:
        return {
            "start": self.start, "end": self.end, "instrument": self.instrument, "question": self.question,
            "acceptable_from": self.acceptable_from,
            "targets": {"timeliness": self.timeliness_target, "satisfaction": self.satisfaction_target},
            "quadrants": QUADRANTS,
            "rows": [r.to_dict() for r in self.rows], "total": self.total.to_dict(),
            "definitions": [m.to_dict() for m in self.definitions],
        }


def _one(value: int):
    return literal_column(str(value), Integer)


def matrix_query(*, start: datetime, end: datetime, instrument: str, question: str, acceptable_from: int):
    """The GROUP BY query: per work group, closed, on_time, on_time_known, answered, acceptable."""
    closed = (select(_c.work_group.label("g"), _c.department.label("department"), _one(1).label("closed"),
                     case((_c.on_time == true(), 1), else_=0).label("on_time"),
                     case((_c.on_time.is_not(None), 1), else_=0).label("on_time_known"),
                     _one(0).label("answered"), _one(0).label("acceptable"))
              .where(_c.closed_at >= start, _c.closed_at < end))
    answered = (select(_c.work_group, _c.department, _one(0), _one(0), _one(0), _one(1),
                       case((_a.value >= acceptable_from, 1), else_=0))
                .select_from(survey_answers_table
                             .join(survey_responses_table, _a.response_id == _r.id)
                             .join(survey_invitations_table, _r.invitation_id == _i.id)
                             .join(cases_table, _i.case_id == _c.id))
                .where(_r.instrument == instrument, _a.item == question, _a.value.is_not(None),
                       and_(_r.answered_at >= start, _r.answered_at < end)))
    units = union_all(closed, answered).subquery("units")
    u = units.c
    return (select(u.g, func.max(_work_groups.c.name).label("label"),
                   func.coalesce(func.max(_work_groups.c.department), func.max(u.department)).label("department"),
                   *(func.coalesce(func.sum(getattr(u, name)), 0).label(name)
                     for name in ("closed", "on_time", "on_time_known", "answered", "acceptable")))
            .select_from(units.outerjoin(_work_groups, _work_groups.c.code == u.g))
            .group_by(u.g))


def matrix(source, *, start: datetime, end: datetime, instrument: str, question: str, acceptable_from: int,
           timeliness_target: float, satisfaction_target: float) -> MatrixReport:
    """The 311 matrix for [start, end): per work group, timeliness against satisfaction with ``question``.

    ``source`` is a Session, Connection, Engine or Deployment (see ``summary.read_snapshot``).
    Targets are shares between 0 and 1.
    """
    check_period(start, end)
    for name, value in (("timeliness_target", timeliness_target), ("satisfaction_target", satisfaction_target)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise CivicError(f"{name}: {value!r} is not a share between 0 and 1", field=name)
    query = matrix_query(start=start, end=end, instrument=instrument, question=question,
                         acceptable_from=acceptable_from)
    with read_snapshot(source) as db:
        found = db.execute(query).mappings().all()
    counts = ("closed", "on_time", "on_time_known", "answered", "acceptable")

    def build(key, label, department, values) -> MatrixRow:
        row = MatrixRow(work_group=key, label=label, department=department, quadrant=None,
                        **{name: int(values[name] or 0) for name in counts})
        return attrs.evolve(row, quadrant=quadrant(row.timeliness, row.satisfaction, timeliness_target=timeliness_target,
                                                    satisfaction_target=satisfaction_target))

    rows = sorted((build(r["g"], r["label"] or r["g"] or UNKNOWN, r["department"], r) for r in found),
                  key=lambda row: (row.label.lower(), row.work_group or ""))
    total = build(None, "total", None, {name: sum(getattr(r, name) for r in rows) for name in counts})
    return MatrixReport(start=start, end=end, instrument=instrument, question=question,
                        acceptable_from=acceptable_from, timeliness_target=float(timeliness_target),
                        satisfaction_target=float(satisfaction_target), rows=tuple(rows), total=total)


__all__ = ["QUADRANTS", "MatrixReport", "MatrixRow", "matrix", "matrix_query", "quadrant"]
