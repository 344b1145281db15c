"""The core's own answers to the decision hooks, given last so any plugin can override them."""

import re

from civiccrm import hookimpl
from civiccrm.domain import sla
from civiccrm.domain.actors import Actor
from civiccrm.domain.cases import STATUS_LABELS, Location, Routing
from civiccrm.domain.messages import Notification
from civiccrm.errors import CivicError


@hookimpl(trylast=True)
def route_case(draft, service_type, profile):
    """Route to the department and work group that own the service type."""
    return Routing(department=service_type.department, work_group=service_type.work_group)


@hookimpl(trylast=True)
def compute_due_at(opened_at, service_type, profile):
    """Due after the target of the SLA policy version in force, counted on its basis and calendar."""
    policy = profile.sla_policy(service_type, opened_at)
    return sla.due_at(policy, profile.calendars[policy.calendar], opened_at)


_POINT = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[, ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


@hookimpl(trylast=True)
def geocode(deployment, address):
    """The core has no street directory: it reads only an address written as a point, ``lat, long``
    (what a phone's map shares), inside the city limits; anything else is None."""
    match = _POINT.match(address or "")
    if match is None:
        return None
    try:
        location = Location(latitude=float(match[1]), longitude=float(match[2]))
    except CivicError:
        return None
    if not deployment.profile.city_map.contains(location.latitude, location.longitude):
        return None
    return location


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


_spelled_names: dict[int, tuple] = {}
"""id(taxonomy) -> (taxonomy, its names spelled as words, longest first): built once per taxonomy."""


def _names(taxonomy) -> list[tuple[int, str, str]]:
    kept = _spelled_names.get(id(taxonomy))
    if kept is not None and kept[0] is taxonomy:
        return kept[1]
    names = []
    for code, service_type in taxonomy.service_types.items():
        for name in {service_type.name, code.replace("-", " ")}:
            spelled = _words(name)
            if spelled.strip():
                names.append((len(spelled), spelled, code))
    names.sort(reverse=True)
    if len(_spelled_names) >= 8:  # a process serves one city or two; tests make many
        _spelled_names.clear()
    _spelled_names[id(taxonomy)] = (taxonomy, names)
    return names


@hookimpl(trylast=True)
def classify_inbound(deployment, message):
    """The service type whose name (or code) the subject, else the body, spells out; the longest name wins."""
    names = _names(deployment.profile.taxonomy)
    for text in (message.subject or "", message.body or ""):
        words = _words(text)
        for _, spelled, code in names:
            if spelled in words:
                return code
    return None


def _survey_invitation(city: str, case, event, channel: str) -> Notification | None:
    """The invitation to the post-case survey: its link and last day are in ``event.changes``."""
    changes = event.changes if event is not None else {}
    link, until = changes.get("survey_link"), changes.get("survey_until")
    if not link or not until:
        return None
    number = case.tracking_number
    if channel == "sms":
        return Notification(subject="", body=f"{city}: request {number} is closed. How did we do? {link} "
                                             f"(until {until}; the page lets you stop surveys)")
    return Notification(
        subject=f"{city}: how did we do with request {number}?",
        body=(f"Your request {number}{_type_part(case)} has been closed.\n\n"
              f"Please tell us how we did; it takes a minute:\n{link}\n\n"
              f"The link works once and until {until}.\n"
              f"To receive no more surveys, open the link and choose \"No more surveys\".\n"))


def _type_part(case) -> str:
    """`` (Pothole)``, or nothing for a case without a type yet."""
    return f" ({case.request_type})" if case.request_type else ""


@hookimpl(trylast=True)
def render_notification(deployment, kind, case, event, language, channel):
    """Plain English for ``created``, ``status_changed``, ``closed`` and ``survey_invitation`` (its link in
    ``event.changes["survey_link"]``); a text message is one short line. Other kinds: None."""
    city = deployment.profile.name
    number = case.tracking_number
    if kind == "survey_invitation":
        return _survey_invitation(city, case, event, channel)
    if kind == "created":
        line = f"we received your request {number}{_type_part(case)}."
    elif kind == "status_changed":
        line = f"your request {number} is now: {STATUS_LABELS[case.status]}."
    elif kind == "closed":
        resolution = case.resolution.value.replace("_", " ") if case.resolution else "closed"
        line = f"your request {number}{_type_part(case)} was closed: {resolution}."
    else:
        return None
    if channel == "sms":
        return Notification(subject="", body=f"{city}: {line}")
    note = f"\n\n{event.note}" if event is not None and event.kind == "public_note" and event.note else ""
    return Notification(subject=f"{city}: request {number}", body=f"Hello,\n\n{line[0].upper()}{line[1:]}{note}\n")


@hookimpl(trylast=True)
def actor_from_request(deployment, request):
    """The API key the request brings (``api_key`` in the form or the query), if it is valid and not revoked;
    believed for ``API_KEY_CACHE_SECONDS`` as the Open311 API believes it (``apikeys.authenticate``)."""
    from flask import current_app, has_app_context

    from civiccrm.services import apikeys

    key = request.values.get("api_key") if request is not None else None
    if not key:
        return None
    max_age = float(current_app.config.get("API_KEY_CACHE_SECONDS", 0.0)) if has_app_context() else 0.0
    try:
        found = apikeys.authenticate(deployment, key, action="this request", max_age=max_age)
    except CivicError:
        return None
    return Actor(name=f"api_key:{found.name}", kind="api_key", id=found.id)


#: What an API key may do without a plugin's say: what the Open311 API offers.
API_KEY_ACTIONS = frozenset({"case.create", "case.read", "case.note"})


@hookimpl(trylast=True)
def permission_allowed(deployment, actor, action, resource):
    """The system and a person at the command line may do anything; an API key may create, read and note
    cases; a user with the ``administrator`` role may do anything; everyone else is refused."""
    if actor is None:
        return False
    if actor.kind in ("system", "os"):
        return True
    if actor.kind == "api_key":
        return action in API_KEY_ACTIONS
    return actor.role == "administrator"

