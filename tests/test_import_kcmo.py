"""`civiccrm import kcmo`: Kansas City open-data CSVs into cases, on SQLite and PostgreSQL."""

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from civiccrm import hookimpl, plugins
from civiccrm.cli import cli
from civiccrm.domain.cases import Resolution, Status
from civiccrm.services import cases as case_service
from civiccrm.store.tables import cases_table, events_table

DATA = Path(__file__).parent / "data"
GOOD = DATA / "kcmo_good.csv"
BAD = DATA / "kcmo_bad.csv"
WRONG_HEADER = DATA / "kcmo_wrong_header.csv"
CHICAGO = ZoneInfo("America/Chicago")
UTC = timezone.utc


def run_import(deployment, *files, **kwargs):
    rejects = []
    importer = deployment.registry.importers["kcmo"]
    summary = importer.run(deployment, [str(f) for f in files], on_error=rejects.append, **kwargs)
    return summary, rejects


def count(deployment, table, *where) -> int:
    with deployment.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table).where(*where))


def events_of(deployment, tracking_number):
    return case_service.history(deployment, tracking_number)


def test_importer_is_registered(sqlite_deployment):
    assert "kcmo" in sqlite_deployment.registry.importers


def test_importer_loads_for_kansas_city_only(tmp_path):
    """The Kansas City importer is a city plugin ([city] plugins): another city's deployment
    in the same process neither lists it nor answers to it, and the CLI says so."""
    from civiccrm.services.deployment import init_deployment

    kc = init_deployment(f"sqlite:///{tmp_path / 'kc.db'}", "kansas-city")
    tulsa_url = f"sqlite:///{tmp_path / 'tulsa.db'}"
    tulsa = init_deployment(tulsa_url, "tulsa")
    assert "civiccrm_plugins.kcmo_import" not in plugins.DEFAULT_PLUGINS
    assert "kcmo" in kc.registry.importers
    assert "kcmo" not in tulsa.registry.importers
    assert not [impl for impl in tulsa.pm.hook.register_importers.get_hookimpls()
                if impl.plugin_name == "civiccrm_plugins.kcmo_import"]

    runner = CliRunner()
    result = runner.invoke(cli, ["--db", tulsa_url, "import", "kcmo", str(GOOD)])
    assert result.exit_code != 0 and "No such command 'kcmo'" in result.output
    assert "kcmo" not in runner.invoke(cli, ["--db", tulsa_url, "import", "--help"]).output
    kc_help = runner.invoke(cli, ["--db", f"sqlite:///{tmp_path / 'kc.db'}", "import", "--help"])
    assert kc_help.exit_code == 0 and "kcmo" in kc_help.output
    kc.engine.dispose()
    tulsa.engine.dispose()


def test_good_file_lands_with_mapped_fields(deployment):
    summary, rejects = run_import(deployment, GOOD)
    assert rejects == []
    assert (summary.read, summary.imported, summary.updated, summary.unchanged, summary.rejected) == (9, 9, 0, 0, 0)
    assert summary.files_read == 1 and summary.files_skipped == 0
    assert summary.warnings == {"unknown source": 1, "unknown service type": 1,
                                "unknown department": 1, "unknown work group": 1}
    assert count(deployment, cases_table) == 9

    case = case_service.get(deployment, "2019193337")
    assert case.external_id == "2019193337" and case.origin == "import:kcmo" and case.is_import
    assert case.status is Status.CLOSED and case.resolution is Resolution.FIXED
    assert case.channel == "phone"
    assert case.service_code == "meter-leak-or-problem" and case.request_type == "Meter Leak or Problem"
    assert case.category == "Water Leak"
    assert case.department == "water-services" and case.work_group == "water-services-meter-and-field-services"
    assert case.description == "Meter Leak or Problem: Meter Leak"
    assert case.location.address == "938 Mulberry St"  # not the multi-line ADDRESS WITH GEOCODE
    assert case.location.zip_code == "64101" and case.location.council_district == "4"
    assert case.location.latitude == pytest.approx(39.102738)
    assert case.opened_at == datetime(2019, 11, 16, 14, 55, tzinfo=CHICAGO)
    assert case.closed_at == datetime(2019, 11, 22, 0, 0, tzinfo=CHICAGO)  # start of the closed day
    assert case.city_exceeded_timeframe is False and case.city_days_to_close == 6.0
    # The project's own figures beside the city's: 2 business days for this type since June 2010 (the
    # refit, docs/kansas-city-timeframes.md), counted from Saturday's opening: Monday, Tuesday.
    assert case.due_at == datetime(2019, 11, 19, 14, 55, tzinfo=CHICAGO)
    assert case.on_time is False
    with deployment.engine.connect() as conn:
        days = conn.scalar(select(cases_table.c.days_to_close).where(cases_table.c.tracking_number == "2019193337"))
    assert days == pytest.approx((case.closed_at - case.opened_at).total_seconds() / 86400)

    by_status = {t: case_service.get(deployment, t) for t in ("2017000003", "2017000004", "2017000005", "2018059294")}
    assert (by_status["2017000003"].status, by_status["2017000003"].resolution) == (Status.CLOSED, Resolution.CANCELLED)
    assert (by_status["2017000004"].status, by_status["2017000004"].resolution) == (Status.CLOSED, Resolution.DUPLICATE)
    assert (by_status["2017000005"].status, by_status["2017000005"].resolution) == (Status.IN_PROGRESS, None)
    assert by_status["2017000005"].city_exceeded_timeframe is None
    open_case = by_status["2018059294"]
    assert (open_case.status, open_case.resolution, open_case.closed_at) == (Status.OPEN, None, None)
    assert open_case.channel == "social"  # TWIR
    assert not open_case.location.has_point and open_case.location.zip_code is None  # LAT/LONG 0, ZIP blank
    assert open_case.due_at is not None and open_case.on_time is None
    assert case_service.get(deployment, "2017000006").channel == "other"  # unknown SOURCE ZZZ

    unknown = case_service.get(deployment, "2017000007")
    assert unknown.service_code == "llama-on-the-loose" and unknown.request_type == "Llama On The Loose"
    assert unknown.due_at is None and unknown.on_time is None
    assert unknown.department == "llama-control" and unknown.work_group == "llama-control-field"


def test_times_across_daylight_saving_changes(deployment):
    run_import(deployment, GOOD)
    # 02:30 on 2020-03-08 does not exist in Chicago: read with the offset before the change (CST).
    skipped = case_service.get(deployment, "2020050001")
    assert skipped.opened_at == datetime(2020, 3, 8, 8, 30, tzinfo=UTC)
    # 01:30 on 2020-11-01 happens twice: the first one (CDT) is taken.
    repeated = case_service.get(deployment, "2020250002")
    assert repeated.opened_at == datetime(2020, 11, 1, 6, 30, tzinfo=UTC)
    assert repeated.closed_at == repeated.opened_at  # closed the same day: at its opening time
    with deployment.engine.connect() as conn:
        days = conn.scalar(select(cases_table.c.days_to_close).where(cases_table.c.tracking_number == "2020250002"))
    assert days == 0
    # Re-reading the same wall times finds nothing changed.
    summary, _ = run_import(deployment, GOOD)
    assert summary.unchanged == 9 and summary.updated == 0


def test_bad_rows_are_reported_and_leave_nothing_behind(deployment):
    summary, rejects = run_import(deployment, BAD)
    assert (summary.read, summary.imported, summary.rejected) == (5, 2, 3)
    assert [(Path(r.file).name, r.line) for r in rejects] == [("kcmo_bad.csv", 4), ("kcmo_bad.csv", 6), ("kcmo_bad.csv", 8)]
    assert "CREATION DATE '13/45/2019'" in rejects[0].reason
    assert "STATUS 'WAT' is unknown" in rejects[1].reason and "RESOL" in rejects[1].reason
    assert "closed before it was created" in rejects[2].reason
    assert str(rejects[0]).endswith(f"kcmo_bad.csv:4: {rejects[0].reason}")
    external = cases_table.c.external_id
    assert count(deployment, cases_table, external.in_(["2019100002", "2019100003", "2019100004"])) == 0
    assert count(deployment, cases_table, external.in_(["2019100001", "2019100005"])) == 2
    assert count(deployment, events_table) == 2  # history only for the cases that landed


def test_reimport_changes_nothing_and_duplicates_nothing(deployment):
    run_import(deployment, GOOD)
    summary, rejects = run_import(deployment, GOOD, batch_size=4)
    assert rejects == []
    assert (summary.read, summary.imported, summary.updated, summary.unchanged) == (9, 0, 0, 9)
    assert count(deployment, cases_table) == 9
    assert count(deployment, events_table) == 9


def test_same_case_twice_in_one_run_is_one_case(deployment):
    summary, _ = run_import(deployment, GOOD, GOOD)
    assert (summary.read, summary.imported, summary.unchanged) == (18, 9, 9)
    assert count(deployment, cases_table) == 9


def test_changed_row_updates_the_case_with_a_reimported_event(deployment, tmp_path):
    run_import(deployment, GOOD)
    with GOOD.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    for row in rows:
        if row["CASE ID"] == "2018059294":  # the open case was resolved since the last export
            row.update({"STATUS": "RESOL", "CLOSED DATE": "06/01/2018", "DAYS TO CLOSE": "21.0"})
    changed = tmp_path / "changed.csv"
    with changed.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)

    summary, rejects = run_import(deployment, changed)
    assert rejects == []
    assert (summary.read, summary.imported, summary.updated, summary.unchanged) == (9, 0, 1, 8)
    assert count(deployment, cases_table) == 9
    case = case_service.get(deployment, "2018059294")
    assert (case.status, case.resolution) == (Status.CLOSED, Resolution.FIXED)
    assert case.closed_at == datetime(2018, 6, 1, tzinfo=CHICAGO)
    assert case.city_days_to_close == 21.0 and case.on_time is not None
    history = events_of(deployment, "2018059294")
    assert [e.kind for e in history] == ["imported", "reimported"]
    changes = history[-1].changes
    assert changes["status"] == ["open", "closed"] and changes["resolution"] == [None, "fixed"]
    assert changes["city_days_to_close"] == [None, 21.0] and "closed_at" in changes
    assert "channel" not in changes
    assert history[-1].origin == "import:kcmo" and history[-1].note.endswith("changed.csv:8")  # three two-line records before it


def test_bytes_that_are_not_utf8_are_read_as_windows_1252(deployment, tmp_path):
    raw = GOOD.read_bytes()
    lines = raw.split(b"\n")
    # Put a Windows-1252 e-acute (0xE9, invalid on its own in UTF-8) into the second record's address.
    lines[1] = lines[1].replace(b"Mulberry", b"Caf\xe9 Mulberry", 1)
    assert b"\xe9" in lines[1]
    mixed = tmp_path / "cp1252.csv"
    mixed.write_bytes(b"\n".join(lines))
    with pytest.raises(UnicodeDecodeError):
        mixed.read_text(encoding="utf-8")

    summary, rejects = run_import(deployment, mixed)
    assert rejects == [] and summary.imported == summary.read == 9
    first_id = lines[1].split(b",", 1)[0].decode()
    assert case_service.get(deployment, first_id).location.address == "938 Café Mulberry St"


def test_imported_history_says_where_it_came_from(deployment):
    run_import(deployment, GOOD)
    with deployment.engine.connect() as conn:
        origins = conn.execute(select(events_table.c.kind, events_table.c.origin).distinct()).all()
    assert origins == [("imported", "import:kcmo")]
    (event,) = events_of(deployment, "2019193337")
    assert event.note.endswith("kcmo_good.csv:2")
    assert event.changes["status"] == [None, "closed"] and event.changes["channel"] == [None, "phone"]
    # The second record starts on line 4: the first one's quoted address spans lines 2-3.
    (event,) = events_of(deployment, "2020050001")
    assert event.note.endswith("kcmo_good.csv:4")


def test_case_created_plugins_see_the_import_origin(deployment):
    seen = []

    class Listener:
        @hookimpl
        def case_created(self, case, event):
            seen.append((case.tracking_number, case.is_import, event.origin, event.kind))

    deployment.pm.register(Listener(), name="test-import-listener")
    try:
        run_import(deployment, GOOD)
    finally:
        deployment.pm.unregister(name="test-import-listener")
    assert len(seen) == 9
    assert {(imp, origin, kind) for _, imp, origin, kind in seen} == {(True, "import:kcmo", "imported")}
    assert "2019193337" in {t for t, *_ in seen}


def test_a_row_the_database_refuses_is_rejected_alone(deployment):
    # A case created elsewhere already holds the tracking number of the last row of BAD.
    with deployment.engine.begin() as conn:
        now = datetime(2020, 1, 1, tzinfo=UTC)
        conn.execute(insert(cases_table).values(
            tracking_number="2019100005", service_code="x", request_type="x", channel="phone", description="x",
            status="new", opened_at=now, updated_at=now, origin="intake",
        ))
    summary, rejects = run_import(deployment, BAD)
    assert (summary.read, summary.imported, summary.rejected) == (5, 1, 4)
    assert (Path(rejects[-1].file).name, rejects[-1].line) == ("kcmo_bad.csv", 10)
    assert "database refused" in rejects[-1].reason
    assert count(deployment, cases_table, cases_table.c.external_id == "2019100001") == 1
    assert count(deployment, events_table) == 1


def test_file_without_the_columns_is_skipped_and_named(deployment):
    summary, rejects = run_import(deployment, WRONG_HEADER, GOOD)
    assert (summary.files_read, summary.files_skipped, summary.read, summary.imported) == (1, 1, 9, 9)
    (reject,) = rejects
    assert reject.line is None and reject.file.endswith("kcmo_wrong_header.csv")
    assert "missing column(s) DEPARTMENT, WORK GROUP" in reject.reason


def test_cli_imports_and_summarises(database_url, deployment, tmp_path):
    runner = CliRunner()
    errors = tmp_path / "errors.csv"
    result = runner.invoke(cli, ["--db", database_url, "import", "kcmo", str(GOOD), str(BAD), "--errors", str(errors)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "read 14, imported 11, updated 0, unchanged 0, rejected 3" in result.stdout
    assert "warning: unknown source: 1 row(s) (ZZZ)" in result.stdout
    assert f"{BAD}:4: CREATION DATE" in result.stderr and f"{BAD}:8: closed before" in result.stderr
    with errors.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [(r["line"], Path(r["file"]).name) for r in written] == [("4", "kcmo_bad.csv"), ("6", "kcmo_bad.csv"),
                                                                     ("8", "kcmo_bad.csv")]

    again = runner.invoke(cli, ["--db", database_url, "import", "kcmo", "--json", "--quiet", str(GOOD)])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert (data["read"], data["imported"], data["unchanged"], data["rejected"]) == (9, 0, 9, 0)
    assert data["warnings"]["unknown source"] == 1


def test_cli_exits_1_when_nothing_could_be_read(database_url, deployment, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", database_url, "import", "kcmo", str(WRONG_HEADER)])
    assert result.exit_code == 1
    assert "missing column(s)" in result.stderr and "read 0," in result.stdout
    empty = tmp_path / "empty.csv"
    empty.write_text(GOOD.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert runner.invoke(cli, ["--db", database_url, "import", "kcmo", str(empty)]).exit_code == 1
    # Some rows read, all rejected: the file was readable, so the exit status is 0.
    only_bad = tmp_path / "only_bad.csv"
    lines = BAD.read_text(encoding="utf-8").splitlines(keepends=True)
    only_bad.write_text(lines[0] + "".join(lines[3:5]), encoding="utf-8")
    result = runner.invoke(cli, ["--db", database_url, "import", "kcmo", str(only_bad)])
    assert result.exit_code == 0 and "rejected 1" in result.stdout


def test_cli_lists_the_importers(database_url, deployment):
    result = CliRunner().invoke(cli, ["--db", database_url, "import", "--help"])
    assert result.exit_code == 0 and "kcmo" in result.output
    missing = CliRunner().invoke(cli, ["--db", database_url, "import", "kcmo", "/no/such/file.csv"])
    assert missing.exit_code == 2


def test_all_of_kansas_city_open_data(sqlite_deployment, shared_data):
    """The 12 real files (63,590 cases): counts as the data README gives them. Takes ~10-20 s."""
    files = sorted((shared_data / "kc311").glob("*.csv"))
    summary, rejects = run_import(sqlite_deployment, *files)
    assert summary.read == 63_590 and summary.files_read == 12
    assert summary.rejected == len(rejects) == 0, [str(r) for r in rejects]
    assert summary.imported == 63_590 - summary.rejected
    assert summary.warnings["unknown source"] == 1  # the one blank SOURCE
    assert summary.warnings.get("unknown service type", 0) == 0
    with sqlite_deployment.engine.connect() as conn:
        statuses = dict(((s, r), n) for s, r, n in conn.execute(
            select(cases_table.c.status, cases_table.c.resolution, func.count()).group_by(cases_table.c.status,
                                                                                          cases_table.c.resolution)))
        channels = dict(conn.execute(select(cases_table.c.channel, func.count()).group_by(cases_table.c.channel)).all())
        exceeded = dict(conn.execute(select(cases_table.c.city_exceeded_timeframe, func.count())
                                     .group_by(cases_table.c.city_exceeded_timeframe)).all())
    # Every row of the export is usable: nothing is rejected, so the README's counts hold exactly.
    assert statuses == {("closed", "fixed"): 61_947, ("open", None): 1_059, ("closed", "cancelled"): 514,
                        ("closed", "duplicate"): 63, ("in_progress", None): 7}
    # PHONE + VOICE + CTI; WEB + BOT; SYS + INSPE + EDC + EIP + KCEPD + BIZ + CMO + KCMPD; the blank one.
    assert channels == {"phone": 48_312 + 172 + 1, "web": 9_262 + 267, "email": 2_882, "social": 596,
                        "staff": 1_172 + 683 + 14 + 13 + 5 + 2 + 1 + 1, "walk_in": 115, "fax": 83, "mail": 8,
                        "other": 1}
    assert exceeded == {False: 44_400, True: 19_189, None: 1}
    # The batch due times are the hook's, over every year and DST change in the data (every 50th case).
    profile = sqlite_deployment.profile
    with sqlite_deployment.engine.connect() as conn:
        sample = conn.execute(select(cases_table.c.service_code, cases_table.c.opened_at, cases_table.c.due_at)
                              .where(cases_table.c.id % 50 == 0)).all()
    assert len(sample) > 1000
    for code, opened_at, due_at in sample:
        expected = sqlite_deployment.pm.hook.compute_due_at(
            deployment=sqlite_deployment,
            opened_at=opened_at, service_type=profile.taxonomy.service_types[code], profile=profile)
        assert due_at == expected, (code, opened_at)
    # Idempotent on the real data too: a second pass over one file changes nothing.
    again, _ = run_import(sqlite_deployment, files[0])
    assert again.imported == 0 and again.updated == 0 and again.unchanged == again.read - again.rejected


def test_due_times_match_the_compute_due_at_hook(deployment):
    """The batch computation of the core's due time gives what the hook gives case by case."""
    run_import(deployment, GOOD)
    profile = deployment.profile
    with deployment.engine.connect() as conn:
        rows = conn.execute(select(cases_table.c.tracking_number, cases_table.c.service_code,
                                   cases_table.c.opened_at, cases_table.c.due_at)).all()
    checked = 0
    for tracking, code, opened_at, due_at in rows:
        service_type = profile.taxonomy.service_types.get(code)
        if service_type is None:
            assert due_at is None
            continue
        expected = deployment.pm.hook.compute_due_at(deployment=deployment, opened_at=opened_at,
                                                     service_type=service_type, profile=profile)
        assert due_at == expected, tracking
        checked += 1
    assert checked == 8


def test_a_plugin_that_computes_due_times_is_asked_for_each_case(deployment):
    from datetime import timedelta

    class OneDay:
        @hookimpl(tryfirst=True)
        def compute_due_at(self, opened_at, service_type, profile):
            return opened_at + timedelta(days=1)

    deployment.pm.register(OneDay(), name="test-one-day")
    try:
        run_import(deployment, GOOD)
    finally:
        deployment.pm.unregister(name="test-one-day")
    case = case_service.get(deployment, "2019193337")
    assert case.due_at == datetime(2019, 11, 17, 14, 55, tzinfo=CHICAGO)
    assert case.on_time is False
    quick = case_service.get(deployment, "2020250002")  # closed the same day
    assert quick.on_time is True


@pytest.mark.parametrize("values", [
    {"status": "closed", "resolution": "fixed", "service_code": "trash-missed-by-city", "department": "public-works",
     "work_group": None, "channel": "phone", "due_at": datetime(2019, 11, 22, 20, 55, tzinfo=UTC), "closed_at": None},
    {"status": "open", "resolution": None, "service_code": "caf\u00e9 \"quoted\" \\ type", "department": None,
     "work_group": "wg\nnew line", "channel": "other", "due_at": None, "closed_at": datetime(2020, 1, 1, tzinfo=UTC)},
])
def test_imported_event_changes_are_the_json_of_the_created_fields(values):
    from civiccrm.services.imports import _CREATED_FIELDS, _created_changes_json

    expected = {f: [None, v.isoformat() if isinstance(v, datetime) else v] for f, v in values.items()}
    assert set(values) == set(_CREATED_FIELDS)
    assert _created_changes_json(values) == json.dumps(expected, sort_keys=True)
    assert json.loads(_created_changes_json(values)) == expected
