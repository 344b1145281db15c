"""Survey results: the Kansas City resident survey import, designs, targets, baselines, action plans."""

import csv
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from civiccrm.cli import cli
from civiccrm.errors import CivicError
from civiccrm.metrics import surveys as survey_metrics
from civiccrm.services.surveys import (
    action_plans as survey_action_plans,
    draws as survey_draws,
    imports as survey_imports,
    invitations as survey_invitations,
    plans as survey_plans,
)
from civiccrm.store.tables import SurveyPlanRow, survey_answers_table, survey_responses_table


def _files(shared_data):
    folder = shared_data / "kc_resident_survey"
    return [folder / "FY2022_RS_Cleaned_safe.csv", folder / "kcmo_mar_2022_safe.csv"]


def _expected(files, item, by):
    """Figures straight from the CSV files, to check the SQL against."""
    groups = {}
    for path in files:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                value = row[item].strip()
                if value in ("1", "2", "3", "4", "5"):
                    g = groups.setdefault(row[by], [])
                    g.append(int(value))
    return {k: (len(v), sum(x >= 4 for x in v), sum(v) / len(v)) for k, v in groups.items()}


def test_kc_resident_import_and_results(deployment, shared_data):
    files = _files(shared_data)
    first = survey_imports.import_resident_survey(deployment, "kc-resident", files)
    assert first["imported"] == 1033 + 984
    again = survey_imports.import_resident_survey(deployment, "kc-resident", files[:1])
    assert again["imported"] == 0 and again["skipped"] == 1033

    figures = survey_metrics.results(deployment, "kc-resident", item="q3_13", by="district")
    expected = _expected(files, "q3_13", "counci")
    assert {r["group"] for r in figures["rows"]} == set(expected) == {"1", "2", "3", "4", "5", "6"}
    for r in figures["rows"]:
        n, satisfied, mean = expected[r["group"]]
        assert (r["answered"], r["acceptable"]) == (n, satisfied)
        assert r["share"] == pytest.approx(satisfied / n) and r["mean"] == pytest.approx(mean)
        assert r["low"] < r["share"] < r["high"]
    by_wave = survey_metrics.results(deployment, "kc-resident", item="q1_01", by="wave")
    assert [r["group"] for r in by_wave["rows"]] == ["1QSEP2021", "3QMAR2022"]
    gender = survey_metrics.results(deployment, "kc-resident", item="q1_01", by="q41_w")
    assert sum(r["answered"] for r in gender["rows"]) == sum(r["answered"] for r in by_wave["rows"])


def test_kc_resident_cli_json(sqlite_deployment, shared_data):
    url = str(sqlite_deployment.engine.url)
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", url, "survey", "import", "kc-resident", *map(str, _files(shared_data))])
    assert out.exit_code == 0 and "2017 imported" in out.output, out.output
    out = runner.invoke(cli, ["--db", url, "survey", "results", "kc-resident", "--item", "q1_01", "--by", "method", "--json"])
    assert out.exit_code == 0, out.output
    assert '"group": "Web"' in out.output and '"low"' in out.output
    bad = runner.invoke(cli, ["--db", url, "survey", "results", "kc-resident", "--by", "shoe-size"])
    assert bad.exit_code == 1 and "--by: 'shoe-size'" in bad.output and "Traceback" not in bad.output


@pytest.mark.parametrize("content, message", [
    ("method,q1_01,quarte\nWeb,4,W1\n", "no column 'id'"),
    ("id,q1_01,quarte,q99_01\n1,4,W1,3\n", "q99_01 have no label"),
    ("id,q1_01,quarte\n1,7,W1\n", "line 2: column q1_01: q1_01: 7 is out of range"),
    ("id,q1_01,quarte\n1,4,W1\n1,5,W1\n", "line 3: respondent '1' appears twice"),
])
def test_kc_resident_bad_files(sqlite_deployment, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CivicError, match=message):
        survey_imports.import_resident_survey(sqlite_deployment, "kc-resident", [path])
    assert survey_metrics.results(sqlite_deployment, "kc-resident", item="q1_01")["rows"] == []


def _store(deployment, rows, plan_id=None):
    """rows: (department, stratum, weight, value, period) answers to department_service."""
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    with deployment.engine.begin() as conn:
        for dep, stratum, weight, value, period in rows:
            rid = conn.execute(insert(survey_responses_table).values(
                instrument="post-case", source="csv", period=period, answered_at=now, department=dep,
                stratum=stratum, weight=weight, plan_id=plan_id).returning(survey_responses_table.c.id)).scalar_one()
            conn.execute(insert(survey_answers_table).values(response_id=rid, item="department_service", value=value,
                                                             raw=value, acceptable=int(value >= 3)))


def _plan(deployment, method, strata=None):
    with deployment.engine.begin() as conn:
        return conn.execute(insert(SurveyPlanRow).values(
            code=method, instrument="post-case", method=method, strata=strata, allocation="proportional", seed=1,
            active=True, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc)).returning(SurveyPlanRow.id)).scalar_one()


def test_stratified_and_convenience_designs(deployment):
    plan_id = _plan(deployment, "stratified", "department")
    # parks: weight 90 (900 cases, 10 answered, 9 acceptable); water: weight 10 (100 cases, 10 answered, 1 acceptable)
    _store(deployment, [("parks", "parks", 90.0, 4 if i < 9 else 1, "2026-03") for i in range(10)]
           + [("water", "water", 10.0, 4 if i < 1 else 2, "2026-03") for i in range(10)], plan_id)
    [row] = survey_metrics.results(deployment, "post-case", item="department_service")["rows"]
    assert row["share"] == pytest.approx(0.9 * 0.9 + 0.1 * 0.1)  # weighted, not the raw 10/20
    assert row["variance"] > 0 and row["low"] < row["share"] < row["high"]
    assert row["target"] == 0.85 and row["under_target"]  # 0.82 < 0.85


def test_convenience_has_no_interval(deployment):
    plan_id = _plan(deployment, "convenience")
    _store(deployment, [("parks", None, None, v, "2026-03") for v in (5, 4, 1, 2)], plan_id)
    figures = survey_metrics.results(deployment, "post-case", item="department_service")
    assert figures["representative"] is False and "not representative" in figures["label"]
    [row] = figures["rows"]
    assert row["share"] == 0.5 and row["low"] is None and row["high"] is None


def test_targets_baseline_and_action_plans(deployment):
    _store(deployment, [("parks", None, None, v, "2026-01") for v in (5, 5, 5, 1)]
           + [("parks", None, None, v, "2026-02") for v in (5, 1, 1, 1)])
    [row] = survey_metrics.results(deployment, "post-case", item="department_service")["rows"]
    assert row["baseline"] == 0.75  # the first period with answers
    assert row["share"] == 0.5 and row["under_target"]
    plan = survey_action_plans.add_action_plan(deployment, instrument_code="post-case", item="department_service",
                                   owner="Parks director", actions="Call back every dissatisfied requester",
                                   due=date(2026, 6, 30))
    [row] = survey_metrics.results(deployment, "post-case", item="department_service")["rows"]
    assert [p["id"] for p in row["action_plans"]] == [plan.id]
    with pytest.raises(CivicError, match="no department .nosuch."):
        survey_action_plans.add_action_plan(deployment, instrument_code="post-case", item="department_service", owner="x",
                                actions="y", due=date(2026, 6, 30), department="nosuch")
    from civiccrm.domain.surveys import ActionStatus

    survey_action_plans.update_action_plan(deployment, plan.id, ActionStatus.CLOSED)
    assert survey_action_plans.action_plans(deployment) == []
    assert len(survey_action_plans.action_plans(deployment, include_closed=True)) == 1
    _store(deployment, [("parks", None, None, 5, "2026-03")] * 20)
    with pytest.raises(CivicError, match="not under its target"):
        survey_action_plans.add_action_plan(deployment, instrument_code="post-case", item="department_service", owner="x",
                                actions="y", due=date(2026, 6, 30))


def test_draw_is_stored_and_reproducible(deployment):
    from civiccrm.domain.cases import CaseDraft, Customer, Resolution
    from civiccrm.services import cases

    code = next(iter(deployment.profile.taxonomy.service_types))
    for i in range(12):
        case = cases.intake(deployment, CaseDraft(service_code=code, description="x", channel="phone" if i % 2 else "web",
                                                  customer=Customer(name=f"R{i}")))
        cases.close(deployment, case.tracking_number, Resolution.FIXED)
    survey_plans.create_plan(deployment, code="strat", instrument_code="post-case", method="stratified", sample_size=5,
                        strata="channel", seed=42)
    now = deployment.clock()
    result = survey_draws.draw(deployment, "strat", datetime(2000, 1, 1, tzinfo=timezone.utc), now.replace(year=now.year + 1))
    assert result["frame_size"] == 12 and result["sample_size"] == 5
    assert sum(s["allocated"] for s in result["strata"].values()) == 5
    assert survey_draws.verify_draw(deployment, result["draw"])
    sent = survey_invitations.send(deployment, result["draw"])
    assert sent["outcomes"] == {"no_contact": 5}  # named but no e-mail address
    with pytest.raises(CivicError, match="plan"):
        survey_draws.draw(deployment, "nosuch", datetime(2000, 1, 1, tzinfo=timezone.utc), now)
