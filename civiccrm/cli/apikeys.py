"""`civiccrm apikey add | list | revoke`: Open311 API keys."""
