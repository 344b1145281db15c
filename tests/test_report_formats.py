"""Report pack formats: PDF read back with pypdf, deterministic SVG charts, CSV per table, the 311 matrix
beside a year before, and the kcstat pack for Tulsa and for a new city that has only a folder."""

import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlalchemy import insert

from civiccrm.cli.params import inclusive_range
from civiccrm.services.deployment import init_deployment
from civiccrm.store.tables import (
    cases_table,
    survey_answers_table,
    survey_invitations_table,
    survey_responses_table,
)
from civiccrm_plugins.kcstat_pack import kcstat_document
from civiccrm_plugins.report_document import render_document

CHICAGO = ZoneInfo("America/Chicago")
SPRINGFIELD = Path(__file__).parent / "data" / "cities" / "springfield"
START, END = inclusive_range("2019-07-01", "2019-07-31", CHICAGO)


def add_cases(deployment, cases):
    """Insert closed cases and their post-case answers: (work group, department, type, opened, days, on time, answer)."""
    now = datetime(2019, 8, 1, tzinfo=timezone.utc)
    with deployment.engine.begin() as conn:
        for n, (group, department, code, opened, days, on_time, answer) in enumerate(cases, start=1):
            closed = opened + timedelta(days=days)
            case_id = conn.execute(insert(cases_table).values(
                tracking_number=f"T-{n:05d}", service_code=code, request_type=code, department=department,
                work_group=group, channel="phone" if n % 3 else "web", status="closed", resolution="fixed",
                opened_at=opened, updated_at=closed, closed_at=closed, days_to_close=days, on_time=on_time,
                address=f"{n % 7} Main St", council_district=str(n % 3 + 1), origin="test",
                city_exceeded_timeframe=not on_time)).inserted_primary_key[0]
            if answer is None:
                continue
            invitation = conn.execute(insert(survey_invitations_table).values(
                instrument="post-case", case_id=case_id, channel="email", token_hash=f"{n:064d}", status="answered",
                created_at=closed, expires_at=closed + timedelta(days=30), answered_at=closed + timedelta(hours=1)
            )).inserted_primary_key[0]
            response = conn.execute(insert(survey_responses_table).values(
                instrument="post-case", invitation_id=invitation, source="web", period=f"{closed:%Y-%m}",
                answered_at=closed + timedelta(hours=1), department=department, work_group=group
            )).inserted_primary_key[0]
            conn.execute(insert(survey_answers_table).values(
                response_id=response, item="department_service", value=answer, raw=answer,
                acceptable=1 if answer >= 3 else 0))
    return now


def kc_cases():
    """Two work groups in July 2018 and July 2019: Parking Control gets faster, Park Maintenance gets slower."""
    found = []
    for year, parking_on_time, parks_on_time in ((2018, 0.5, 0.9), (2019, 0.95, 0.4)):
        for i in range(40):
            opened = datetime(year, 7, 1 + i % 25, 9, tzinfo=CHICAGO)
            found.append(("kcpd-parking-control", "kcpd", "abandoned-vehicle", opened, 2 + i % 3,
                          i < 40 * parking_on_time, 5 if i % 10 else 2))
            if i < 12:
                found.append(("parks-rec-landscape-services-brwf", "parks-and-rec", "bruce-r-watkins-freeway", opened,
                              5, i < 12 * parks_on_time, 4 if i % 4 else 1))
    return found


@pytest.fixture
def kc_deployment(sqlite_deployment):
    add_cases(sqlite_deployment, kc_cases())
    return sqlite_deployment


def test_pdf_reads_back_with_city_period_and_page_numbers(kc_deployment):
    document = kcstat_document(kc_deployment, start=START, end=END)
    content, media_type = render_document(document, "pdf")
    assert media_type == "application/pdf" and content.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(content))
    pages = len(reader.pages)
    assert pages >= 3
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)  # Letter, Kansas City's default
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert "Kansas City, Missouri" in text and "2019-07-01 to 2019-07-31" in text
        assert f"page {number} of {pages}" in text
    everything = "".join(p.extract_text() for p in reader.pages)
    assert "311 matrix" in everything and "Repeat requests" in everything and "No call records" in everything


def test_a4_paper_from_the_settings(kc_deployment, monkeypatch):
    monkeypatch.setitem(kc_deployment.profile.settings, "plugins", {"kcstat": {"paper": "A4"}})
    content, _ = render_document(kcstat_document(kc_deployment, start=START, end=END), "pdf")
    box = pypdf.PdfReader(io.BytesIO(content)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_charts_are_the_same_bytes_on_every_run(kc_deployment):
    first = kcstat_document(kc_deployment, start=START, end=END)
    second = kcstat_document(kc_deployment, start=START, end=END)
    assert [c.name for c in first.charts()] == [c.name for c in second.charts()]
    assert "matrix" in [c.name for c in first.charts()]
    for a, b in zip(first.charts(), second.charts()):
        assert a.svg.startswith("<svg") and "Date" not in a.svg
        assert a.svg.encode() == b.svg.encode(), a.name
        assert a.png() == b.png(), a.name
    assert render_document(first, "html") == render_document(second, "html")
    assert render_document(first, "zip") == render_document(second, "zip")


def test_matrix_places_both_years_and_draws_the_moves(kc_deployment):
    data = json.loads(render_document(kcstat_document(kc_deployment, start=START, end=END), "json")[0])
    rows = {r["work_group"]: r for r in data["tables"]["matrix"]["rows"]}
    parking, parks = rows["KCPD-Parking Control-"], rows["Parks & Rec-Landscape Services-BRWF"]
    assert parking["timeliness"]["numerator"] == 38 and parking["timeliness"]["denominator"] == 40
    assert parking["satisfaction"] == {"numerator": 36, "denominator": 40, "value": 0.9, "low_sample": False}
    assert parking["quadrant"] == "meets both targets"
    assert parking["quadrant_year_before"] == "satisfied, below the timeliness target"
    assert parks["timeliness"]["denominator"] == 12 and parks["timeliness"]["low_sample"] is True
    assert parks["quadrant"] == "below both targets"
    satisfaction = {r["question"]: r for r in data["tables"]["satisfaction"]["rows"]}
    department = satisfaction["How satisfied were you with the service the department provided?"]
    assert department["satisfied"]["numerator"] == 36 + 9 and department["satisfied"]["denominator"] == 52
    assert department["meets_85"] == "yes" and department["meets_90"] == "no"  # 45/52 = 86.5%
    svg = next(c.svg for c in kcstat_document(kc_deployment, start=START, end=END).charts() if c.name == "matrix")
    assert svg.count("2019-07-01 to 2019-07-31") == 1 and svg.count("2018-07-01 to 2018-07-31") == 1


def test_csv_per_table_and_png_per_chart_in_the_zip(kc_deployment):
    document = kcstat_document(kc_deployment, start=START, end=END)
    content, media_type = render_document(document, "zip")
    assert media_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = set(archive.namelist())
        assert {f"tables/{t.name}.csv" for t in document.tables()} <= names
        for chart in document.charts():
            assert archive.read(f"charts/{chart.name}.png").startswith(b"\x89PNG")
        header = archive.read("tables/timeliness_by_department.csv").decode().splitlines()[0]
    assert header.startswith("department,closed,on_time,on_time_n,on_time_low_sample")
    sectioned = render_document(document, "csv")[0].decode()
    assert "# matrix: 311 matrix by work group" in sectioned


def test_html_is_self_contained_with_a_table_under_every_chart(kc_deployment):
    html = render_document(kcstat_document(kc_deployment, start=START, end=END), "html")[0].decode()
    for outside in ("<script", "<link", "@import", 'src="', 'href="http'):
        assert outside not in html, outside
    assert html.count("<figure") == html.count("<svg") >= 6
    for figure in html.split("<figure")[1:]:
        assert "<table>" in figure.split("</figure>")[1].split("<figure")[0]


@pytest.mark.parametrize("city", ["tulsa", str(SPRINGFIELD)])
def test_kcstat_for_another_city_says_what_it_lacks(tmp_path, city):
    deployment = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", city)
    try:
        tz = deployment.profile.tz
        code = next(iter(deployment.profile.taxonomy.service_types.values()))
        opened = datetime(2019, 7, 3, 10, tzinfo=tz)
        add_cases(deployment, [(code.work_group, code.department, code.code, opened, 1, True, None)])
        start, end = inclusive_range("2019-07-01", "2019-07-31", tz)
        document = kcstat_document(deployment, start=start, end=end)
        data = json.loads(render_document(document, "json")[0])
        assert data["city"] == deployment.profile.name
        assert data["tables"]["headline_counts"]["rows"][0]["month"] == 1
        missing = data["missing"]
        assert missing["Call centre"].startswith("No call records")
        if city == "tulsa":  # Tulsa's survey is not the post-case one this pack reads
            assert missing["Satisfaction"].startswith("No survey configured")
        else:
            assert "No survey configured" in missing["311 matrix"]
        pdf = pypdf.PdfReader(io.BytesIO(render_document(document, "pdf")[0]))
        assert deployment.profile.name in pdf.pages[0].extract_text()
    finally:
        deployment.engine.dispose()


def test_cli_renders_every_format(kc_deployment, tmp_path):
    from click.testing import CliRunner

    from civiccrm.cli import cli

    url = str(kc_deployment.engine.url)
    runner = CliRunner()
    listed = runner.invoke(cli, ["--db", url, "report", "packs", "--json"])
    packs = {p["name"]: p for p in json.loads(listed.output)["packs"]}
    assert packs["kcstat"]["formats"] == ["html", "pdf", "csv", "json", "zip"] and packs["kcstat"]["enabled"]
    assert "tulsa-customer-service" in packs
    for fmt, period in (("pdf", ["--month", "2019-07"]), ("zip", ["--from", "2019-07-01", "--to", "2019-07-31"]),
                        ("csv", ["--fiscal-year", "2020"])):
        out = tmp_path / f"kcstat.{fmt}"
        result = runner.invoke(cli, ["--db", url, "report", "render", "kcstat", *period, "--format", fmt,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 1000
    assert len(pypdf.PdfReader(tmp_path / "kcstat.pdf").pages) >= 3
    assert zipfile.ZipFile(tmp_path / "kcstat.zip").read("tables/matrix.csv").startswith(b"number,work_group")
    assert (tmp_path / "kcstat.csv").read_text().startswith("# headline_counts: Cases\nfigure,month")
    shown = runner.invoke(cli, ["--db", url, "report", "render", "kcstat", "--month", "2019-07", "--format", "json"])
    assert json.loads(shown.output)["period"] == "2019-07-01 to 2019-07-31"
    refused = runner.invoke(cli, ["--db", url, "report", "render", "kcstat", "--month", "2019-07", "--format", "zip"])
    assert refused.exit_code != 0 and "give --out FILE" in refused.output and "Traceback" not in refused.output
    wrong = runner.invoke(cli, ["--db", url, "report", "render", "kcstat", "--month", "2019-07", "--format", "docx"])
    assert wrong.exit_code != 0 and "renders html, pdf, csv, json, zip, not 'docx'" in wrong.output
