"""The ``employee-survey`` report pack: the employee survey's statements by department against their targets.

Per statement, the share agreeing with its 95% Wilson interval, N/A counted apart, the
target and baseline the profile records and whether the share meets the target; the same
per department (a department's own target where the profile sets one), a chart of the first
statement by department, and the statements under target with their open action plans.
Answers are counted by ``civiccrm.metrics.customer_service.item_counts`` (answered in the
period), intervals by ``civiccrm.domain.survey_stats.wilson``.

Settings, under ``[plugins.employee_survey]``: ``instrument`` (default: the first survey of the
profile whose audience is ``employee``), ``min_sample`` (10: departments are small) and
``paper`` (Letter).
"""

from datetime import datetime

from civiccrm import hookimpl
from civiccrm.domain.survey_stats import wilson
from civiccrm.metrics.customer_service import BASELINE, UNDER_TARGET, item_counts
from civiccrm.metrics.definitions import Metric
from civiccrm.metrics.kcstat import LOW_SAMPLE, Share
from civiccrm.metrics.summary import read_snapshot
from civiccrm.store.analytics import report_source
from civiccrm.store.surveys import list_action_plans
from civiccrm_plugins import report_charts as charts
from civiccrm_plugins.report_document import (Column, Document, Section, Table, document_frame, document_pack,
                                              survey_pack_settings)

NAME = "employee-survey"
SETTINGS_TABLE = "employee_survey"
DEFAULTS = {"instrument": None, "min_sample": 10, "paper": "Letter"}

AGREEING = Metric(
    "employee_agreeing", "agree",
    "agree = answers at or above the statement's acceptable point (Agree or Strongly agree) / answers with a "
    "value, answered in the period, by the department the respondent gave; N/A and don't know are counted apart",
)
WILSON = Metric("interval", "95% interval", "95% interval = the Wilson score interval of the share agreeing")
EMPLOYEE_METRICS = (AGREEING, WILSON, UNDER_TARGET, BASELINE, LOW_SAMPLE)

SHARE, COUNT, PCT, TEXT = "share", "int", "pct", "text"


def settings(deployment) -> dict:
    """Defaults, then ``[plugins.employee_survey]``, checked; the instrument resolved (None if the city has none)."""
    found, _, known = survey_pack_settings(deployment, SETTINGS_TABLE, DEFAULTS)
    if found["instrument"] is None:
        found["instrument"] = next((c for c, s in known.items() if s.audience == "employee"), None)
    found["survey"] = known.get(found["instrument"]) if found["instrument"] else None
    return found


class _Builder:
    def __init__(self, deployment, config, counts, plans):
        self.survey = config["survey"]
        self.n = config["min_sample"]
        self.plans = plans
        self.statements = [q for q in self.survey.questions if q.is_rated]
        self.totals: dict = {}
        for c in counts:
            for key in ((None, c.item), (c.department, c.item)):
                answered, agreeing, na = self.totals.get(key, (0, 0, 0))
                self.totals[key] = (answered + c.answered, agreeing + c.agreeing, na + c.not_applicable)
        names = {code: d.name for code, d in deployment.profile.taxonomy.departments.items()}
        surveyed = {c.department for c in counts}
        self.departments = [d for d in names if d in surveyed] + sorted(
            d for d in surveyed if d is not None and d not in names) + ([None] if None in surveyed else [])
        self.name = lambda code: names.get(code, code or "no department given")

    def row(self, department, question, *, by_department: bool) -> tuple | None:
        key = (department if by_department else None, question.code)
        if key not in self.totals:
            return None
        answered, agreeing, na = self.totals[key]
        share = Share(agreeing, answered, self.n)
        low, high = wilson(agreeing, answered) or (None, None)
        target = self.survey.target_for(question.code, department if by_department else None)
        status = "-" if target is None or share.value is None else (
            "under target" if share.value < target.target else "meets target")
        baseline = None if target is None else target.baseline
        first = (self.name(department),) if by_department else ()
        return (*first, question.text, answered, share, low, high, na, target.target if target else None,
                baseline, status)

    def columns(self, by_department: bool) -> tuple[Column, ...]:
        first = (Column("department", "department"),) if by_department else ()
        return (*first, Column("statement", "statement"), Column("answered", "answered", COUNT),
                Column("agree", "agree", SHARE), Column("low", "95% low", PCT), Column("high", "95% high", PCT),
                Column("not_applicable", "N/A", COUNT), Column("target", "target", PCT),
                Column("baseline", "baseline", PCT), Column("status", "status", TEXT))

    def overall(self) -> Section:
        rows = tuple(r for r in (self.row(None, q, by_department=False) for q in self.statements) if r)
        periods = sorted({t.baseline_period for t in self.survey.targets if t.baseline_period})
        note = f"Baselines measured in {', '.join(periods)}." if periods else ""
        table = Table("statements", "Share agreeing, all employees", self.columns(False), rows, note=note)
        targets = {r[7] for r in rows}
        chart = charts.chart(
            "statements", "Share agreeing by statement, all employees",
            charts.share_bars([r[0][:60] for r in rows], [r[2].value for r in rows], [r[2].low_sample for r in rows],
                              {"target": targets.pop()} if len(targets) == 1 and None not in targets else {}),
            table, size=(7.0, 0.8 + 0.3 * max(len(rows), 1)))
        intro = " ".join(x for x in (AGREEING.definition, self.survey.note or "") if x)
        return Section("All employees", intro=intro, blocks=(chart,) if rows else (),
                       missing=None if rows else f"No answers to survey {self.survey.code!r} in the period.")

    def by_department(self) -> Section:
        rows = tuple(r for d in self.departments for q in self.statements
                     if (r := self.row(d, q, by_department=True)))
        table = Table("departments", "Share agreeing by department", self.columns(True), rows)
        first = self.statements[0] if self.statements else None
        headline = [r for r in rows if first and r[1] == first.text]
        blocks = (table,)
        if headline:
            target = self.survey.target_for(first.code)
            chart_table = Table("departments_headline", f"\u201c{first.text}\u201d by department",
                                self.columns(True), tuple(headline))
            chart = charts.chart(
                "departments", chart_table.title,
                charts.share_bars([r[0] for r in headline], [r[3].value for r in headline],
                                  [r[3].low_sample for r in headline], {"target": target.target} if target else {}),
                chart_table, size=(6.5, 0.8 + 0.3 * len(headline)))
            blocks = (chart, table)
        return Section("By department", blocks=blocks if rows else (),
                       missing=None if rows else "No answers giving a department in the period.")

    def under_target(self) -> Section:
        columns = (Column("department", "department"), Column("statement", "statement"), Column("agree", "agree", SHARE),
                   Column("target", "target", PCT), Column("owner", "plan owner"), Column("due", "due"),
                   Column("status", "plan status"), Column("actions", "actions"))
        rows = []
        for department in self.departments:
            for question in self.statements:
                row = self.row(department, question, by_department=True)
                if row is None or row[-1] != "under target":
                    continue
                plans = [p for p in self.plans if p.item == question.code and p.department in (None, department)]
                for plan in plans or [None]:
                    rows.append((row[0], question.text, row[3], row[7], plan.owner if plan else "no action plan",
                                 plan.due.isoformat() if plan else "-", plan.status.value if plan else "-",
                                 plan.actions if plan else "-"))
        return Section("Statements under target and their action plans", intro=UNDER_TARGET.definition,
                       blocks=(Table("under_target", "Statements under target by department", columns, tuple(rows)),),
                       missing=None if rows else "No department is under a target in the period.")

    def sections(self) -> tuple[Section, ...]:
        return (self.overall(), self.by_department(), self.under_target())


def employee_document(deployment, *, start: datetime, end: datetime) -> Document:
    config = settings(deployment)
    profile = deployment.profile
    period, label, common = document_frame(deployment, NAME, config, EMPLOYEE_METRICS, start=start, end=end)
    survey = config["survey"]
    if survey is None:
        return Document(**common, title=f"Employee survey: {profile.name}, {label}",
                        data={"instrument": None, "period_dates": period.to_dict()},
                        sections=(Section("All employees", missing=f"No survey configured: {profile.name} has no survey "
                                                                    f"for employees ([plugins.{SETTINGS_TABLE}] "
                                                                    "instrument, or a survey with audience "
                                                                    "\"employee\")."),))
    items = [q.code for q in survey.questions if q.is_rated]
    with report_source(deployment.engine) as source, read_snapshot(source) as db:
        counts = item_counts(db, instrument=survey.code, items=items, start=start, end=end)
    with deployment.session() as session:
        plans = list_action_plans(session=session, instrument_code=survey.code)
    builder = _Builder(deployment, config, counts, plans)
    return Document(**common, title=f"{survey.name}: {profile.name}, {label}", sections=builder.sections(),
                    data={"instrument": survey.code, "instrument_name": survey.name, "period_dates": period.to_dict()})


@hookimpl
def register_report_packs(register):
    register(document_pack(NAME, employee_document, "Employee survey: each statement's share agreeing with its "
                                                    "interval, by department, against targets and baselines, "
                                                    "with the action plans of those under target"))
