"""The plugin manager: loads built-in and installed plugins and collects what they register."""

import importlib
import logging
import sys
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


@attrs.frozen
class ReportPack:
    name: str
    render: object
    description: str = ""


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


def report_packs() -> dict[str, ReportPack]:
    return _collect(load_plugins().hook.register_report_packs, ReportPack, "report pack")


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
