"""The Kansas City time-frame refit (issue 13): business days, with the dates the city changed them.

What the city's own ``EXCEEDED EST TIMEFRAME`` supports (docs/kansas-city-timeframes.md,
"The refit"): a case is late when it closed more than T *business days* after it was
opened (Monday to Friday; the city's verdicts count the federal holidays as working days,
and so does the project's calendar ``city-business-days``), and T is per request type but not constant: the city
changed it at dates of its own (the July 2015 reset is one of them, not the only one;
``Abandoned Vehicle`` went from 5 business days to 1 in 2010). So each request type's
cases, in order of opening, are split at the start of a month where that removes at least
``GAIN`` disagreements (a split at the July 2015 reset needs only one), each side keeping
``MIN_CASES`` cases, at most ``DEPTH`` times over; each piece gets the whole-day T >= 1 that
disagrees with the fewest of its verdicts (ties to the smallest T). A type with fewer than
``MIN_CASES`` verdicts takes its department's T, else the city's.

The measure is exactly what the SLA engine decides with a ``business_days`` target of T on
that calendar, given the importer's convention for the open data's closing dates (a case
closed on a later day closed at 00:00 of that day; on its own day, at its opening time): on
time when the closing date is no later than the T-th business day after the opening date.
So ``business_days(opened, closed) <= T`` is the project's on-time verdict, and the
versions this fit writes into ``sla_policies.csv`` are the project's time-frames.
"""

import csv
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import holidays
import numpy as np

CHICAGO = ZoneInfo("America/Chicago")
RESET = date(2015, 7, 1)
MIN_CASES = 5
GAIN = 3
DEPTH = 2
CALENDAR = "city-business-days"


@attrs.frozen
class Case:
    file: str
    request_type: str
    department: str
    opened: date
    business_days: int
    exceeded: bool
    opened_at: datetime
    """Opening instant, local (America/Chicago): what the SLA engine counts from."""
    closed: date
    detail: str = ""
    """The export's DETAIL (third level of the city's taxonomy), for ``key_by_detail``."""


def federal_holidays(first: int = 2006, last: int = 2022) -> np.ndarray:
    """The US federal holidays (observed days included): what the refit does NOT take off (held out,
    taking them off agrees less: docs/kansas-city-timeframes.md)."""
    return np.array(sorted(holidays.country_holidays("US", years=range(first, last + 1))), dtype="datetime64[D]")


NO_HOLIDAYS = np.array([], dtype="datetime64[D]")


def business_days(opened: np.ndarray, closed: np.ndarray, holidays_: np.ndarray) -> np.ndarray:
    """How many business days a close took, as the engine counts them: 0 on the opening day, else
    1 + the business days strictly between the two dates (closed on a Saturday after a Friday
    opening is 1 working day plus the Saturday itself, i.e. after the 1st business day)."""
    between = np.busday_count(opened + 1, closed, holidays=holidays_)
    return np.where(closed > opened, np.maximum(between, 0) + 1, 0)


def read_cases(folder: Path, holidays_: np.ndarray = NO_HOLIDAYS) -> list[Case]:
    """Closed cases with a Y/N verdict from the kc311 files (every status, CANC and DUP included)."""
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise SystemExit(f"no kc311 CSV files in {folder}")
    rows = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                verdict = row["EXCEEDED EST TIMEFRAME"].strip()
                closed = row["CLOSED DATE"].strip()
                if verdict not in ("Y", "N") or not closed:
                    continue
                opened = f"{row['CREATION DATE'].strip()} {row['CREATION TIME'].strip()}"
                try:
                    opened_at = datetime.strptime(opened, "%m/%d/%Y %I:%M %p").replace(tzinfo=CHICAGO)
                    closed_day = datetime.strptime(closed, "%m/%d/%Y").date()
                except ValueError:
                    raise SystemExit(f"{path}: line {line}: CREATION DATE/TIME {opened!r}, CLOSED DATE {closed!r}; "
                                     "expected dates like 11/22/2019 and a time like 02:55 PM") from None
                rows.append((path.name, row["REQUEST TYPE"].strip(), row["DEPARTMENT"].strip(), opened_at,
                             closed_day, verdict == "Y", row.get("DETAIL", "").strip()))
    days = business_days(np.array([r[3].date() for r in rows], dtype="datetime64[D]"),
                         np.array([r[4] for r in rows], dtype="datetime64[D]"), holidays_)
    return [Case(f, t, d, o.date(), int(n), y, o, cl, det) for (f, t, d, o, cl, y, det), n in zip(rows, days)]


def key_by_detail(cases: list[Case], request_types) -> list[Case]:
    """The cases of ``request_types`` keyed by request type and DETAIL ("Property Violations | Trash"),
    as a time-frame per detail would be; the others as they are. A measurement only: the SLA engine
    keys a policy on the service type, and a Kansas City case keeps no DETAIL (docs/kansas-city-timeframes.md)."""
    wanted = set(request_types)
    unknown = wanted - {c.request_type for c in cases}
    if unknown:
        raise SystemExit(f"--per-detail: no request type {', '.join(map(repr, sorted(unknown)))} among the cases; "
                         "expected a REQUEST TYPE of the export, e.g. 'Property Violations'")
    return [attrs.evolve(c, request_type=f"{c.request_type} | {c.detail}") if c.request_type in wanted else c
            for c in cases]


def best_threshold(days: np.ndarray, late: np.ndarray) -> tuple[int, int]:
    """(T, errors): the whole T >= 1 minimising the cases with ``(days > T) != late``, ties to the smallest."""
    top = max(int(days.max()) if days.size else 1, 1)
    t = np.arange(1, top + 1)
    late_by = np.bincount(days[late], minlength=top + 1)
    on_time_by = np.bincount(days[~late], minlength=top + 1)
    # errors(T) = late cases with days <= T + on-time cases with days > T
    errors = np.cumsum(late_by)[t] + (on_time_by.sum() - np.cumsum(on_time_by)[t])
    i = int(np.argmin(errors))
    return int(t[i]), int(errors[i])


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


@attrs.frozen
class Piece:
    """One version of a type's time-frame: from ``start`` (None: the beginning), T business days."""

    start: date | None
    target: int
    cases: int
    errors: int


def fit_pieces(months: np.ndarray, days: np.ndarray, late: np.ndarray, *, start: date | None = None,
               depth: int = DEPTH, gain: int = GAIN, min_cases: int = MIN_CASES) -> list[Piece]:
    """A type's versions over time: split at month starts where it pays (module docstring)."""
    target, errors = best_threshold(days, late)
    pieces = [Piece(start, target, len(days), errors)]
    if depth == 0 or errors == 0 or len(days) < 2 * min_cases:
        return pieces
    chosen = None
    for month in np.unique(months)[1:]:
        left = months < month
        n = int(left.sum())
        if n < min_cases or len(days) - n < min_cases:
            continue
        saved = errors - best_threshold(days[left], late[left])[1] - best_threshold(days[~left], late[~left])[1]
        need = 1 if _month_start(int(month)) == RESET else gain
        if saved >= need and (chosen is None or saved - need > chosen[0]):
            chosen = (saved - need, int(month))
    if chosen is None:
        return pieces
    left = months < chosen[1]
    kw = {"depth": depth - 1, "gain": gain, "min_cases": min_cases}
    return (fit_pieces(months[left], days[left], late[left], start=start, **kw)
            + fit_pieces(months[~left], days[~left], late[~left], start=_month_start(chosen[1]), **kw))


@attrs.frozen
class Fit:
    """Pieces per request type, and the fallback T per department and for the whole city."""

    types: dict[str, list[Piece]]
    departments: dict[str, int]
    city: int

    def target(self, request_type: str, department: str, opened: date) -> int:
        pieces = self.types.get(request_type)
        if pieces is None:
            return self.departments.get(department, self.city)
        found = pieces[0]
        for piece in pieces[1:]:
            if opened >= piece.start:
                found = piece
        return found.target

    def late(self, case: Case, department: str | None = None) -> bool:
        return case.business_days > self.target(case.request_type, department or case.department, case.opened)


def _arrays(cases):
    return (np.array([_month(c.opened) for c in cases]), np.array([c.business_days for c in cases], dtype=np.int64),
            np.array([c.exceeded for c in cases], dtype=bool))


def fit(cases: list[Case], *, depth: int = DEPTH, gain: int = GAIN, min_cases: int = MIN_CASES) -> Fit:
    by_type, by_department = defaultdict(list), defaultdict(list)
    for case in cases:
        by_type[case.request_type].append(case)
        by_department[case.department].append(case)
    types = {}
    for name, group in by_type.items():
        if len(group) >= min_cases:
            types[name] = fit_pieces(*_arrays(group), depth=depth, gain=gain, min_cases=min_cases)
    departments = {name: best_threshold(*_arrays(group)[1:])[0]
                   for name, group in by_department.items() if len(group) >= min_cases}
    return Fit(types, departments, best_threshold(*_arrays(cases)[1:])[0])


def held_out(cases: list[Case], files=None, **kw) -> tuple[int, int, Counter, Counter]:
    """Leave each neighbourhood file out in turn (or only ``files``): fit on the others, predict it.

    Returns (agreeing, cases, agreeing per department, cases per department)."""
    agree, total, by_dept, n_dept = 0, 0, Counter(), Counter()
    for held in sorted(files or {c.file for c in cases}):
        model = fit([c for c in cases if c.file != held], **kw)
        for case in (c for c in cases if c.file == held):
            ok = model.late(case) == case.exceeded
            agree += ok
            total += 1
            by_dept[case.department] += ok
            n_dept[case.department] += 1
    return agree, total, by_dept, n_dept
