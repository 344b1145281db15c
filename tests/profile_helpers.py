"""Helpers for tests that break a private copy of a city profile and check the error."""

import shutil
from pathlib import Path

import pytest

from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile

KC = Path(__file__).resolve().parents[1] / "cities" / "kansas_city"


def copy_kansas_city(tmp_path: Path) -> Path:
    """A private copy of the Kansas City profile folder that a test may break."""
    folder = tmp_path / "kc"
    shutil.copytree(KC, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}; the fixture no longer matches the shipped profile"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load_error(folder: Path) -> str:
    with pytest.raises(CivicError) as info:
        load_profile(folder)
    return str(info.value)


# The time-frames the SLA engine's own tests are written around (the ones Kansas City's profile
# had before the refit of the city's verdicts): calendar days on the call centre's calendar, which
# keeps US federal holidays and opening hours for the business-hours versions a test adds.
# Kansas City's real time-frames (business days, changed at dates) are tested in test_sla_profile.py
# and test_kc_refit.py; these tests stay put when the city's data is refitted again.
FIXED_SLA_POLICIES = """\
service_code,effective_from,target,basis,calendar,note
abandoned-vehicle,,5,calendar_days,action-center,test profile: 5 calendar days
action-center-escalation,,14,calendar_days,action-center,test profile: 14 calendar days
trash-missed-by-city,,4,calendar_days,action-center,test profile: 4 calendar days
pothole-north-of-river,,8,calendar_days,action-center,test profile: 8 calendar days
animals-pets-dead-animal-street,,3,calendar_days,action-center,test profile: 3 calendar days
"""
FIXED_SLA_SLUG = "kansas-city-fixed-sla"


def fixed_sla_profile(tmp_path: Path, policies: str = FIXED_SLA_POLICIES) -> Path:
    """A copy of the Kansas City profile whose sla_policies.csv the test owns (``policies``).

    Service types the CSV does not list keep service_types.csv's ``sla_days`` in calendar days on the
    default calendar. The slug differs from the shipped profile's, so a command that opens the
    database later (``civiccrm --db URL ...``) finds this folder, not the shipped one.
    """
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", 'slug = "kansas-city"', f'slug = "{FIXED_SLA_SLUG}"')
    (folder / "sla_policies.csv").write_text(policies, encoding="utf-8")
    return folder
