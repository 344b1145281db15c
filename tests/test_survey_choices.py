"""Choice and yes/no items: counts and shares per option per group; free-text items: answers given."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.metrics import surveys as survey_metrics
from civiccrm.services.surveys import imports as survey_imports
from civiccrm.services.deployment import init_deployment

TULSA = Path(__file__).resolve().parents[1] / "cities" / "tulsa"

EXTRA = '''
[[surveys]]
code = "visit"
name = "Visit survey"
[[surveys.questions]]
code = "how"
text = "How did you reach us?"
type = "choice"
choices = ["Phone", "Web", "In person"]
na_codes = [9]
[[surveys.questions]]
code = "again"
text = "Would you use the service again?"
type = "yesno"
[[surveys.questions]]
code = "comment"
text = "Anything else?"
type = "text"
'''

ANSWERS = """department,how,again,comment
parks,1,1,Great park
parks,1,0,
parks,2,1,Slow
parks,9,,
finance,3,1,
finance,3,1,Fine
finance,1,,
"""


@pytest.fixture
def visit(database_url, tmp_path):
    folder = tmp_path / "city"
    shutil.copytree(TULSA, folder)
    profile = (folder / "profile.toml").read_text().replace('slug = "tulsa"', 'slug = "visitville"')
    (folder / "profile.toml").write_text(profile + EXTRA)
    dep = init_deployment(database_url, str(folder))
    path = tmp_path / "answers.csv"
    path.write_text(ANSWERS)
    assert survey_imports.import_csv(dep, "visit", path)["imported"] == 7
    yield dep
    dep.engine.dispose()


def _options(entry):
    return {o["label"]: (o["count"], o["share"]) for o in entry["options"]}


def test_choice_yes_no_and_text_figures(visit):
    figures = survey_metrics.results(visit, "visit", by="department")
    choices = {(c["group"], c["item"]): c for c in figures["choices"]}
    assert list(choices) == [("finance", "how"), ("finance", "again"), ("parks", "how"), ("parks", "again")]
    parks_how = choices[("parks", "how")]
    assert parks_how["answered"] == 3 and parks_how["type"] == "choice"  # 9 = N/A is not an answer
    assert _options(parks_how) == {"Phone": (2, pytest.approx(2 / 3)), "Web": (1, pytest.approx(1 / 3)),
                                   "In person": (0, 0.0)}
    assert [o["value"] for o in parks_how["options"]] == [1, 2, 3]
    assert _options(choices[("finance", "how")]) == {"Phone": (1, pytest.approx(1 / 3)), "Web": (0, 0.0),
                                                     "In person": (2, pytest.approx(2 / 3))}
    assert _options(choices[("parks", "again")]) == {"Yes": (2, pytest.approx(2 / 3)), "No": (1, pytest.approx(1 / 3))}
    assert _options(choices[("finance", "again")]) == {"Yes": (2, 1.0), "No": (0, 0.0)}
    assert {(t["group"], t["item"]): t["answered"] for t in figures["text_items"]} == {
        ("finance", "comment"): 1, ("parks", "comment"): 2}
    # yes/no items keep their share-acceptable row too
    again = {r["group"]: r for r in figures["rows"] if r["item"] == "again"}
    assert (again["parks"]["answered"], again["parks"]["acceptable"]) == (3, 2)

    overall = survey_metrics.results(visit, "visit", item="how")
    assert overall["rows"] == [] and overall["text_items"] == []
    [how] = overall["choices"]
    assert how["group"] == "all" and how["answered"] == 6
    assert _options(how) == {"Phone": (3, 0.5), "Web": (1, pytest.approx(1 / 6)), "In person": (2, pytest.approx(1 / 3))}
    [comment] = survey_metrics.results(visit, "visit", item="comment")["text_items"]
    assert (comment["group"], comment["answered"]) == ("all", 3)


def test_choice_figures_on_the_command_line(visit):
    url = visit.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", url, "survey", "results", "visit", "--by", "department", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    parks = next(c for c in data["choices"] if (c["group"], c["item"]) == ("parks", "how"))
    assert [(o["label"], o["count"]) for o in parks["options"]] == [("Phone", 2), ("Web", 1), ("In person", 0)]
    out = runner.invoke(cli, ["--db", url, "survey", "results", "visit"])
    assert out.exit_code == 0, out.output
    assert "Phone 3 (50.0%), Web 1 (16.7%), In person 2 (33.3%)" in out.output
    assert "Yes 4 (80.0%), No 1 (20.0%)" in out.output
    assert "comment" in out.output and "n=3" in out.output and "(free text)" in out.output


def test_kc_resident_priority_picks_by_district(sqlite_deployment, shared_data):
    folder = shared_data / "kc_resident_survey"
    files = [folder / "FY2022_RS_Cleaned_safe.csv", folder / "kcmo_mar_2022_safe.csv"]
    survey_imports.import_resident_survey(sqlite_deployment, "kc-resident", files)
    expected: dict = {}
    for path in files:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                value = row["q4_01"].strip()
                if value and value != "99":
                    per = expected.setdefault(row["counci"], {})
                    per[int(value)] = per.get(int(value), 0) + 1
    figures = survey_metrics.results(sqlite_deployment, "kc-resident", item="q4_01", by="district")
    assert {c["group"] for c in figures["choices"]} == set(expected)
    for c in figures["choices"]:
        counts = expected[c["group"]]
        assert c["answered"] == sum(counts.values())
        assert len(c["options"]) == 16
        for o in c["options"]:
            assert o["count"] == counts.get(o["value"], 0)
            assert o["share"] == pytest.approx(counts.get(o["value"], 0) / c["answered"])
    # all districts together; 714 picked item 3.3 (99 = don't know is left out)
    [all_] = survey_metrics.results(sqlite_deployment, "kc-resident", item="q4_01")["choices"]
    assert all_["answered"] == sum(sum(v.values()) for v in expected.values())
    assert next(o for o in all_["options"] if o["label"] == "Item 3.3")["count"] == 714
