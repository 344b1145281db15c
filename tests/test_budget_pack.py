"""The budget pack: volume, days and cost by department from the profile's cost table, against a year before;
a city without a cost table; cost tables refused line by line."""

import csv
import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile
from civiccrm.profiles.costs import load_cost_table
from civiccrm.services.deployment import init_deployment
from civiccrm.store.tables import cases_table
from civiccrm_plugins.budget_pack import budget_document
from civiccrm_plugins.report_document import render_document

KC = Path(__file__).resolve().parents[1] / "cities" / "kansas_city"
SPRINGFIELD = Path(__file__).parent / "data" / "cities" / "springfield"

# (service code, department, closed in March 2026, closed in March 2025, days to close)
CASES = [
    ("property-violations", "nhs", 5, 2, 10.0),       # its own row: 4 h x 58.00
    ("animal-at-large", "nhs", 3, 0, 1.0),            # NHS default: 2.5 h x 58.00
    ("streets-roadways-alleys-pothole-district-2", "public-works", 4, 6, 3.0),  # 85.00 per case
    ("abandoned-vehicle", "kcpd", 2, 1, 2.0),         # KCPD default: 1 h x 75.00
    ("action-center-escalation", "city-managers-office", 1, 0, 20.0),
]
NOT_COSTED = ("finance", 2)  # Finance has no default in costs.csv


def unit_costs() -> dict:
    """(department, service code or '') -> cost of one case, read from Kansas City's costs.csv here."""
    with (KC / "costs.csv").open() as handle:
        return {(r["department"], r["service_code"]): float(r["cost_per_case"]) if r["cost_per_case"]
                else float(r["hours_per_case"]) * float(r["cost_per_hour"]) for r in csv.DictReader(handle)}


def unit(costs, department, code):
    return costs.get((department, code), costs.get((department, "")))


def seed(deployment):
    tz = deployment.profile.tz
    rows, n = [], 0
    finance_type = next(c for c, t in deployment.profile.taxonomy.service_types.items() if t.department == "finance")
    for code, department, now, before, days in [*CASES, (finance_type, NOT_COSTED[0], NOT_COSTED[1], 0, 5.0)]:
        for year, count in ((2026, now), (2025, before)):
            for i in range(count):
                n += 1
                closed = datetime(year, 3, 10 + i, 12, tzinfo=tz)
                rows.append({"tracking_number": f"KC-{n:05d}", "service_code": code, "request_type": code,
                             "department": department, "channel": "phone", "status": "closed", "resolution": "fixed",
                             "opened_at": closed - timedelta(days=days), "updated_at": closed, "closed_at": closed,
                             "days_to_close": days, "origin": "test"})
    with deployment.engine.begin() as conn:
        conn.execute(insert(cases_table), rows)
    return finance_type


def render(deployment, fmt="json"):
    start, end = inclusive_range("2026-03-01", "2026-03-31", deployment.profile.tz)
    content = render_document(budget_document(deployment, start=start, end=end), fmt)[0]
    return json.loads(content) if fmt == "json" else content.decode()


def test_cost_by_department_and_type(deployment):
    finance_type = seed(deployment)
    costs = unit_costs()
    data = render(deployment)
    assert data["illustrative"] is True and data["missing"] == {}
    departments = {r["department"]: r for r in data["tables"]["departments"]["rows"]}
    want = {}
    for code, department, now, before, _ in CASES:
        cost, was = want.get(department, (0.0, 0.0))
        want[department] = (cost + now * unit(costs, department, code), was + before * unit(costs, department, code))
    names = {"nhs": "NHS", "public-works": "Public Works", "kcpd": "KCPD", "city-managers-office": "City Managers Office"}
    total = sum(cost for cost, _ in want.values())
    for department, (cost, was) in want.items():
        row = departments[names[department]]
        closed = sum(c[2] for c in CASES if c[1] == department)
        assert row["closed"] == closed and row["cost"] == pytest.approx(cost)
        assert row["cost_per_case"] == pytest.approx(cost / closed)
        assert row["share_of_cost"] == pytest.approx(cost / total)
        assert row["cost_year_before"] == pytest.approx(was)
        assert row["cost_change"] == (pytest.approx((cost - was) / was) if was else None)
    nhs = departments["NHS"]
    assert nhs["cost"] == pytest.approx(5 * 4 * 58 + 3 * 2.5 * 58) and nhs["hours"] == pytest.approx(5 * 4 + 3 * 2.5)
    assert nhs["median_days"] == 10.0  # rank ceil(0.5 x 8) = 4 of 1, 1, 1, 10, 10, ...
    finance = departments["Finance"]
    assert (finance["closed"], finance["not_costed"], finance["cost"]) == (2, 2, 0.0)
    closed_all = sum(c[2] for c in CASES) + NOT_COSTED[1]
    assert departments["NHS"]["share_of_cases"] == pytest.approx(8 / closed_all)
    totals = data["tables"]["departments"]["total"]
    assert totals["cost"] == pytest.approx(total) and totals["not_costed"] == 2

    types = data["tables"]["service_types"]["rows"]
    assert types[0]["service_type"] == "Property Violations" and types[0]["basis"] == "4 h x 58.00/h"
    assert types[0]["cost"] == pytest.approx(5 * 232.0)
    pothole = next(t for t in types if t["service_type"].endswith("Pothole-District 2"))
    assert (pothole["basis"], pothole["unit_cost"]) == ("per case", 85.0)
    gaps = data["tables"]["not_costed"]["rows"]
    assert [(g["department"], g["closed"]) for g in gaps] == [("Finance", 2)]
    assert deployment.profile.taxonomy.service_types[finance_type].name == gaps[0]["service_type"]

    html = render(deployment, "html")
    assert render(deployment, "html") == html  # the chart is drawn the same way twice
    assert "Illustrative unit costs, not the city&#39;s own figures." in html and html.count("<svg") == 1


def test_a_city_without_a_cost_table(tmp_path):
    for city in ("tulsa", str(SPRINGFIELD)):
        deployment = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", city)
        try:
            data = render(deployment)
            assert data["missing"]["Where the cost goes, by service type"] == "No cost table in the profile."
            assert data["cost_table"] is None
        finally:
            deployment.engine.dispose()
            (tmp_path / "c.db").unlink()


@pytest.fixture(scope="module")
def taxonomy():
    return load_profile(KC).taxonomy


@pytest.mark.parametrize("content, message", [
    ("department,cost_per_case\nnowhere,10\n", "line 2: department: 'nowhere' is not a department"),
    ("department,service_code,cost_per_case\nnhs,abandoned-vehicle,10\n", "line 2: service_code: 'abandoned-vehicle' belongs to department 'kcpd'"),
    ("department,service_code,cost_per_case\nnhs,no-such-type,10\n", "line 2: service_code: 'no-such-type' is not a service type"),
    ("department,cost_per_case\nnhs,ten\n", "line 2: cost_per_case: 'ten' is not a number"),
    ("department,cost_per_case\nnhs,-1\n", "line 2: cost_per_case: '-1'; expected a number of 0 or more"),
    ("department,cost_per_case,hours_per_case,cost_per_hour\nnhs,10,1,50\n", "line 2: give either cost_per_case"),
    ("department,hours_per_case\nnhs,2\n", "line 2: give either cost_per_case"),
    ("department,cost_per_case\nnhs,10\nnhs,12\n", "line 3: 'department nhs' already has a cost on line 2"),
    ("department,price\nnhs,10\n", "line 1: unknown column(s) price"),
])
def test_bad_cost_tables_are_refused(taxonomy, tmp_path, content, message):
    path = tmp_path / "costs.csv"
    path.write_text(content)
    with pytest.raises(CivicError, match=re.escape(message)):
        load_cost_table(path, taxonomy)


def test_cli_names_the_bad_line_of_a_cost_table(tmp_path):
    city = tmp_path / "springfield"
    shutil.copytree(SPRINGFIELD, city)
    with (city / "profile.toml").open("a") as handle:
        handle.write('\n[plugins.budget]\ncosts = "costs.csv"\n')
    (city / "costs.csv").write_text("department,cost_per_case\npublic-works,12\nsanitation,lots\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    init_deployment(url, str(city)).engine.dispose()
    result = CliRunner().invoke(cli, ["--db", url, "report", "render", "budget", "--month", "2026-03",
                                      "--format", "csv", "--out", str(tmp_path / "b.csv")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "costs.csv: line 3: cost_per_case: 'lots' is not a number" in result.output
    assert not (tmp_path / "b.csv").exists()
    (city / "costs.csv").write_text("department,cost_per_case\npublic-works,12\nsanitation,7.5\n")
    result = CliRunner().invoke(cli, ["--db", url, "report", "render", "budget", "--month", "2026-03",
                                      "--format", "csv", "--out", str(tmp_path / "b.csv")])
    assert result.exit_code == 0, result.output
    assert "# service_types: The 15 service types costing most" in (tmp_path / "b.csv").read_text()  # no cases yet
