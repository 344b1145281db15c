"""City profiles shipped with CivicCRM: every sub-folder holding a profile.toml."""

from pathlib import Path

from civiccrm import hookimpl
from civiccrm.registries import CityProfileEntry

HERE = Path(__file__).resolve().parent


@hookimpl
def register_city_profiles(register):
    for folder in sorted(HERE.iterdir()):
        if (folder / "profile.toml").is_file():
            register(CityProfileEntry(folder.name.replace("_", "-"), folder))
