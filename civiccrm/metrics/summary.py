"""The summary report: opened, closed, backlog, days to close, on-time shares, channel mix.

Everything is computed in the database with the same SQLAlchemy Core expressions on
SQLite and PostgreSQL; Python only adds up a handful of per-group rows for the totals.
A report costs three queries ungrouped and four grouped, whatever the number of cases:

1. counts: one pass over the cases in scope (opened, closed or in the backlog) with
   conditional aggregation (``SUM(CASE WHEN ... THEN 1 ELSE 0 END)``) per group;
2. days to close: a window query over the cases closed in the period,
   ``ROW_NUMBER() OVER (PARTITION BY g ORDER BY days_to_close)`` and
   ``COUNT(*) OVER (PARTITION BY g)``, then per group the value whose rank is
   ``ceil(p * n)`` (nearest rank), picked with integer arithmetic only
   (``rn * den >= n * num AND (rn - 1) * den < n * num`` for p = num/den), so there is
   no division or CEIL whose meaning differs between the backends;
3. the same window query without a partition, for the totals row (grouped reports only);
4. channel mix: cases opened in the period, ``GROUP BY g, channel``.

Datetimes are bound through the table's ``UTCDateTime`` columns, so SQLite compares
naive UTC text and PostgreSQL ``timestamptz`` alike.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

import attrs
from sqlalchemy import and_, case, false, func, literal_column, null, or_, select, true, tuple_
from sqlalchemy.engine import Engine

from civiccrm.domain.cases import Status
from civiccrm.errors import CivicError
from civiccrm.metrics.definitions import SUMMARY_METRICS, Metric
from civiccrm.store.figure_cache import cached, cached_runs, instant_key, scope
from civiccrm.store.tables import DepartmentRow, WorkGroupRow, cases_table

BY_CHOICES: tuple[str, ...] = ("department", "work-group", "channel", "district", "type")
"""What ``--by`` accepts."""

UNKNOWN = "unknown"
"""Label of the group of cases with no value for the grouping column."""

PERCENTILES = {"median_days": (1, 2), "p90_days": (9, 10)}
"""Nearest-rank percentiles as fractions num/den: the value at rank ceil(num/den * n)."""

_c = cases_table.c
_departments = DepartmentRow.__table__
_work_groups = WorkGroupRow.__table__


@attrs.frozen
class ChannelShare:
    channel: str
    count: int
    share: float
    """count / cases opened in the group and period."""


@attrs.frozen
class GroupFigures:
    """The figures for one group (or for all cases)."""

    key: str | None
    """The grouping value (department code, channel code, ...); None for cases without one."""
    label: str
    opened: int = 0
    closed: int = 0
    backlog: int = 0
    timed_closed: int = 0
    """Closed in the period with days_to_close recorded: the n of the percentiles."""
    median_days: float | None = None
    p90_days: float | None = None
    on_time: int = 0
    on_time_known: int = 0
    city_on_time: int = 0
    city_on_time_known: int = 0
    channels: tuple[tuple[str, int], ...] = ()
    """(channel, cases opened) by count descending, then channel code."""

    @property
    def share_on_time(self) -> float | None:
        return self.on_time / self.on_time_known if self.on_time_known else None

    @property
    def share_on_time_city(self) -> float | None:
        return self.city_on_time / self.city_on_time_known if self.city_on_time_known else None

    @property
    def channel_mix(self) -> tuple[ChannelShare, ...]:
        total = sum(n for _, n in self.channels)
        return tuple(ChannelShare(ch, n, n / total) for ch, n in self.channels) if total else ()

    def to_dict(self) -> dict:
        return {
            "key": self.key, "label": self.label,
            "opened": self.opened, "closed": self.closed, "backlog": self.backlog,
            "closed_with_days": self.timed_closed,
            "median_days_to_close": self.median_days, "p90_days_to_close": self.p90_days,
            "on_time": self.on_time, "on_time_known": self.on_time_known,
            "share_on_time": self.share_on_time,
            "city_on_time": self.city_on_time, "city_on_time_known": self.city_on_time_known,
            "share_on_time_city": self.share_on_time_city,
            "channel_mix": [{"channel": s.channel, "count": s.count, "share": s.share} for s in self.channel_mix],
        }


@attrs.frozen
class SummaryReport:
    """What ``summary`` returns: the period, the groups, the totals and the definitions."""

    start: datetime
    end: datetime
    """The period is [start, end)."""
    now: datetime
    backlog_as_of: datetime
    """min(end, now): the instant the backlog is counted at."""
    by: str | None
    groups: tuple[GroupFigures, ...]
    """Sorted by cases opened, descending; one group labelled "all" when not grouped."""
    total: GroupFigures
    """All cases; the same object as the only group when not grouped."""
    definitions: tuple[Metric, ...] = SUMMARY_METRICS

    def to_dict(self) -> dict:
        return {
            "start": self.start, "end": self.end, "backlog_as_of": self.backlog_as_of, "by": self.by,
            "groups": [g.to_dict() for g in self.groups],
            "total": self.total.to_dict(),
            "definitions": [m.to_dict() for m in self.definitions],
        }


def normalise_by(by: str | None) -> str | None:
    """``work_group`` and ``Work-Group`` alike -> ``work-group``; CivicError for anything unknown."""
    if by is None:
        return None
    key = by.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in BY_CHOICES:
        raise CivicError(f"--by: unknown grouping {by!r}; expected one of {', '.join(BY_CHOICES)}", field="by")
    return key


def _grouping(by: str | None):
    """(key expression, label expression, FROM clause) for a grouping; key None when ungrouped."""
    if by is None:
        return None, None, cases_table
    if by == "department":
        return (_c.department, func.max(_departments.c.name),
                cases_table.outerjoin(_departments, _departments.c.code == _c.department))
    if by == "work-group":
        return (_c.work_group, func.max(_work_groups.c.name),
                cases_table.outerjoin(_work_groups, _work_groups.c.code == _c.work_group))
    if by == "channel":
        return _c.channel, None, cases_table
    if by == "district":
        return _c.council_district, None, cases_table
    if by == "type":
        return _c.service_code, func.max(_c.request_type), cases_table
    raise AssertionError(by)


def _flag(condition):
    """1 when ``condition`` holds, else 0 (NULL counts as 0): portable boolean counting."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _exact_fraction(num: int, den: int) -> str:
    """num/den as exact decimal text (DuckDB reads it as a DECIMAL); ValueError when it has no finite one."""
    text = str(Decimal(num) / Decimal(den))
    if Decimal(text) * den != num:
        raise ValueError(f"percentile {num}/{den} has no exact decimal form")
    return text


def _percentile_query(key, closed_in, dialect: str | None = None):
    """Per group (or overall when key is None): n and the nearest-rank percentiles of days_to_close.

    On DuckDB (the analytics engine) the percentiles are one ``quantile_disc(days, [0.5, 0.9])`` per
    group: with DECIMAL fractions DuckDB picks the element at index ``n - floor(n - n * q)`` in integer
    arithmetic, which is rank ceil(q * n), the nearest rank below (ties hold equal values, whatever
    their order); one selection per group for all the percentiles, not a sort per percentile (0.25-0.29
    -> 0.12-0.15 CPU s for a month's percentiles by four groupings over 3.5 million cases), where the
    portable ranked window's sort per query cost more than the rest of a pack. tests/test_analytics.py
    compares the engine's figures with the SQL path's."""
    days = _c.days_to_close
    if dialect == "duckdb":
        fractions = literal_column("[" + ", ".join(_exact_fraction(*f) for f in PERCENTILES.values()) + "]")
        picks = [func.list_extract(func.quantile_disc(days, fractions), n + 1).label(name)
                 for n, name in enumerate(PERCENTILES)]  # the same aggregate each time: DuckDB computes it once
        query = (select(*([key.label("g")] if key is not None else []), func.count().label("n"), *picks)
                 .where(closed_in, days.is_not(None)))
        return query.group_by(key) if key is not None else query
    partition = {"partition_by": key} if key is not None else {}
    columns = [days.label("d"),
               func.row_number().over(order_by=days, **partition).label("rn"),
               func.count().over(**partition).label("n")]
    if key is not None:
        columns.insert(0, key.label("g"))
    ranked = select(*columns).where(closed_in, days.is_not(None)).subquery("ranked")
    picks = []
    for name, (num, den) in PERCENTILES.items():
        at_rank = and_(ranked.c.rn * den >= ranked.c.n * num, (ranked.c.rn - 1) * den < ranked.c.n * num)
        picks.append(func.max(case((at_rank, ranked.c.d))).label(name))
    query = select(*([ranked.c.g] if key is not None else []), func.max(ranked.c.n).label("n"), *picks)
    return query.group_by(ranked.c.g) if key is not None else query


def _dialect_name(db) -> str:
    """The dialect name of a Connection or Session."""
    dialect = getattr(db, "dialect", None) or db.get_bind().dialect
    return dialect.name


@contextmanager
def read_snapshot(source) -> Iterator:
    """Something with ``.execute``: a Session or Connection is used as given; an Engine (or a
    Deployment's engine) lends one connection, read in one REPEATABLE READ snapshot on PostgreSQL
    so the queries of a report agree with each other."""
    if isinstance(source, Engine):
        engine = source
    elif hasattr(source, "execute"):
        yield source
        return
    else:
        engine = getattr(source, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"summary needs a Session, Connection, Engine or Deployment, not {type(source).__name__}")
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def check_period(start: datetime, end: datetime, **others: datetime) -> None:
    """CivicError unless every instant is a timezone-aware datetime and ``end`` is after ``start``."""
    for name, value in (("start", start), ("end", end), *others.items()):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise CivicError(f"{name}: a timezone-aware datetime is needed, not {value!r}")
    if end <= start:
        raise CivicError(f"end: {end.isoformat()} is not after start {start.isoformat()}")


def _conditions(start: datetime, end: datetime, now: datetime):
    """(opened in, closed in, in the backlog at min(end, now), the count figures) for [start, end)."""
    as_of = min(end, now)
    opened_in = and_(_c.opened_at >= start, _c.opened_at < end)
    closed_in = and_(_c.closed_at >= start, _c.closed_at < end)
    in_backlog = and_(_c.opened_at < as_of,
                      or_(_c.status != Status.CLOSED.value, _c.closed_at >= as_of))
    figures = [
        _flag(opened_in).label("opened"),
        _flag(closed_in).label("closed"),
        _flag(in_backlog).label("backlog"),
        _flag(and_(closed_in, _c.on_time == true())).label("on_time"),
        _flag(and_(closed_in, _c.on_time.is_not(None))).label("on_time_known"),
        _flag(and_(closed_in, _c.city_exceeded_timeframe == false())).label("city_on_time"),
        _flag(and_(closed_in, _c.city_exceeded_timeframe.is_not(None))).label("city_on_time_known"),
    ]
    return opened_in, closed_in, in_backlog, figures


def summary(session_or_engine, *, start: datetime, end: datetime, by: str | None = None,
            now: datetime) -> SummaryReport:
    """The summary figures for cases in [start, end), optionally by a grouping (see BY_CHOICES).

    ``start``, ``end`` and ``now`` are timezone-aware instants; the backlog is counted as of
    ``min(end, now)``. Definitions of every figure are in ``civiccrm.metrics.definitions``.
    """
    check_period(start, end, now=now)
    by = normalise_by(by)
    key, label, from_clause = _grouping(by)
    opened_in, closed_in, in_backlog, figures = _conditions(start, end, now)
    counts = select(*figures).select_from(from_clause).where(or_(opened_in, closed_in, in_backlog))
    if key is not None:
        counts = counts.add_columns(key.label("g"), (label if label is not None else null()).label("label"))
        counts = counts.group_by(key)
    channel_query = (select(*([key.label("g")] if key is not None else []), _c.channel,
                            func.count().label("n"))
                     .where(opened_in)
                     .group_by(*([key] if key is not None else []), _c.channel))

    with read_snapshot(session_or_engine) as db:
        count_rows = db.execute(counts).mappings().all()
        dialect = _dialect_name(db)
        percentile_rows = db.execute(_percentile_query(key, closed_in, dialect)).mappings().all()
        total_percentiles = (db.execute(_percentile_query(None, closed_in, dialect)).mappings().one()
                             if key is not None else percentile_rows[0])
        channel_rows = db.execute(channel_query).mappings().all()
    return _report(by, start, end, now, [f.name for f in figures], count_rows, percentile_rows,
                   total_percentiles, channel_rows)


def summaries(session_or_engine, *, start: datetime, end: datetime, bys, now: datetime) -> dict[str, SummaryReport]:
    """``summary`` for each grouping of ``bys`` over the same period: {by: SummaryReport}.

    On the analytics engine (DuckDB) every grouping comes from one pass per kind of query,
    ``GROUP BY GROUPING SETS`` (counts, percentiles with the totals' row, channel mix): three
    scans of the cases instead of four per grouping. Each row's ``GROUPING()`` bits say which
    grouping it belongs to, so a group of cases without a value (key NULL) stays apart from the
    rows of the other groupings. The figures are the same as ``summary``'s (tests/test_analytics.py
    compares the engine with the SQL path); on SQLite and PostgreSQL this is ``summary`` per grouping."""
    check_period(start, end, now=now)
    bys = [normalise_by(by) for by in dict.fromkeys(bys)]
    if None in bys:
        raise CivicError("summaries: every grouping needs a name (use summary for the ungrouped report)")
    with read_snapshot(session_or_engine) as db:
        if _dialect_name(db) != "duckdb":
            return {by: summary(db, start=start, end=end, by=by, now=now) for by in bys}
        return _grouping_sets(db, start, end, bys, now)


def _grouping_sets(db, start: datetime, end: datetime, bys: list[str], now: datetime) -> dict[str, SummaryReport]:
    opened_in, closed_in, in_backlog, figures = _conditions(start, end, now)
    groupings = {by: _grouping(by) for by in bys}
    keys = {by: groupings[by][0] for by in bys}
    # A department's or work group's label is its name, looked up after the counts rather than joined to
    # every case (the code is the key of its table, so max(name) over a group is that one name or NULL).
    looked_up = {"department": _departments, "work-group": _work_groups}
    names_of = {by: dict(db.execute(select(table.c.code, table.c.name)).all())
                for by, table in looked_up.items() if by in bys}
    names = {by: f"g{n}" for n, by in enumerate(bys)}
    key_columns = [keys[by].label(names[by]) for by in bys]
    # grouping(k0, k1, ...) has bit (len - 1 - n) set when k_n is NOT a column of the row's grouping set.
    bits = func.grouping(*(keys[by] for by in bys)).label("bits")
    labels = [(groupings[by][1] if groupings[by][1] is not None and by not in looked_up else null())
              .label(f"label_{names[by]}") for by in bys]
    counts = (select(*figures, *key_columns, *labels, bits).select_from(cases_table)
              .where(or_(opened_in, closed_in, in_backlog))
              .group_by(func.grouping_sets(*(keys[by] for by in bys))))
    pct = _percentile_query(None, closed_in, "duckdb").add_columns(*key_columns, bits).group_by(
        func.grouping_sets(*(keys[by] for by in bys), literal_column("()")))
    # The channel mix groups by (key, channel): the channel itself, when it is one of the groupings, is in
    # every set, so its bit never tells; the sets are told apart by the other groupings' bits alone.
    mixed = [by for by in bys if keys[by] is not _c.channel]
    channel_query = (select(*key_columns, _c.channel, func.count().label("n"),
                            (func.grouping(*(keys[by] for by in mixed)) if mixed else literal_column("0")).label("bits"))
                     .where(opened_in)
                     .group_by(func.grouping_sets(*(tuple_(keys[by], _c.channel) for by in bys))))
    # The rows of a period that is over are kept in the analytics copy's figure cache (a sync drops them
    # when one of the period's cases changes); while it runs the backlog is counted as of now, every time.
    as_of = min(end, now)
    found = cached(db, "summaries|" + "|".join([*(instant_key(t) for t in (start, end, as_of)), ",".join(bys)]),
                   scope(opened=(start, end), closed=(start, end), backlog_at=as_of),
                   lambda: [[dict(r) for r in db.execute(q).mappings()] for q in (counts, pct, channel_query)],
                   keep=as_of >= end)
    everything = (1 << len(bys)) - 1

    def rows_of(rows, by, extra=(), order=bys):
        every = (1 << len(order)) - 1
        own = every ^ (1 << (len(order) - 1 - order.index(by))) if by in order else every
        return [{"g": r[names[by]], **{k: r[k] for k in extra}} for r in rows if r["bits"] == own]

    count_names = [f.name for f in figures]
    total = next((r for r in found[1] if r["bits"] == everything), {"n": 0, "median_days": None, "p90_days": None})
    reports = {}
    for by in bys:
        count_rows = rows_of(found[0], by, (*count_names, f"label_{names[by]}"))
        for row in count_rows:
            row["label"] = row.pop(f"label_{names[by]}")
            if by in names_of:
                row["label"] = names_of[by].get(row["g"])
        reports[by] = _report(by, start, end, now, count_names, count_rows,
                              rows_of(found[1], by, ("n", "median_days", "p90_days")), total,
                              rows_of(found[2], by, ("channel", "n"), mixed))
    return reports


PIECE_COUNTS = ("opened", "closed", "on_time", "on_time_known", "city_on_time", "city_on_time_known")
"""The count figures that add up over the pieces of a period (all but the backlog, counted at one instant)."""


def summary_from_pieces(db, *, start: datetime, end: datetime, by: str, now: datetime, pieces: list[datetime],
                        known=()) -> SummaryReport:
    """``summary`` by ``by`` for [start, end) = [pieces[0], pieces[-1]), its counts added up from the pieces
    between consecutive ``pieces``: the same figures, to the last digit.

    On the analytics engine (DuckDB) a count of cases opened or closed in a period is the sum of the counts of its
    pieces, and so is each group's channel mix; each piece's counts come from a report of ``known`` for exactly
    that piece (a SummaryReport by the same grouping, e.g. the pack's own month) or from the figure cache (scope:
    opened or closed in the piece), the missing ones computed for each run of consecutive pieces in one pass. The
    backlog is taken from a report of ``known`` that counted it at the same instant (else counted, one GROUP BY);
    the percentiles, which do not add up, are computed over the cases closed in the period (kept in the cache
    once it is over). A group is shown when it has a case opened, closed or in the backlog, as ``summary``'s.
    Elsewhere (SQLite, PostgreSQL) this is ``summary``."""
    check_period(start, end, now=now)
    by = normalise_by(by)
    if pieces[0] != start or pieces[-1] != end or any(a >= b for a, b in zip(pieces, pieces[1:])):
        raise ValueError(f"summary_from_pieces: pieces {pieces} do not split [{start}, {end}) in order")
    with read_snapshot(db) as db:
        if _dialect_name(db) != "duckdb" or by not in ("department", "work-group", "channel", "district"):
            return summary(db, start=start, end=end, by=by, now=now)
        as_of = min(end, now)
        for report in known:
            if (report.by, report.start, report.end, report.now) == (by, start, end, now):
                return report
        bounds = list(zip(pieces, pieces[1:]))
        counted: dict = {}
        channels: dict = {}

        def add(piece_rows, channel_rows):
            for row in piece_rows:
                sums = counted.setdefault(row["g"], dict.fromkeys(PIECE_COUNTS, 0))
                for name in PIECE_COUNTS:
                    sums[name] += int(row[name] or 0)
            for row in channel_rows:
                channels[(row["g"], row["channel"])] = channels.get((row["g"], row["channel"]), 0) + int(row["n"])

        missing = []
        for lo, hi in bounds:
            report = next((r for r in known if (r.by, r.start, r.end) == (by, lo, hi)), None)
            if report is not None:
                add([{"g": g.key, **{name: getattr(g, name) for name in PIECE_COUNTS}} for g in report.groups],
                    [{"g": g.key, "channel": channel, "n": n} for g in report.groups for channel, n in g.channels])
            else:
                missing.append((lo, hi))
        for rows in _piece_counts(db, by, missing):
            add(*rows)
        backlog = next((r for r in known if (r.by, r.backlog_as_of, r.now) == (by, as_of, now)), None)
        if backlog is not None:
            backlogs = {g.key: g.backlog for g in backlog.groups}
        else:
            backlogs = dict(db.execute(_backlog_query(by, as_of)).all())
        key = _grouping(by)[0]
        closed_in = and_(_c.closed_at >= start, _c.closed_at < end)
        pct = _percentile_query(None, closed_in, "duckdb").add_columns(
            key.label("g"), func.grouping(key).label("bits")).group_by(func.grouping_sets(key, literal_column("()")))
        pct_rows = cached(db, f"percentiles|{by}|{instant_key(start)}|{instant_key(end)}",
                          scope(closed=(start, end)), lambda: [dict(r) for r in db.execute(pct).mappings()],
                          keep=end <= now)
        table = {"department": _departments, "work-group": _work_groups}.get(by)
        names = dict(db.execute(select(table.c.code, table.c.name)).all()) if table is not None else {}
    count_rows = []
    for g in dict.fromkeys([*counted, *backlogs]):
        row = {"g": g, "label": names.get(g), **counted.get(g, dict.fromkeys(PIECE_COUNTS, 0)),
               "backlog": int(backlogs.get(g, 0))}
        if row["opened"] or row["closed"] or row["backlog"]:
            count_rows.append(row)
    total = next((r for r in pct_rows if r["bits"] == 1), {"n": 0, "median_days": None, "p90_days": None})
    count_names = [*PIECE_COUNTS[:2], "backlog", *PIECE_COUNTS[2:]]
    return _report(by, start, end, now, count_names, count_rows, [r for r in pct_rows if r["bits"] == 0], total,
                   [{"g": g, "channel": channel, "n": n} for (g, channel), n in channels.items()])


def _backlog_query(by: str, as_of: datetime):
    """Per group: the cases in the backlog at ``as_of``."""
    key = _grouping(by)[0]
    in_backlog = and_(_c.opened_at < as_of, or_(_c.status != Status.CLOSED.value, _c.closed_at >= as_of))
    return select(key, func.count()).where(in_backlog).group_by(key)


def _piece_counts(db, by: str, bounds: list[tuple[datetime, datetime]]) -> list[tuple[list, list]]:
    """Per piece [lo, hi) of ``bounds`` (consecutive): (count rows per group, channel rows per group) of the cases
    opened or closed in it, from the figure cache or computed, each run of missing pieces in one pass per query."""
    key = _grouping(by)[0]

    def compute(n: int, run: int) -> list:
        edges = [bounds[n][0], *(hi for _, hi in bounds[n:run])]
        lo, hi = edges[0], edges[-1]
        opened_bucket, closed_bucket = _bucket(_c.opened_at, edges), _bucket(_c.closed_at, edges)
        opened = db.execute(select(opened_bucket.label("b"), key.label("g"), _c.channel, func.count().label("n"))
                            .where(_c.opened_at >= lo, _c.opened_at < hi)
                            .group_by(opened_bucket, key, _c.channel)).mappings().all()
        closed = db.execute(select(closed_bucket.label("b"), key.label("g"), func.count().label("closed"),
                                   _flag(_c.on_time == true()).label("on_time"),
                                   _flag(_c.on_time.is_not(None)).label("on_time_known"),
                                   _flag(_c.city_exceeded_timeframe == false()).label("city_on_time"),
                                   _flag(_c.city_exceeded_timeframe.is_not(None)).label("city_on_time_known"))
                            .where(_c.closed_at >= lo, _c.closed_at < hi).group_by(closed_bucket, key)).mappings().all()
        values = []
        for offset in range(run - n):
            rows: dict = {}
            for row in opened:
                if row["b"] == offset:
                    rows.setdefault(row["g"], dict.fromkeys(PIECE_COUNTS, 0))["opened"] += int(row["n"])
            for row in closed:
                if row["b"] == offset:
                    sums = rows.setdefault(row["g"], dict.fromkeys(PIECE_COUNTS, 0))
                    sums.update({name: int(row[name]) for name in PIECE_COUNTS[1:]})
            values.append([[{"g": g, **sums} for g, sums in rows.items()],
                           [{"g": row["g"], "channel": row["channel"], "n": int(row["n"])} for row in opened
                            if row["b"] == offset]])
        return values

    return cached_runs(db, [f"pieces|{by}|{instant_key(lo)}|{instant_key(hi)}" for lo, hi in bounds],
                       [scope(opened=pair, closed=pair) for pair in bounds], compute)


def _bucket(column, boundaries: list[datetime]):
    """0 for [b0, b1), 1 for [b1, b2), ...; rows outside [b0, b_last) are filtered out by the caller."""
    return case(*((column < bound, n) for n, bound in enumerate(boundaries[1:])), else_=None)


def _report(by, start, end, now, count_names, count_rows, percentile_rows, total_percentiles,
            channel_rows) -> SummaryReport:
    """The SummaryReport from the rows of the counts, percentiles (with the totals' row) and channel queries."""
    key = None if by is None else by
    as_of = min(end, now)
    channels: dict = {}
    for row in channel_rows:
        channels.setdefault(row["g"] if key is not None else None, []).append((row["channel"], int(row["n"])))

    def build(group_key, group_label, count_row, pct_row, channel_counts) -> GroupFigures:
        return GroupFigures(
            key=group_key, label=group_label,
            **{name: int(count_row[name] or 0) for name in count_names},
            timed_closed=int(pct_row["n"] or 0) if pct_row else 0,
            median_days=_float(pct_row["median_days"]) if pct_row else None,
            p90_days=_float(pct_row["p90_days"]) if pct_row else None,
            channels=tuple(sorted(channel_counts, key=lambda item: (-item[1], item[0]))),
        )

    if key is None:
        total = build(None, "all", count_rows[0], total_percentiles, channels.get(None, []))
        return SummaryReport(start=start, end=end, now=now, backlog_as_of=as_of, by=None,
                             groups=(total,), total=total)

    by_group = {row["g"]: row for row in percentile_rows}
    groups = [
        build(row["g"], row["label"] or (row["g"] if row["g"] is not None else UNKNOWN), row,
              by_group.get(row["g"]), channels.get(row["g"], []))
        for row in count_rows
    ]
    groups.sort(key=lambda g: (-g.opened, g.label.lower(), g.key or ""))
    channel_totals: dict[str, int] = {}
    for group in groups:
        for channel, n in group.channels:
            channel_totals[channel] = channel_totals.get(channel, 0) + n
    total_counts = {name: sum(getattr(g, name) for g in groups) for name in count_names}
    total = build(None, "total", total_counts, total_percentiles, list(channel_totals.items()))
    return SummaryReport(start=start, end=end, now=now, backlog_as_of=as_of, by=by,
                         groups=tuple(groups), total=total)


def _float(value) -> float | None:
    return None if value is None else float(value)


__all__ = ["BY_CHOICES", "GroupFigures", "SummaryReport", "check_period", "normalise_by", "read_snapshot", "summaries",
           "summary", "summary_from_pieces"]
