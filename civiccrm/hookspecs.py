"""The plugin contract: every hook CivicCRM calls, with what it passes and expects.

Hooks are called with keyword arguments; an implementation may take any subset of them.
Every decision and event hook gets the ``deployment`` (engine, profile, plugins, clock,
``deployment.registry``) so a plugin that must act through the services can.
"""

import pluggy

hookspec = pluggy.HookspecMarker("civiccrm")


# Collection hooks: the plugin calls ``register(value)`` once for each thing it provides,
# ``value`` being one of the attrs values of civiccrm.registries.


@hookspec
def register_city_profiles(register):
    """Register city profile folders: ``register(CityProfileEntry(slug, path))``."""


@hookspec
def register_channels(register):
    """Register intake and outbound channels: ``register(Channel(code, name, ..., send=None))``."""


@hookspec
def register_report_packs(register):
    """Register report packs: ``register(ReportPack(name, render, description, formats))``;
    ``render(deployment, *, start, end, format)`` returns a ``Rendered(content, media_type)``."""


@hookspec
def register_survey_instruments(register):
    """Register survey instruments not defined in a city profile: ``register(SurveyInstrument(...))``."""


@hookspec
def register_integrations(register):
    """Register integrations (work orders, notifications, sync): ``register(Integration(...))``."""


@hookspec
def register_deliverers(register):
    """Register who delivers outbox rows of a kind (``message:sms``) or family (``integration``):
    ``register(Deliverer(kind, deliver, description))``."""


@hookspec
def register_importers(register):
    """Register bulk importers for ``civiccrm import``: ``register(Importer(name, run, help))``."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``civiccrm`` command-line group ``cli``."""


@hookspec
def register_web_blueprints(app):
    """Register Flask blueprints (API, public pages, admin screens) on the web ``app``."""


# Decision hooks: the first non-None answer wins; the core answers last.


@hookspec(firstresult=True)
def route_case(deployment, draft, service_type, profile):
    """Return a ``Routing`` (department and work group) for a new case, or None."""


@hookspec(firstresult=True)
def compute_due_at(deployment, opened_at, service_type, profile):
    """Return the timezone-aware due time for a case opened at ``opened_at``, or None."""


@hookspec(firstresult=True)
def geocode(deployment, address):
    """Return a ``Location`` with a point for a street address, or None."""


@hookspec(firstresult=True)
def classify_inbound(deployment, message):
    """Return the service code an ``InboundMessage`` is about, or None."""


@hookspec(firstresult=True)
def render_notification(deployment, kind, case, event, language, channel):
    """Return the ``Notification`` (subject, body, html) telling a requester about ``kind``, or None."""


@hookspec(firstresult=True)
def actor_from_request(deployment, request):
    """Return the ``Actor`` making a web request, or None."""


@hookspec(firstresult=True)
def permission_allowed(deployment, actor, action, resource):
    """Return True or False: may ``actor`` do ``action`` on ``resource``; None for no opinion."""


# Web screen hooks: what the admin shows beside its own links and buttons.


@hookspec
def menu_links(deployment, actor):
    """Return a list of ``{"href": ..., "label": ...}`` links for the admin menu of ``actor`` (or None)."""


@hookspec
def case_actions(deployment, actor, case):
    """Return a list of ``{"href": ..., "label": ...}`` links shown on the admin page of ``case`` (or None)."""


# Event hooks: called after the change is committed; a failure never loses the case.


@hookspec
def case_created(deployment, case, event):
    """React to a new case (``event.origin`` says whether it came from intake or an import)."""


@hookspec
def case_updated(deployment, case, event):
    """React to a change of an open case: assignment, status, note, service type."""


@hookspec
def case_closed(deployment, case, event):
    """React to a case being closed with a resolution."""


@hookspec
def sla_breached(deployment, case, event):
    """React to an open case escalated by the SLA scan.

    Resolution: ``event.changes["sla_level"][1]`` is warning or breached. First response
    (none recorded by ``response_due_at``): ``event.changes["response_level"][1]`` is breached.
    """


@hookspec
def survey_answered(deployment, response):
    """React to a survey response submitted on the web (a ``SurveyResponse``; nothing to return)."""
