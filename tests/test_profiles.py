"""Loading a city profile folder: the shipped Kansas City profile, and every kind of mistake a city can make."""

from pathlib import Path

import pytest
from profile_helpers import KC, copy_kansas_city, edit, load_error

from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile


@pytest.fixture
def city(tmp_path) -> Path:
    return copy_kansas_city(tmp_path)


def append_line(path: Path, line: str) -> int:
    """Append a CSV line and return its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    text += line + "\n"
    path.write_text(text, encoding="utf-8")
    return text.count("\n")


# --- the shipped profile ------------------------------------------------------


def test_kansas_city_profile_loads():
    profile = load_profile(KC)
    assert profile.slug == "kansas-city"
    assert profile.timezone == "America/Chicago"
    assert profile.tracking_prefix == "KC"
    assert profile.fiscal_year_start == (5, 1)
    assert len(profile.taxonomy.service_types) == 793
    trash = profile.service_type("Trash - Missed by City")
    assert trash.code == "trash-missed-by-city"
    assert trash.department == "public-works"
    assert trash.work_group == "public-works-solid-waste"
    assert profile.service_type("TRASH-MISSED-BY-CITY") == trash
    assert [d.id for d in profile.city_map.districts] == ["1", "2", "3", "4", "5", "6"]
    assert "phone" in profile.channels and "sms" not in profile.channels


def test_unknown_service_type_names_what_was_asked(city):
    profile = load_profile(city)
    with pytest.raises(CivicError, match="no service type 'Pothole on the moon'"):
        profile.service_type("Pothole on the moon")


def test_copy_of_profile_loads_unchanged(city):
    assert len(load_profile(city).taxonomy.service_types) == 793


# --- profile.toml ------------------------------------------------------------


def test_unknown_key_names_file_and_key(city):
    edit(city / "profile.toml", 'tracking_prefix = "KC"', 'tracking_prefix = "KC"\ncolour = "blue"')
    message = load_error(city)
    assert "profile.toml" in message
    assert "colour" in message
    assert "expected one of" in message and "tracking_prefix" in message


def test_unknown_top_level_table(city):
    path = city / "profile.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[weather]\nrain = true\n", encoding="utf-8")
    message = load_error(city)
    assert "profile.toml" in message and "weather" in message


def test_wrong_type_of_value(city):
    edit(city / "profile.toml", 'languages = ["en", "es"]', 'languages = "en"')
    message = load_error(city)
    assert "profile.toml" in message and "languages" in message and "list" in message


def test_invalid_toml_gives_line_number(city):
    path = city / "profile.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    broken_line = lines.index('name = "311 Action Center"') + 1
    lines[broken_line - 1] = 'name = "311 Action Center'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = load_error(city)
    assert "profile.toml" in message
    assert "TOML" in message
    assert f"line {broken_line}" in message


def test_missing_profile_file(tmp_path):
    message = load_error(tmp_path)
    assert "profile.toml" in message and "cannot read" in message


@pytest.mark.parametrize("bad", ["7:00-25:00", "07:00-25:00", "seven-eight", "07:00"])
def test_bad_opening_time(city, bad):
    edit(city / "profile.toml", 'hours.monday = ["07:00-20:00"]', f'hours.monday = ["{bad}"]')
    message = load_error(city)
    assert "profile.toml" in message
    assert "hours.monday" in message
    assert bad in message
    assert "07:00-20:00" in message  # says what was expected


def test_reversed_interval(city):
    edit(city / "profile.toml", 'hours.tuesday = ["07:00-20:00"]', 'hours.tuesday = ["20:00-07:00"]')
    message = load_error(city)
    assert "profile.toml" in message and "hours.tuesday" in message
    assert "20:00-07:00" in message and "ends before it starts" in message


def test_empty_interval_is_refused(city):
    edit(city / "profile.toml", 'hours.tuesday = ["07:00-20:00"]', 'hours.tuesday = ["09:00-09:00"]')
    assert "hours.tuesday" in load_error(city)


def test_overlapping_intervals(city):
    edit(city / "profile.toml", 'hours.friday = ["07:00-20:00"]', 'hours.friday = ["12:00-20:00", "07:00-13:00"]')
    message = load_error(city)
    assert "profile.toml" in message and "hours.friday" in message
    assert "07:00-13:00" in message and "12:00-20:00" in message and "overlap" in message


def test_touching_intervals_are_fine(city):
    edit(city / "profile.toml", 'hours.friday = ["07:00-20:00"]', 'hours.friday = ["13:00-20:00", "07:00-13:00"]')
    profile = load_profile(city)
    friday = profile.calendars["action-center"].hours[4]
    assert [f"{s:%H:%M}-{e:%H:%M}" for s, e in friday] == ["07:00-13:00", "13:00-20:00"]


def test_unknown_weekday(city):
    edit(city / "profile.toml", "hours.sunday =", "hours.funday =")
    message = load_error(city)
    assert "profile.toml" in message and "funday" in message and "monday" in message


def test_opening_hours_must_be_text(city):
    edit(city / "profile.toml", 'hours.monday = ["07:00-20:00"]', "hours.monday = [7]")
    message = load_error(city)
    assert "profile.toml" in message and "hours.monday" in message


def test_bad_timezone(city):
    edit(city / "profile.toml", 'timezone = "America/Chicago"', 'timezone = "Mars/Olympus_Mons"')
    message = load_error(city)
    assert "profile.toml" in message and "city.timezone" in message
    assert "Mars/Olympus_Mons" in message and "IANA" in message


def test_unknown_holiday_country(city):
    edit(city / "profile.toml", 'holidays = { country = "US" }', 'holidays = { country = "XX" }')
    message = load_error(city)
    assert "profile.toml" in message
    assert "calendars.action-center.holidays" in message and "'XX'" in message


def test_bad_fiscal_year_start(city):
    edit(city / "profile.toml", 'fiscal_year_start = "05-01"', 'fiscal_year_start = "13-01"')
    message = load_error(city)
    assert "fiscal_year_start" in message and "13-01" in message


def test_survey_acceptable_outside_scale(city):
    edit(city / "profile.toml", "scale = [1, 5]\nacceptable = 3", "scale = [1, 5]\nacceptable = 9")
    message = load_error(city)
    assert "profile.toml" in message and "acceptable" in message and "1-5" in message


# --- taxonomy CSVs -----------------------------------------------------------


def test_duplicate_service_type_code_names_file_and_line(city):
    path = city / "service_types.csv"
    line = append_line(path, "abandoned-vehicle,Abandoned Vehicle Again,Vehicle,Abandoned,Again,kcpd,,5,,,")
    message = load_error(city)
    assert "service_types.csv" in message
    assert f"line {line}" in message
    assert "duplicate" in message and "abandoned-vehicle" in message
    assert "line 2" in message  # where the first one is


def test_duplicate_service_type_name(city):
    path = city / "service_types.csv"
    line = append_line(path, "abandoned-vehicle-2,abandoned vehicle,Vehicle,Abandoned,All,kcpd,,5,,,")
    message = load_error(city)
    assert "service_types.csv" in message and f"line {line}" in message and "duplicate" in message


def test_unknown_department_in_service_types(city):
    path = city / "service_types.csv"
    line = append_line(path, "moon-dust,Moon Dust,Space,Dust,All,space-agency,,5,,,")
    message = load_error(city)
    assert "service_types.csv" in message and f"line {line}" in message
    assert "space-agency" in message and "departments.csv" in message


def test_unknown_work_group_in_service_types(city):
    path = city / "service_types.csv"
    line = append_line(path, "moon-dust,Moon Dust,Space,Dust,All,kcpd,kcpd-moon-patrol,5,,,")
    message = load_error(city)
    assert "service_types.csv" in message and f"line {line}" in message and "kcpd-moon-patrol" in message


@pytest.mark.parametrize("days", ["soon", "0", "-3", "nan", "inf"])
def test_sla_days_must_be_a_positive_number(city, days):
    path = city / "service_types.csv"
    line = append_line(path, f"moon-dust,Moon Dust,Space,Dust,All,kcpd,,{days},,,")
    message = load_error(city)
    assert "service_types.csv" in message and f"line {line}" in message
    assert "sla_days" in message and days in message


def test_blank_sla_days_uses_default(city):
    path = city / "service_types.csv"
    append_line(path, "moon-dust,Moon Dust,Space,Dust,All,kcpd,,,,,")
    moon = load_profile(city).taxonomy.service_types["moon-dust"]
    assert moon.sla_target == 8  # default_sla_days in profile.toml
    assert moon.sla_source == "default"


def test_unknown_csv_column(city):
    path = city / "service_types.csv"
    text = path.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path.write_text(header + ",colour\n" + rest, encoding="utf-8")
    message = load_error(city)
    assert "service_types.csv" in message and "line 1" in message
    assert "colour" in message and "expected" in message


def test_missing_csv_column(city):
    path = city / "departments.csv"
    path.write_text("code\npublic-works\n", encoding="utf-8")
    message = load_error(city)
    assert "departments.csv" in message and "line 1" in message and "name" in message


def test_bad_code_in_departments(city):
    path = city / "departments.csv"
    line = append_line(path, "Public Works!,Shouting")
    message = load_error(city)
    assert "departments.csv" in message and f"line {line}" in message and "Public Works!" in message


def test_work_group_of_unknown_department(city):
    path = city / "work_groups.csv"
    line = append_line(path, "moon-patrol,Moon Patrol,space-agency")
    message = load_error(city)
    assert "work_groups.csv" in message and f"line {line}" in message and "space-agency" in message


def test_missing_csv_file(city):
    (city / "work_groups.csv").unlink()
    message = load_error(city)
    assert "work_groups.csv" in message and "cannot read" in message


def test_a_row_with_more_fields_than_the_header_names_its_line(city):
    line = append_line(city / "departments.csv", "parks-2,Parks, and Rec")
    message = load_error(city)
    assert "departments.csv" in message and f"line {line}" in message and "3 fields for 2 columns" in message


def test_a_csv_saved_in_windows_1252_reads_as_the_import_reads_it(tmp_path):
    """A spreadsheet's Latin-1 / Windows-1252 export of a profile CSV loads: the accents survive."""
    folder = copy_kansas_city(tmp_path)
    path = folder / "departments.csv"
    text = path.read_text(encoding="utf-8").replace("aviation,Aviation", "aviation,Aviación – Airports")
    path.write_bytes(text.encode("cp1252"))
    profile = load_profile(folder)
    assert profile.taxonomy.departments["aviation"].name == "Aviación – Airports"


def test_a_byte_neither_utf8_nor_windows_1252_is_refused_with_file_and_line(tmp_path):
    folder = copy_kansas_city(tmp_path)
    path = folder / "departments.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2] + b"\x81"
    path.write_bytes(b"\n".join(lines))
    message = load_error(folder)
    assert f"{path}: line 3: byte 0x81 is neither UTF-8 nor Windows-1252" in message
