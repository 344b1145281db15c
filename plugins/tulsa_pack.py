"""The ``tulsa-customer-service`` report pack: what Tulsa's customer service plan asks each department to share.

Per department and key process, the standard statements with the share agreeing (1-4
scale, N/A apart), for internal and external customers apart; who was surveyed about
which service, with invitations, answers and the response rate; the baseline and the
target of each item; the items under target with their action plans (owner, due date,
status); and the plan's own actions with their deadline and responsible department.
Figures come from ``civiccrm.metrics.customer_service``; any city with a survey can use it.

Settings, under ``[plugins.tulsa_customer_service]``: ``instrument`` (default ``standard``),
``min_sample`` (30) and ``paper`` (Letter).
"""

from datetime import datetime

from civiccrm import hookimpl
from civiccrm.metrics.customer_service import CUSTOMER_SERVICE_METRICS, invitations, item_counts
from civiccrm.metrics.kcstat import LOW_SAMPLE, Period, Share
from civiccrm.metrics.summary import read_snapshot
from civiccrm.store.analytics import report_source
from civiccrm.store.surveys import list_action_plans
from civiccrm_plugins import report_charts as charts
from civiccrm_plugins.report_document import Column, Document, Section, Table, document_pack, survey_pack_settings

NAME = "tulsa-customer-service"
SETTINGS_TABLE = "tulsa_customer_service"
DEFAULTS = {"instrument": "standard", "min_sample": 30, "paper": "Letter"}
KINDS = ("internal", "external")


def settings(deployment) -> dict:
    """Defaults, then ``[plugins.tulsa_customer_service]``, checked; the instrument resolved (None if absent)."""
    found, _, known = survey_pack_settings(deployment, SETTINGS_TABLE, DEFAULTS)
    found["survey"] = known.get(found["instrument"])
    return found


SHARE, COUNT, PCT, TEXT = "share", "int", "pct", "text"


def _sum(counts, **match):
    chosen = [c for c in counts if all(getattr(c, k) == v for k, v in match.items())]
    return sum(c.answered for c in chosen), sum(c.agreeing for c in chosen), sum(c.not_applicable for c in chosen)


class _Builder:
    def __init__(self, deployment, config, counts, invited, plans, all_plans):
        self.profile = deployment.profile
        self.survey = config["survey"]
        self.n = config["min_sample"]
        self.counts, self.invited, self.plans, self.all_plans = counts, invited, plans, all_plans
        departments = self.profile.taxonomy.departments
        self.department_name = {code: d.name for code, d in departments.items()}
        self.customers = self.profile.settings.get("customers", {})
        surveyed = {c.department for c in counts} | {i.department for i in invited}
        self.departments = [code for code in departments if code in surveyed] + sorted(
            d for d in surveyed if d not in departments and d is not None) + ([None] if None in surveyed else [])

    def name(self, code) -> str:
        return self.department_name.get(code, code or "no department")

    def share(self, answered, agreeing) -> Share:
        return Share(agreeing, answered, self.n)

    def statements(self, department) -> Table:
        columns = (Column("statement", "statement"), Column("agree", "agree (all)", SHARE),
                   Column("agree_internal", "internal customers", SHARE),
                   Column("agree_external", "external customers", SHARE), Column("not_applicable", "N/A", COUNT),
                   Column("baseline", "baseline", PCT), Column("target", "target", PCT), Column("status", "status"))
        rows = []
        for question in self.survey.questions_for(department):
            if not question.is_rated:
                continue
            answered, agreeing, na = _sum(self.counts, department=department, item=question.code)
            kinds = [self.share(*_sum(self.counts, department=department, item=question.code, customer=k)[:2])
                     for k in KINDS]
            share = self.share(answered, agreeing)
            target = self.survey.target_for(question.code, department)
            status = "-" if target is None or share.value is None else (
                "under target" if share.value < target.target else "meets target")
            baseline = None if target is None or target.baseline is None else target.baseline
            rows.append((question.text, share, *kinds, na, baseline, target.target if target else None, status))
        slug = (department or "none").replace("-", "_")
        note = ""
        target_periods = {t.baseline_period for t in self.survey.targets if t.department == department and t.baseline_period}
        if target_periods:
            note = f"Baselines measured in {', '.join(sorted(target_periods))}."
        return Table(f"statements_{slug}", f"{self.name(department)}: the statements", columns, tuple(rows), note=note)

    def key_processes(self, department) -> Table:
        columns = (Column("key_process", "key process (service surveyed about)"), Column("invited", "invited", COUNT),
                   Column("answered", "answered", COUNT), Column("response_rate", "response rate", SHARE),
                   Column("agree", "agree (all statements)", SHARE))
        rows = []
        codes = {i.service_code for i in self.invited if i.department == department} | {
            c.service_code for c in self.counts if c.department == department}
        types = self.profile.taxonomy.service_types
        for code in sorted(codes, key=lambda c: (c is None, c or "")):
            invited = [i for i in self.invited if i.department == department and i.service_code == code]
            n_invited, n_answered = sum(i.invited for i in invited), sum(i.answered for i in invited)
            answered, agreeing, _ = _sum(self.counts, department=department, service_code=code)
            label = types[code].name if code in types else (code or "no key process recorded")
            rows.append((label, n_invited, n_answered, Share(n_answered, n_invited, self.n),
                         self.share(answered, agreeing)))
        slug = (department or "none").replace("-", "_")
        customers = self.customers.get(department or "", {})
        note = "; ".join(f"{kind} customers: {', '.join(customers.get(kind, ())) or 'none named'}" for kind in KINDS
                         if kind in customers)
        return Table(f"key_processes_{slug}", f"{self.name(department)}: who was surveyed, about which service",
                     columns, tuple(rows), note=f"Customers in the profile: {note}." if note else "")

    def overview(self) -> Section:
        columns = (Column("department", "department"), Column("responses", "answers", COUNT),
                   Column("agree", "agree (all statements)", SHARE), Column("invited", "invited", COUNT),
                   Column("response_rate", "response rate", SHARE), Column("under_target", "items under target", COUNT))
        rows = []
        for department in self.departments:
            answered, agreeing, _ = _sum(self.counts, department=department)
            invited = [i for i in self.invited if i.department == department]
            n_invited, n_answered = sum(i.invited for i in invited), sum(i.answered for i in invited)
            under = sum(1 for r in self.statements(department).rows if r[-1] == "under target")
            rows.append((self.name(department), answered, self.share(answered, agreeing), n_invited,
                         Share(n_answered, n_invited, self.n), under))
        table = Table("departments", "Share agreeing by department", columns, tuple(rows))
        overall = self.survey.questions[0]
        shares = [self.share(*_sum(self.counts, department=d, item=overall.code)[:2]) for d in self.departments]
        target = self.survey.target_for(overall.code)
        chart = charts.chart(
            "overall_by_department", f"\u201c{overall.text}\u201d: share agreeing by department",
            charts.share_bars([self.name(d) for d in self.departments], [s.value for s in shares],
                              [s.low_sample for s in shares], {"target": target.target} if target else {}),
            table, size=(6.5, 0.8 + 0.3 * max(len(self.departments), 1)))
        missing = None if self.departments else "No survey answers or invitations in the period."
        return Section("Departments", intro=CUSTOMER_SERVICE_METRICS[0].definition, blocks=(chart,), missing=missing)

    def department_sections(self) -> list[Section]:
        return [Section(self.name(d), blocks=(self.statements(d), self.key_processes(d))) for d in self.departments]

    def under_target(self) -> Section:
        columns = (Column("department", "department"), Column("statement", "statement"),
                   Column("agree", "agree", SHARE), Column("target", "target", PCT), Column("owner", "plan owner"),
                   Column("due", "due"), Column("status", "status"), Column("actions", "actions"))
        rows = []
        for department in self.departments:
            for row, question in zip(self.statements(department).rows,
                                     [q for q in self.survey.questions_for(department) if q.is_rated]):
                if row[-1] != "under target":
                    continue
                plans = [p for p in self.plans if p.item == question.code and p.department in (None, department)]
                for plan in plans or [None]:
                    rows.append((self.name(department), question.text, row[1], row[6],
                                 plan.owner if plan else "no action plan", plan.due.isoformat() if plan else "-",
                                 plan.status.value if plan else "-", plan.actions if plan else "-"))
        return Section("Items under target and their action plans", intro=CUSTOMER_SERVICE_METRICS[2].definition,
                       blocks=(Table("under_target", "Items under target", columns, tuple(rows)),),
                       missing=None if rows else "No item is under its target in the period.")

    def plan_actions(self) -> Section:
        columns = (Column("code", "plan"), Column("statement", "statement"), Column("department", "responsible department"),
                   Column("owner", "owner"), Column("due", "deadline"), Column("status", "status"),
                   Column("actions", "actions"))
        texts = {q.code: q.text for q in self.survey.questions}
        rows = tuple((p.code or f"#{p.id}", texts.get(p.item, p.item), self.name(p.department), p.owner,
                      p.due.isoformat(), p.status.value, p.actions) for p in self.all_plans)
        return Section("The plan's actions", blocks=(Table("action_plans", "Action plans", columns, rows),),
                       missing=None if rows else "No action plans recorded.")

    def sections(self) -> tuple[Section, ...]:
        return (self.overview(), *self.department_sections(), self.under_target(), self.plan_actions())


def customer_service_document(deployment, *, start: datetime, end: datetime) -> Document:
    config = settings(deployment)
    profile = deployment.profile
    period = Period(start, end, profile.tz)
    label = f"{period.first_day} to {period.last_day}"
    title = f"Customer service survey: {profile.name}, {label}"
    survey = config["survey"]
    definitions = (*CUSTOMER_SERVICE_METRICS, LOW_SAMPLE)
    common = {"pack": NAME, "title": title, "city": profile.name, "period_label": label, "definitions": definitions,
              "paper": config["paper"], "min_sample": config["min_sample"]}
    if survey is None:
        return Document(**common, data={"instrument": None, "period_dates": period.to_dict()}, sections=(
            Section("Departments", missing=f"No survey configured: {profile.name} has no survey "
                                           f"{config['instrument']!r} ([plugins.{SETTINGS_TABLE}] instrument)."),))
    items = [q.code for q in survey.questions if q.is_rated]
    with report_source(deployment.engine) as source, read_snapshot(source) as db:
        counts = item_counts(db, instrument=survey.code, items=items, start=start, end=end)
        invited = invitations(db, instrument=survey.code, start=start, end=end)
    with deployment.session() as session:
        plans = list_action_plans(session=session, instrument_code=survey.code)
        all_plans = list_action_plans(session=session, instrument_code=survey.code, include_closed=True)
    builder = _Builder(deployment, config, counts, invited, plans, all_plans)
    return Document(**common, sections=builder.sections(),
                    data={"instrument": survey.code, "instrument_name": survey.name, "period_dates": period.to_dict()})


@hookimpl
def register_report_packs(register):
    register(document_pack(NAME, customer_service_document, "Customer service survey by department and key process: "
                                                            "the statements' share agreeing, who was surveyed, response "
                                                            "rates, baselines, targets and action plans"))
