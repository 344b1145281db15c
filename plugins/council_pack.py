"""The ``council-monthly`` report pack: what the city reports monthly to the mayor and council.

Three sections for a period: the summary by department (opened, closed, backlog, days to
close, on-time shares), the channel mix, and the 311 matrix (per work group, timeliness
against satisfaction with the post-case survey, placed against the targets). All figures
come from ``civiccrm.metrics`` (SQL), read in one snapshot; this module only lays them out
as JSON, CSV or a self-contained HTML page.

Settings, under ``[plugins.council_monthly]`` in the profile (defaults in ``DEFAULTS``):
``instrument`` (the post-case survey), ``satisfaction_question`` (a rated question of it),
``timeliness_target`` and ``satisfaction_target`` (shares; the latter defaults to the
question's own target, else 0.85).
"""

import csv
import io
import json
from datetime import datetime, timedelta
from html import escape

import attrs

from civiccrm import hookimpl
from civiccrm.errors import CivicError
from civiccrm.registries import Rendered, ReportPack
from civiccrm.metrics import definitions
from civiccrm.metrics.definitions import format_days, format_share
from civiccrm.metrics.matrix import QUADRANTS, MatrixReport, matrix
from civiccrm.metrics.summary import SummaryReport, read_snapshot, summary
from civiccrm.profiles.settings import plugin_settings

NAME = "council-monthly"
SETTINGS_TABLE = "council_monthly"
DEFAULTS = {"instrument": "post-case", "satisfaction_question": "department_service",
            "timeliness_target": 0.85, "satisfaction_target": None}
FALLBACK_TARGET = 0.85
"""Satisfaction target when neither the settings nor the question give one."""


def settings(deployment) -> dict:
    """The pack's settings: defaults, then ``[plugins.council_monthly]``; targets checked, question resolved.

    A profile without the default post-case survey (and naming none) gets ``question`` None and
    ``no_survey`` saying what it lacks: the report then marks its matrix "no survey configured".
    An instrument the table names but the profile lacks is refused.
    """
    from civiccrm.services.surveys.instruments import instruments

    found = plugin_settings(deployment.profile, SETTINGS_TABLE, DEFAULTS)
    where = f"plugins.{SETTINGS_TABLE}"
    known = instruments(deployment)
    lacking = (f"no survey {found['instrument']!r} in {deployment.profile.name}; "
               f"known: {', '.join(sorted(known)) or 'none'}")
    if found["instrument"] not in known and "instrument" not in _settings_table(deployment):
        return {**found, "question": None, "no_survey": f"no survey configured: {lacking} "
                f"(name one under [plugins.{SETTINGS_TABLE}] instrument)"}
    if found["instrument"] not in known:
        raise CivicError(f"{where}.instrument: {lacking}")
    instrument = known[found["instrument"]]
    codes = [q.code for q in instrument.questions if q.is_rated]
    if found["satisfaction_question"] not in codes:
        raise CivicError(f"{where}.satisfaction_question: {found['satisfaction_question']!r} is not a rated "
                         f"question of {instrument.code!r}; expected one of {', '.join(codes)}")
    question = instrument.question(found["satisfaction_question"])
    if found["satisfaction_target"] is None:
        target = instrument.target_for(question.code)
        found["satisfaction_target"] = target.target if target is not None else FALLBACK_TARGET
    for key in ("timeliness_target", "satisfaction_target"):
        value = found[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise CivicError(f"{where}.{key}: {value!r} is not a share between 0 and 1, like 0.85")
    found["question"] = question
    found["no_survey"] = None
    return found


def _settings_table(deployment) -> dict:
    return deployment.profile.settings.get("plugins", {}).get(SETTINGS_TABLE, {})


@attrs.frozen
class CouncilReport:
    """The pack's figures for one period, before they are laid out."""

    city: str
    timezone: str
    tz: object
    start: datetime
    end: datetime
    summary: SummaryReport
    matrix: MatrixReport | None
    """None when the profile has no survey to set satisfaction against (``no_survey`` says why)."""
    question_text: str | None
    no_survey: str | None = None

    @property
    def first_day(self):
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self):
        """The last local day the period touches (the day before ``end`` when it is a midnight)."""
        return (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()

    def local(self, instant: datetime) -> str:
        return instant.astimezone(self.tz).isoformat()


def council_report(deployment, *, start: datetime, end: datetime) -> CouncilReport:
    """Compute the summary by department and the 311 matrix for [start, end) in one read snapshot."""
    config = settings(deployment)
    question = config["question"]
    profile = deployment.profile
    grid = None
    with read_snapshot(deployment.engine) as conn:
        by_department = summary(conn, start=start, end=end, by="department", now=deployment.clock())
        if question is not None:
            grid = matrix(conn, start=start, end=end, instrument=config["instrument"], question=question.code,
                          acceptable_from=question.acceptable, timeliness_target=config["timeliness_target"],
                          satisfaction_target=config["satisfaction_target"])
    return CouncilReport(city=profile.name, timezone=profile.timezone, tz=profile.tz, start=start, end=end,
                         summary=by_department, matrix=grid, question_text=question.text if question else None,
                         no_survey=config["no_survey"])


# --- JSON ------------------------------------------------------------------------------------


def to_json(report: CouncilReport) -> str:
    data = {
        "pack": NAME, "city": report.city, "timezone": report.timezone,
        "period": {"start": report.local(report.start), "end": report.local(report.end),
                   "first_day": report.first_day.isoformat(), "last_day": report.last_day.isoformat()},
        "summary": {**report.summary.to_dict(), "start": report.local(report.start), "end": report.local(report.end),
                    "backlog_as_of": report.local(report.summary.backlog_as_of)},
        "channel_mix": report.summary.total.to_dict()["channel_mix"],
        "matrix": None if report.matrix is None else {
            **report.matrix.to_dict(), "start": report.local(report.start), "end": report.local(report.end),
            "question_text": report.question_text},
        "no_survey": report.no_survey,
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


# --- CSV -------------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("opened", "closed", "backlog", "median_days_to_close", "p90_days_to_close", "on_time",
                   "on_time_known", "share_on_time", "city_on_time", "city_on_time_known", "share_on_time_city")
MATRIX_COLUMNS = ("closed", "on_time", "on_time_known", "timeliness", "answered", "acceptable", "satisfaction",
                  "quadrant")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def to_csv(report: CouncilReport) -> str:
    """Four tables, each headed by its column names, separated by an empty line; every row's first
    cell names its section (report, summary, channel_mix, matrix)."""
    out = io.StringIO()
    write = csv.writer(out).writerow
    m = report.matrix
    write(["section", "key", "value"])
    about_matrix = (("no_survey", report.no_survey),) if m is None else (
        ("instrument", m.instrument), ("satisfaction_question", m.question), ("acceptable_from", m.acceptable_from),
        ("timeliness_target", m.timeliness_target), ("satisfaction_target", m.satisfaction_target))
    for key, value in (("pack", NAME), ("city", report.city), ("timezone", report.timezone),
                       ("start", report.local(report.start)), ("end", report.local(report.end)),
                       ("backlog_as_of", report.local(report.summary.backlog_as_of)), *about_matrix):
        write(["report", key, _cell(value)])
    write([])
    write(["section", "department", "label", *SUMMARY_COLUMNS])
    for group in (*report.summary.groups, report.summary.total):
        data = group.to_dict()
        write(["summary", _cell(group.key), group.label, *(_cell(data[c]) for c in SUMMARY_COLUMNS)])
    write([])
    write(["section", "channel", "count", "share"])
    for share in report.summary.total.channel_mix:
        write(["channel_mix", share.channel, share.count, _cell(share.share)])
    if m is None:
        return out.getvalue()
    write([])
    write(["section", "work_group", "label", "department", *MATRIX_COLUMNS])
    for row in (*m.rows, m.total):
        data = row.to_dict()
        write(["matrix", _cell(row.work_group), row.label, _cell(row.department), *(_cell(data[c]) for c in MATRIX_COLUMNS)])
    return out.getvalue()


# --- HTML ------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 70rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th.l, td.l { text-align: left; }
tr.total td { font-weight: bold; border-top: 2px solid #888; }
dt { font-weight: bold; margin-top: 0.5rem; }
svg text { font-size: 11px; }
"""


def _cells(tag: str, cells, left: int) -> str:
    """Escaped cells; the first ``left`` hold text (aligned left), the rest figures (aligned right)."""
    text, figure = f'<{tag} class="l">', f"<{tag}>"
    return "".join(f"{text if i < left else figure}{escape(str(c))}</{tag}>" for i, c in enumerate(cells))


def _row(cells, *, left: int = 1, total: bool = False) -> str:
    opening = '<tr class="total">' if total else "<tr>"
    return f"{opening}{_cells('td', cells, left)}</tr>"


def _table(header, rows: list[str], *, left: int = 1) -> str:
    return f"<table><thead><tr>{_cells('th', header, left)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def scatter_svg(m: MatrixReport, numbers: dict) -> str:
    """The matrix as an inline SVG: timeliness across, satisfaction up, dashed target lines, one
    numbered point per work group with both shares (its number is in the table)."""
    left, top, size = 50, 15, 300

    def x(share):
        return left + share * size

    def y(share):
        return top + size - share * size

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + size + 30}" height="{top + size + 45}" '
             f'role="img" aria-label="311 matrix: timeliness against satisfaction by work group">',
             f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#888"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{x(tick):.1f}" y="{top + size + 14}" text-anchor="middle">{tick:.0%}</text>')
        parts.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    parts.append(f'<text x="{left + size / 2}" y="{top + size + 32}" text-anchor="middle">timeliness (closed on time)</text>')
    parts.append(f'<text transform="translate(12 {top + size / 2}) rotate(-90)" text-anchor="middle">satisfaction</text>')
    tx, sy = x(m.timeliness_target), y(m.satisfaction_target)
    parts.append(f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{top + size}" stroke="#c00" stroke-dasharray="4 3">'
                 f'<title>timeliness target {m.timeliness_target:.0%}</title></line>')
    parts.append(f'<line x1="{left}" y1="{sy:.1f}" x2="{left + size}" y2="{sy:.1f}" stroke="#c00" stroke-dasharray="4 3">'
                 f'<title>satisfaction target {m.satisfaction_target:.0%}</title></line>')
    for row in m.rows:
        if row.quadrant is None:
            continue
        cx, cy = x(row.timeliness), y(row.satisfaction)
        tip = (f"{numbers[row.work_group]}. {row.label}: timeliness {row.timeliness:.1%}, "
               f"satisfaction {row.satisfaction:.1%} ({QUADRANTS[row.quadrant]})")
        parts.append(f'<g><title>{escape(tip)}</title><circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#1f5fa8"/>'
                     f'<text x="{cx + 6:.1f}" y="{cy - 4:.1f}">{numbers[row.work_group]}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: CouncilReport) -> str:
    s, m = report.summary, report.matrix
    d = definitions
    title = f"{report.city}: council report, {report.first_day} to {report.last_day}"
    summary_rows = [
        _row([g.label, g.opened, g.closed, g.backlog, format_days(g.median_days), format_days(g.p90_days),
              format_share(g.on_time, g.on_time_known), format_share(g.city_on_time, g.city_on_time_known)],
             total=g is s.total)
        for g in (*s.groups, s.total)
    ]
    channel_rows = [_row([c.channel, c.count, f"{c.share:.1%}"]) for c in s.total.channel_mix]
    metrics = (*s.definitions, *(m.definitions if m is not None else ()))
    glossary = "".join(f"<dt>{escape(x.label)}</dt><dd>{escape(x.definition)}</dd>" for x in metrics)
    backlog_as_of = s.backlog_as_of.astimezone(report.tz)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Period {escape(report.local(report.start))} to {escape(report.local(report.end))} "
        f"({escape(report.timezone)}), end excluded; backlog as of {escape(backlog_as_of.strftime('%Y-%m-%d %H:%M %Z'))}.</p>",
        "<h2>Summary by department</h2>",
        _table(["department", d.OPENED.label, d.CLOSED.label, d.BACKLOG.label, d.MEDIAN_DAYS.label,
                d.P90_DAYS.label, d.SHARE_ON_TIME.label, d.SHARE_ON_TIME_CITY.label], summary_rows),
        "<h2>Channel mix (cases opened)</h2>",
        _table(["channel", "cases", "share"], channel_rows) if channel_rows else "<p>No cases opened in the period.</p>",
        "<h2>311 matrix by work group</h2>",
        _matrix_html(report),
        "<h2>Definitions</h2>",
        f"<dl>{glossary}</dl>",
        "</body></html>",
        "",
    ])


def _matrix_html(report: CouncilReport) -> str:
    """The matrix section: its chart and table, or why there is none (no survey configured)."""
    m, d = report.matrix, definitions
    if m is None:
        return f'<p class="no-survey"><strong>No survey configured.</strong> {escape(report.no_survey)}</p>'
    numbers = {row.work_group: n for n, row in enumerate(m.rows, start=1)}
    matrix_rows = [
        _row([numbers[row.work_group], row.label, row.department or "-", row.closed,
              format_share(row.on_time, row.on_time_known), format_share(row.acceptable, row.answered),
              QUADRANTS.get(row.quadrant, "not placed")], left=3)
        for row in m.rows
    ]
    total = m.total
    matrix_rows.append(_row(["", "total", "", total.closed, format_share(total.on_time, total.on_time_known),
                             format_share(total.acceptable, total.answered), QUADRANTS.get(total.quadrant, "not placed")],
                            left=3, total=True))
    return "\n".join([
        f"<p>Timeliness against satisfaction: answers to &ldquo;{escape(report.question_text)}&rdquo; "
        f"({escape(m.instrument)}/{escape(m.question)}, acceptable at {m.acceptable_from} or above). "
        f"Targets: timeliness {m.timeliness_target:.0%}, satisfaction {m.satisfaction_target:.0%}.</p>",
        scatter_svg(m, numbers),
        _table(["#", "work group", "department", "closed", d.TIMELINESS.label, d.SATISFACTION.label,
                d.QUADRANT.label], matrix_rows, left=3),
    ])


#: format -> (renderer of the report to text, media type)
RENDERERS = {"json": (to_json, "application/json"), "csv": (to_csv, "text/csv"), "html": (to_html, "text/html")}


def render(deployment, *, start: datetime, end: datetime, format: str) -> Rendered:
    """The council pack for [start, end) as JSON, CSV or HTML (UTF-8)."""
    to_text, media_type = RENDERERS[format]
    return Rendered.text(to_text(council_report(deployment, start=start, end=end)), media_type)


@hookimpl
def register_report_packs(register):
    register(ReportPack(NAME, render, description="Monthly report to the mayor and council: summary by department, "
                                                  "channel mix and the 311 matrix (timeliness against satisfaction)",
                        formats=("json", "csv", "html")))
