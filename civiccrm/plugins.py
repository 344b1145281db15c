"""The plugin manager: loads built-in and installed plugins and collects what they register."""

import importlib
import logging
import sys
from pathlib import Path

import pluggy

from civiccrm import hookspecs
from civiccrm.errors import CivicError
from civiccrm.registries import Channel, Importer, Registry, ReportPack

log = logging.getLogger(__name__)

#: Built-in behaviour, written as plugins like any other.
DEFAULT_PLUGINS = (
    "civiccrm_plugins.core",
    "civiccrm_plugins.channels",
    "civiccrm_cities",
    "civiccrm_plugins.email_channel",
    "civiccrm_plugins.notification_templates",
    "civiccrm_plugins.email_inbound",
    "civiccrm_plugins.sms_channel",
    "civiccrm_plugins.social_channel",
    "civiccrm_plugins.survey_dispatch",
    "civiccrm_plugins.survey_pages",
    "civiccrm_plugins.open311",
    "civiccrm_plugins.council_pack",
    "civiccrm_plugins.kcstat_pack",
    "civiccrm_plugins.tulsa_pack",
    "civiccrm_plugins.resident_survey_pack",
    "civiccrm_plugins.employee_survey_pack",
    "civiccrm_plugins.budget_pack",
    "civiccrm_plugins.integrations",
    "civiccrm_plugins.open311_client",
    "civiccrm_plugins.webhooks",
    "civiccrm_plugins.permissions",
    "civiccrm.web.admin",
    "civiccrm_plugins.public_pages",
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


_registry = Registry(pm)


def registry(manager: pluggy.PluginManager | None = None) -> Registry:
    """What the plugins of ``manager`` (by default the loaded plugins) register; a Deployment keeps its own."""
    if manager is not None and manager is not pm:
        return Registry(manager)
    load_plugins()
    return _registry


def channels() -> dict[str, Channel]:
    return registry().channels


def importers() -> dict[str, Importer]:
    return registry().importers


def report_packs(manager: pluggy.PluginManager | None = None) -> dict[str, ReportPack]:
    """Every registered report pack by name (from ``manager``, by default the loaded plugins)."""
    return registry(manager).report_packs


def report_pack(name: str, *, profile=None, pm: pluggy.PluginManager | None = None) -> ReportPack:
    """The pack called ``name``; CivicError when no plugin registers it or ``profile``'s city does not enable it."""
    return registry(pm).report_pack(name, profile=profile)


def city_folders() -> dict[str, Path]:
    """City slug -> profile folder, from every plugin that registers one."""
    return {slug: entry.path for slug, entry in registry().cities.items()}


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


_city_plugins: dict[str, object] = {}
"""Modules some city profile names under ``[city] plugins``, by name, once registered."""


class CityPlugins:
    """The plugin manager as one city's deployment sees it: hooks skip the city-only
    plugins of other cities; everything else (register, unregister, ...) is the manager's."""

    def __init__(self, manager: pluggy.PluginManager, hidden: list):
        self._manager = manager
        self._hidden = hidden
        self.hook = _HiddenHooks(manager, hidden)

    def __getattr__(self, name):
        return getattr(self._manager, name)


class _HiddenHooks:
    def __init__(self, manager: pluggy.PluginManager, hidden: list):
        self._manager = manager
        self._hidden = hidden

    def __getattr__(self, name):
        return self._manager.subset_hook_caller(name, remove_plugins=self._hidden)


def for_city(profile) -> "pluggy.PluginManager | CityPlugins":
    """The plugins of a deployment of ``profile``'s city: the loaded ones plus the modules its
    ``[city] plugins`` names (registered on first use), without those only other cities name."""
    manager = load_plugins()
    for name in profile.plugins:
        if name not in _city_plugins:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise CivicError(f"{profile.path}/profile.toml: city.plugins: cannot import {name!r} ({exc})") from None
            if manager.is_registered(module):  # loaded for every city already
                continue
            manager.register(module, name=name)
            check_plugins()
            _city_plugins[name] = module
    hidden = [module for name, module in _city_plugins.items() if name not in profile.plugins]
    return CityPlugins(manager, hidden) if hidden else manager
