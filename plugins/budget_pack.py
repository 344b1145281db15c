"""The ``budget`` report pack: where demand and spending go, by department and service type.

Per department: cases opened, closed and in the backlog, median and 90th percentile days
to close (``civiccrm.metrics.summary``), and the cost of the cases closed priced by the
profile's cost table (``civiccrm.metrics.budget``), with the share of cases beside the share
of cost and the cost of the same period a year before; the service types that cost most;
and the types closed without a unit cost. A city without a cost table gets the volume and
days, and a section saying the table is missing.

Settings, under ``[plugins.budget]``: ``costs`` (the cost table CSV in the profile folder),
``illustrative`` (true when the unit costs are not the city's own: every costed section and
the title say so), ``currency`` (``USD``), ``top`` (15), ``min_sample`` (30) and ``paper``.
"""

from datetime import datetime

from civiccrm import hookimpl
from civiccrm.errors import CivicError
from civiccrm.metrics import definitions as d
from civiccrm.metrics.budget import BUDGET_METRICS, closed_by_type, price
from civiccrm.metrics.summary import read_snapshot, summary
from civiccrm.profiles.costs import load_cost_table
from civiccrm.store.analytics import report_source
from civiccrm_plugins import report_charts as charts
from civiccrm_plugins.report_document import (Column, Document, Section, Table, check_paper, document_frame,
                                              document_pack, pack_settings)

NAME = "budget"
SETTINGS_TABLE = "budget"
DEFAULTS = {"costs": None, "illustrative": False, "currency": "USD", "top": 15, "min_sample": 30, "paper": "Letter"}
ILLUSTRATIVE = "Illustrative unit costs, not the city's own figures."


def settings(deployment) -> dict:
    """Defaults, then ``[plugins.budget]``, checked; the cost table loaded (None when the profile names none)."""
    _, found, where = pack_settings(deployment, SETTINGS_TABLE, DEFAULTS)
    for key in ("top", "min_sample"):
        n = found[key]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise CivicError(f"{where}.{key}: {n!r} is not a whole number of 1 or more")
    if not isinstance(found["illustrative"], bool):
        raise CivicError(f"{where}.illustrative: {found['illustrative']!r}; expected true or false")
    if not isinstance(found["currency"], str) or not found["currency"].strip():
        raise CivicError(f"{where}.currency: {found['currency']!r}; expected a currency code like \"USD\"")
    check_paper(where, found["paper"])
    costs = found["costs"]
    if costs is not None and not isinstance(costs, str):
        raise CivicError(f"{where}.costs: {costs!r}; expected a file name like \"costs.csv\"")
    found["table"] = (load_cost_table(deployment.profile.path / costs, deployment.profile.taxonomy)
                      if costs else None)
    return found


COUNT, DAYS, MONEY, PCT, DELTA, TEXT = "int", "days", "money", "pct", "delta", "text"


class _Builder:
    def __init__(self, deployment, config, by_department, by_type, priced, priced_before):
        self.profile = deployment.profile
        self.config = config
        self.top = config["top"]
        self.currency = config["currency"]
        self.by_department, self.by_type = by_department, by_type
        self.priced, self.priced_before = priced, priced_before
        self.flag = f" {ILLUSTRATIVE}" if config["illustrative"] else ""

    def department_name(self, code) -> str:
        department = self.profile.taxonomy.departments.get(code)
        return department.name if department else (code or "no department")

    def type_name(self, code) -> str:
        service_type = self.profile.taxonomy.service_types.get(code)
        return service_type.name if service_type else (code or "no type")

    def _costs(self, priced) -> dict:
        found: dict = {}
        for p in priced:
            entry = found.setdefault(p.department, {"cost": 0.0, "costed": 0, "not_costed": 0, "hours": 0.0})
            if p.cost is None:
                entry["not_costed"] += p.closed
            else:
                entry["cost"] += p.cost
                entry["costed"] += p.closed
                entry["hours"] += p.hours or 0.0
        return found

    def departments(self) -> Section:
        m = self.currency
        columns = (Column("department", "department"), Column("opened", "opened", COUNT),
                   Column("closed", "closed", COUNT), Column("backlog", "backlog", COUNT),
                   Column("median_days", "median days", DAYS), Column("p90_days", "p90 days", DAYS),
                   Column("not_costed", "closed, not costed", COUNT), Column("hours", "hours of work", DAYS),
                   Column("cost", f"cost ({m})", MONEY), Column("cost_per_case", f"cost per case ({m})", MONEY),
                   Column("share_of_cases", "share of cases", PCT), Column("share_of_cost", "share of cost", PCT),
                   Column("cost_year_before", f"cost a year before ({m})", MONEY),
                   Column("cost_change", "change", DELTA))
        costs, before = self._costs(self.priced or []), self._costs(self.priced_before or [])
        priced = self.priced is not None
        total_cost = sum(c["cost"] for c in costs.values())
        total_closed = self.by_department.total.closed
        rows = []
        for group in self.by_department.groups:
            c, b = costs.get(group.key), before.get(group.key)
            cost = c["cost"] if c else (0.0 if priced else None)
            was = b["cost"] if b else (0.0 if priced else None)
            rows.append((group.label, group.opened, group.closed, group.backlog, group.median_days, group.p90_days,
                         c["not_costed"] if c else 0, (c["hours"] or None) if c else None, cost,
                         cost / c["costed"] if c and c["costed"] else None,
                         group.closed / total_closed if total_closed else None,
                         cost / total_cost if cost is not None and total_cost else None, was,
                         (cost - was) / was if cost is not None and was else None))
        t = self.by_department.total
        total_before = sum(x["cost"] for x in before.values())
        costed = sum(c["costed"] for c in costs.values())
        total = ("total", t.opened, t.closed, t.backlog, t.median_days, t.p90_days,
                 sum(c["not_costed"] for c in costs.values()), sum(c["hours"] for c in costs.values()) or None,
                 total_cost if priced else None, total_cost / costed if costed else None,
                 1.0 if total_closed else None, 1.0 if total_cost else None, total_before if priced else None,
                 (total_cost - total_before) / total_before if priced and total_before else None)
        table = Table("departments", "Volume, days and cost by department", columns, tuple(rows), total=total,
                      note=self.flag.strip())
        blocks = (table,)
        shown = [r for r in rows if r[2]][: self.top]
        if priced and shown and total_cost:
            chart = charts.chart(
                "departments", "Share of cases closed and share of cost, by department",
                charts.paired_bars([r[0] for r in shown], [r[10] for r in shown], [r[11] for r in shown],
                                   first_label="share of cases closed", second_label="share of cost"),
                Table("departments_shares", "Share of cases closed and share of cost",
                      (columns[0], columns[2], columns[8], columns[10], columns[11]),
                      tuple((r[0], r[2], r[8], r[10], r[11]) for r in shown)),
                size=(7.0, 0.8 + 0.4 * len(shown)))
            blocks = (chart, table)
        intro = f"{BUDGET_METRICS[0].definition}.{self.flag}"
        missing = None if rows else "No cases opened, closed or open in the period."
        if not priced and rows:
            missing = ("No cost table: the profile names none ([plugins.budget] costs), so volume and days are "
                       "shown without cost.")
        return Section("Demand and spending by department", intro=intro, blocks=blocks if rows else (), missing=missing)

    def service_types(self) -> Section:
        if self.priced is None:
            return Section("Where the cost goes, by service type", missing="No cost table in the profile.")
        m = self.currency
        columns = (Column("service_type", "service type"), Column("department", "department"),
                   Column("closed", "closed", COUNT), Column("basis", "unit cost basis"),
                   Column("unit_cost", f"unit cost ({m})", MONEY), Column("cost", f"cost ({m})", MONEY),
                   Column("median_days", "median days", DAYS))
        days = {g.key: g.median_days for g in self.by_type.groups}
        costed = sorted((p for p in self.priced if p.cost is not None),
                        key=lambda p: (-p.cost, self.type_name(p.service_code)))
        rows = tuple((self.type_name(p.service_code), self.department_name(p.department), p.closed, p.basis, p.unit,
                      p.cost, days.get(p.service_code)) for p in costed[: self.top])
        return Section("Where the cost goes, by service type", intro=self.flag.strip(),
                       blocks=(Table("service_types", f"The {self.top} service types costing most", columns, rows),),
                       missing=None if rows else "No costed case was closed in the period.")

    def not_costed(self) -> Section:
        if self.priced is None:
            return Section("Closed without a unit cost", missing="No cost table in the profile.")
        columns = (Column("service_type", "service type"), Column("department", "department"),
                   Column("closed", "closed", COUNT))
        gaps = sorted((p for p in self.priced if p.cost is None), key=lambda p: (-p.closed, p.service_code or ""))
        rows = tuple((self.type_name(p.service_code), self.department_name(p.department), p.closed) for p in gaps)
        return Section("Closed without a unit cost",
                       intro="Cases of these types are in the volume figures but not in the cost: add a row for the "
                             "type, or a default for its department, to the cost table.",
                       blocks=(Table("not_costed", "Service types without a unit cost", columns, rows),) if rows else (),
                       missing=None if rows else "Every case closed in the period has a unit cost.")

    def sections(self) -> tuple[Section, ...]:
        return (self.departments(), self.service_types(), self.not_costed())


def budget_document(deployment, *, start: datetime, end: datetime) -> Document:
    config = settings(deployment)
    profile = deployment.profile
    definitions = (d.OPENED, d.CLOSED, d.BACKLOG, d.MEDIAN_DAYS, d.P90_DAYS, *BUDGET_METRICS)
    period, label, common = document_frame(deployment, NAME, config, definitions, start=start, end=end)
    before = period.year_before()
    now = deployment.clock()
    table = config["table"]
    with report_source(deployment.engine) as source, read_snapshot(source) as db:
        by_department = summary(db, start=start, end=end, by="department", now=now)
        by_type = summary(db, start=start, end=end, by="type", now=now)
        priced = price(closed_by_type(db, start=start, end=end), table) if table else None
        priced_before = price(closed_by_type(db, start=before.start, end=before.end), table) if table else None
    builder = _Builder(deployment, config, by_department, by_type, priced, priced_before)
    suffix = " (illustrative costs)" if config["illustrative"] else ""
    return Document(**common, title=f"Budget linkage: {profile.name}, {label}{suffix}", sections=builder.sections(),
                    data={"period_dates": period.to_dict(), "currency": config["currency"],
                          "cost_table": config["costs"], "illustrative": config["illustrative"]})


@hookimpl
def register_report_packs(register):
    register(document_pack(NAME, budget_document, "Budget linkage: volume, days and cost by department and service "
                                                  "type from the profile's cost table, against a year before"))
