"""The plugin contract: every hook CivicCRM calls, with what it passes and expects."""

import pluggy

hookspec = pluggy.HookspecMarker("civiccrm")


# Collection hooks: the plugin calls ``register`` once for each thing it provides.


@hookspec
def register_city_profiles(register):
    """Register city profile folders: ``register(slug, path)``."""


@hookspec
def register_channels(register):
    """Register intake and outbound channels: ``register(Channel(...))``."""


@hookspec
def register_report_packs(register):
    """Register report packs: ``register(name, render, description="", formats=("json", "csv", "html"))``;
    ``render(deployment, *, start, end, format)`` returns the report as a str."""


@hookspec
def register_survey_instruments(register):
    """Register survey instruments not defined in a city profile: ``register(SurveyInstrument)``."""


@hookspec
def register_integrations(register):
    """Register integrations (work orders, notifications, sync): ``register(name, description)``."""


@hookspec
def register_deliverers(register):
    """Register who delivers outbox rows of a kind (``message:sms``) or family (``integration``):
    ``register(Deliverer(kind, deliver, description))``."""


@hookspec
def register_importers(register):
    """Register bulk importers for ``civiccrm import``: ``register(name, run, help)``."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``civiccrm`` command-line group ``cli``."""


@hookspec
def register_admin_blueprints(app):
    """Register Flask blueprints (API, public pages, admin screens) on the web ``app``."""


# Decision hooks: the first non-None answer wins; the core answers last.


@hookspec(firstresult=True)
def route_case(draft, service_type, profile):
    """Return a ``Routing`` (department and work group) for a new case, or None."""


@hookspec(firstresult=True)
def compute_due_at(opened_at, service_type, profile):
    """Return the timezone-aware due time for a case opened at ``opened_at``, or None."""


@hookspec(firstresult=True)
def send_message(channel, address, subject, body, profile):
    """Send an outbound message on ``channel`` (a code) to ``address``; return a receipt string, or None."""


# Event hooks: called after the change is committed; a failure never loses the case.


@hookspec
def case_created(case, event):
    """React to a new case (``event.origin`` says whether it came from intake or an import)."""


@hookspec
def case_updated(case, event):
    """React to a change of an open case: assignment, status, note, service type."""


@hookspec
def case_closed(case, event):
    """React to a case being closed with a resolution."""


@hookspec
def sla_breached(case, event):
    """React to an open case escalated by the SLA scan.

    Resolution: ``event.changes["sla_level"][1]`` is warning or breached. First response
    (none recorded by ``response_due_at``): ``event.changes["response_level"][1]`` is breached.
    """


@hookspec
def survey_answered(response):
    """React to a survey response submitted on the web (a ``SurveyResponse``; nothing to return)."""
