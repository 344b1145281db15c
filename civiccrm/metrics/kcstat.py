"""KCStat figures: volume, timeliness, backlog age, satisfaction, escalations, repeat requests and trend.

The monthly performance review Kansas City holds with the mayor, the city manager and the
council (KCStat), for any city. Every figure is computed in the database with SQLAlchemy
Core (the same statements on SQLite and PostgreSQL), for a period and for the same period
a year before; Python only shifts dates and divides.

- volume and timeliness reuse ``summaries`` (opened, closed, backlog, median and 90th
  percentile days, the project's and the city's on-time shares) grouped by channel,
  department, work group and type;
- backlog age counts the open backlog in the city's windows (30-60-90 days) in one
  conditional aggregation;
- the 13-month trend buckets cases by month with one CASE over the month boundaries,
  so 25 months cost two GROUP BY queries and one window query, not 25 of each;
- repeat requests look at the previous case of the same type at the same address with
  ``LAG() OVER (PARTITION BY service_code, address ORDER BY opened_at)``;
- satisfaction counts answers to the chosen instrument's rated questions per question;
- escalations count the SLA scan's ``sla_escalated`` events (warnings and breaches).
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy import Float, and_, case, func, inspect, literal, or_, select, true, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from civiccrm.domain.cases import Status
from civiccrm.metrics.definitions import Metric
from civiccrm.metrics.summary import (
    _bucket,
    _dialect_name,
    _percentile_query,
    check_period,
    read_snapshot,
    summaries,
    summary_from_pieces,
)
from civiccrm.store.figure_cache import cached, cached_runs, instant_key, scope
from civiccrm.store.tables import DepartmentRow, cases_table, events_table, survey_answers_table, survey_responses_table

_c = cases_table.c
_e = events_table.c
_r = survey_responses_table.c
_a = survey_answers_table.c

VOLUME_GROUPINGS = ("channel", "department", "type")
TIMELINESS_GROUPINGS = ("department", "work-group", "type")
TREND_MONTHS = 13

BACKLOG_AGE = Metric(
    "backlog_age", "backlog age",
    "backlog age = open backlog cases (see backlog) by days open at the end of the period "
    "(end - opened_at, in calendar days) in the city's windows, e.g. 0-30, 31-60, 61-90, over 90",
)
SATISFACTION_SHARE = Metric(
    "satisfaction", "satisfied",
    "satisfied = answers to the question given in the period that are acceptable (at or above its "
    "acceptable point) / answers with a value (blank, N/A and don't know left out); compared with each goal",
)
ESCALATIONS = Metric(
    "escalations", "escalations",
    "escalations = the SLA scan's escalation events in the period (case events of kind sla_escalated): "
    "warnings (due soon) and breaches (past due; first-response breaches counted apart), by the case's department",
)
REPEATS = Metric(
    "repeat_requests", "repeat requests",
    "repeat request = a case opened in the period with an address whose previous case of the same type at "
    "the same address was opened at most N days before it; share = repeats / cases opened with an address",
)
TREND = Metric(
    "trend", "13-month trend",
    "trend = per calendar month (city time) of the 13 ending with the period's last month: cases opened, "
    "cases closed, share on time (project and city) and median days to close of cases closed that month; "
    "beside each, the same month a year before",
)
YEAR_BEFORE = Metric(
    "year_before", "a year before",
    "a year before = the same local dates one year earlier (29 February becomes 28 February)",
)
FISCAL_YTD = Metric(
    "fiscal_year_to_date", "fiscal year to date",
    "fiscal year to date = from the first day of the fiscal year the period ends in to the period's end",
)
LOW_SAMPLE = Metric(
    "low_sample", "low sample",
    "low sample = a share or ranking whose denominator is below the pack's minimum sample; it is shown "
    "but flagged, and should not be read as a difference between groups",
)
CALLS = Metric(
    "call_centre", "call centre",
    "call centre = calls offered, answered and abandoned in the period; abandonment = abandoned / offered; "
    "average speed of answer = mean wait of answered calls, in seconds, by weekday (city time)",
)
KCSTAT_METRICS = (BACKLOG_AGE, SATISFACTION_SHARE, ESCALATIONS, REPEATS, TREND, YEAR_BEFORE, FISCAL_YTD,
                  LOW_SAMPLE, CALLS)


class epoch_seconds(FunctionElement):
    """Seconds since 1970-01-01 UTC of a UTCDateTime column, on every backend the store runs on."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw):
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


# --- periods ----------------------------------------------------------------------------------


def _local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _minus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@attrs.frozen
class Period:
    """[start, end) between two local midnights, with the last local day it covers."""

    start: datetime
    end: datetime
    tz: ZoneInfo = attrs.field(eq=False, repr=False)

    @property
    def first_day(self) -> date:
        return _local_day(self.start, self.tz)

    @property
    def last_day(self) -> date:
        return _local_day(self.end - timedelta(microseconds=1), self.tz)

    def year_before(self) -> "Period":
        return Period(_midnight(_minus_years(self.first_day, 1), self.tz),
                      _midnight(_minus_years(self.last_day, 1) + timedelta(days=1), self.tz), self.tz)

    def to_dict(self) -> dict:
        return {"start": self.start.astimezone(self.tz).isoformat(), "end": self.end.astimezone(self.tz).isoformat(),
                "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat()}


def fiscal_year_to_date(period: Period, fiscal_year_start: tuple[int, int]) -> Period:
    """From the start of the fiscal year the period's last day falls in, to the period's end."""
    month, day = fiscal_year_start
    last = period.last_day
    first = date(last.year, month, day)
    if first > last:
        first = date(last.year - 1, month, day)
    return Period(_midnight(first, period.tz), period.end, period.tz)


def fiscal_pieces(fiscal: Period, period: Period) -> list[datetime]:
    """Where the fiscal year to date is split for its counts (``summary_from_pieces``): at each local month start
    before the period, then at the period's start, so that its pieces are past months (kept in the figure cache
    from one pack to the next) and the period itself (whose counts the pack has just computed)."""
    cuts = [fiscal.start]
    day = fiscal.first_day
    while True:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        cut = _midnight(day, fiscal.tz)
        if cut >= min(period.start, fiscal.end):
            break
        cuts.append(cut)
    if fiscal.start < period.start < fiscal.end:
        cuts.append(period.start)
    return [*cuts, fiscal.end]


def month_starts(last_day: date, count: int) -> list[date]:
    """The first days of ``count`` consecutive months ending with the month of ``last_day``, then the month after."""
    year, month = last_day.year, last_day.month
    firsts = []
    for back in range(count - 1, -2, -1):
        index = year * 12 + (month - 1) - back
        firsts.append(date(index // 12, index % 12 + 1, 1))
    return firsts


# --- shares -----------------------------------------------------------------------------------


@attrs.frozen
class Share:
    """numerator / denominator, flagged when the denominator is below the minimum sample."""

    numerator: int
    denominator: int
    min_sample: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def low_sample(self) -> bool:
        return self.denominator < self.min_sample

    def to_dict(self) -> dict:
        return {"numerator": self.numerator, "denominator": self.denominator, "value": self.value,
                "low_sample": self.low_sample}


# --- backlog age ------------------------------------------------------------------------------


@attrs.frozen
class BacklogAge:
    key: str | None
    label: str
    counts: tuple[int, ...]
    """Open cases per window, youngest first (one more than the window bounds: the last is "over")."""

    @property
    def total(self) -> int:
        return sum(self.counts)


def window_labels(windows: tuple[int, ...]) -> tuple[str, ...]:
    """(30, 60, 90) -> ("0-30", "31-60", "61-90", "over 90") days open."""
    labels, low = [], 0
    for bound in windows:
        labels.append(f"{low}-{bound}")
        low = bound + 1
    labels.append(f"over {windows[-1]}")
    return tuple(labels)


def backlog_age(db, *, as_of: datetime, windows: tuple[int, ...], key, label, from_clause,
                keep: bool = True) -> list[BacklogAge]:
    """The open backlog as of ``as_of`` per group, counted in the age windows (days open).

    On the analytics engine the rows are kept in its figure cache when ``keep`` (an instant that
    will be asked for again: a period's end, not now)."""
    in_backlog = and_(_c.opened_at < as_of, or_(_c.status != Status.CLOSED.value, _c.closed_at >= as_of))
    columns, younger = [], None
    for n, bound in enumerate(windows):
        limit = as_of - timedelta(days=bound)
        condition = _c.opened_at >= limit if younger is None else and_(_c.opened_at >= limit, _c.opened_at < younger)
        columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(f"w{n}"))
        younger = limit
    columns.append(func.coalesce(func.sum(case((_c.opened_at < younger, 1), else_=0)), 0).label(f"w{len(windows)}"))
    query = (select(key.label("g"), label.label("label"), *columns).select_from(from_clause)
             .where(in_backlog).group_by(key))
    found = cached(db, f"backlog_age|{instant_key(as_of)}|{list(windows)}|{key}|{label}", scope(backlog_at=as_of),
                   lambda: [dict(r) for r in db.execute(query).mappings()], keep=keep)
    rows = [BacklogAge(r["g"], r["label"] or r["g"] or "unknown", tuple(int(r[f"w{i}"]) for i in range(len(windows) + 1)))
            for r in found]
    return sorted(rows, key=lambda row: (-row.total, row.label.lower()))


# --- trend ------------------------------------------------------------------------------------


@attrs.frozen
class MonthFigures:
    month: str
    """YYYY-MM."""
    opened: int = 0
    closed: int = 0
    on_time: int = 0
    on_time_known: int = 0
    city_on_time: int = 0
    city_on_time_known: int = 0
    median_days: float | None = None

    def to_dict(self) -> dict:
        return attrs.asdict(self)


def monthly(db, firsts: list[date], tz: ZoneInfo) -> list[MonthFigures]:
    """Figures per month for the months starting at ``firsts[:-1]`` (``firsts[-1]`` ends the last).

    On the analytics engine each month's figures are kept in its figure cache (scope: the cases
    opened or closed in the month), and only the months not found there are queried, each run of
    consecutive months in one pass."""
    bounds = [_midnight(day, tz) for day in firsts]
    pairs = list(zip(bounds, bounds[1:]))
    found = cached_runs(db, [f"month|{instant_key(lo)}|{instant_key(hi)}" for lo, hi in pairs],
                        [scope(opened=pair, closed=pair) for pair in pairs],
                        lambda n, run: [m.to_dict() for m in _monthly(db, firsts[n:run + 1], bounds[n:run + 1])])
    return [MonthFigures(**month) for month in found]


def _monthly(db, firsts: list[date], bounds: list[datetime]) -> list[MonthFigures]:
    lo, hi = bounds[0], bounds[-1]
    opened_bucket, closed_bucket = _bucket(_c.opened_at, bounds), _bucket(_c.closed_at, bounds)
    opened = dict(db.execute(select(opened_bucket.label("b"), func.count().label("n"))
                             .where(_c.opened_at >= lo, _c.opened_at < hi).group_by(opened_bucket)).all())

    def flag(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    closed_in = and_(_c.closed_at >= lo, _c.closed_at < hi)
    closed = {r["b"]: r for r in db.execute(
        select(closed_bucket.label("b"), func.count().label("closed"),
               flag(_c.on_time == true()).label("on_time"), flag(_c.on_time.is_not(None)).label("on_time_known"),
               flag(_c.city_exceeded_timeframe == literal(False)).label("city_on_time"),
               flag(_c.city_exceeded_timeframe.is_not(None)).label("city_on_time_known"))
        .where(closed_in).group_by(closed_bucket)).mappings()}
    medians = {r["g"]: r["median_days"] for r in db.execute(_percentile_query(closed_bucket, closed_in,
                                                                                   _dialect_name(db))).mappings()}
    months = []
    for n, first in enumerate(firsts[:-1]):
        row = closed.get(n, {})
        median = medians.get(n)
        months.append(MonthFigures(
            month=f"{first:%Y-%m}", opened=int(opened.get(n, 0)),
            **{name: int(row.get(name, 0) or 0) for name in
               ("closed", "on_time", "on_time_known", "city_on_time", "city_on_time_known")},
            median_days=None if median is None else float(median)))
    return months


# --- repeat requests --------------------------------------------------------------------------


@attrs.frozen
class RepeatArea:
    area: str | None
    opened: int
    """Cases opened in the period with an address."""
    repeats: int


REPEAT_AREAS = {"district": _c.council_district, "neighborhood": _c.neighborhood, "zip": _c.zip_code}
"""What repeat requests may be counted by (the ``repeat_area`` setting)."""


def repeat_requests(db, *, start: datetime, end: datetime, days: int, area: str) -> list[RepeatArea]:
    """Per area: cases opened in [start, end) with an address, and how many repeat an earlier one within ``days``."""
    area_column = REPEAT_AREAS[area]
    previous = func.lag(_c.opened_at).over(partition_by=(_c.service_code, _c.address),
                                           order_by=(_c.opened_at, _c.id))
    looked_at = select(area_column.label("area"), _c.opened_at.label("opened_at"), previous.label("previous")).where(
        _c.address.is_not(None), _c.opened_at >= start - timedelta(days=days), _c.opened_at < end)
    if _dialect_name(db) == "duckdb":
        # Only the (type, address) pairs of the period's own cases can hold a repeat: the look-back's other cases
        # are left out before the window's sort (the same previous case for every counted one; 0.43 -> 0.32 CPU s
        # for June 2020 over 3.5M cases, where nearly every pair is unique).
        looked_at = looked_at.where(tuple_(_c.service_code, _c.address).in_(
            select(_c.service_code, _c.address).where(_c.address.is_not(None), _c.opened_at >= start,
                                                      _c.opened_at < end)))
    ranked = looked_at.subquery("ranked")
    repeat = and_(ranked.c.previous.is_not(None),
                  epoch_seconds(ranked.c.opened_at) - epoch_seconds(ranked.c.previous) <= days * 86400)
    query = (select(ranked.c.area, func.count().label("opened"),
                    func.coalesce(func.sum(case((repeat, 1), else_=0)), 0).label("repeats"))
             .where(ranked.c.opened_at >= start).group_by(ranked.c.area))
    found = cached(db, f"repeats|{instant_key(start)}|{instant_key(end)}|{days}|{area}",
                   scope(opened=(start - timedelta(days=days), end)),
                   lambda: [dict(r) for r in db.execute(query).mappings()])
    rows = [RepeatArea(r["area"], int(r["opened"]), int(r["repeats"])) for r in found]
    return sorted(rows, key=lambda row: (-row.repeats, -row.opened, row.area or ""))


# --- satisfaction -----------------------------------------------------------------------------


@attrs.frozen
class QuestionFigures:
    item: str
    text: str
    answered: int
    acceptable: int


def satisfaction(db, *, start: datetime, end: datetime, instrument: str, questions: dict[str, str]) -> list[QuestionFigures]:
    """Per rated question (code -> text): answers given in [start, end) with a value, and those acceptable."""
    query = (select(_a.item, func.count().label("answered"),
                    func.coalesce(func.sum(case((_a.acceptable == 1, 1), else_=0)), 0).label("acceptable"))
             .select_from(survey_answers_table.join(survey_responses_table, _a.response_id == _r.id))
             .where(_r.instrument == instrument, _r.answered_at >= start, _r.answered_at < end,
                    _a.value.is_not(None), _a.item.in_(list(questions)))
             .group_by(_a.item))
    found = {r["item"]: r for r in db.execute(query).mappings()}
    return [QuestionFigures(code, text, int(found[code]["answered"]) if code in found else 0,
                            int(found[code]["acceptable"]) if code in found else 0)
            for code, text in questions.items()]


# --- escalations ------------------------------------------------------------------------------


@attrs.frozen
class Escalations:
    department: str | None
    warnings: int
    breaches: int
    response_breaches: int


def escalations(db, *, start: datetime, end: datetime) -> list[Escalations]:
    """The SLA scan's escalation events in [start, end) by the case's department and level."""
    changes = _e.changes
    level = and_(changes.like('%"sla_level"%'))
    query = (select(_c.department.label("department"),
                    func.coalesce(func.sum(case((and_(level, changes.like('%"warning"]%')), 1), else_=0)), 0).label("w"),
                    func.coalesce(func.sum(case((and_(level, changes.like('%"breached"]%')), 1), else_=0)), 0).label("b"),
                    func.coalesce(func.sum(case((changes.like('%"sla_response_level"%'), 1), else_=0)), 0).label("r"))
             .select_from(events_table.join(cases_table, _e.case_id == _c.id))
             .where(_e.kind == "sla_escalated", _e.at >= start, _e.at < end).group_by(_c.department))
    rows = [Escalations(r["department"], int(r["w"]), int(r["b"]), int(r["r"])) for r in db.execute(query).mappings()]
    return sorted(rows, key=lambda row: (-(row.breaches + row.warnings), row.department or ""))


# --- call centre ------------------------------------------------------------------------------

CALL_TABLES = ("calls", "call_intervals")
"""The call centre's tables (``civiccrm calls import``: one row per call, or per queue and interval)."""


def has_call_records(db) -> bool:
    """True when the database has the call centre's tables (``civiccrm calls import`` fills them)."""
    found = inspect(db)
    return any(found.has_table(t) for t in CALL_TABLES)


# --- the whole review -------------------------------------------------------------------------


@attrs.frozen
class Comparison:
    """A figure set for a period and the same for the period a year before."""

    current: object
    year_before: object


@attrs.frozen
class KCStatFigures:
    period: Period
    fiscal_ytd: Period
    now: datetime
    volume: dict[str, Comparison]
    """grouping -> Comparison of SummaryReport (opened by channel, department, type)."""
    timeliness: dict[str, Comparison]
    """grouping -> Comparison of SummaryReport (department, work-group, type)."""
    fiscal: Comparison
    """SummaryReport by department for the fiscal year to date, and a year before."""
    backlog_age: Comparison
    windows: tuple[int, ...]
    trend: tuple[MonthFigures, ...]
    trend_year_before: tuple[MonthFigures, ...]
    satisfaction: Comparison | None
    escalations: Comparison
    repeats: Comparison
    repeat_days: int
    repeat_area: str
    calls_available: bool = False
    """Whether the database holds call records; set by the pack from the database itself (an analytics
    copy holds only cases, so the case figures never decide it)."""


def kcstat_figures(source, *, start: datetime, end: datetime, now: datetime, tz: ZoneInfo,
                   fiscal_year_start: tuple[int, int], windows: tuple[int, ...] = (30, 60, 90),
                   survey: tuple[str, dict[str, str]] | None = None, repeat_days: int = 30,
                   repeat_area: str = "district") -> KCStatFigures:
    """Every KCStat figure for [start, end) (local midnights), each beside the same period a year before.

    ``survey`` is (instrument code, {question code: text}) for the satisfaction section, or None
    when the city has no post-case survey.
    """
    check_period(start, end, now=now)
    departments = DepartmentRow.__table__
    period = Period(start, end, tz)
    before = period.year_before()
    fiscal = fiscal_year_to_date(period, fiscal_year_start)
    firsts = month_starts(period.last_day, TREND_MONTHS)
    firsts_before = [_minus_years(day, 1) for day in firsts]
    dept_key, dept_label = _c.department, func.max(departments.c.name)
    dept_from = cases_table.outerjoin(departments, departments.c.code == _c.department)

    with read_snapshot(source) as db:
        def both(make):
            return Comparison(make(period), make(before))

        groupings = list(dict.fromkeys(VOLUME_GROUPINGS + TIMELINESS_GROUPINGS))
        this, last = (summaries(db, start=p.start, end=p.end, bys=groupings, now=now) for p in (period, before))
        reports = {by: Comparison(this[by], last[by]) for by in groupings}
        known = (this["department"], last["department"])
        fiscal_cmp = Comparison(*(summary_from_pieces(db, start=p.start, end=p.end, by="department", now=now,
                                                      pieces=fiscal_pieces(p, q), known=known)
                                  for p, q in ((fiscal, period), (fiscal.year_before(), before))))
        ages = both(lambda p: backlog_age(db, as_of=min(p.end, now), windows=windows, key=dept_key,
                                          label=dept_label, from_clause=dept_from, keep=p.end <= now))
        months = monthly(db, [*firsts_before[:TREND_MONTHS - 1], *firsts], tz)
        sat = both(lambda p: satisfaction(db, start=p.start, end=p.end, instrument=survey[0],
                                          questions=survey[1])) if survey else None
        esc = both(lambda p: escalations(db, start=p.start, end=p.end))
        reps = both(lambda p: repeat_requests(db, start=p.start, end=p.end, days=repeat_days, area=repeat_area))
    return KCStatFigures(
        period=period, fiscal_ytd=fiscal, now=now,
        volume={by: reports[by] for by in VOLUME_GROUPINGS},
        timeliness={by: reports[by] for by in TIMELINESS_GROUPINGS},
        fiscal=fiscal_cmp, backlog_age=ages, windows=tuple(windows),
        trend=tuple(months[TREND_MONTHS - 1:]), trend_year_before=tuple(months[:TREND_MONTHS]),
        satisfaction=sat, escalations=esc, repeats=reps, repeat_days=repeat_days, repeat_area=repeat_area,
    )


__all__ = ["KCSTAT_METRICS", "KCStatFigures", "Period", "Share", "kcstat_figures", "window_labels"]
