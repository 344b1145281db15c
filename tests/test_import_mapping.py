"""`civiccrm import csv --mapping NAME`: a city's export read through a mapping (SQLite and PostgreSQL)."""

import csv
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from civiccrm.cli import cli
from civiccrm.domain.cases import Resolution, Status
from civiccrm.domain.mapping import Mapping, RowReader, repair_mojibake
from civiccrm.errors import CivicError
from civiccrm.services import cases as case_service
from civiccrm.services import csv_import
from civiccrm.services.deployment import init_deployment
from civiccrm.store.tables import cases_table

DATA = Path(__file__).parent / "data"
NYC = DATA / "nyc311_sample.csv"
NYC_CITY = DATA / "cities" / "new-york-sample"
UTC = timezone.utc


@pytest.fixture
def nyc(database_url):
    dep = init_deployment(database_url, str(NYC_CITY))
    yield dep
    dep.engine.dispose()


def run(deployment, *files, mapping="nyc-311", **kwargs):
    rejects = []
    summary = csv_import.run(deployment, [str(f) for f in files], mapping=mapping, on_error=rejects.append, **kwargs)
    return summary, rejects


def test_nyc_export_lands_through_the_mapping(nyc):
    summary, rejects = run(nyc, NYC)
    assert (summary.read, summary.imported, summary.rejected, summary.duplicates) == (14, 9, 4, 1)
    reasons = {r.line: r.reason for r in rejects}
    assert all(r.file == str(NYC) for r in rejects)
    assert reasons[5].startswith("closed before it was created: Closed Date 01/17/2020 09:00:00 AM")
    assert reasons[9] == ("Status 'Frobnicated' is unknown; expected one of Open, Unspecified, Assigned, In Progress, "
                          "Started, Pending, Email Sent, Closed")
    assert reasons[11].startswith("Created Date 'yesterday' is not a date")
    assert reasons[14] == "3 fields; the header has 41"
    assert summary.warnings == {"coordinates outside the city": 1, "unknown channel": 1, "unknown service type": 2}

    noise = case_service.get(nyc, "45000001")
    assert noise.origin == "import:nyc311" and noise.service_code == "noise-residential"
    assert noise.department == "nypd" and noise.channel == "web"
    assert noise.status is Status.CLOSED and noise.resolution is Resolution.FIXED
    assert noise.opened_at == datetime(2020, 1, 16, 4, 32, 45, tzinfo=UTC)  # 11:32:45 PM EST
    assert noise.description == "Noise - Residential: Loud Music/Party"
    assert (noise.location.latitude, noise.location.longitude) == (40.75799, -73.98531)

    heat = case_service.get(nyc, "45000002")
    assert heat.location.zip_code == "10453"  # written as 10453.0
    assert heat.description == "HEAT/HOT WATER: ENTIRE BUILDING \u2013 NO HEAT"  # mojibake repaired
    assert heat.status is Status.OPEN and heat.closed_at is None

    parking = case_service.get(nyc, "45000003")  # ISO dates from the API
    assert parking.opened_at == datetime(2020, 1, 17, 13, 0, tzinfo=UTC)
    assert parking.channel == "app"
    assert not case_service.get(nyc, "45000005").location.has_point  # 0, 0
    assert not case_service.get(nyc, "45000006").location.has_point  # Los Angeles
    assert case_service.get(nyc, "45000006").location.address == "20 ORCHARD STREET"

    dup = case_service.get(nyc, "45000007")  # the newer row (by its update date) wins, file order aside
    assert dup.status is Status.CLOSED and dup.closed_at == datetime(2020, 1, 22, 20, 0, tzinfo=UTC)
    added = case_service.get(nyc, "45000009")
    assert added.service_code == "dirty-condition" and added.department == "dsny" and added.channel == "other"
    assert case_service.get(nyc, "45000011").channel == "other"
    late = case_service.get(nyc, "45000012")  # closed after the city's own due date
    assert late.city_exceeded_timeframe is True


def test_reimport_is_idempotent_and_a_changed_row_updates(nyc, tmp_path):
    run(nyc, NYC)
    again, _ = run(nyc, NYC)
    assert (again.imported, again.updated, again.unchanged, again.duplicates) == (0, 0, 9, 1)
    changed = tmp_path / "changed.csv"
    text = NYC.read_text(encoding="utf-8").replace("1880 UNIVERSITY AVENUE", "1890 UNIVERSITY AVENUE")
    changed.write_text(text, encoding="utf-8")
    third, _ = run(nyc, changed)
    assert (third.imported, third.updated, third.unchanged) == (0, 1, 8)
    assert case_service.get(nyc, "45000002").location.address == "1890 UNIVERSITY AVENUE"


def _mapping_file(tmp_path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


HEADERLESS = """
[mapping]
name = "headerless"
header = false
columns = ["ref", "when", "what", "state", "where"]

[fields]
id = "ref"
opened = "when"
name = "what"
status = "state"
address = "where"

[dates]
formats = ["%d.%m.%Y %H:%M", "%d.%m.%Y"]

[values.status]
O = "open"
C = ["closed", "fixed"]
"""


def test_a_file_without_header_is_read_by_position(nyc, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("7.0,03.02.2021 14:05,Illegal Parking,O,1 Main St\n"
                    "8,03.02.2021,Noise - Residential,C,2 Main St\n", encoding="utf-8")
    summary, rejects = run(nyc, data, mapping=str(_mapping_file(tmp_path, HEADERLESS)))
    assert [str(r) for r in rejects] == [f"{data}:2: the status says closed, but the closed date is blank"]
    assert summary.imported == 1
    case = case_service.get(nyc, "7")
    assert case.opened_at == datetime(2021, 2, 3, 19, 5, tzinfo=UTC) and case.origin == "import:headerless"


def test_unknown_type_policies(nyc, tmp_path):
    rejecting = HEADERLESS + '\n[unknown]\ntype = "reject"\n'
    data = tmp_path / "rows.csv"
    data.write_text("1,03.02.2021 14:05,Illegal Parking,O,x\n2,03.02.2021 14:05,Broken Swing,O,y\n", encoding="utf-8")
    summary, rejects = run(nyc, data, mapping=str(_mapping_file(tmp_path, rejecting)))
    assert summary.imported == 1
    assert [r.reason for r in rejects] == ["what 'Broken Swing' is not a type of the city's taxonomy"]
    defaulting = HEADERLESS + '\n[unknown]\ntype = { policy = "default", value = "Illegal Parking" }\n'
    summary, rejects = run(nyc, data, mapping=str(_mapping_file(tmp_path, defaulting)))
    assert rejects == [] and summary.warnings.get("unknown service type", 0) == 0
    assert case_service.get(nyc, "2").service_code == "illegal-parking"


def test_a_file_missing_mapped_columns_is_skipped_whole(nyc, tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Unique Key,Created Date\n1,01/01/2020 01:00:00 AM\n", encoding="utf-8")
    summary, rejects = run(nyc, wrong, NYC)
    assert summary.files_skipped == 1 and summary.files_read == 1 and summary.imported == 9
    assert rejects[0].line is None and rejects[0].reason.startswith(
        "not a nyc-311 export: missing column(s) Complaint Type, Descriptor, Agency")


def test_bytes_that_are_not_utf8_are_read_as_windows_1252(nyc, tmp_path):
    data = tmp_path / "latin.csv"
    data.write_bytes("1,03.02.2021 14:05,Illegal Parking,O,Pe\u00f1a Blvd\n".encode("cp1252"))
    run(nyc, data, mapping=str(_mapping_file(tmp_path, HEADERLESS)))
    assert case_service.get(nyc, "1").location.address == "Pe\u00f1a Blvd"


@pytest.mark.parametrize("text, message", [
    ("caf\u00c3\u00a9", "caf\u00e9"),
    ("caf\u00e9", "caf\u00e9"),
    ("\u00c3 la carte", "\u00c3 la carte"),
    ("\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d", "\u201cquoted\u201d"),
])
def test_repair_mojibake(text, message):
    assert repair_mojibake(text) == message


def _load(text, **kwargs):
    import tomllib

    return Mapping.from_toml(tomllib.loads(text), source="m.toml", **kwargs)


@pytest.mark.parametrize("text, message", [
    ('[mapping]\nname = "x"\n[fields]\nopened = "a"\nname = "b"', "m.toml [fields]: id is required"),
    ('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"\nnam = "b"', "m.toml [fields]: unknown field 'nam'"),
    ('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"', "say which column holds the service type"),
    ('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"\nname = "n"\n[unknown]\nchannel = "add"',
     "m.toml [unknown] channel: policy 'add'; expected one of reject, default"),
    ('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"\nname = "n"\n[values.channel]\nP = "pigeon"',
     "m.toml [values.channel] P: 'pigeon' is not one of the city's channels"),
    ('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"\nname = "n"\n[values.status]\nX = "gone"',
     "unknown status 'gone'"),
    ('[mapping]\nname = "x"\nheader = false\n[fields]\nid = "i"\nopened = "a"\nname = "n"',
     "header = false needs columns"),
    ('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"\nname = "n"\n[dates]\nformats = ["dd/mm"]',
     "format 'dd/mm' is neither"),
])
def test_bad_mappings_are_refused_with_the_key(text, message):
    with pytest.raises(CivicError, match=None) as info:
        _load(text, channels=("phone", "web"))
    assert message in str(info.value)


def test_several_date_formats_and_timezone():
    mapping = _load('[mapping]\nname = "x"\n[fields]\nid = "i"\nopened = "a"\nname = "n"\n'
                    '[dates]\ntimezone = "America/Chicago"\nformats = ["%m/%d/%Y %I:%M %p", "iso"]')
    reader = RowReader(mapping, timezone_name="UTC", channels=("other",))
    assert reader.parse_datetime("07/04/2020 01:30 PM", "a") == (datetime(2020, 7, 4, 18, 30, tzinfo=UTC), True)
    assert reader.parse_datetime("2020-07-04T13:30:00", "a")[0] == datetime(2020, 7, 4, 18, 30, tzinfo=UTC)
    assert reader.parse_datetime("2020-07-04T13:30:00+00:00", "a")[0] == datetime(2020, 7, 4, 13, 30, tzinfo=UTC)


def test_cli_import_csv(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db, "init", "--city", str(NYC_CITY)]).exit_code == 0
    errors = tmp_path / "rejects.csv"
    result = runner.invoke(cli, ["--db", db, "import", "csv", str(NYC), "--mapping", "nyc-311",
                                 "--errors", str(errors)])
    assert result.exit_code == 0, result.output
    assert "read 14, imported 9, updated 0, unchanged 0, rejected 4, duplicates skipped 1" in result.output
    with errors.open(newline="", encoding="utf-8") as fh:
        assert [row["line"] for row in csv.DictReader(fh)] == ["5", "9", "11", "14"]
    missing = runner.invoke(cli, ["--db", db, "import", "csv", str(NYC), "--mapping", "nope"])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert "--mapping: no mapping 'nope'; known: " in missing.output and "nyc-311" in missing.output
    assert "csv" in runner.invoke(cli, ["--db", db, "import", "--help"]).output
    with init_deployment(db, str(NYC_CITY)).engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(cases_table)) == 9


def test_every_mapping_key_and_field_is_documented():
    from civiccrm.domain import mapping

    text = (Path(__file__).resolve().parents[1] / "docs" / "import-mapping.md").read_text(encoding="utf-8")
    keys = set(mapping.FIELDS) | mapping._MAPPING_KEYS | mapping._DATE_KEYS | mapping._VALUE_TABLES
    keys |= set(mapping._UNKNOWN) | mapping._COORD_KEYS | mapping._DRAFT_KEYS | mapping._TOP
    missing = sorted(k for k in keys if not re.search(rf"(`{k}`|^{k} =|\[{k}\]|\[values\.{k}\])", text, re.MULTILINE))
    assert missing == []
