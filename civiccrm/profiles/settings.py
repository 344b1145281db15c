"""A plugin's settings: its defaults, then ``[plugins.<name>]`` of the city profile, then the environment."""

import os
from collections.abc import Mapping

from civiccrm.errors import CivicError


def plugin_settings(profile, name: str, defaults: Mapping, *, env: Mapping[str, str] | None = None) -> dict:
    """``defaults`` updated from the profile's ``[plugins.<name>]`` table (an unknown key is refused),
    then from the environment variables ``env`` names for some keys (key -> variable), when set."""
    table = profile.settings.get("plugins", {}).get(name, {}) if profile is not None else {}
    unknown = sorted(set(table) - set(defaults))
    if unknown:
        raise CivicError(f"plugins.{name}: unknown key {unknown[0]!r}; expected one of {', '.join(defaults)}")
    found = {**defaults, **table}
    for key, variable in (env or {}).items():
        if os.environ.get(variable):
            found[key] = os.environ[variable]
    return found
