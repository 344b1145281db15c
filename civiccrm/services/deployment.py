"""A deployment: one database, the city profile it was set up with, and the plugins."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import attrs
import pluggy
from sqlalchemy.engine import Engine

from civiccrm import plugins
from civiccrm.domain.profile import CityProfile
from civiccrm.domain.timeutil import utcnow
from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile
from civiccrm.registries import Registry
from civiccrm.serving import DEFAULT_BASE_URL, SERVE_HOST, SERVE_PORT  # noqa: F401  (re-exported)
from civiccrm.services import config_changes
from civiccrm.store import repo
from civiccrm.store.db import is_initialised, make_engine, session


@attrs.define
class Deployment:
    """What every service needs: the engine, the profile, the plugin manager and a clock.

    ``registry`` holds what the plugins register (channels, report packs, importers,
    integrations, cities), collected once for the deployment.
    """

    engine: Engine
    profile: CityProfile
    pm: pluggy.PluginManager | plugins.CityPlugins
    """The plugins as this city sees them (``plugins.for_city``)."""
    clock: Callable[[], datetime] = utcnow
    registry: Registry = attrs.field(init=False)
    base_profile: CityProfile = attrs.field(init=False)
    """The profile as its folder gives it, before the configuration stored in the database."""
    config_generation: tuple | None = attrs.field(init=False, default=None)
    """How far the stored configuration had come when ``profile`` was built (``config_changes.generation``)."""
    api_keys_seen: dict = attrs.field(init=False, factory=dict)
    """API keys this process found active lately, by hash (``apikeys.authenticate`` with ``max_age``)."""

    @base_profile.default
    def _base_profile(self) -> CityProfile:
        return self.profile

    @registry.default
    def _registry(self) -> Registry:
        return Registry(self.pm)

    def session(self):
        return session(self.engine)


def find_city(city: str) -> Path:
    """The profile folder for a registered city slug, or a folder path given directly."""
    folders = plugins.city_folders()
    if city in folders:
        return folders[city]
    path = Path(city).expanduser()
    if (path / "profile.toml").is_file():
        return path.resolve()  # stored at init: later commands may run from another directory
    known = ", ".join(sorted(folders)) or "none"
    raise CivicError(f"--city: no city profile {city!r}; known cities: {known}, or give a folder holding profile.toml")


def init_deployment(url: str | None, city: str) -> Deployment:
    """Create or upgrade the schema and load the city's profile into the database."""
    from civiccrm.store import migrate  # alembic (with mako and pygments): only here, not in open_deployment

    profile = load_profile(find_city(city))
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session(engine) as s:
        existing = repo.get_setting(session=s, key="city")
        if existing and existing != profile.slug:
            raise CivicError(
                f"--city: this database was set up for {existing!r}; it cannot be switched to {profile.slug!r}"
            )
    deployment = Deployment(engine=engine, profile=profile, pm=plugins.for_city(profile))
    config_changes.load_stored_config(deployment)  # SLA versions, calendars and taxonomy changed in the admin
    with session(engine) as s:
        repo.sync_profile(session=s, profile=deployment.profile)
        s.commit()
    from civiccrm.services.surveys import action_plans as survey_action_plans

    survey_action_plans.load_profile_action_plans(deployment)  # the profile's action plans, once each (by code)
    return deployment


def open_deployment(url: str | None = None) -> Deployment:
    """Open an initialised database with the city profile it was set up with."""
    engine = make_engine(url)
    if not is_initialised(engine):
        raise CivicError(
            f"database {engine.url.render_as_string(hide_password=True)} is not set up; "
            "run `civiccrm init --city CITY` first"
        )
    with session(engine) as s:
        slug = repo.get_setting(session=s, key="city")
        saved_path = repo.get_setting(session=s, key="city_path")
    if not slug:
        raise CivicError("database has no city profile; run `civiccrm init --city CITY`")
    folders = plugins.city_folders()
    folder = folders.get(slug) or (Path(saved_path) if saved_path else None)
    if folder is None or not (folder / "profile.toml").is_file():
        raise CivicError(f"city profile {slug!r} of this database is not installed (looked in {saved_path})")
    profile = load_profile(folder)
    deployment = Deployment(engine=engine, profile=profile, pm=plugins.for_city(profile))
    config_changes.load_stored_config(deployment)  # SLA versions, calendars and taxonomy changed in the admin
    return deployment
