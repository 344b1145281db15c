"""The employee-survey pack: statements by department against targets, on SQLite and PostgreSQL, with answers
imported through `civiccrm survey import`; Tulsa's success-metric statements; a city without the survey."""

import csv
import io
import json
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.domain.survey_stats import wilson
from civiccrm.errors import CivicError
from civiccrm.services.deployment import init_deployment
from civiccrm_plugins.employee_survey_pack import employee_document, settings
from civiccrm_plugins.report_document import render_document

SPRINGFIELD = Path(__file__).parent / "data" / "cities" / "springfield"
SOLVE = "I know how to solve most customers' problems without referring them to a supervisor."
TRAINING = "I have had the training I need to serve customers well."


def answers():
    """(department, answered_at, solve_without_supervisor, training); 4 or 5 agree, 9 don't know."""
    rows = [("city-managers-office", "2026-03-05T10:00:00-06:00", 5 if i < 16 else 2, 4 if i < 10 else 9) for i in range(20)]
    rows += [("water-services", "2026-03-12T10:00:00-05:00", 4 if i < 3 else 1, 5) for i in range(6)]
    rows += [("water-services", "2026-02-27T10:00:00-06:00", 1, 1)]  # before the period
    return rows


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["respondent_id", "department", "answered_at", "solve_without_supervisor", "training"])
        writer.writerows((n, *row) for n, row in enumerate(rows, start=1))


def build(deployment, month=("2026-03-01", "2026-03-31")):
    start, end = inclusive_range(*month, deployment.profile.tz)
    return employee_document(deployment, start=start, end=end)


def expected(rows, column, department=None):
    codes = [r[column] for r in rows if r[1] >= "2026-03" and (department is None or r[0] == department)]
    counted = [c for c in codes if c != 9]
    agree = sum(1 for c in counted if c >= 4)
    return agree, len(counted), len(codes) - len(counted), *wilson(agree, len(counted))


def test_statements_by_department_against_targets(deployment, tmp_path):
    rows = answers()
    write_csv(tmp_path / "employees.csv", rows)
    result = CliRunner().invoke(cli, ["--db", deployment.engine.url.render_as_string(hide_password=False), "survey",
                                      "import", "employee", str(tmp_path / "employees.csv")])
    assert result.exit_code == 0, result.output
    data = json.loads(render_document(build(deployment), "json")[0])
    assert data["instrument"] == "employee" and data["missing"] == {}

    overall = {r["statement"]: r for r in data["tables"]["statements"]["rows"]}
    agree, n, na, low, high = expected(rows, 2)
    solve = overall[SOLVE]
    assert (solve["agree"]["numerator"], solve["answered"], solve["not_applicable"]) == (agree, n, na) == (19, 26, 0)
    assert (solve["low"], solve["high"]) == pytest.approx((low, high))
    assert (solve["target"], solve["baseline"], solve["status"]) == (0.90, 0.87, "under target")
    agree, n, na, _, _ = expected(rows, 3)
    training = overall[TRAINING]
    assert (training["agree"]["numerator"], training["answered"], training["not_applicable"]) == (agree, n, na) == (16, 16, 10)
    assert training["status"] == "meets target"
    assert data["tables"]["statements"]["note"] == "Baselines measured in 2014."

    departments = {(r["department"], r["statement"]): r for r in data["tables"]["departments"]["rows"]}
    water = departments[("Water Services", SOLVE)]
    agree, n, _, low, high = expected(rows, 2, "water-services")
    assert (water["agree"]["numerator"], water["answered"]) == (agree, n) == (3, 6)
    assert water["agree"]["low_sample"] is True and (water["low"], water["high"]) == pytest.approx((low, high))
    office = departments[("City Managers Office", SOLVE)]
    assert office["agree"]["value"] == pytest.approx(16 / 20) and office["status"] == "under target"
    under = {(r["department"], r["statement"]) for r in data["tables"]["under_target"]["rows"]}
    assert under == {("Water Services", SOLVE), ("City Managers Office", SOLVE)}
    assert all(r["owner"] == "no action plan" for r in data["tables"]["under_target"]["rows"])


def test_tulsa_success_metrics_pdf(tmp_path):
    deployment = init_deployment(f"sqlite:///{tmp_path / 't.db'}", "tulsa")
    try:
        path = tmp_path / "tulsa.csv"
        path.write_text("department,answered_at,know_customers,results_shared\n"
                        "finance,2026-03-02T09:00:00-06:00,4,2\nfinance,2026-03-03T09:00:00-06:00,3,9\n"
                        "parks,2026-03-04T09:00:00-06:00,2,3\n")
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "survey", "import", "employee", str(path)])
        assert result.exit_code == 0, result.output
        document = build(deployment)
        data = json.loads(render_document(document, "json")[0])
        rows = {(r["department"], r["statement"][:20]): r for r in data["tables"]["departments"]["rows"]}
        finance = rows[("Finance", "I know who my depart")]
        assert (finance["agree"]["numerator"], finance["answered"], finance["target"]) == (2, 2, 0.90)
        shared = rows[("Finance", "My department shares")]
        assert (shared["answered"], shared["not_applicable"], shared["status"]) == (1, 1, "under target")
        reader = pypdf.PdfReader(io.BytesIO(render_document(document, "pdf")[0]))
        text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
        assert "Tulsa, Oklahoma" in text and "Statements under target and their action plans" in text
    finally:
        deployment.engine.dispose()


def test_no_answers_no_survey_and_bad_settings(sqlite_deployment, tmp_path, monkeypatch):
    data = json.loads(render_document(build(sqlite_deployment), "json")[0])
    assert data["missing"]["All employees"] == "No answers to survey 'employee' in the period."
    springfield = init_deployment(f"sqlite:///{tmp_path / 's.db'}", str(SPRINGFIELD))
    try:
        data = json.loads(render_document(build(springfield), "json")[0])
        assert data["missing"]["All employees"].startswith("No survey configured: Springfield has no survey for employees")
    finally:
        springfield.engine.dispose()
    for table, message in (({"instrument": "nope"}, "instrument: no survey 'nope'"), ({"min_sample": "x"}, "min_sample"),
                           ({"paper": "A5"}, "paper: 'A5'")):
        monkeypatch.setitem(sqlite_deployment.profile.settings["plugins"], "employee_survey", table)
        with pytest.raises(CivicError, match=message):
            settings(sqlite_deployment)
