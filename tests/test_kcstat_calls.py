"""The kcstat pack's call-centre section reads the call tables (through ``civiccrm.metrics.calls``):
its figures by weekday against values worked out straight from the generated call records."""

import csv
import json
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm_plugins.kcstat_pack import kcstat_document
from civiccrm_plugins.report_document import render_document

CHICAGO = ZoneInfo("America/Chicago")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SHORT = 5.0  # Kansas City's short_abandon_seconds
WITHIN = 20.0  # and service_level_seconds


def _expected(path):
    """Per weekday: offered, abandoned, answered, summed wait of answered, answered within T."""
    found = defaultdict(lambda: [0, 0, 0, 0.0, 0])
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            wait = float(row["wait_seconds"])
            if row["outcome"] == "abandoned" and wait < SHORT:
                continue
            f = found[WEEKDAYS[datetime.fromisoformat(row["started_at"]).astimezone(CHICAGO).weekday()]]
            f[0] += 1
            if row["outcome"] == "abandoned":
                f[1] += 1
            elif row["outcome"] == "answered":
                f[2] += 1
                f[3] += wait
                f[4] += wait <= WITHIN
    return found


@pytest.fixture
def with_calls(deployment, database_url, tmp_path):
    runner = CliRunner()
    files = {}
    for year in (2018, 2019):
        out = tmp_path / f"calls-{year}.csv"
        made = runner.invoke(cli, ["calls", "generate", "--from", f"{year}-07-08", "--days", "3",
                                   "--calls-per-day", "900", "--seed", str(year), "--out", str(out)])
        assert made.exit_code == 0, made.output
        imported = runner.invoke(cli, ["--db", database_url, "calls", "import", str(out), "--format", "generic"])
        assert imported.exit_code == 0, imported.output
        files[year] = out
    return deployment, files


def test_call_section_matches_the_call_records(with_calls):
    deployment, files = with_calls
    start, end = inclusive_range("2019-07-01", "2019-07-31", CHICAGO)
    document = kcstat_document(deployment, start=start, end=end)
    (section,) = [s for s in document.sections if s.title == "Call centre"]
    assert section.missing is None
    data = json.loads(render_document(document, "json")[0])
    rows = {r["weekday"]: r for r in data["tables"]["calls_by_weekday"]["rows"]}
    now, before = _expected(files[2019]), _expected(files[2018])
    assert set(rows) == set(now) and len(rows) == 3
    assert any(f[1] for f in now.values())  # the generator abandons some calls: the test can fail
    for day, (offered, abandoned, answered, wait, within) in now.items():
        row = rows[day]
        assert (row["offered"], row["abandoned"]) == (offered, abandoned)
        assert row["abandonment"] == pytest.approx(abandoned / offered)
        assert row["asa_seconds"] == pytest.approx(wait / answered)
        assert row["service_level"] == pytest.approx(within / offered)
        b = before.get(day)
        if b is None:
            assert row["abandonment_year_before"] is None
        else:
            assert row["abandonment_year_before"] == pytest.approx(b[1] / b[0])
            assert row["asa_year_before"] == pytest.approx(b[3] / b[2])
    assert "calls_speed_of_answer" in {c.name for c in document.charts()}


def test_call_section_says_why_when_there_are_no_calls_in_the_period(with_calls):
    deployment, _ = with_calls
    start, end = inclusive_range("2020-02-01", "2020-02-29", CHICAGO)
    (section,) = [s for s in kcstat_document(deployment, start=start, end=end).sections if s.title == "Call centre"]
    assert section.missing == "No call records in this period."
