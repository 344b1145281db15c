"""The ``civiccrm`` command line on SQLite and PostgreSQL: init, cases, filters, JSON, one-line errors."""

import functools
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from profile_helpers import copy_kansas_city, edit

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Location, Resolution
from civiccrm.services import cases as case_service
from civiccrm.store import repo
from civiccrm.store.db import make_engine, session

CHICAGO = ZoneInfo("America/Chicago")
DISTRICT_4 = ("39.102738", "-94.600134")
DISTRICT_6 = (38.92281257923029, -94.52900299502548)
DISTRICT_1 = (39.229772503163176, -94.49718022827308)
PII = ("Ada Resident", "ada@example.org", "816-555-0100")


@pytest.fixture(autouse=True)
def load_each_profile_once(monkeypatch):
    """Every command loads the city profile afresh; within one test, load each folder once to keep the suite quick."""
    from civiccrm.services import deployment as deployment_module

    monkeypatch.setattr(deployment_module, "load_profile", functools.cache(deployment_module.load_profile))


@pytest.fixture
def run(database_url):
    """Invoke ``civiccrm --db URL ...``; return the click Result."""
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, ["--db", database_url, "--actor", "tester", *args])

    return invoke


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result


def user_error(result, *parts):
    """A mistake the user can fix: one line on stderr, non-zero exit, no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    return lines[0]


def as_json(result):
    return json.loads(ok(result).stdout)


def new_case(run, *extra):
    result = ok(run("case", "new", "--type", "Trash - Missed by City", "--description", "Cart not emptied",
                    "--lat", DISTRICT_4[0], "--long", DISTRICT_4[1], *extra))
    return result.stdout.strip()


# --- set-up commands ---------------------------------------------------------------


def test_init_twice_and_another_city(run, tmp_path):
    first = ok(run("init", "--city", "kansas-city"))
    assert "Kansas City, Missouri" in first.stdout and "793 service types" in first.stdout
    number = new_case(run)
    ok(run("init", "--city", "kansas-city"))
    assert as_json(run("case", "show", number, "--json"))["tracking_number"] == number

    other = tmp_path / "springfield"
    shutil.copytree(Path(__file__).resolve().parents[1] / "cities" / "kansas_city", other,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    toml = other / "profile.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('slug = "kansas-city"', 'slug = "springfield"'),
                    encoding="utf-8")
    user_error(run("init", "--city", str(other)), "kansas-city", "springfield")


def test_init_with_a_relative_folder_works_from_anywhere_later(tmp_path, monkeypatch):
    """`init --city ./folder` stores the folder's absolute path, so a command run elsewhere finds it."""
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", 'slug = "kansas-city"', 'slug = "kc-copy"')
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(cli, ["--db", url, "init", "--city", "./kc"]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(cli, ["--db", url, "case", "list"])
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    try:
        with session(engine) as s:
            assert repo.get_setting(session=s, key="city_path") == str(folder.resolve())
    finally:
        engine.dispose()


def test_case_new_refuses_an_address_that_is_not_an_email(run):
    ok(run("init", "--city", "kansas-city"))
    user_error(run("case", "new", "--type", "pothole-north-of-river", "--description", "Hole", "--email", "notanemail"),
               "email: 'notanemail' is not an e-mail address")
    ok(run("case", "new", "--type", "pothole-north-of-river", "--description", "Hole", "--email", "pat@example.org"))


def test_case_new_gives_the_service_attributes_open311_asks_for(run, database_url):
    """`--attribute CODE=VALUE` answers the service type's questions, checked as the Open311 POST checks them."""
    from civiccrm.store import open311

    ok(run("init", "--city", "kansas-city"))
    number = ok(run("case", "new", "--type", "pothole-north-of-river", "--description", "Hole",
                    "--attribute", "SIZE=large")).stdout.strip()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            case_id = open311.find_request(connection, number)["id"]
            assert open311.attributes_of(connection, [case_id])[case_id] == [("SIZE", "large")]
    finally:
        engine.dispose()
    user_error(run("case", "new", "--type", "pothole-north-of-river", "--description", "Hole",
                   "--attribute", "SIZE=enormous"), "attribute[SIZE]", "enormous")
    user_error(run("case", "new", "--type", "pothole-north-of-river", "--description", "Hole",
                   "--attribute", "COLOUR=red"), "has no attribute 'COLOUR'")
    user_error(run("case", "new", "--type", "pothole-north-of-river", "--description", "Hole",
                   "--attribute", "SIZE"), "--attribute: 'SIZE' must be written CODE=VALUE")


def test_init_unknown_city(run):
    user_error(run("init", "--city", "atlantis"), "atlantis", "kansas-city")


def test_commands_need_an_initialised_database(run):
    user_error(run("case", "list"), "not set up", "civiccrm init")


def test_cities(run):
    rows = as_json(run("cities", "--json"))
    kc = next(r for r in rows if r["slug"] == "kansas-city")
    assert kc["name"] == "Kansas City, Missouri" and kc["service_types"] == 793 and kc["districts"] == 6
    assert "kansas-city" in ok(run("cities")).stdout
    channels = {c["code"]: c for c in as_json(run("channels", "--json"))}
    assert {"phone", "web", "email", "walk_in"} <= set(channels)
    assert channels["email"]["outbound"] is True


def test_a_broken_city_profile_does_not_hide_the_others(run, tmp_path):
    from civiccrm import hookimpl, plugins
    from civiccrm.registries import CityProfileEntry

    broken = tmp_path / "brokenville"
    broken.mkdir()
    (broken / "profile.toml").write_text('[city]\nslug = "brokenville"\n')

    class Registers:
        @hookimpl
        def register_city_profiles(self, register):
            register(CityProfileEntry("brokenville", broken))

    plugins.pm.register(Registers(), name="test-brokenville")
    try:
        result = run("cities")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "kansas-city" in result.stdout and "tulsa" in result.stdout
        assert "brokenville" in result.stderr and "missing key taxonomy" in result.stderr
        rows = json.loads(run("cities", "--json").stdout)
        assert "missing key taxonomy" in next(r for r in rows if r["slug"] == "brokenville")["error"]
    finally:
        plugins.pm.unregister(name="test-brokenville")


def test_types_search(run):
    ok(run("init", "--city", "kansas-city"))
    rows = as_json(run("types", "--search", "trash", "--json"))
    names = {r["name"] for r in rows}
    assert "Trash - Missed by City" in names
    assert all("trash" in f"{r['code']} {r['name']} {r['category']}".lower() for r in rows)
    trash = next(r for r in rows if r["code"] == "trash-missed-by-city")
    assert trash["department"] == "public-works" and trash["sla_target"] == 4
    assert "Abandoned Vehicle" not in names
    assert "trash-missed-by-city" in ok(run("types", "--search", "TRASH")).stdout


# --- a case from the command line ----------------------------------------------------


def test_case_new_show_keeps_personal_data_out(run):
    ok(run("init", "--city", "kansas-city"))
    number = new_case(run, "--name", PII[0], "--email", PII[1], "--phone", PII[2])
    assert number.startswith(f"KC-{datetime.now(CHICAGO).year}-") and len(number) == len("KC-2026-000001")
    assert number.endswith("000001")
    assert new_case(run).endswith("000002")

    shown = ok(run("case", "show", number, "--json"))
    data = json.loads(shown.stdout)
    assert data["tracking_number"] == number
    assert data["service_code"] == "trash-missed-by-city"
    assert data["department"] == "public-works" and data["work_group"] == "public-works-solid-waste"
    assert data["council_district"] == "4"
    assert data["status"] == "new"
    assert data["has_customer"] is True
    assert datetime.fromisoformat(data["opened_at"]).utcoffset() is not None
    assert data["history"][0]["kind"] == "created" and data["history"][0]["actor"] == "tester"
    for key in ("name", "email", "phone", "customer", "customer_name"):
        assert key not in data
    for value in PII:
        assert value not in shown.output
    text = ok(run("case", "show", number)).stdout
    assert number in text and "created" in text
    for value in PII:
        assert value not in text
    listed = ok(run("case", "list", "--json"))
    for value in PII:
        assert value not in listed.output


def test_case_new_json(run):
    ok(run("init", "--city", "kansas-city"))
    data = as_json(run("case", "new", "--type", "abandoned-vehicle", "--description", "Old sedan",
                       "--channel", "web", "--address", "1 Main St", "--json"))
    assert data["service_code"] == "abandoned-vehicle" and data["channel"] == "web"
    assert data["address"] == "1 Main St" and data["has_customer"] is False


def test_case_update_close_reopen_merge(run):
    ok(run("init", "--city", "kansas-city"))
    first, second = new_case(run), new_case(run)

    moved = as_json(run("case", "update", first, "--assign", "kcpd-parking-control", "--json"))
    assert (moved["department"], moved["work_group"]) == ("kcpd", "kcpd-parking-control")
    status = ok(run("case", "update", first, "--status", "in progress", "--note", "crew sent"))
    assert status.stdout.strip() == f"{first}: in_progress"
    lat, long = DISTRICT_6
    relocated = as_json(run("case", "update", first, "--lat", str(lat), "--long", str(long),
                            "--description", "Cart at the back", "--json"))
    assert relocated["council_district"] == "6" and relocated["description"] == "Cart at the back"
    ok(run("case", "update", first, "--note", "resident called"))

    closed = ok(run("case", "close", first, "--resolution", "fixed", "--note", "emptied"))
    assert closed.stdout.strip() == f"{first}: closed (fixed)"
    reopened = as_json(run("case", "reopen", first, "--reason", "still full", "--json"))
    assert reopened["status"] == "reopened" and reopened["resolution"] is None and reopened["due_at"]

    merged = as_json(run("case", "merge", second, "--into", first, "--json"))
    assert merged["status"] == "closed" and merged["resolution"] == "duplicate"
    assert merged["duplicate_of"] == first

    history = as_json(run("case", "show", first, "--json"))["history"]
    assert [e["kind"] for e in history] == [
        "created", "assigned", "status_changed", "updated", "note", "closed", "reopened", "note"]
    assert all(e["actor"] == "tester" for e in history)
    assert history[2]["note"] == "crew sent"
    assert second in history[-1]["note"]


# --- one-line user errors ---------------------------------------------------------


def test_user_errors_are_one_line(run):
    ok(run("init", "--city", "kansas-city"))
    number = new_case(run)
    new = ("case", "new", "--description", "x")

    user_error(run(*new, "--type", "Unicorn sighting"), "Unicorn sighting", "civiccrm types")
    user_error(run(*new, "--type", "trash-missed-by-city", "--channel", "pigeon"), "pigeon", "phone")
    user_error(run(*new, "--type", "trash-missed-by-city", "--lat", "39.1"), "latitude and longitude")
    user_error(run(*new, "--type", "trash-missed-by-city", "--lat", "40.71", "--long", "-74.0"),
               "outside the city limits")
    user_error(run("case", "show", "KC-2026-999999"), "KC-2026-999999", "not found")
    user_error(run("case", "close", number), "resolution", "fixed")
    user_error(run("case", "close", number, "--resolution", "solved"), "--resolution", "solved", "fixed")
    ok(run("case", "close", number, "--resolution", "fixed"))
    user_error(run("case", "close", number, "--resolution", "fixed"), number, "already closed")
    user_error(run("case", "update", number, "--status", "in_progress"), number, "closed", "in_progress")
    user_error(run("case", "update", number, "--description", "more"), number, "closed")
    user_error(run("case", "update", number), "nothing to change")
    user_error(run("case", "list", "--from", "2026-13-01"), "--from", "2026-13-01", "2020-01-31")
    user_error(run("case", "list", "--to", "yesterday"), "--to", "yesterday")
    user_error(run("case", "list", "--from", "2026-03-02", "--to", "2026-03-01"), "--to", "before")
    user_error(run("case", "list", "--due-within", "soon"), "--due-within", "24h")
    user_error(run("case", "list", "--status", "done"), "--status", "done")
    user_error(run("case", "list", "--department", "space-agency"), "--department", "space-agency")
    user_error(run("case", "merge", number, "--into", number), "into itself")
    user_error(run("case", "reopen", number), "--reason", "why")

    # nothing above changed the case beyond the one close
    history = as_json(run("case", "show", number, "--json"))["history"]
    assert [e["kind"] for e in history] == ["created", "closed"]


def test_bad_database_url(run):
    result = CliRunner().invoke(cli, ["--db", "mysql://u@h/db", "case", "list"])
    user_error(result, "mysql", "not supported")


def test_unreachable_database_is_one_line(run, tmp_path):
    closed_port = CliRunner().invoke(cli, ["--db", "postgresql://nobody@127.0.0.1:1/civiccrm", "case", "list"])
    user_error(closed_port, "database error", "127.0.0.1")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    user_error(CliRunner().invoke(cli, ["--db", f"sqlite:///{blocked}/civiccrm.db", "case", "list"]),
               "--db", "cannot create the folder")


# --- listing and filtering ---------------------------------------------------------


@pytest.fixture
def listed_cases(fixed_sla_deployment, run):
    """Cases opened at known times: two overdue, one due within a day, one closed, one fresh.

    The time-frames are the test profile's (trash missed 4 calendar days, abandoned vehicle 5), not the
    city's business days, so "due within a day" does not depend on the weekday the suite runs on."""
    deployment = fixed_sla_deployment
    now = datetime.now(timezone.utc)

    def make(type_, channel, point, opened_at):
        location = Location(latitude=point[0], longitude=point[1]) if point else Location()
        return case_service.intake(deployment, CaseDraft(
            service_code=type_, description="test", channel=channel, location=location, opened_at=opened_at,
        )).tracking_number

    cases = {
        # 23:30 in Kansas City on 1 March is already 2 March in UTC.
        "late_evening": make("Trash - Missed by City", "phone", (39.102738, -94.600134),
                             datetime(2026, 3, 1, 23, 30, tzinfo=CHICAGO)),
        "vehicle": make("Abandoned Vehicle", "web", DISTRICT_6, datetime(2026, 3, 2, 0, 30, tzinfo=CHICAGO)),
        "closed": make("Trash - Missed by City", "phone", None, datetime(2026, 3, 3, 12, tzinfo=CHICAGO)),
        "due_soon": make("Trash - Missed by City", "email", DISTRICT_1, now - timedelta(days=3, hours=12)),
        "fresh": make("Trash - Missed by City", "phone", None, now - timedelta(minutes=5)),
    }
    case_service.close(deployment, cases["closed"], Resolution.FIXED)
    return cases


def listed(run, *args):
    return [row["tracking_number"] for row in as_json(run("case", "list", *args, "--json"))]


def test_list_filters(run, listed_cases):
    c = listed_cases
    assert set(listed(run)) == set(c.values())
    assert listed(run, "--status", "closed") == [c["closed"]]
    assert set(listed(run, "--status", "new")) == set(c.values()) - {c["closed"]}
    assert set(listed(run, "--status", "new", "--status", "closed")) == set(c.values())
    assert listed(run, "--department", "kcpd") == [c["vehicle"]]
    assert listed(run, "--department", "Public Works") == listed(run, "--department", "public-works")
    assert c["vehicle"] not in listed(run, "--department", "public-works")
    assert listed(run, "--work-group", "kcpd-parking-control") == [c["vehicle"]]
    assert listed(run, "--district", "6") == [c["vehicle"]]
    assert listed(run, "--district", "1") == [c["due_soon"]]
    assert listed(run, "--type", "Abandoned Vehicle") == [c["vehicle"]]
    assert listed(run, "--type", "abandoned-vehicle") == [c["vehicle"]]
    assert listed(run, "--channel", "web") == [c["vehicle"]]
    assert listed(run, "--channel", "email") == [c["due_soon"]]
    assert listed(run, "--department", "public-works", "--channel", "phone", "--status", "new") == [
        c["fresh"], c["late_evening"]]  # newest first


def test_list_date_range_is_inclusive_in_city_time(run, listed_cases):
    c = listed_cases
    assert listed(run, "--from", "2026-03-01", "--to", "2026-03-01") == [c["late_evening"]]
    assert listed(run, "--from", "2026-03-02", "--to", "2026-03-02") == [c["vehicle"]]
    assert listed(run, "--from", "2026-03-01", "--to", "2026-03-03") == [c["closed"], c["vehicle"], c["late_evening"]]
    assert listed(run, "--to", "2026-03-02") == [c["vehicle"], c["late_evening"]]
    assert set(listed(run, "--from", "2026-03-03")) == {c["closed"], c["due_soon"], c["fresh"]}


def test_list_overdue_and_due_within(run, listed_cases):
    c = listed_cases
    assert listed(run, "--overdue") == [c["late_evening"], c["vehicle"]]  # most overdue first
    overdue_rows = as_json(run("case", "list", "--overdue", "--json"))
    assert all(r["overdue"] and r["remaining"].endswith("overdue") for r in overdue_rows)

    soon = listed(run, "--due-within", "24h")
    assert c["due_soon"] in soon
    assert c["fresh"] not in soon and c["closed"] not in soon
    assert c["due_soon"] not in listed(run, "--due-within", "6h")
    assert c["fresh"] in listed(run, "--due-within", "5d")
    row = next(r for r in as_json(run("case", "list", "--due-within", "24h", "--json"))
               if r["tracking_number"] == c["due_soon"])
    assert row["overdue"] is False and row["remaining"].endswith("left")


def test_list_text_output_and_no_match(run, listed_cases):
    text = ok(run("case", "list", "--overdue")).stdout
    assert listed_cases["late_evening"] in text and listed_cases["fresh"] not in text
    empty = ok(run("case", "list", "--district", "3"))
    assert empty.stdout == "" and "no cases match" in empty.stderr
    assert as_json(run("case", "list", "--district", "3", "--json")) == []


def test_list_limit_and_offset(run, listed_cases):
    everything = listed(run)
    assert listed(run, "--limit", "2") == everything[:2]
    assert listed(run, "--limit", "2", "--offset", "2") == everything[2:4]


def test_serve_refuses_a_port_in_use_in_one_line(tmp_path):
    import socket

    url = f"sqlite:///{tmp_path / 'civiccrm.db'}"
    ok(CliRunner().invoke(cli, ["--db", url, "init", "--city", "kansas-city"]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--db", url, "serve", "--port", str(port)])
    user_error(result, "--port", str(port), "in use")


def test_the_command_line_imports_the_heavy_libraries_only_when_a_command_needs_them():
    """Each CLI command and each web worker is a new process: SQLAlchemy (with the tables) and numpy
    are imported by the commands that use them; loading the plugins and the web app imports neither
    matplotlib (the first chart does), httpx (the first outgoing call) nor alembic (init_deployment)."""
    import subprocess
    import sys

    probe = ("import sys; sys._civiccrm_test_run = True; import civiccrm.cli; "
             "print(sorted(m for m in ('sqlalchemy', 'numpy') if m in sys.modules)); "
             "from civiccrm import plugins; plugins.load_plugins(); import civiccrm.web.server; "
             "print(sorted(m for m in ('matplotlib', 'httpx', 'alembic') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split("\n")[:2] == ["[]", "[]"]
