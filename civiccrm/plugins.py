"""The plugin manager: loads built-in and installed plugins and collects what they register."""

import importlib
import logging
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import attrs
import pluggy

from civiccrm import hookspecs
from civiccrm.domain.channels import Channel
from civiccrm.errors import CivicError

log = logging.getLogger(__name__)

#: Built-in behaviour, written as plugins like any other.
DEFAULT_PLUGINS = (
    "civiccrm.core_plugin",
    "civiccrm_plugins.channels",
    "civiccrm_plugins.kcmo_import",
    "civiccrm_cities",
    "civiccrm_plugins.email_channel",
    "civiccrm_plugins.survey_dispatch",
    "civiccrm.web.surveys",
    "civiccrm.web.open311",
    "civiccrm_plugins.council_pack",
)

ENTRY_POINT_GROUP = "civiccrm"

pm = pluggy.PluginManager("civiccrm")
pm.add_hookspecs(hookspecs)

_loaded = False


def load_plugins() -> pluggy.PluginManager:
    """Register the default plugins and those installed under the ``civiccrm`` entry point (once).

    The test suite sets ``sys._civiccrm_test_run`` so that plugins installed in the
    environment stay out of its way; a test that wants them calls
    ``load_entry_point_plugins()``.
    """
    global _loaded
    if _loaded:
        return pm
    for name in DEFAULT_PLUGINS:
        module = importlib.import_module(name)
        if not pm.is_registered(module):
            pm.register(module, name=name)
    if not getattr(sys, "_civiccrm_test_run", False):
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    check_plugins()
    _loaded = True
    return pm


def load_entry_point_plugins() -> None:
    """Load installed third-party plugins (the test suite calls this explicitly)."""
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    check_plugins()


def check_plugins() -> None:
    """Fail loudly on a hook implementation that matches no hook (a misspelling)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise CivicError(f"plugin error: {exc}") from None


@attrs.frozen
class Importer:
    name: str
    run: object
    help: str = ""


@attrs.frozen
class Integration:
    name: str
    description: str = ""


REPORT_FORMATS: tuple[str, ...] = ("json", "csv", "html")
"""The formats a report pack may render; ``civiccrm report render --format`` takes one of them."""

_PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@attrs.frozen
class ReportPack:
    """A named report for a period: ``render(deployment, *, start, end, format) -> str``."""

    name: str
    """How the pack is asked for (``civiccrm report render NAME``, ``[city] report_packs``)."""
    render: Callable[..., str]
    description: str = ""
    """One line shown by ``civiccrm report packs``."""
    formats: tuple[str, ...] = REPORT_FORMATS
    """The formats ``render`` produces, a subset of REPORT_FORMATS; the first is the default."""

    def enabled_for(self, profile) -> bool:
        """True when the city's ``[city] report_packs`` lists the pack, or lists none (all allowed)."""
        return not profile.report_packs or self.name in profile.report_packs

    def render_report(self, deployment, *, start: datetime, end: datetime, format: str | None = None) -> str:
        """Check the period and format, then call the pack's ``render``; the rendered text.

        ``start`` and ``end`` are timezone-aware instants, the period being [start, end);
        ``format`` None means the pack's first format.
        """
        format = self.formats[0] if format is None else format
        if format not in self.formats:
            raise CivicError(f"format: report pack {self.name!r} renders {', '.join(self.formats)}, not {format!r}",
                             field="format")
        for label, value in (("start", start), ("end", end)):
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise CivicError(f"{label}: a timezone-aware datetime is needed, not {value!r}", field=label)
        if end <= start:
            raise CivicError(f"end: {end.isoformat()} is not after start {start.isoformat()}", field="end")
        text = self.render(deployment, start=start, end=end, format=format)
        if not isinstance(text, str):
            raise CivicError(f"report pack {self.name!r}: render returned {type(text).__name__}, not str")
        return text


def _report_pack(name, render, description="", formats=REPORT_FORMATS) -> ReportPack:
    where = f"register_report_packs: pack {name!r}"
    if not isinstance(name, str) or not _PACK_NAME.match(name):
        raise CivicError(f"{where}: a name is lower-case letters, digits, '-', '_' or '.', like 'council-monthly'")
    if not callable(render):
        raise CivicError(f"{where}: render must be callable, got {render!r}")
    if not isinstance(description, str):
        raise CivicError(f"{where}: description must be a str, got {description!r}")
    if isinstance(formats, str) or not isinstance(formats, (tuple, list)) or not formats:
        raise CivicError(f"{where}: formats must be a non-empty tuple such as ('json', 'html'), got {formats!r}")
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown or len(set(formats)) != len(formats):
        raise CivicError(f"{where}: formats {tuple(formats)!r}; each one of {', '.join(REPORT_FORMATS)}, once")
    return ReportPack(name=name, render=render, description=description, formats=tuple(formats))


def _collect(hook, make, what: str) -> dict:
    """Call a collection hook and return key -> item, refusing duplicates."""
    found: dict = {}

    def register(*args, **kwargs):
        item = make(*args, **kwargs)
        key = item.code if isinstance(item, Channel) else item.name
        if key in found:
            raise CivicError(f"two plugins register the {what} {key!r}")
        found[key] = item

    hook(register=register)
    return found


def _channel(channel: Channel) -> Channel:
    if not isinstance(channel, Channel):
        raise CivicError(f"register_channels: expected a civiccrm.domain.channels.Channel, got {channel!r}")
    return channel


def channels() -> dict[str, Channel]:
    return _collect(load_plugins().hook.register_channels, _channel, "channel")


def importers() -> dict[str, Importer]:
    return _collect(load_plugins().hook.register_importers, Importer, "importer")


def integrations() -> dict[str, Integration]:
    return _collect(load_plugins().hook.register_integrations, Integration, "integration")


def report_packs(pm: pluggy.PluginManager | None = None) -> dict[str, ReportPack]:
    """Every registered report pack by name (from ``pm``, by default the loaded plugins)."""
    return _collect((pm or load_plugins()).hook.register_report_packs, _report_pack, "report pack")


def report_pack(name: str, *, profile=None, pm: pluggy.PluginManager | None = None) -> ReportPack:
    """The pack called ``name``; CivicError when no plugin registers it or ``profile``'s city does not enable it."""
    packs = report_packs(pm)
    if name not in packs:
        raise CivicError(f"report pack: no pack {name!r}; registered packs: {', '.join(sorted(packs)) or 'none'}",
                         field="pack")
    pack = packs[name]
    if profile is not None and not pack.enabled_for(profile):
        raise CivicError(f"report pack: {name!r} is not enabled for {profile.name}; its profile enables "
                         f"{', '.join(profile.report_packs)} ([city] report_packs in profile.toml)", field="pack")
    return pack


def survey_instruments(profile) -> dict:
    """Code -> SurveyInstrument: the city profile's instruments and those plugins register."""
    from civiccrm.domain.surveys import SurveyInstrument

    found = dict(profile.surveys)

    def register(instrument):
        if not isinstance(instrument, SurveyInstrument):
            raise CivicError(f"register_survey_instruments: expected a SurveyInstrument, got {instrument!r}")
        if instrument.code in found:
            raise CivicError(f"two sources define the survey instrument {instrument.code!r}")
        found[instrument.code] = instrument

    load_plugins().hook.register_survey_instruments(register=register)
    return found


def survey_instrument(profile, code: str):
    """One instrument by code, or NotFound naming the known ones."""
    from civiccrm.errors import NotFound

    known = survey_instruments(profile)
    if code not in known:
        raise NotFound(f"instrument: no survey {code!r} in {profile.name}; known: {', '.join(sorted(known)) or 'none'}")
    return known[code]


@attrs.frozen
class CityEntry:
    name: str
    path: Path


def city_folders() -> dict[str, Path]:
    """City slug -> profile folder, from every plugin that registers one."""
    entries = _collect(load_plugins().hook.register_city_profiles, lambda slug, path: CityEntry(slug, Path(path)), "city profile")
    return {slug: entry.path for slug, entry in entries.items()}


def describe_plugins() -> list[dict]:
    """Every loaded plugin with its version and the hooks it implements."""
    load_plugins()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    result = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
        dist = dists.get(id(plugin))
        if dist is not None:
            version = dist.version
            package = dist.project_name
        else:
            from civiccrm import __version__

            version, package = __version__, "civiccrm"
        result.append({"name": name, "package": package, "version": version, "hooks": hooks})
    return sorted(result, key=lambda p: p["name"])
