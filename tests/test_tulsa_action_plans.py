"""Tulsa's action plans are profile data: checked on load, stored once by init, listed until closed."""

import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain.surveys import ActionStatus
from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile
from civiccrm.services.surveys import action_plans as survey_action_plans, imports as survey_imports
from civiccrm.services.deployment import init_deployment

TULSA = Path(__file__).resolve().parents[1] / "cities" / "tulsa"
OPEN_CODES = ["finance-communication-fy2025", "cc-overall-fy2025", "streets-timely-fy2025"]  # by due date


def test_the_profile_carries_action_plans():
    plans = load_profile(TULSA).surveys["standard"].action_plans
    by_code = {p.code: p for p in plans}
    assert set(by_code) == set(OPEN_CODES) | {"cc-timely-fy2024"}
    streets = by_code["streets-timely-fy2025"]
    assert (streets.instrument, streets.item, streets.department) == ("standard", "timely", "streets-stormwater")
    assert streets.owner == "Streets and Stormwater operations manager" and "patching crew" in streets.actions
    assert streets.due == date(2027, 6, 30) and streets.status is ActionStatus.OPEN
    assert by_code["cc-overall-fy2025"].status is ActionStatus.IN_PROGRESS
    assert by_code["cc-timely-fy2024"].status is ActionStatus.CLOSED
    # each answers an item whose baseline is under its target
    standard = load_profile(TULSA).surveys["standard"]
    for p in plans:
        target = standard.target_for(p.item, p.department)
        assert target is not None, p.code
        if target.baseline is not None:
            assert target.baseline < target.target


def test_init_loads_them_once_and_keeps_cli_plans(database_url, tmp_path):
    dep = init_deployment(database_url, "tulsa")
    try:
        assert [p.code for p in survey_action_plans.action_plans(dep)] == OPEN_CODES
        assert len(survey_action_plans.action_plans(dep, include_closed=True)) == 4
        # a plan added with the CLI, once answers put an item under its target
        answers = tmp_path / "answers.csv"
        answers.write_text("department,overall,knowledge\nparks,1,1\nparks,4,2\nparks,2,2\nparks,3,1\n")
        assert survey_imports.import_csv(dep, "standard", answers)["imported"] == 4
        with pytest.raises(CivicError, match="has no target"):  # knowledge has none
            survey_action_plans.add_action_plan(dep, instrument_code="standard", item="knowledge", owner="x", actions="y",
                                    due=date(2027, 1, 1))
        runner = CliRunner()
        out = runner.invoke(cli, ["--db", database_url, "survey", "actions", "list"])
        assert out.exit_code == 0, out.output
        assert [line.split()[-1] for line in out.output.splitlines()] == [f"[{c}]" for c in OPEN_CODES]
        assert "cc-timely-fy2024" not in out.output  # closed in the profile: not listed
        # a profile plan closed later stays closed when init runs again
        closed = next(p for p in survey_action_plans.action_plans(dep) if p.code == "finance-communication-fy2025")
        out = runner.invoke(cli, ["--db", database_url, "survey", "actions", "status", str(closed.id), "closed"])
        assert out.exit_code == 0, out.output
    finally:
        dep.engine.dispose()

    again = init_deployment(database_url, "tulsa")
    try:
        everything = survey_action_plans.action_plans(again, include_closed=True)
        assert len(everything) == 4  # nothing duplicated
        assert [p.code for p in survey_action_plans.action_plans(again)] == OPEN_CODES[1:]
        # now one added with the CLI: `overall` is at 50% for parks (2 of 4 agree), under 85%
        out = CliRunner().invoke(cli, ["--db", database_url, "survey", "actions", "add", "--instrument", "standard",
                                       "--item", "overall", "--owner", "Parks director",
                                       "--actions", "Survey park users twice a year", "--due", "2027-09-30"])
        assert out.exit_code == 0, out.output
    finally:
        again.engine.dispose()

    third = init_deployment(database_url, "tulsa")
    try:
        plans = survey_action_plans.action_plans(third, include_closed=True)
        assert len(plans) == 5
        cli_plan = next(p for p in plans if p.code is None)
        assert cli_plan.owner == "Parks director" and cli_plan.status is ActionStatus.OPEN
        out = CliRunner().invoke(cli, ["--db", database_url, "survey", "actions", "list", "--json"])
        assert out.exit_code == 0 and '"code": "cc-overall-fy2025"' in out.output, out.output
    finally:
        third.engine.dispose()


HEADER = "code,item,department,owner,actions,due,status\n"


@pytest.mark.parametrize("content, message", [
    (HEADER + "a,overall,,Owner,Do it,2027-01-31,open\na,timely,,Owner,Do it,2027-01-31,open\n",
     "line 3: duplicate action plan code 'a'"),
    (HEADER + "a,nosuch,,Owner,Do it,2027-01-31,open\n", "line 2: item 'nosuch' is not a question"),
    (HEADER + "a,overall,nowhere,Owner,Do it,2027-01-31,open\n", "line 2: department 'nowhere' is not a department"),
    (HEADER + "a,knowledge,,Owner,Do it,2027-01-31,open\n", "line 2: item 'knowledge' has no target"),
    (HEADER + "a,parks_upkeep,finance,Owner,Do it,2027-01-31,open\n", "asked only about parks's cases"),
    (HEADER + "a,overall,,Owner,Do it,31/01/2027,open\n", "line 2: due '31/01/2027' is not a date"),
    (HEADER + "a,overall,,Owner,Do it,2027-01-31,done\n", "line 2: status 'done'; expected one of open"),
    (HEADER + "a,overall,,,Do it,2027-01-31,open\n", "line 2: empty owner"),
    (HEADER + "A B,overall,,Owner,Do it,2027-01-31,open\n", "line 2: code 'A B' must be lowercase"),
    (HEADER + "a,overall,,Owner,Do it, and more,2027-01-31,open\n", "line 2: 8 fields for 7 columns"),
    ("code,item,owner,actions,due,when\n", r"line 1: unknown column\(s\) when"),
])
def test_bad_action_plans_are_refused_with_file_and_line(tmp_path, content, message):
    folder = tmp_path / "tulsa"
    shutil.copytree(TULSA, folder)
    (folder / "action_plans.csv").write_text(content)
    with pytest.raises(CivicError, match=message) as info:
        load_profile(folder)
    assert str(folder / "action_plans.csv") in str(info.value)
