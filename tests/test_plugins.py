"""The plugin system: decision, event and collection hooks, discovery, and an outside plugin."""

import fcntl
import importlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import civiccrm
from civiccrm import hookimpl, plugins
from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Location, Resolution, Routing
from civiccrm.registries import Channel, CityProfileEntry
from civiccrm.errors import CivicError
from civiccrm.services import cases

TESTS = Path(__file__).resolve().parent
SPRINGFIELD = TESTS / "data" / "cities" / "springfield"
HELLO_SOURCE = TESTS / "plugins" / "civiccrm-hello"

# Two Kansas City service types with different owners.
POTHOLE = "pothole-north-of-river"
DEAD_ANIMAL = "animals-pets-dead-animal-street"
OPENED_AT = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in Kansas City


@contextmanager
def registered(plugin, name):
    """Register ``plugin`` on the shared plugin manager for the duration of the block."""
    pm = plugins.load_plugins()
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(name=name)


def draft(service_code, **kwargs):
    return CaseDraft(service_code=service_code, description="Something to fix", channel="phone",
                     opened_at=OPENED_AT, **kwargs)


def test_kansas_city_types_used_here_have_different_owners():
    from civiccrm.profiles import load_profile

    types = load_profile(plugins.city_folders()["kansas-city"]).taxonomy.service_types
    assert types[POTHOLE].work_group != types[DEAD_ANIMAL].work_group
    assert types[POTHOLE].work_group != "city-managers-office-311-field-staff"


# --- decision hooks ----------------------------------------------------------------


class FieldStaffRouting:
    """Send potholes to the 311 field staff; no opinion about anything else."""

    @hookimpl
    def route_case(self, draft, service_type, profile):
        if service_type.code == POTHOLE:
            return Routing(department="city-managers-office", work_group="city-managers-office-311-field-staff")
        return None


def test_a_plugin_changes_routing_for_one_service_type(deployment):
    owner = deployment.profile.taxonomy.service_types[DEAD_ANIMAL]
    with registered(FieldStaffRouting(), "test-field-staff-routing"):
        pothole = cases.intake(deployment, draft(POTHOLE))
        animal = cases.intake(deployment, draft(DEAD_ANIMAL))
    after = cases.intake(deployment, draft(POTHOLE))

    stored = cases.get(deployment, pothole.tracking_number)
    assert (stored.department, stored.work_group) == ("city-managers-office", "city-managers-office-311-field-staff")
    created = cases.history(deployment, pothole.tracking_number)[0]
    assert created.changes["work_group"] == [None, "city-managers-office-311-field-staff"]
    assert (animal.department, animal.work_group) == (owner.department, owner.work_group)
    assert after.work_group == deployment.profile.taxonomy.service_types[POTHOLE].work_group


class DistrictStreetCrews:
    """The docs' example: dead animals on a street in council district 2 go to that district's street crew."""

    @hookimpl
    def route_case(self, draft, service_type):
        if service_type.code == DEAD_ANIMAL and draft.location.council_district == "2":
            return Routing(department="public-works", work_group="public-works-street-and-traffic-district-2")
        return None


def test_route_case_sees_the_council_district_of_the_point(deployment):
    """Issue 9 defect: route_case was given the draft before its location was resolved (no district)."""
    with registered(DistrictStreetCrews(), "test-district-crews"):
        in_two = cases.intake(deployment, draft(DEAD_ANIMAL, location=Location(latitude=39.2, longitude=-94.64)))
        in_four = cases.intake(deployment, draft(DEAD_ANIMAL, location=Location(latitude=39.102738,
                                                                                longitude=-94.600134)))
    assert in_two.location.council_district == "2"
    assert (in_two.department, in_two.work_group) == ("public-works", "public-works-street-and-traffic-district-2")
    assert in_four.work_group == deployment.profile.taxonomy.service_types[DEAD_ANIMAL].work_group


class NotARouting:
    @hookimpl
    def route_case(self, service_type):
        return {"department": "public-works"}


def test_a_routing_that_is_not_a_routing_is_refused(deployment):
    with registered(NotARouting(), "test-bad-routing"), pytest.raises(CivicError, match="must return a Routing"):
        cases.intake(deployment, draft(POTHOLE))


class UrgentPotholes:
    """A priority rule: potholes are due four hours after they are reported."""

    @hookimpl
    def compute_due_at(self, opened_at, service_type):
        if service_type.code == POTHOLE:
            return opened_at + timedelta(hours=4)
        return None


def test_a_plugin_overrides_the_due_time(fixed_sla_deployment):
    """On the test profile's time-frames (pothole 8, dead animal 3 calendar days), not the city's."""
    deployment = fixed_sla_deployment
    core_due = cases.intake(deployment, draft(POTHOLE)).due_at
    with registered(UrgentPotholes(), "test-urgent-potholes"):
        urgent = cases.intake(deployment, draft(POTHOLE))
        animal = cases.intake(deployment, draft(DEAD_ANIMAL))

    assert cases.get(deployment, urgent.tracking_number).due_at == OPENED_AT + timedelta(hours=4)
    assert core_due > OPENED_AT + timedelta(days=1)
    assert animal.due_at > OPENED_AT + timedelta(days=1)


# --- event hooks ---------------------------------------------------------------


class Broken:
    @hookimpl
    def case_created(self, case, event):
        raise RuntimeError("work order system is down")

    @hookimpl
    def case_closed(self, case):
        raise RuntimeError("survey mailer is down")


class Witness:
    def __init__(self):
        self.seen = []

    @hookimpl
    def case_created(self, case, event):
        self.seen.append(("created", case.tracking_number, event.kind))

    @hookimpl
    def case_closed(self, case, event):
        self.seen.append(("closed", case.tracking_number, event.kind))


def test_a_failing_event_hook_never_loses_the_case(deployment, caplog):
    witness = Witness()
    caplog.set_level(logging.ERROR, logger="civiccrm.services.events")
    # Registered first, so pluggy calls it after the broken plugin.
    with registered(witness, "test-witness"), registered(Broken(), "test-broken"):
        created = cases.intake(deployment, draft(POTHOLE))
        closed = cases.close(deployment, created.tracking_number, Resolution.FIXED)

    stored = cases.get(deployment, created.tracking_number)
    assert stored.status.value == "closed" and stored.resolution is Resolution.FIXED
    assert witness.seen == [("created", created.tracking_number, "created"),
                            ("closed", closed.tracking_number, "closed")]

    events = cases.history(deployment, created.tracking_number)
    assert [e.kind for e in events] == ["created", "hook_failed", "closed", "hook_failed"]
    failures = [e for e in events if e.kind == "hook_failed"]
    assert [(f.changes["plugin"], f.changes["hook"], f.changes["event"]["kind"]) for f in failures] == [
        ("test-broken", "case_created", "created"), ("test-broken", "case_closed", "closed")]
    assert "work order system is down" in failures[0].note
    assert "survey mailer is down" in failures[1].note

    logged = [r for r in caplog.records if r.name == "civiccrm.services.events" and r.levelno == logging.ERROR]
    assert len(logged) == 2
    assert all("test-broken" in r.getMessage() and created.tracking_number in r.getMessage() for r in logged)
    assert logged[0].exc_info[1].args == ("work order system is down",)


def test_event_hooks_run_after_the_commit(deployment):
    seen_in_database = []

    class Reader:
        @hookimpl
        def case_created(self, case):
            seen_in_database.append(cases.get(deployment, case.tracking_number).tracking_number)

    with registered(Reader(), "test-reader"):
        created = cases.intake(deployment, draft(POTHOLE))
    assert seen_in_database == [created.tracking_number]


# --- discovery ------------------------------------------------------------------


class Misspelled:
    @hookimpl
    def case_creatd(self, case, event):
        pass


def test_a_misspelled_hook_fails_loudly():
    plugins.check_plugins()
    with registered(Misspelled(), "test-misspelled"):
        with pytest.raises(CivicError, match="unknown hook 'case_creatd'"):
            plugins.check_plugins()
    plugins.check_plugins()


#: Every decision hook, each answered last by the core.
CORE_DEFAULTS = ("actor_from_request", "classify_inbound", "compute_due_at", "geocode", "permission_allowed",
                 "render_notification", "route_case")


def test_plugins_command_lists_default_plugins_with_versions_and_hooks():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = {line.split(" ")[0]: line for line in result.output.splitlines()}
    for name in plugins.DEFAULT_PLUGINS:
        assert f"(civiccrm {civiccrm.__version__})" in lines[name]
    assert lines["civiccrm_plugins.core"].endswith(": " + ", ".join(CORE_DEFAULTS))
    assert lines["civiccrm_plugins.channels"].endswith(": register_channels, register_deliverers")

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(plugins.DEFAULT_PLUGINS) <= set(rows)
    assert rows["civiccrm_plugins.core"] == {
        "name": "civiccrm_plugins.core", "package": "civiccrm", "version": civiccrm.__version__,
        "hooks": list(CORE_DEFAULTS),
    }


def test_plugins_command_shows_a_plugin_registered_at_run_time():
    with registered(UrgentPotholes(), "test-urgent-potholes"):
        result = CliRunner().invoke(cli, ["plugins", "--json"])
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["test-urgent-potholes"]["hooks"] == ["compute_due_at"]
    assert "test-urgent-potholes" not in CliRunner().invoke(cli, ["plugins"]).output


# --- collection hooks ---------------------------------------------------------------


class SecondPhone:
    @hookimpl
    def register_channels(self, register):
        register(Channel("phone", "Another phone line"))


def test_two_plugins_cannot_register_the_same_channel():
    assert "phone" in plugins.channels()
    with registered(SecondPhone(), "test-second-phone"):
        with pytest.raises(CivicError, match="two plugins register the channel 'phone'"):
            plugins.channels()
        result = CliRunner().invoke(cli, ["channels"])
        assert result.exit_code == 1
        assert "two plugins register the channel 'phone'" in result.output


class RegistersAString:
    @hookimpl
    def register_channels(self, register):
        register("pigeon")


def test_a_channel_must_be_a_channel():
    with registered(RegistersAString(), "test-string-channel"):
        with pytest.raises(CivicError, match="register takes one civiccrm.registries.Channel, got 'pigeon'"):
            plugins.channels()


class Springfield:
    @hookimpl
    def register_city_profiles(self, register):
        register(CityProfileEntry("springfield", SPRINGFIELD))


def test_a_third_city_needs_only_a_folder(database_url):
    from civiccrm.services.deployment import init_deployment

    with pytest.raises(CivicError, match="no city profile 'springfield'"):
        init_deployment(database_url, "springfield")
    with registered(Springfield(), "test-springfield"):
        result = CliRunner().invoke(cli, ["cities", "--json"])
        assert result.exit_code == 0, result.output
        listed = {row["slug"]: row for row in json.loads(result.output)}
        assert listed["springfield"]["name"] == "Springfield"
        assert listed["springfield"]["service_types"] == 2
        assert "kansas-city" in listed
        assert "Springfield (America/New_York" in CliRunner().invoke(cli, ["cities"]).output

        deployment = init_deployment(database_url, "springfield")
        try:
            case = cases.intake(deployment, CaseDraft(
                service_code="Pothole", description="Deep one on Evergreen Terrace", channel="web",
                opened_at=OPENED_AT,
            ))
            assert case.tracking_number == "SPR-2026-000001"
            assert (case.department, case.work_group) == ("public-works", None)
            # Three business days on City Hall's calendar (weekdays 09:00-17:00).
            assert cases.get(deployment, case.tracking_number).due_at > OPENED_AT + timedelta(days=2)
            with pytest.raises(CivicError, match="channel: 'sms' is not a channel of Springfield; expected one of phone, web"):
                cases.intake(deployment, CaseDraft(service_code="pothole", description="x", channel="sms"))
        finally:
            deployment.engine.dispose()
    assert "springfield" not in CliRunner().invoke(cli, ["cities"]).output


# --- a plugin packaged outside the source tree ------------------------------------------


@pytest.fixture(scope="module")
def hello_installed(tmp_path_factory):
    """Install tests/plugins/civiccrm-hello into this environment while this module's tests run.

    The environment may be shared by several test runs at once, so a lock on a file in it
    lets one run install, use and uninstall the plugin before the next one does.
    """
    source = tmp_path_factory.mktemp("hello") / "civiccrm-hello"
    shutil.copytree(HELLO_SOURCE, source)  # builds write into the source folder; keep the repository clean
    pip = [sys.executable, "-m", "pip"]
    with open(Path(sys.prefix) / ".civiccrm-hello-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-q", str(source)],
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            pytest.fail(f"pip could not install {HELLO_SOURCE}:\n{installed.stderr[-3000:]}", pytrace=False)
        importlib.invalidate_caches()
        try:
            yield "civiccrm-hello"
        finally:
            subprocess.run([*pip, "uninstall", "-y", "-q", "civiccrm-hello"], check=True, capture_output=True)
            importlib.invalidate_caches()


def run_civiccrm(*args, cwd):
    """Run the command line in a fresh interpreter, which reads the installed entry points."""
    env = {k: v for k, v in os.environ.items() if k != "CIVICCRM_DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "civiccrm.cli", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_installed_plugin_is_found_with_no_core_change(hello_installed, tmp_path):
    rows = {row["name"]: row for row in json.loads(run_civiccrm("plugins", "--json", cwd=tmp_path))}
    assert rows["hello"] == {
        "name": "hello", "package": "civiccrm-hello", "version": "0.3.0",
        "hooks": ["register_channels", "register_city_profiles", "register_commands"],
    }
    assert "carrier_pigeon" in run_civiccrm("channels", cwd=tmp_path)
    assert run_civiccrm("hello", "Springfield", cwd=tmp_path) == "Hello, Springfield, from civiccrm-hello!\n"
    assert "shelbyville          Shelbyville (America/Chicago, 1 service types" in run_civiccrm("cities", cwd=tmp_path)

    db = f"sqlite:///{tmp_path / 'shelbyville.db'}"
    run_civiccrm("--db", db, "init", "--city", "shelbyville", cwd=tmp_path)
    number = run_civiccrm("--db", db, "case", "new", "--type", "lemon-tree-down", "--channel", "carrier_pigeon",
                          "--description", "The lemon tree is down", cwd=tmp_path).strip()
    assert re.fullmatch(r"SHV-\d{4}-000001", number)

    # In this process the test run keeps installed plugins out until asked for.
    pm = plugins.load_plugins()
    assert pm.get_plugin("hello") is None
    before = set(pm.list_name_plugin())
    plugins.load_entry_point_plugins()
    try:
        hello = pm.get_plugin("hello")
        assert hello is not None and hello.__name__ == "civiccrm_hello"
        assert "carrier_pigeon" in plugins.channels()
        assert plugins.city_folders()["shelbyville"].name == "shelbyville"
    finally:
        for name, plugin in set(pm.list_name_plugin()) - before:
            pm.unregister(plugin, name=name)
    assert "carrier_pigeon" not in plugins.channels()
