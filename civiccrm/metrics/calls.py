"""Call-centre figures in SQL: offered, handled, abandoned, speed of answer, service level, handle time.

Per-call records and ACD interval rows are added up together: one query over a UNION ALL
of the calls (classified with the short-abandon threshold and T of the report) and the
interval rows (counted by the ACD with its own thresholds, which the report names), then
GROUP BY the chosen key. Wrap-up codes, first-contact resolution and calls per case come
from the per-call records only (an interval report has no calls to follow).

Every group is city-local: each row carries its local date, half-hour and weekday,
computed at import from the city's timezone, so the same SQL runs on SQLite and PostgreSQL.
"""

from datetime import date, timedelta

import attrs
from sqlalchemy import and_, case, func, literal, literal_column, not_, select, union_all
from sqlalchemy.engine import Engine

from civiccrm.domain.calls import ABANDONED, ANSWERED
from civiccrm.metrics.definitions import Metric
from civiccrm.store.tables import call_intervals_table, calls_table

BY_CHOICES = ("hour", "weekday", "day", "month", "queue")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TALK_PERCENTILES = {"p10": (1, 10), "p25": (1, 4), "median": (1, 2), "p75": (3, 4), "p90": (9, 10)}
"""Nearest-rank percentiles of talk time per wrap-up code, as fractions num/den."""


def definitions(short: float, within: float, fcr_days: float) -> tuple[Metric, ...]:
    """What each figure means, with the thresholds of this report written into it."""
    return (
        Metric("offered", "offered", f"offered = calls that reached a queue, less short abandons (hung up within {short:g} s)"),
        Metric("handled", "handled", "handled = offered calls an agent answered"),
        Metric("abandoned", "abandoned", f"abandoned = callers who hung up before an answer after waiting {short:g} s or more"),
        Metric("short_abandoned", "short abandons", f"short abandons = callers who hung up within {short:g} s (not offered)"),
        Metric("abandonment_rate", "abandon %", f"abandonment rate = abandoned / offered (short abandon < {short:g} s)"),
        Metric("asa_seconds", "ASA s", "average speed of answer = total wait of handled calls / handled"),
        Metric("service_level", f"SL {within:g}s", f"service level = handled within T = {within:g} s / offered"),
        Metric("aht_seconds", "AHT s", "average handle time = (talk + hold + after-call work) of handled calls / handled"),
        Metric("first_contact_resolution", "FCR",
               f"first-contact resolution = handled calls with a caller number and wrap-up code after which the same "
               f"number did not call about the same code within {fcr_days:g} days / such calls"),
        Metric("calls_per_case", "calls per case", "calls per case = calls carrying a case number / distinct case numbers"),
    )


@attrs.frozen
class CallFigures:
    """The figures of one group (or of all calls)."""

    key: str
    label: str
    offered: int
    handled: int
    abandoned: int
    short_abandoned: int
    answered_within_t: int
    offered_with_t: int
    """Offered calls whose answer time against T is known (interval rows may not say)."""
    wait_seconds: float
    handle_seconds: float

    @property
    def abandonment_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    @property
    def asa_seconds(self) -> float | None:
        return self.wait_seconds / self.handled if self.handled else None

    @property
    def service_level(self) -> float | None:
        return self.answered_within_t / self.offered_with_t if self.offered_with_t else None

    @property
    def aht_seconds(self) -> float | None:
        return self.handle_seconds / self.handled if self.handled else None

    def as_dict(self) -> dict:
        return {
            "key": self.key, "label": self.label, "offered": self.offered, "handled": self.handled,
            "abandoned": self.abandoned, "short_abandoned": self.short_abandoned,
            "abandonment_rate": self.abandonment_rate, "asa_seconds": self.asa_seconds,
            "service_level": self.service_level, "aht_seconds": self.aht_seconds,
        }


@attrs.frozen
class WrapUpFigures:
    code: str
    handled: int
    with_case: int
    """Calls with this code that carry a case number (created or found a case)."""
    talk_mean: float | None
    talk_percentiles: dict[str, float | None]

    def as_dict(self) -> dict:
        return {"code": self.code, "handled": self.handled, "with_case": self.with_case,
                "without_case": self.handled - self.with_case, "talk_mean_seconds": self.talk_mean,
                "talk_seconds": self.talk_percentiles}


@attrs.frozen
class CallReport:
    start: date
    end: date
    by: str | None
    short_abandon_seconds: float
    service_level_seconds: float
    first_contact_days: float
    interval_thresholds: tuple[tuple[str, float | None, float | None], ...]
    """(source, T, short-abandon) of the interval exports in the period: the ACD counted those rows."""
    groups: tuple[CallFigures, ...]
    total: CallFigures
    wrap_ups: tuple[WrapUpFigures, ...]
    fcr_resolved: int
    fcr_eligible: int
    case_calls: int
    cases: int

    @property
    def first_contact_resolution(self) -> float | None:
        return self.fcr_resolved / self.fcr_eligible if self.fcr_eligible else None

    @property
    def calls_per_case(self) -> float | None:
        return self.case_calls / self.cases if self.cases else None

    def as_dict(self) -> dict:
        return {
            "from": self.start.isoformat(), "to": self.end.isoformat(), "by": self.by,
            "thresholds": {"short_abandon_seconds": self.short_abandon_seconds,
                           "service_level_seconds": self.service_level_seconds,
                           "first_contact_days": self.first_contact_days,
                           "interval_exports": [{"source": s, "service_level_seconds": t, "short_abandon_seconds": a}
                                                for s, t, a in self.interval_thresholds]},
            "total": self.total.as_dict(),
            "groups": [g.as_dict() for g in self.groups],
            "wrap_ups": [w.as_dict() for w in self.wrap_ups],
            "first_contact_resolution": {"resolved": self.fcr_resolved, "eligible": self.fcr_eligible,
                                         "share": self.first_contact_resolution},
            "calls_per_case": {"calls": self.case_calls, "cases": self.cases, "ratio": self.calls_per_case},
            "definitions": [m.to_dict() for m in definitions(self.short_abandon_seconds, self.service_level_seconds,
                                                              self.first_contact_days)],
        }


def _key(columns, by: str | None):
    if by == "hour":
        return columns.local_slot // 2
    if by == "weekday":
        return columns.local_weekday
    if by == "day":
        return columns.local_date
    if by == "month":
        return func.substr(columns.local_date, 1, 7)
    if by == "queue":
        return columns.queue
    return literal("all")


def _label(by: str | None, key) -> str:
    if by == "hour":
        return f"{int(key):02d}:00"
    if by == "weekday":
        return WEEKDAY_NAMES[int(key)]
    return str(key)


WIDE_SHARE = 0.25
"""A period holding more than this share of the calls' dates is read by scanning, not through the date index."""


def _in_period(conn, first: str, last: str):
    """The condition selecting calls of ``first``..``last``. For a period spanning most of the stored
    dates it is written so that no index on the date can serve it (``local_date || ''``): reading the
    whole table in order (or a covering index) beats one index lookup per call."""
    c = calls_table.c
    lo, hi = conn.execute(select(func.min(c.local_date), func.max(c.local_date))).one()
    if lo is None:
        return c.local_date.between(first, last)
    span = (date.fromisoformat(hi) - date.fromisoformat(lo)).days + 1
    covered = (date.fromisoformat(min(last, hi)) - date.fromisoformat(max(first, lo))).days + 1
    column = c.local_date.concat("") if covered > WIDE_SHARE * span else c.local_date
    return column.between(first, last)


def _one(condition):
    return func.sum(case((condition, 1), else_=0))


def call_report(engine: Engine, *, start: date, end: date, by: str | None, short_abandon_seconds: float,
                service_level_seconds: float, first_contact_days: float) -> CallReport:
    """The figures for calls with a city-local date from ``start`` to ``end`` inclusive."""
    with engine.connect() as conn:
        return _call_report(conn, start=start, end=end, by=by, short_abandon_seconds=short_abandon_seconds,
                            service_level_seconds=service_level_seconds, first_contact_days=first_contact_days)


def _call_report(conn, *, start: date, end: date, by: str | None, short_abandon_seconds: float,
                 service_level_seconds: float, first_contact_days: float) -> CallReport:
    c, i = calls_table.c, call_intervals_table.c
    first, last = start.isoformat(), end.isoformat()
    period = _in_period(conn, first, last)
    short = and_(c.outcome == ABANDONED, c.wait_seconds < short_abandon_seconds)
    answered = c.outcome == ANSWERED
    calls_part = (
        select(
            _key(c, by).label("k"),
            _one(not_(short)).label("offered"),
            _one(answered).label("handled"),
            _one(and_(c.outcome == ABANDONED, not_(short))).label("abandoned"),
            _one(short).label("short_abandoned"),
            _one(and_(answered, c.wait_seconds <= service_level_seconds)).label("within"),
            _one(not_(short)).label("offered_t"),
            func.sum(case((answered, c.wait_seconds), else_=0.0)).label("wait"),
            func.sum(case((answered, c.talk_seconds + c.hold_seconds + c.acw_seconds), else_=0.0)).label("handle"),
        )
        .where(period)
        .group_by(literal_column("k"))
    )
    intervals_part = (
        select(
            _key(i, by).label("k"), func.sum(i.offered), func.sum(i.handled), func.sum(i.abandoned),
            func.sum(i.short_abandoned), func.sum(func.coalesce(i.answered_within_t, 0)),
            func.sum(case((i.answered_within_t.is_(None), 0), else_=i.offered)),
            func.sum(i.wait_seconds), func.sum(i.handle_seconds),
        )
        .where(i.local_date.between(first, last))
        .group_by(literal_column("k"))
    )
    both = union_all(calls_part, intervals_part).subquery()
    b = both.c
    grouped = (
        select(b.k, func.sum(b.offered), func.sum(b.handled), func.sum(b.abandoned), func.sum(b.short_abandoned),
               func.sum(b.within), func.sum(b.offered_t), func.sum(b.wait), func.sum(b.handle))
        .group_by(b.k).order_by(b.k)
    )
    rows = [r for r in conn.execute(grouped) if r[1] is not None]
    thresholds = tuple(conn.execute(
        select(i.source, i.service_level_seconds, i.short_abandon_seconds).distinct()
        .where(i.local_date.between(first, last)).order_by(i.source)
    ))
    wrap_ups = _wrap_ups(conn, period)
    fcr = _first_contact(conn, start, end, first_contact_days)
    case_calls, cases = conn.execute(
        select(func.count(c.case_number), func.count(func.distinct(c.case_number)))
        .where(period, c.case_number.is_not(None))
    ).one()
    groups = tuple(_figures(str(r[0]), _label(by, r[0]), r) for r in rows)
    totals = [sum(g[n] or 0 for g in rows) for n in range(1, 9)]
    total = _figures("all", "all calls", [None, *totals])
    return CallReport(
        start=start, end=end, by=by, short_abandon_seconds=short_abandon_seconds,
        service_level_seconds=service_level_seconds, first_contact_days=first_contact_days,
        interval_thresholds=tuple((s, t, a) for s, t, a in thresholds), groups=groups if by else (),
        total=total, wrap_ups=wrap_ups, fcr_resolved=fcr[0], fcr_eligible=fcr[1],
        case_calls=case_calls or 0, cases=cases or 0,
    )


def _figures(key: str, label: str, row) -> CallFigures:
    return CallFigures(
        key=key, label=label, offered=int(row[1] or 0), handled=int(row[2] or 0), abandoned=int(row[3] or 0),
        short_abandoned=int(row[4] or 0), answered_within_t=int(row[5] or 0), offered_with_t=int(row[6] or 0),
        wait_seconds=float(row[7] or 0), handle_seconds=float(row[8] or 0),
    )


def _wrap_ups(conn, period) -> tuple[WrapUpFigures, ...]:
    """Per wrap-up code of handled calls: count, with a case, and nearest-rank talk-time percentiles.

    The calls are counted once per code and talk time (a histogram: far fewer rows than calls), and
    the percentiles read off its running counts: the p-th percentile is the first talk time whose
    running count reaches p of the code's calls, the value at rank ceil(p n) of the sorted talk times."""
    c = calls_table.c
    # Grouped as ix_calls_answered_talk is ordered (the outcome written out, so that SQLite sees the
    # partial index applies): read in order, no sort of the calls.
    histogram = (
        select(c.wrap_up.label("wrap_up"), c.talk_seconds.label("talk"), func.count().label("calls"),
               func.count(c.case_number).label("with_case"))
        .where(period, c.outcome == literal_column(f"'{ANSWERED}'"))
        .group_by(c.wrap_up, c.talk_seconds)
        .subquery()
    )
    h = histogram.c
    running = select(
        func.coalesce(h.wrap_up, "(no code)").label("code"), h.talk, h.calls, h.with_case,
        func.sum(h.calls).over(partition_by=h.wrap_up, order_by=h.talk).label("upto"),
        func.sum(h.calls).over(partition_by=h.wrap_up).label("n"),
    ).subquery()
    r = running.c
    picks = [
        func.min(case((r.upto * den >= r.n * num, r.talk))).label(name)
        for name, (num, den) in TALK_PERCENTILES.items()
    ]
    query = (
        select(r.code, func.sum(r.calls), func.sum(r.with_case), func.sum(r.talk * r.calls), *picks)
        .group_by(r.code).order_by(func.sum(r.calls).desc(), r.code)
    )
    return tuple(
        WrapUpFigures(code=row[0], handled=int(row[1]), with_case=int(row[2] or 0),
                      talk_mean=float(row[3]) / int(row[1]) if row[1] else None,
                      talk_percentiles={name: row[4 + n] for n, name in enumerate(TALK_PERCENTILES)})
        for row in conn.execute(query)
    )


def _first_contact(conn, start: date, end: date, days: float) -> tuple[int, int]:
    """(resolved, eligible): handled calls of the period with a number and a code, and those with
    no call from the same number about the same code within ``days`` after (looking past the period)."""
    c = calls_table.c
    horizon = (end + timedelta(days=int(days) + 2)).isoformat()
    following = (
        select(
            c.local_date, c.outcome, c.started_epoch,
            func.lead(c.started_epoch).over(partition_by=(c.caller_key, c.wrap_up), order_by=c.started_epoch).label("next"),
        )
        # Over a wide period the covering ix_calls_caller_code is read in window order: no sort.
        .where(_in_period(conn, start.isoformat(), horizon), c.caller_key.is_not(None), c.wrap_up.is_not(None))
        .subquery()
    )
    f = following.c
    resolved = case((f.next.is_(None), 1), (f.next - f.started_epoch > days * 86400, 1), else_=0)
    row = conn.execute(
        select(func.sum(resolved), func.count())
        .where(f.local_date.between(start.isoformat(), end.isoformat()), f.outcome == ANSWERED)
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


@attrs.frozen
class WeekTotals:
    """Per half-hour of the week (7 x 48, Monday first): what the staffing model is fitted to."""

    offered: list
    handled: list
    handle_seconds: list
    days_of_weekday: list[int]
    """How many Mondays, Tuesdays, ... the period holds (to turn totals into a typical week)."""
    abandoned: int
    """Abandoned per-call records, short abandons included (they are impatience too)."""
    offered_wait_seconds: float
    """Total time every per-call record spent waiting, answered or abandoned."""


def week_totals(engine: Engine, *, start: date, end: date, short_abandon_seconds: float) -> WeekTotals:
    """Offered, handled and handle time per weekday and half-hour, calls and intervals together."""
    from civiccrm.domain.calls import SLOTS_PER_DAY, weekday_counts

    c, i = calls_table.c, call_intervals_table.c
    first, last = start.isoformat(), end.isoformat()
    short = and_(c.outcome == ABANDONED, c.wait_seconds < short_abandon_seconds)
    answered = c.outcome == ANSWERED
    calls_part = (
        select(c.local_weekday.label("d"), c.local_slot.label("s"), _one(not_(short)).label("offered"),
               _one(answered).label("handled"),
               func.sum(case((answered, c.talk_seconds + c.hold_seconds + c.acw_seconds), else_=0.0)).label("handle"))
        .where(c.local_date.between(first, last)).group_by(c.local_weekday, c.local_slot)
    )
    intervals_part = (
        select(i.local_weekday, i.local_slot, func.sum(i.offered), func.sum(i.handled), func.sum(i.handle_seconds))
        .where(i.local_date.between(first, last)).group_by(i.local_weekday, i.local_slot)
    )
    both = union_all(calls_part, intervals_part).subquery()
    b = both.c
    offered = [[0] * SLOTS_PER_DAY for _ in range(7)]
    handled = [[0] * SLOTS_PER_DAY for _ in range(7)]
    handle = [[0.0] * SLOTS_PER_DAY for _ in range(7)]
    with engine.connect() as conn:
        for d, s, o, h, t in conn.execute(
            select(b.d, b.s, func.sum(b.offered), func.sum(b.handled), func.sum(b.handle)).group_by(b.d, b.s)
        ):
            offered[d][s], handled[d][s], handle[d][s] = int(o or 0), int(h or 0), float(t or 0)
        abandoned, waited = conn.execute(
            select(_one(c.outcome == ABANDONED), func.sum(c.wait_seconds)).where(c.local_date.between(first, last))
        ).one()
    return WeekTotals(offered=offered, handled=handled, handle_seconds=handle,
                      days_of_weekday=weekday_counts(start, end), abandoned=int(abandoned or 0),
                      offered_wait_seconds=float(waited or 0))
