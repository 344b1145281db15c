"""SLA settings in a city profile: the shipped Kansas City versions, and bad input refused with
the file, key or line and what was expected."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from profile_helpers import KC, copy_kansas_city, edit, load_error

from civiccrm.domain.cases import CaseDraft
from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def city(tmp_path) -> Path:
    return copy_kansas_city(tmp_path)


def policies(folder: Path, *lines: str) -> None:
    (folder / "sla_policies.csv").write_text(
        "service_code,effective_from,target,basis,note\n" + "".join(line + "\n" for line in lines), encoding="utf-8")


def test_kansas_city_holds_types_to_the_refit_versions():
    """The refit (docs/kansas-city-timeframes.md): business days on the city's calendar, with the dates
    the city's own verdicts show it changed a type's time-frame (July 2015 and others)."""
    profile = load_profile(KC)
    pv = profile.taxonomy.service_types["property-violations"]
    before = profile.sla_policy(pv, datetime(2014, 8, 1, 12, tzinfo=CHICAGO))
    after = profile.sla_policy(pv, datetime(2015, 7, 1, 0, 0, tzinfo=CHICAGO))
    assert (before.target, before.basis, before.calendar) == (60, "business_days", "city-business-days")
    assert after.target == 6 and after.effective_from.isoformat() == "2015-07-01"
    # The day before the reset, in Kansas City's time (already 1 July in UTC), is still the old version.
    assert profile.sla_policy(pv, datetime(2015, 6, 30, 23, 30, tzinfo=CHICAGO)).target == 55
    assert profile.sla_policy(pv, datetime(2016, 1, 4, 9, tzinfo=CHICAGO)).target == 16
    vehicle = profile.taxonomy.service_types["abandoned-vehicle"]
    assert profile.sla_policy(vehicle, datetime(2008, 1, 1, tzinfo=CHICAGO)).target == 5
    assert profile.sla_policy(vehicle, datetime(2010, 6, 1, tzinfo=CHICAGO)).target == 1
    assert profile.sla.warning.total_seconds() == 24 * 3600
    assert {"action-center", "field-crews", "city-business-days"} <= set(profile.calendars)
    days = profile.calendars["city-business-days"]
    # weekdays, the federal holidays among them (the city's verdicts count them), not weekends
    assert days.intervals_on(datetime(2019, 7, 4).date()) and days.intervals_on(datetime(2019, 7, 6).date()) == ()


def test_overlapping_hours_are_refused(city):
    edit(city / "profile.toml", 'hours.monday = ["07:00-11:30", "12:00-15:30"]', 'hours.monday = ["07:00-12:30", "12:00-15:30"]')
    message = load_error(city)
    assert "profile.toml" in message and "calendars.field-crews.hours.monday" in message and "overlap" in message


@pytest.mark.parametrize("table, key", [
    ('{ country = "XX" }', "'XX'"),
    ('{ country = "US", subdivision = "ZZ" }', "'ZZ'"),
])
def test_a_holiday_set_unknown_to_holidays_is_refused(city, table, key):
    edit(city / "profile.toml", 'name = "Public Works field crews"\nholidays = { country = "US" }',
         f'name = "Public Works field crews"\nholidays = {table}')
    message = load_error(city)
    assert "profile.toml" in message and "calendars.field-crews.holidays" in message and key in message


@pytest.mark.parametrize("target", ["0", "-3", "soon", "nan"])
def test_a_zero_or_negative_target_is_refused_with_its_line(city, target):
    policies(city, "abandoned-vehicle,,4,calendar_days,", f"abandoned-vehicle,2015-07-01,{target},calendar_days,")
    message = load_error(city)
    assert "sla_policies.csv: line 3: target" in message and "greater than 0" in message


def test_a_zero_target_in_service_types_is_refused(city):
    edit(city / "service_types.csv", "abandoned-vehicle,Abandoned Vehicle,Vehicle,Abandoned,All,kcpd,kcpd-parking-control,5,",
         "abandoned-vehicle,Abandoned Vehicle,Vehicle,Abandoned,All,kcpd,kcpd-parking-control,0,")
    message = load_error(city)
    assert "service_types.csv: line 2" in message and "greater than 0" in message


@pytest.mark.parametrize("line, expected", [
    ("no-such-type,,4,calendar_days,", "service_code 'no-such-type' is not a service type"),
    ("abandoned-vehicle,01/07/2015,4,calendar_days,", "effective_from: '01/07/2015' is not a date like 2015-07-01"),
    ("abandoned-vehicle,,4,fortnights,", "basis: 'fortnights'; expected one of calendar_days, business_days, business_hours"),
])
def test_bad_policy_rows_name_the_line(city, line, expected):
    policies(city, line)
    message = load_error(city)
    assert "sla_policies.csv: line 2" in message and expected in message


def test_a_duplicate_version_names_both_lines(city):
    policies(city, "abandoned-vehicle,2015-07-01,4,calendar_days,", "abandoned-vehicle,2015-07-01,5,calendar_days,")
    message = load_error(city)
    assert "line 3" in message and "first on line 2" in message


def test_unknown_sla_key_and_bad_warning(city):
    edit(city / "profile.toml", 'warning = "24h"', 'warning = "a day"')
    assert "sla.warning" in load_error(city)
    edit(city / "profile.toml", 'warning = "a day"', 'warnings = "24h"')
    message = load_error(city)
    assert "sla.'warnings'" in message and "policies" in message


def test_bad_pause_status_and_clock_start(city):
    edit(city / "profile.toml", 'pause_statuses = ["on_hold", "waiting"]', 'pause_statuses = ["closed"]')
    message = load_error(city)
    assert "sla.pause_statuses" in message and "'closed'" in message and "on_hold" in message
    edit(city / "profile.toml", 'pause_statuses = ["closed"]', 'pause_statuses = ["on_hold"]')
    edit(city / "profile.toml", 'clock_start = "receipt"', 'clock_start = "dawn"')
    assert "sla.clock_start: 'dawn'; expected receipt or next_opening" in load_error(city)


def test_a_case_opened_before_any_version_is_refused(city, tmp_path):
    policies(city, "abandoned-vehicle,2015-07-01,4,calendar_days,")
    profile = load_profile(city)
    st = profile.taxonomy.service_types["abandoned-vehicle"]
    with pytest.raises(CivicError) as info:
        profile.sla_policy(st, datetime(2015, 6, 30, 23, 0, tzinfo=CHICAGO))
    message = str(info.value)
    assert "'abandoned-vehicle'" in message and "2015-06-30" in message
    assert "sla_policies.csv line 2" in message and "expected a version with an earlier or empty effective_from" in message
    assert profile.sla_policy(st, datetime(2015, 7, 1, 0, 0, tzinfo=CHICAGO)).target == 4

    from civiccrm.services import cases as case_service
    from civiccrm.services.deployment import init_deployment

    dep = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", str(city))
    try:
        with pytest.raises(CivicError, match="no SLA policy version in force on 2015-06-30"):
            case_service.intake(dep, CaseDraft(service_code="abandoned-vehicle", description="old", channel="phone",
                                               opened_at=datetime(2015, 6, 30, 12, tzinfo=CHICAGO)))
        case = case_service.intake(dep, CaseDraft(service_code="abandoned-vehicle", description="new", channel="phone",
                                                  opened_at=datetime(2015, 7, 2, 12, tzinfo=CHICAGO)))
        assert case.due_at == datetime(2015, 7, 6, 12, tzinfo=CHICAGO)
    finally:
        dep.engine.dispose()
