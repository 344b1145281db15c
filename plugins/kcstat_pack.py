"""The ``kcstat`` report pack: the monthly performance review (KCStat) for the mayor, the city manager and council.

Volume by channel, department and type; timeliness by department, work group and type
(share on time, median and 90th percentile days, backlog and its age in the city's
windows); satisfaction against the goals; the 311 matrix (this period beside the same
period a year before, with arrows); escalations; repeat requests by area; the call
centre when call records exist; the month, the fiscal year to date and a 13-month trend,
each against the same period a year before. Figures come from ``civiccrm.metrics.kcstat``
and ``civiccrm.metrics.matrix``; this module lays them out as a ``report_document``.

Settings, under ``[plugins.kcstat]`` in the profile (defaults in ``DEFAULTS``): ``instrument``
(the post-case survey; absent from the profile: the satisfaction sections say so),
``matrix_question``, ``satisfaction_goals``, ``timeliness_target``, ``min_sample``,
``backlog_windows``, ``repeat_days``, ``repeat_area`` (district, neighborhood or zip),
``top`` (rows of the per-type tables) and ``paper`` (A4 or Letter).
"""

from datetime import datetime

import attrs

from civiccrm import hookimpl
from civiccrm.errors import CivicError
from civiccrm.metrics import definitions as d
from civiccrm.metrics.kcstat import (CALLS, KCSTAT_METRICS, REPEAT_AREAS, Share, has_call_records, kcstat_figures,
                                     window_labels)
from civiccrm.metrics.matrix import QUADRANTS, matrix
from civiccrm.metrics.summary import read_snapshot
from civiccrm.store.analytics import report_source
from civiccrm_plugins import report_charts as charts
from civiccrm_plugins.report_document import Column, Document, Section, Table, check_paper, document_pack, pack_settings

NAME = "kcstat"
SETTINGS_TABLE = "kcstat"
DEFAULTS = {"instrument": "post-case", "matrix_question": None, "satisfaction_goals": [0.85, 0.90],
            "timeliness_target": 0.85, "min_sample": 30, "backlog_windows": [30, 60, 90], "repeat_days": 30,
            "repeat_area": "district", "top": 15, "paper": "Letter"}


def _share_value(where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise CivicError(f"{where}: {value!r} is not a share between 0 and 1, like 0.85")
    return float(value)


def _positive(where: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CivicError(f"{where}: {value!r} is not a whole number of 1 or more")
    return value


def settings(deployment) -> dict:
    """The pack's settings: defaults, then ``[plugins.kcstat]``, each checked; the survey resolved (or None)."""
    from civiccrm.services.surveys.instruments import instruments

    table, found, where = pack_settings(deployment, SETTINGS_TABLE, DEFAULTS)
    goals = found["satisfaction_goals"]
    if not isinstance(goals, list) or not goals:
        raise CivicError(f"{where}.satisfaction_goals: {goals!r} is not a list of shares like [0.85, 0.90]")
    found["satisfaction_goals"] = [_share_value(f"{where}.satisfaction_goals", g) for g in goals]
    found["timeliness_target"] = _share_value(f"{where}.timeliness_target", found["timeliness_target"])
    for key in ("min_sample", "repeat_days", "top"):
        found[key] = _positive(f"{where}.{key}", found[key])
    windows = found["backlog_windows"]
    if (not isinstance(windows, list) or not windows or any(isinstance(w, bool) or not isinstance(w, int) for w in windows)
            or sorted(set(windows)) != windows or windows[0] < 1):
        raise CivicError(f"{where}.backlog_windows: {windows!r} is not a rising list of days like [30, 60, 90]")
    found["backlog_windows"] = tuple(windows)
    if found["repeat_area"] not in REPEAT_AREAS:
        raise CivicError(f"{where}.repeat_area: {found['repeat_area']!r}; expected one of {', '.join(REPEAT_AREAS)}")
    check_paper(where, found["paper"])
    known = instruments(deployment)
    instrument = known.get(found["instrument"])
    found["survey"] = instrument
    found["question"] = None
    if instrument is not None:
        rated = [q for q in instrument.questions if q.is_rated]
        code = found["matrix_question"] or (rated[0].code if rated else None)
        if code not in {q.code for q in rated}:
            raise CivicError(f"{where}.matrix_question: {code!r} is not a rated question of {instrument.code!r}; "
                             f"expected one of {', '.join(q.code for q in rated)}")
        found["question"] = instrument.question(code)
    elif "instrument" in table:
        raise CivicError(f"{where}.instrument: no survey {found['instrument']!r} in {deployment.profile.name}; "
                         f"known: {', '.join(sorted(known)) or 'none'}")
    return found


# --- layout helpers ---------------------------------------------------------------------------


def _change(now, before):
    """now - before: a difference of shares, or of counts; None when either is missing."""
    if now is None or before is None:
        return None
    return now - before


def _share(n, d_, min_sample) -> Share:
    return Share(int(n), int(d_), min_sample)


def _by_key(report) -> dict:
    return {g.key: g for g in report.groups}


COUNT, DAYS, SHARE, PCT, DELTA, TEXT = "int", "days", "share", "pct", "delta", "text"


class _Builder:
    """Turns KCStatFigures (and the matrices) into the document's sections."""

    def __init__(self, figures, config, matrices, profile, call_reports=None):
        self.f, self.config, self.matrices, self.profile = figures, config, matrices, profile
        self.call_reports = call_reports
        """(this period, the year before) from ``civiccrm.metrics.calls.call_report`` by weekday, or None."""
        self.n = config["min_sample"]

    def on_time(self, g) -> Share:
        return _share(g.on_time, g.on_time_known, self.n)

    def city_on_time(self, g) -> Share:
        return _share(g.city_on_time, g.city_on_time_known, self.n)

    # headline
    def headline(self) -> Section:
        columns = (Column("figure", "figure"), Column("month", "this period", COUNT),
                   Column("month_before", "a year before", COUNT), Column("month_change", "change", DELTA),
                   Column("fytd", "fiscal year to date", COUNT), Column("fytd_before", "a year before", COUNT),
                   Column("fytd_change", "change", DELTA))
        month, month_before = (r.total for r in (self.f.timeliness["department"].current,
                                                 self.f.timeliness["department"].year_before))
        fytd, fytd_before = self.f.fiscal.current.total, self.f.fiscal.year_before.total
        rows = []
        for label, get in ((d.OPENED.label, lambda g: g.opened), (d.CLOSED.label, lambda g: g.closed),
                           (d.BACKLOG.label, lambda g: g.backlog)):
            values = [get(g) for g in (month, month_before, fytd, fytd_before)]
            rows.append((label, values[0], values[1], _change(values[0], values[1]), values[2], values[3],
                         _change(values[2], values[3])))
        share_columns = (Column("figure", "figure"), Column("month", "this period", SHARE),
                         Column("month_before", "a year before", SHARE), Column("month_change", "change", DELTA),
                         Column("fytd", "fiscal year to date", SHARE), Column("fytd_before", "a year before", SHARE),
                         Column("fytd_change", "change", DELTA))
        share_rows = []
        for label, get in ((d.SHARE_ON_TIME.label, self.on_time), (d.SHARE_ON_TIME_CITY.label, self.city_on_time)):
            values = [get(g) for g in (month, month_before, fytd, fytd_before)]
            share_rows.append((label, values[0], values[1], _change(values[0].value, values[1].value),
                               values[2], values[3], _change(values[2].value, values[3].value)))
        day_columns = tuple(Column(c.name, c.label, DAYS if c.kind == COUNT else c.kind) for c in columns)
        day_rows = []
        for label, get in ((d.MEDIAN_DAYS.label, lambda g: g.median_days), (d.P90_DAYS.label, lambda g: g.p90_days)):
            values = [get(g) for g in (month, month_before, fytd, fytd_before)]
            day_rows.append((label, values[0], values[1], None, values[2], values[3], None))
        fy = self.f.fiscal_ytd
        return Section("At a glance", intro=f"This period {self.f.period.first_day} to {self.f.period.last_day}; "
                                            f"fiscal year to date {fy.first_day} to {fy.last_day}; each beside the "
                                            "same dates a year before.",
                       blocks=(Table("headline_counts", "Cases", columns, tuple(rows)),
                               Table("headline_on_time", "On time", share_columns, tuple(share_rows)),
                               Table("headline_days", "Days to close", day_columns, tuple(day_rows))))

    # volume
    def volume(self) -> Section:
        blocks = []
        titles = {"channel": "channel", "department": "department", "type": "request type"}
        for by in ("channel", "department", "type"):
            comparison = self.f.volume[by]
            now, before = comparison.current, _by_key(comparison.year_before)
            total = now.total.opened
            seen = {g.key for g in now.groups}
            groups = [g for g in (*now.groups, *(g for g in comparison.year_before.groups if g.key not in seen))
                      if g.opened or (g.key in before and before[g.key].opened)]
            current = _by_key(now)
            groups = [attrs.evolve(g, opened=current[g.key].opened if g.key in current else 0) for g in groups]
            groups.sort(key=lambda g: (-g.opened, -(before[g.key].opened if g.key in before else 0), g.label.lower()))
            note = ""
            if by == "type" and len(groups) > self.config["top"]:
                note = f"The {self.config['top']} types with most cases opened of {len(groups)}; the total counts all."
                groups = groups[: self.config["top"]]
            columns = (Column(by.replace("-", "_"), titles[by]), Column("opened", "opened", COUNT),
                       Column("share", "share of opened", PCT), Column("opened_year_before", "a year before", COUNT),
                       Column("change", "change", DELTA))
            rows = []
            for g in groups:
                was = before.get(g.key)
                previous = was.opened if was else 0
                rows.append((g.label, g.opened, g.opened / total if total else None, previous, g.opened - previous))
            totals = ("total", total, 1.0 if total else None, comparison.year_before.total.opened,
                      total - comparison.year_before.total.opened)
            blocks.append(Table(f"volume_by_{by.replace('-', '_')}", f"Cases opened by {titles[by]}", columns,
                                tuple(rows), total=totals, note=note))
        first = self.f.volume["channel"].current
        labels = [g.label for g in first.groups]
        chart = charts.chart(
            "volume_by_channel", "Cases opened by channel",
            charts.share_bars(labels, [g.opened / first.total.opened if first.total.opened else None for g in first.groups],
                              [False] * len(labels), {}),
            blocks[0], size=(6.5, 0.5 + 0.28 * max(len(labels), 1)))
        return Section("Volume", intro=d.OPENED.definition, blocks=(chart, *blocks[1:]))

    # timeliness
    def timeliness(self) -> Section:
        blocks = []
        titles = {"department": "department", "work-group": "work group", "type": "request type"}
        for by in ("department", "work-group", "type"):
            comparison = self.f.timeliness[by]
            before = _by_key(comparison.year_before)
            groups = sorted(comparison.current.groups, key=lambda g: (-g.closed, g.label.lower()))
            note = ""
            if by != "department" and len(groups) > self.config["top"]:
                note = (f"The {self.config['top']} {titles[by]}s with most cases closed of {len(groups)}; "
                        "the total counts all.")
                groups = groups[: self.config["top"]]
            columns = (Column(by.replace("-", "_"), titles[by]), Column("closed", "closed", COUNT),
                       Column("on_time", d.SHARE_ON_TIME.label, SHARE),
                       Column("on_time_year_before", "a year before", SHARE),
                       Column("city_on_time", d.SHARE_ON_TIME_CITY.label, SHARE),
                       Column("median_days", d.MEDIAN_DAYS.label, DAYS), Column("p90_days", d.P90_DAYS.label, DAYS),
                       Column("backlog", d.BACKLOG.label, COUNT))

            def row(g, was):
                return (g.label, g.closed, self.on_time(g), self.on_time(was) if was else None, self.city_on_time(g),
                        g.median_days, g.p90_days, g.backlog)

            rows = tuple(row(g, before.get(g.key)) for g in groups)
            blocks.append(Table(f"timeliness_by_{by.replace('-', '_')}", f"Timeliness by {titles[by]}", columns, rows,
                                total=row(comparison.current.total, comparison.year_before.total), note=note))
        departments = [g for g in sorted(self.f.timeliness["department"].current.groups,
                                         key=lambda g: (-g.closed, g.label.lower())) if g.on_time_known]
        shares = [self.on_time(g) for g in departments]
        chart = charts.chart(
            "timeliness_by_department", "Share closed on time by department",
            charts.share_bars([g.label for g in departments], [s.value for s in shares], [s.low_sample for s in shares],
                              {"target": self.config["timeliness_target"]}),
            blocks[0], size=(6.5, 0.6 + 0.3 * max(len(departments), 1)))
        return Section("Timeliness", intro=f"{d.SHARE_ON_TIME.definition}. {d.MEDIAN_DAYS.definition}.",
                       blocks=(chart, *blocks[1:]))

    # backlog age
    def backlog(self) -> Section:
        labels = window_labels(self.f.windows)
        now, before = self.f.backlog_age.current, {r.key: r for r in self.f.backlog_age.year_before}
        columns = (Column("department", "department"), *(Column(f"days_{label.replace(' ', '_').replace('-', '_')}",
                                                                f"{label} days", COUNT) for label in labels),
                   Column("backlog", "backlog", COUNT), Column("backlog_year_before", "a year before", COUNT))
        rows = tuple((r.label, *r.counts, r.total, before[r.key].total if r.key in before else 0) for r in now)
        total_counts = [sum(r.counts[i] for r in now) for i in range(len(labels))]
        total = ("total", *total_counts, sum(total_counts), sum(r.total for r in before.values()))
        table = Table("backlog_age", "Open backlog by days open", columns, rows, total=total)
        shown = now[:12]
        chart = charts.chart(
            "backlog_age", "Open backlog by days open",
            charts.stacked_bars([r.label for r in shown], {label: [r.counts[i] for r in shown]
                                                            for i, label in enumerate(labels)}),
            table, size=(6.5, 0.8 + 0.3 * max(len(shown), 1)))
        return Section("Backlog and its age", intro=KCSTAT_METRICS[0].definition, blocks=(chart,))

    # satisfaction
    def satisfaction(self) -> Section:
        if self.f.satisfaction is None:
            return Section("Satisfaction", missing=f"No survey configured: {self.profile.name} has no survey "
                                                   f"{self.config['instrument']!r} ([plugins.kcstat] instrument).")
        goals = self.config["satisfaction_goals"]
        before = {q.item: q for q in self.f.satisfaction.year_before}
        columns = (Column("question", "question"), Column("satisfied", "satisfied", SHARE),
                   Column("satisfied_year_before", "a year before", SHARE), Column("change", "change", DELTA),
                   *(Column(f"meets_{round(g * 100)}", f"meets {g:.0%} goal") for g in goals))
        rows = []
        for q in self.f.satisfaction.current:
            share = _share(q.acceptable, q.answered, self.n)
            was = before.get(q.item)
            was_share = _share(was.acceptable, was.answered, self.n) if was else None
            meets = tuple("-" if share.value is None else ("yes" if share.value >= g else "no") for g in goals)
            rows.append((q.text, share, was_share, _change(share.value, was_share.value if was_share else None), *meets))
        table = Table("satisfaction", "Satisfaction with the post-case survey", columns, tuple(rows))
        shares = [r[1] for r in rows]
        chart = charts.chart(
            "satisfaction", "Share satisfied against the goals",
            charts.share_bars([q.item for q in self.f.satisfaction.current], [s.value for s in shares],
                              [s.low_sample for s in shares], {f"goal {i + 1}": g for i, g in enumerate(goals)}),
            table, size=(6.5, 0.8 + 0.35 * max(len(rows), 1)))
        answered = sum(q.answered for q in (*self.f.satisfaction.current, *self.f.satisfaction.year_before))
        return Section("Satisfaction", intro=KCSTAT_METRICS[1].definition, blocks=(chart,),
                       missing=None if answered else f"No answers to the survey {self.config['instrument']!r} in the "
                                                     "period or a year before.")

    # 311 matrix
    def matrix(self) -> Section:
        if self.matrices is None:
            return Section("311 matrix", missing=f"No survey configured: the matrix needs the post-case survey "
                                                 f"{self.config['instrument']!r}, which {self.profile.name} lacks.")
        now, before = self.matrices
        numbers = {}
        for row in (*now.rows, *before.rows):
            numbers.setdefault(row.work_group, len(numbers) + 1)

        def points(m):
            placed = []
            for row in m.rows:
                if row.quadrant is None:
                    continue
                low = row.on_time_known < self.n or row.answered < self.n
                placed.append((numbers[row.work_group], row.label, row.timeliness, row.satisfaction, row.closed, low))
            return placed

        was = {row.work_group: row for row in before.rows}
        columns = (Column("number", "#", COUNT), Column("work_group", "work group"), Column("closed", "closed", COUNT),
                   Column("timeliness", d.TIMELINESS.label, SHARE), Column("satisfaction", d.SATISFACTION.label, SHARE),
                   Column("quadrant", d.QUADRANT.label), Column("quadrant_year_before", "a year before"))
        placed = [r for r in now.rows if r.quadrant is not None or (r.work_group in was and was[r.work_group].quadrant)]
        rows = tuple((numbers[r.work_group], r.label, r.closed, _share(r.on_time, r.on_time_known, self.n),
                      _share(r.acceptable, r.answered, self.n), QUADRANTS.get(r.quadrant, "not placed"),
                      QUADRANTS.get(was[r.work_group].quadrant, "not placed") if r.work_group in was else "-")
                     for r in placed)
        unplaced = len(now.rows) - len(placed)
        table = Table("matrix", "311 matrix by work group", columns, rows,
                      note="Hollow points and † mark work groups with fewer closed cases or answers than the minimum "
                           "sample; an arrow runs from a group's place a year before to its place now. "
                           f"{unplaced} work group(s) with cases closed but no survey answers in either period are "
                           "not placed.")
        f = self.f
        chart = charts.chart(
            "matrix", "311 matrix: timeliness against satisfaction, a year before and now",
            charts.matrix_panels(points(now), points(before), timeliness_target=now.timeliness_target,
                                 satisfaction_target=now.satisfaction_target,
                                 current_label=f"{f.period.first_day} to {f.period.last_day}",
                                 before_label=f"{f.period.year_before().first_day} to {f.period.year_before().last_day}"),
            table, size=(8.0, 3.8))
        q = self.config["question"]
        missing = None if rows else "No survey answers in the period or a year before: no work group can be placed."
        return Section("311 matrix", missing=missing, intro=f"Timeliness against satisfaction (\u201c{q.text}\u201d, acceptable at "
                                           f"{q.acceptable} or above); targets: timeliness {now.timeliness_target:.0%}, "
                                           f"satisfaction {now.satisfaction_target:.0%}. Point area grows with cases "
                                           "closed.", blocks=(chart,))

    # escalations
    def escalations(self) -> Section:
        now, before = self.f.escalations.current, {r.department: r for r in self.f.escalations.year_before}
        columns = (Column("department", "department"), Column("warnings", "warnings", COUNT),
                   Column("breaches", "breaches", COUNT), Column("response_breaches", "first-response breaches", COUNT),
                   Column("breaches_year_before", "breaches a year before", COUNT))
        rows = tuple((r.department or "unknown", r.warnings, r.breaches, r.response_breaches,
                      before[r.department].breaches if r.department in before else 0) for r in now)
        total = ("total", sum(r.warnings for r in now), sum(r.breaches for r in now),
                 sum(r.response_breaches for r in now), sum(r.breaches for r in before.values()))
        return Section("Escalations", intro=KCSTAT_METRICS[2].definition,
                       missing=None if now or before else "No escalations recorded in the period or a year before "
                                                          "(the SLA scan, civiccrm sla scan, records them).",
                       blocks=(Table("escalations", "SLA escalations by department", columns, rows, total=total),))

    # repeats
    def repeats(self) -> Section:
        now, before = self.f.repeats.current, {r.area: r for r in self.f.repeats.year_before}
        area = self.f.repeat_area
        columns = (Column(area, area), Column("opened", "opened with an address", COUNT),
                   Column("repeats", "repeats", COUNT), Column("share", "share repeated", SHARE),
                   Column("share_year_before", "a year before", SHARE))
        rows = tuple((r.area or "unknown", r.opened, r.repeats, _share(r.repeats, r.opened, self.n),
                      _share(before[r.area].repeats, before[r.area].opened, self.n) if r.area in before else None)
                     for r in now)
        opened, repeats = sum(r.opened for r in now), sum(r.repeats for r in now)
        was_opened, was_repeats = sum(r.opened for r in before.values()), sum(r.repeats for r in before.values())
        total = ("total", opened, repeats, _share(repeats, opened, self.n), _share(was_repeats, was_opened, self.n))
        return Section("Repeat requests", intro=KCSTAT_METRICS[3].definition.replace("N days", f"{self.f.repeat_days} days"),
                       blocks=(Table("repeat_requests", f"Repeat requests by {area}", columns, rows, total=total),))

    # trend
    def trend(self) -> Section:
        months, before = self.f.trend, self.f.trend_year_before
        columns = (Column("month", "month"), Column("opened", "opened", COUNT),
                   Column("opened_year_before", "a year before", COUNT), Column("closed", "closed", COUNT),
                   Column("closed_year_before", "a year before", COUNT), Column("on_time", d.SHARE_ON_TIME.label, SHARE),
                   Column("on_time_year_before", "a year before", SHARE),
                   Column("median_days", d.MEDIAN_DAYS.label, DAYS),
                   Column("median_days_year_before", "a year before", DAYS))
        rows = tuple((m.month, m.opened, b.opened, m.closed, b.closed, _share(m.on_time, m.on_time_known, self.n),
                      _share(b.on_time, b.on_time_known, self.n), m.median_days, b.median_days)
                     for m, b in zip(months, before))
        table = Table("trend", "13-month trend", columns, rows)
        labels = [m.month for m in months]
        opened = charts.chart("trend_opened", "Cases opened per month, against a year before",
                              charts.trend_lines(labels, [m.opened for m in months], [b.opened for b in before],
                                                 ylabel="cases opened"), table)
        on_time = Table("trend_on_time", "Share closed on time per month",
                        (Column("month", "month"), Column("on_time", d.SHARE_ON_TIME.label, SHARE),
                         Column("on_time_year_before", "a year before", SHARE)),
                        tuple((r[0], r[5], r[6]) for r in rows))
        shares = charts.chart("trend_on_time", "Share closed on time per month, against a year before",
                              charts.trend_lines(labels, [r[5].value for r in rows], [r[6].value for r in rows],
                                                 ylabel="closed on time", share=True), on_time)
        return Section("13-month trend", intro=KCSTAT_METRICS[4].definition, blocks=(opened, shares))

    def calls(self) -> Section:
        if not self.f.calls_available:
            return Section("Call centre", missing="No call records: the database holds no call records for "
                                                  f"{self.profile.name}, so abandonment and speed of answer are not shown.")
        if self.call_reports is None:
            return Section("Call centre", missing=f"No call records are read: {self.profile.name} has no [calls] "
                                                  "settings in its profile (the short-abandon and service-level "
                                                  "thresholds), so no call figures are computed (docs/calls.md).")
        now, before = self.call_reports
        if not now.total.offered and not now.total.short_abandoned:
            return Section("Call centre", missing="No call records in this period.")
        was = {g.key: g for g in before.groups}
        seconds = "days"  # one decimal
        columns = (Column("weekday", "weekday"), Column("offered", "offered", "int"),
                   Column("abandoned", "abandoned", "int"), Column("abandonment", "abandonment", "pct"),
                   Column("abandonment_year_before", "a year before", "pct"),
                   Column("asa_seconds", "speed of answer (s)", seconds),
                   Column("asa_year_before", "a year before", seconds),
                   Column("service_level", f"answered within {now.service_level_seconds:g} s", "pct"),
                   Column("aht_seconds", "handle time (s)", seconds))

        def row(g, b, label):
            return (label, g.offered, g.abandoned, g.abandonment_rate, b.abandonment_rate if b else None,
                    g.asa_seconds, b.asa_seconds if b else None, g.service_level, g.aht_seconds)

        table = Table("calls_by_weekday", "Calls by weekday (city time), against the same period a year before",
                      columns, tuple(row(g, was.get(g.key), g.label) for g in now.groups),
                      total=row(now.total, before.total if before.total.offered else None, "all calls"),
                      note=f"Calls abandoned within {now.short_abandon_seconds:g} s are neither offered nor "
                           "abandoned. From the call records (civiccrm calls import).")
        labels = [g.label for g in now.groups]
        chart = charts.chart("calls_speed_of_answer", "Average speed of answer by weekday, against a year before",
                             charts.trend_lines(labels, [g.asa_seconds for g in now.groups],
                                                [was[g.key].asa_seconds if g.key in was else None
                                                 for g in now.groups], ylabel="seconds"), table)
        return Section("Call centre", intro=CALLS.definition, blocks=(chart,))

    def sections(self) -> tuple[Section, ...]:
        return (self.headline(), self.volume(), self.timeliness(), self.backlog(), self.satisfaction(), self.matrix(),
                self.escalations(), self.repeats(), self.trend(), self.calls())


def _call_reports(deployment, period):
    """The call centre's figures by weekday for the period and a year before (the call-centre
    engine's ``call_report``, read from the call tables), or None when the profile has no [calls]."""
    from civiccrm.metrics.calls import call_report

    calls = deployment.profile.calls
    if calls is None:
        return None
    return tuple(call_report(deployment.engine, start=p.first_day, end=p.last_day, by="weekday",
                             short_abandon_seconds=calls.short_abandon_seconds,
                             service_level_seconds=calls.service_level_seconds,
                             first_contact_days=calls.first_contact_days)
                 for p in (period, period.year_before()))


def kcstat_document(deployment, *, start: datetime, end: datetime) -> Document:
    """The pack's document for [start, end): every figure computed, laid out in sections."""
    config = settings(deployment)
    profile = deployment.profile
    survey, question = config["survey"], config["question"]
    rated = {q.code: q.text for q in survey.questions if q.is_rated} if survey is not None else None
    now = deployment.clock()
    with report_source(deployment.engine) as source, read_snapshot(source) as db:
        figures = kcstat_figures(db, start=start, end=end, now=now, tz=profile.tz,
                                 fiscal_year_start=profile.fiscal_year_start, windows=config["backlog_windows"],
                                 survey=(survey.code, rated) if survey is not None else None,
                                 repeat_days=config["repeat_days"], repeat_area=config["repeat_area"])
        matrices = None
        if survey is not None:
            target = survey.target_for(question.code)
            satisfaction_target = target.target if target is not None else config["satisfaction_goals"][0]
            before = figures.period.year_before()
            matrices = tuple(matrix(db, start=p_start, end=p_end, instrument=survey.code, question=question.code,
                                    acceptable_from=question.acceptable,
                                    timeliness_target=config["timeliness_target"],
                                    satisfaction_target=satisfaction_target)
                             for p_start, p_end in ((start, end), (before.start, before.end)))
    # The call records are read from the database itself (the analytics copy holds only cases).
    calls_available = has_call_records(deployment.engine)
    figures = attrs.evolve(figures, calls_available=calls_available)
    builder = _Builder(figures, config, matrices, profile,
                       _call_reports(deployment, figures.period) if calls_available else None)
    period = figures.period
    label = f"{period.first_day} to {period.last_day}"
    return Document(
        pack=NAME, title=f"KCStat: {profile.name}, {label}", city=profile.name, period_label=label,
        sections=builder.sections(),
        definitions=(*d.SUMMARY_METRICS, *d.MATRIX_METRICS, *KCSTAT_METRICS),
        data={"timezone": profile.timezone, "period_dates": period.to_dict(),
              "year_before": period.year_before().to_dict(), "fiscal_year_to_date": figures.fiscal_ytd.to_dict(),
              "backlog_windows": list(figures.windows), "repeat_days": figures.repeat_days,
              "repeat_area": figures.repeat_area, "satisfaction_goals": config["satisfaction_goals"],
              "timeliness_target": config["timeliness_target"]},
        paper=config["paper"], min_sample=config["min_sample"])


@hookimpl
def register_report_packs(register):
    register(document_pack(NAME, kcstat_document, "KCStat monthly: volume, timeliness, backlog age, satisfaction, "
                                                  "the 311 matrix, escalations, repeat requests and the 13-month "
                                                  "trend, each against a year before"))
