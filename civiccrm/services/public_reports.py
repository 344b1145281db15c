"""A resident's report from the public pages: finding the service type, then intake through the same
services as Open311 POST (city limits and district, SLA, events, outbox, possible duplicates)."""

import time
from datetime import timedelta

import attrs
from sqlalchemy import func, select

from civiccrm.domain.attributes import validate_attributes
from civiccrm.domain.cases import Case, CaseDraft, Customer, Location
from civiccrm.domain.duplicates import DuplicateCandidate
from civiccrm.domain.taxonomy import ServiceType
from civiccrm.domain.type_search import search_types
from civiccrm.errors import CivicError
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services import cases as case_service
from civiccrm.services import duplicates
from civiccrm.store.tables import cases_table

SETTINGS = "public_pages"
DEFAULTS = {"emergency_types": [], "emergency_message": "", "popular_types": 8, "popular_days": 365,
            "photo_max_bytes": 5_000_000}
"""``[plugins.public_pages]``: the list of types shown first during an emergency (service codes) and
its message, how many of the most requested types are offered (counted over ``popular_days``), and
the largest photo accepted, in bytes."""
POPULAR_CACHE_SECONDS = 600
CHANNEL = "web"
ACTOR = "public"


def settings(profile) -> dict:
    found = plugin_settings(profile, SETTINGS, DEFAULTS)
    unknown = [c for c in found["emergency_types"] if c not in profile.taxonomy.service_types]
    if unknown:
        raise CivicError(f"plugins.{SETTINGS}.emergency_types: {unknown[0]!r} is not a service code of {profile.name}",
                         field="emergency_types")
    return found


def emergency_types(deployment) -> list[ServiceType]:
    """The types the city lists first during an emergency (``emergency_types``), in its order."""
    types = deployment.profile.taxonomy.service_types
    return [types[code] for code in settings(deployment.profile)["emergency_types"]]


_popular: dict[int, tuple[float, list[str]]] = {}


def popular_types(deployment) -> list[ServiceType]:
    """The most requested types of the last ``popular_days`` (counted in the database, kept 10 minutes)."""
    config = settings(deployment.profile)
    cached = _popular.get(id(deployment))
    if cached is None or time.monotonic() - cached[0] > POPULAR_CACHE_SECONDS:
        since = deployment.clock() - timedelta(days=config["popular_days"])
        query = (select(cases_table.c.service_code, func.count().label("n"))
                 .where(cases_table.c.opened_at >= since).group_by(cases_table.c.service_code)
                 .order_by(func.count().desc(), cases_table.c.service_code).limit(config["popular_types"] * 2))
        with deployment.engine.connect() as connection:
            codes = [row.service_code for row in connection.execute(query)]
        cached = _popular[id(deployment)] = (time.monotonic(), codes)
    types = deployment.profile.taxonomy.service_types
    found = [types[code] for code in cached[1] if code in types]
    if len(found) < config["popular_types"]:  # a new deployment: fill up in the taxonomy's order
        found += [t for t in types.values() if t not in found]
    return found[:config["popular_types"]]


def forget_popular(deployment) -> None:
    _popular.pop(id(deployment), None)


def find_types(deployment, query: str, *, limit: int = 15) -> list[ServiceType]:
    """Service types matching every word of ``query`` (the call-taker intake's search)."""
    return search_types(deployment.profile.taxonomy, query or "", limit=limit)


@attrs.frozen
class Submitted:
    case: Case
    possible_duplicates: tuple[DuplicateCandidate, ...]
    """Open cases nearby that may be the same problem (shown to the resident)."""


def locate_address(deployment, location: Location) -> Location:
    """A location given by address only gets a point from the ``geocode`` hook when a plugin knows it."""
    if location.has_point or not location.address:
        return location
    found = deployment.pm.hook.geocode(deployment=deployment, address=location.address)
    if found is None or not found.has_point:
        return location
    return attrs.evolve(location, latitude=found.latitude, longitude=found.longitude)


def submit(deployment, *, service_code: str, description: str, location: Location,
           attributes: dict[str, tuple[str, ...]], customer: Customer | None = None,
           media_url: str | None = None) -> Submitted:
    """Create the case a resident reported (CivicError naming the field otherwise)."""
    service_type = deployment.profile.taxonomy.service_types.get(service_code or "")
    if service_type is None:
        raise CivicError(f"service_code: {service_code!r} is not a service type of {deployment.profile.name}; "
                         "choose one from the list", field="service_code")
    if not location.has_point and not location.address:
        raise CivicError("location: give the address or a point (latitude and longitude) of the problem",
                         field="address")
    answers = validate_attributes(deployment.profile.service_attributes.get(service_code, ()), attributes,
                                  service_code=service_code)
    draft = CaseDraft(service_code=service_code, description=description, channel=CHANNEL,
                      location=locate_address(deployment, location), customer=customer, attributes=answers,
                      media_url=media_url)
    case = case_service.intake(deployment, draft, actor=ACTOR)
    return Submitted(case=case, possible_duplicates=tuple(duplicates.for_case(deployment, case)))
