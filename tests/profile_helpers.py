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
