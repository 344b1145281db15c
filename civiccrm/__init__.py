"""CivicCRM: a plugin-based CRM for city 311 centres."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("civiccrm")

__all__ = ["hookimpl", "__version__"]
