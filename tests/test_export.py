"""`civiccrm export cases`: CSV, GeoJSON, Parquet and Open311 bulk, without personal data (SQLite and PostgreSQL)."""

import csv
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Location, Resolution
from civiccrm.errors import CivicError
from civiccrm.services import cases as case_service
from civiccrm.services.deployment import init_deployment
from civiccrm.services.export import FORMATS, dictionary_path, export_cases

ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
PEOPLE = [
    ("Marguerite Quenneville-Oyelaran", "marguerite.q.oyelaran@example.org", "816-555-0147"),
    ("Tobias Ferncastle", "tferncastle@example.net", "(816) 555-0193"),
]
NOTE = "Crew lead says the resident Ferncastle is hostile; call before visiting"
PHOTO = "https://photos.example.org/private/IMG_4471.jpg"
DESCRIPTION = "Cart not emptied again, ring the bell at the side door"


def _cases(deployment):
    made = []
    for n, (name, email, phone) in enumerate(PEOPLE):
        case = case_service.intake(deployment, CaseDraft(
            service_code="trash-missed-by-city", description=f"{DESCRIPTION} ({n})", channel="phone",
            location=Location(address=f"{938 + n} Mulberry St", latitude=39.102738, longitude=-94.600134),
            customer=Customer(name=name, email=email, phone=phone), media_url=PHOTO,
            opened_at=datetime(2024, 3, 4 + n, 15, 0, tzinfo=UTC)), actor="test")
        case_service.add_note(deployment, case.tracking_number, NOTE, actor="test")
        made.append(case)
    case_service.close(deployment, made[0].tracking_number, Resolution.FIXED, actor="test")
    return made


def _exports(deployment, tmp_path):
    paths = {}
    for fmt in FORMATS:
        out = tmp_path / f"cases.{fmt}"
        summary = export_cases(deployment, fmt=fmt, out=out)
        assert summary.cases == 2
        paths[fmt] = out
    return paths


def _text(path: Path) -> str:
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str)
    return path.read_text(encoding="utf-8")


def test_no_export_format_holds_personal_data(deployment, tmp_path):
    _cases(deployment)
    for fmt, path in _exports(deployment, tmp_path).items():
        raw = path.read_bytes()
        text = _text(path) + dictionary_path(path).read_text(encoding="utf-8")
        for name, email, phone in PEOPLE:
            for secret in (name, name.split()[-1], email, phone, phone.replace("-", "")):
                assert secret not in text and secret.encode() not in raw, (fmt, secret)
        for secret in (NOTE, "hostile", PHOTO, "IMG_4471", DESCRIPTION, "side door"):
            assert secret not in text and secret.encode() not in raw, (fmt, secret)
        assert "Mulberry St" in text  # the problem's address is public; the test reads the file it wrote


def test_descriptions_only_when_the_profile_says_they_are_public(tmp_path):
    city = tmp_path / "kc"
    shutil.copytree(ROOT / "cities" / "kansas_city", city)
    profile = city / "profile.toml"
    profile.write_text(profile.read_text(encoding="utf-8") + "\n[open_data]\npublic_descriptions = true\n",
                       encoding="utf-8")
    deployment = init_deployment(f"sqlite:///{tmp_path / 'd.db'}", str(city))
    _cases(deployment)
    for fmt, path in _exports(deployment, tmp_path).items():
        text = _text(path)
        assert DESCRIPTION in text, fmt
        for name, email, phone in PEOPLE:
            assert name not in text and email not in text and phone not in text
        assert NOTE not in text and PHOTO not in text
        assert "description" in dictionary_path(path).read_text(encoding="utf-8")


def test_formats_are_what_they_say(deployment, tmp_path):
    made = _cases(deployment)
    paths = _exports(deployment, tmp_path)
    with paths["csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    first = next(r for r in rows if r["case_id"] == made[0].tracking_number)
    assert first["opened_at"] == "2024-03-04T15:00:00Z" and first["status"] == "closed"
    assert first["resolution"] == "fixed" and first["on_time"] in ("true", "false")
    assert float(first["latitude"]) == 39.102738 and first["service_code"] == "trash-missed-by-city"

    collection = json.loads(paths["geojson"].read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    feature = collection["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [-94.600134, 39.102738]}  # longitude first
    assert {f["properties"]["case_id"] for f in collection["features"]} == {c.tracking_number for c in made}

    table = pq.read_table(paths["parquet"])
    schema = {f.name: str(f.type) for f in table.schema}
    assert schema["opened_at"] == "timestamp[us, tz=UTC]" and schema["latitude"] == "double"
    assert schema["on_time"] == "bool" and schema["case_id"] == "string"
    assert table.column("opened_at").to_pylist()[0] == datetime(2024, 3, 4, 15, 0, tzinfo=UTC)

    with paths["open311-bulk"].open(newline="", encoding="utf-8") as fh:
        bulk = {r["service_request_id"]: r for r in csv.DictReader(fh)}
    closed, still_open = bulk[made[0].tracking_number], bulk[made[1].tracking_number]
    assert closed["requested_datetime"] == "2024-03-04T09:00:00-06:00"  # Kansas City time, with its offset
    assert closed["status"] == "closed" and still_open["status"] == "open"
    assert still_open["closed_datetime"] == "" and closed["lat"] == "39.102738"

    with dictionary_path(paths["csv"]).open(newline="", encoding="utf-8") as fh:
        dictionary = {r["column"]: r for r in csv.DictReader(fh)}
    with paths["csv"].open(newline="", encoding="utf-8") as fh:
        assert list(dictionary) == next(csv.reader(fh))
    assert dictionary["opened_at"]["type"] == "timestamp (UTC)" and dictionary["case_id"]["description"]


def test_filters_by_period_and_type(deployment, tmp_path):
    _cases(deployment)
    out = tmp_path / "one.csv"
    runner = CliRunner()
    url = deployment.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(cli, ["--db", url, "export", "cases", "--format", "csv", "--from", "2024-03-05",
                                 "--to", "2024-03-05", "--type", "Trash - Missed by City", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 1 case(s)" in result.output
    other = runner.invoke(cli, ["--db", url, "export", "cases", "--format", "csv", "--type", "pothole-north-of-river",
                                "--out", str(out)])
    assert other.exit_code == 0 and "wrote 0 case(s)" in other.output
    bad = runner.invoke(cli, ["--db", url, "export", "cases", "--format", "csv", "--type", "no such thing",
                              "--out", str(out)])
    assert bad.exit_code == 1 and "no service type 'no such thing'" in bad.output and "Traceback" not in bad.output
    backwards = runner.invoke(cli, ["--db", url, "export", "cases", "--format", "csv", "--from", "2024-03-05",
                                    "--to", "2024-03-01", "--out", str(out)])
    assert backwards.exit_code == 1 and "before --from" in backwards.output


def test_a_failed_export_leaves_no_file(sqlite_deployment, tmp_path):
    with pytest.raises(CivicError, match="--out: folder"):
        export_cases(sqlite_deployment, fmt="csv", out=tmp_path / "missing" / "x.csv")
    _cases(sqlite_deployment)
    out = tmp_path / "x.parquet"

    def boom(_count):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        export_cases(sqlite_deployment, fmt="parquet", out=out, progress=boom)
    assert list(tmp_path.iterdir()) == [tmp_path / "civiccrm.db"] or not out.exists()
    assert not out.exists() and not (tmp_path / "x.parquet.part").exists()


def test_a_column_blank_in_the_first_batch_and_set_later_keeps_its_values(deployment, tmp_path):
    """SQLite is read into Arrow batches whose column types are inferred from the first batch;
    a column NULL throughout it (here duplicate_of, neighborhood and closed_at) must still carry
    the text of later batches, in every format, and the same as on the other path."""
    made = [case_service.intake(deployment, CaseDraft(
        service_code="trash-missed-by-city", description=f"case {n}", channel="phone",
        location=Location(address=f"{n} Main St", neighborhood="Westport" if n == 4 else None),
        opened_at=datetime(2024, 3, 1 + n, 15, 0, tzinfo=UTC)), actor="test") for n in range(5)]
    case_service.merge(deployment, made[4].tracking_number, made[0].tracking_number, actor="test")
    for fmt in FORMATS:
        out = tmp_path / f"late.{fmt}"
        assert export_cases(deployment, fmt=fmt, out=out, batch_size=2).cases == 5
        text = _text(out)
        if fmt == "open311-bulk":  # no duplicate or neighbourhood column there
            assert ',"closed","duplicate",' in text
        else:
            assert text.count(made[0].tracking_number) == 2 and "Westport" in text
    with (tmp_path / "late.csv").open(newline="", encoding="utf-8") as handle:
        rows = {r["case_id"]: r for r in csv.DictReader(handle)}
    last = rows[made[4].tracking_number]
    assert last["duplicate_of"] == made[0].tracking_number and last["neighborhood"] == "Westport"
    assert last["status"] == "closed" and last["closed_at"].endswith("Z") and last["resolution"] == "duplicate"
    assert rows[made[1].tracking_number]["duplicate_of"] == "" and rows[made[1].tracking_number]["closed_at"] == ""
    table = pq.read_table(tmp_path / "late.parquet")
    assert str(table.schema.field("duplicate_of").type) == "string"
    assert str(table.schema.field("closed_at").type) == "timestamp[us, tz=UTC]"


def test_the_read_ahead_hands_on_every_batch_in_order_raises_the_readers_error_and_stops_when_left():
    """The SQLite reader runs a batch ahead in a thread: nothing lost or reordered, its error raised in the
    writer's thread, and a writer that stops early leaves no reader running."""
    import threading

    from civiccrm.services.export import _read_ahead

    assert list(_read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("row 2: not a number")

    got = []
    with pytest.raises(ValueError, match="row 2"):
        for item in _read_ahead(failing()):
            got.append(item)
    assert got == [1]

    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    ahead = _read_ahead(endless(), depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert closed.is_set()
    assert not any(t.name == "export-reader" for t in threading.enumerate())
