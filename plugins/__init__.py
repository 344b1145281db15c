"""Built-in plugins shipped with CivicCRM (installed as the package ``civiccrm_plugins``).

Every module here is something a third party could replace: the core's default answers
(``core``), the channels, the Open311 API, the survey pages and dispatch, the e-mail
sender, the report packs and the importers.
"""
