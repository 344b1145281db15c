"""Built-in plugins shipped with CivicCRM (installed as the package ``civiccrm_plugins``)."""
