"""The resident-survey pack: share satisfied with its interval by item, district and demographic, groups
that differ from the city, against the previous wave; on SQLite and PostgreSQL, with synthetic responses."""

import io
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.domain.survey_stats import wilson
from civiccrm.errors import CivicError
from civiccrm.services.deployment import init_deployment
from civiccrm.store.tables import survey_answers_table, survey_attrs_table, survey_responses_table
from civiccrm_plugins.report_document import render_document
from civiccrm_plugins.resident_survey_pack import pick_waves, resident_document, settings, wave_date

SPRINGFIELD = Path(__file__).parent / "data" / "cities" / "springfield"
OVERALL = "Overall quality of services provided by the City"
VALUE = "Overall value received for City tax dollars and fees"
DONT_KNOW = 9


def respondents():
    """(wave, district, gender q41_w, q1_01, q1_02) per respondent; 4 or 5 is satisfied, 9 don't know."""
    rows = []
    # This wave (March 2022): district 1 all satisfied, district 2 a quarter, district 3 small.
    rows += [("3QMAR2022", "1", "1", 5 if i % 2 else 4, 4) for i in range(40)]
    rows += [("3QMAR2022", "2", "2", 4 if i < 10 else 2, 3) for i in range(40)]
    rows += [("3QMAR2022", "3", "1", 5 if i < 3 else 1, DONT_KNOW) for i in range(5)]
    rows += [("3QMAR2022", "1", "9", 1, None) for _ in range(4)]  # gender not given: left out of its groups
    # The previous wave (September 2021): half satisfied, everywhere.
    rows += [("1QSEP2021", str(1 + i % 3), "1", 4 if i % 2 else 2, 2) for i in range(60)]
    # A later wave, after the period: not read for March 2022.
    rows += [("1QSEP2030", "1", "1", 1, 1) for _ in range(10)]
    return rows


def seed(deployment, rows):
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with deployment.engine.begin() as conn:
        for n, (wave, district, gender, overall, value) in enumerate(rows, start=1):
            response = conn.execute(insert(survey_responses_table).values(
                instrument="kc-resident", source="import", external_id=str(n), wave=wave, method="Web",
                period=wave[:10], answered_at=at, district=district, audience="resident")).inserted_primary_key[0]
            answers = [(item, code) for item, code in (("q1_01", overall), ("q1_02", value)) if code is not None]
            conn.execute(insert(survey_answers_table), [
                {"response_id": response, "item": item, "raw": code,
                 "value": None if code == DONT_KNOW else code,
                 "acceptable": None if code == DONT_KNOW else int(code >= 4)} for item, code in answers])
            conn.execute(insert(survey_attrs_table).values(response_id=response, name="q41_w", value=gender))


def expected(rows, wave, *, item: int, keep=lambda r: True):
    """(satisfied, answered, low, high) computed from the rows: item 3 is q1_01, 4 is q1_02."""
    codes = [r[item] for r in rows if r[0] == wave and keep(r) and r[item] not in (None, DONT_KNOW)]
    satisfied = sum(1 for c in codes if c >= 4)
    return (satisfied, len(codes), *wilson(satisfied, len(codes)))


def build(deployment, month=("2022-03-01", "2022-03-31")):
    start, end = inclusive_range(*month, deployment.profile.tz)
    return resident_document(deployment, start=start, end=end)


def render(deployment, month=("2022-03-01", "2022-03-31")) -> dict:
    return json.loads(render_document(build(deployment, month), "json")[0])


def test_waves_are_ordered_by_the_date_in_their_name():
    assert wave_date("3QMAR2022") == date(2022, 3, 1) and wave_date("2021-09 wave") == date(2021, 9, 1)
    assert wave_date("spring") is None
    stored = {"3QMAR2022": 1, "1QSEP2021": 1, "1QSEP2030": 1}
    assert pick_waves(stored, date(2022, 3, 31)) == ("3QMAR2022", "1QSEP2021")
    assert pick_waves(stored, date(2021, 12, 31)) == ("1QSEP2021", None)
    assert pick_waves(stored, date(2020, 1, 1)) == (None, None)
    assert pick_waves({"b": 1, "a": 1, "spring": 1}, date(2020, 1, 1)) == ("spring", "b")


def test_items_districts_demographics_differences_and_previous_wave(deployment):
    rows = respondents()
    seed(deployment, rows)
    data = render(deployment)
    assert (data["wave"], data["previous_wave"]) == ("3QMAR2022", "1QSEP2021")
    assert data["waves"] == {"1QSEP2021": 60, "1QSEP2030": 10, "3QMAR2022": 89}

    items = {r["item"]: r for r in data["tables"]["items"]["rows"]}
    assert list(items) == [OVERALL, VALUE]  # only items with answers are listed
    overall = items[OVERALL]
    satisfied, answered, low, high = expected(rows, "3QMAR2022", item=3)
    assert (overall["satisfied"]["numerator"], overall["answered"]) == (satisfied, answered) == (53, 89)
    assert (overall["low"], overall["high"]) == pytest.approx((low, high))
    before = expected(rows, "1QSEP2021", item=3)
    assert overall["previous"]["numerator"] == before[0] == 30 and overall["previous"]["denominator"] == 60
    assert overall["change"] == pytest.approx(53 / 89 - 30 / 60)
    assert overall["against_previous"] == ("higher" if low > before[3] else "no clear change")
    value = items[VALUE]
    now, was = expected(rows, "3QMAR2022", item=4), expected(rows, "1QSEP2021", item=4)
    assert (value["satisfied"]["numerator"], value["answered"]) == (40, 80) == now[:2]
    assert value["previous"]["numerator"] == was[0] == 0 and value["against_previous"] == "higher"

    districts = {(r["group"], r["item"]): r for r in data["tables"]["by_district"]["rows"]}
    for district in "123":
        got = districts[(f"District {district}", OVERALL)]
        want = expected(rows, "3QMAR2022", item=3, keep=lambda r: r[1] == district)
        assert (got["satisfied"]["numerator"], got["answered"]) == want[:2]
        assert (got["low"], got["high"]) == pytest.approx(want[2:])
        city_low, city_high = overall["low"], overall["high"]
        verdict = "higher" if want[2] > city_high else "lower" if want[3] < city_low else ""
        assert got["against_city"] == verdict
    assert districts[("District 1", OVERALL)]["against_city"] == "higher"
    assert districts[("District 2", OVERALL)]["against_city"] == "lower"
    small = districts[("District 3", OVERALL)]
    assert small["satisfied"]["low_sample"] is True and small["answered"] == 5

    genders = {(r["group"], r["item"]): r for r in data["tables"]["by_q41_w"]["rows"]}
    assert {g for g, _ in genders} == {"1", "2"}  # 9 (not given) is a skipped value in Kansas City's profile
    want = expected(rows, "3QMAR2022", item=3, keep=lambda r: r[2] == "2")
    assert genders[("2", OVERALL)]["satisfied"]["numerator"] == want[0] == 10

    differences = {(r["grouping"], r["group"], r["item"]): r["direction"] for r in data["tables"]["differences"]["rows"]}
    assert differences[("Council district", "District 1", OVERALL)] == "higher"
    assert differences[("Council district", "District 2", OVERALL)] == "lower"
    assert differences[("Gender", "2", OVERALL)] == "lower"
    assert ("Council district", "District 3", OVERALL) not in differences
    # Demographic columns the responses do not carry say so.
    assert data["missing"]["By own or rent"] == "No own or rent recorded for the responses of wave 3QMAR2022."
    assert "By gender" not in data["missing"]
    assert {m["name"] for m in data["definitions"]} >= {"resident_satisfied", "interval", "differs_from_city"}


def test_pdf_csv_and_html(sqlite_deployment):
    seed(sqlite_deployment, respondents())
    document = build(sqlite_deployment)
    reader = pypdf.PdfReader(io.BytesIO(render_document(document, "pdf")[0]))
    text = [" ".join(p.extract_text().split()) for p in reader.pages]
    assert all("Kansas City, Missouri" in t and "2022-03-01 to 2022-03-31" in t for t in text)
    whole = " ".join(text)
    assert "Groups that differ from the city as a whole" in whole and "District 1" in whole
    html = render_document(document, "html")[0].decode()
    assert html.count("<svg") == 3  # the items, by district, by gender (the only demographic column given)
    assert "Codebook not published" in html
    assert render_document(build(sqlite_deployment), "html")[0] == html.encode()  # the same bytes again
    csv_text = render_document(document, "csv")[0].decode()
    assert "# differences: Groups whose interval lies outside the city's" in csv_text
    assert "satisfied,satisfied_n,satisfied_low_sample" in csv_text


def test_no_wave_in_the_period_and_cli(sqlite_deployment, tmp_path):
    seed(sqlite_deployment, respondents())
    data = render(sqlite_deployment, month=("2020-01-01", "2020-01-31"))
    assert data["missing"]["The city as a whole"].startswith("No wave of survey 'kc-resident' is dated on or before 2020-01-31")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["--db", str(sqlite_deployment.engine.url), "report", "render", "resident-survey",
                                      "--month", "2021-10", "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert (got["wave"], got["previous_wave"]) == ("1QSEP2021", None)
    assert got["tables"]["items"]["rows"][0]["against_previous"] == "-"


@pytest.mark.parametrize("city, message", [
    ("tulsa", "No survey configured: Tulsa, Oklahoma has no resident survey imported by waves"),
    (str(SPRINGFIELD), "No survey configured: Springfield has no resident survey imported by waves"),
])
def test_a_city_without_the_survey_says_so(tmp_path, city, message):
    deployment = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", city)
    try:
        assert render(deployment)["missing"]["The city as a whole"].startswith(message)
    finally:
        deployment.engine.dispose()


def test_no_responses_and_bad_settings(sqlite_deployment, monkeypatch):
    assert render(sqlite_deployment)["missing"]["The city as a whole"] == "No responses to survey 'kc-resident' are stored."
    plugins = sqlite_deployment.profile.settings["plugins"]
    for table, message in (({"instrument": "nope"}, "instrument: no survey 'nope'"),
                           ({"items": ["q4_01"]}, "items: 'q4_01' is not a rated item"),
                           ({"items": "q1_01"}, "items: 'q1_01' is not a list"),
                           ({"demographics": ["zip9"]}, "demographics: 'zip9' is not a demographic column"),
                           ({"headline": "q3_01", "items": ["q1_01"]}, "headline: 'q3_01' is not one of"),
                           ({"min_sample": 0}, "min_sample: 0"), ({"colour": 1}, "unknown key 'colour'")):
        monkeypatch.setitem(plugins, "resident_survey", table)
        with pytest.raises(CivicError, match=message):
            settings(sqlite_deployment)
