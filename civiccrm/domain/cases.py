"""Cases: statuses, resolutions, the lifecycle's legal transitions, and case values."""

import enum
import re
from datetime import datetime

import attrs

from civiccrm.domain.names import parse_name
from civiccrm.domain.text import visible_text
from civiccrm.domain.timeutil import aware, require_aware
from civiccrm.errors import CivicError


class Status(enum.StrEnum):
    """Where a case is in its life."""

    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"  # the SLA clock is paused
    WAITING = "waiting"  # waiting for the resident (more information, access): the SLA clock is paused
    CLOSED = "closed"
    REOPENED = "reopened"


class Resolution(enum.StrEnum):
    """Why a closed case was closed."""

    FIXED = "fixed"
    DUPLICATE = "duplicate"
    NOT_CITY = "not_city"
    NO_ACTION = "no_action"
    REFERRED = "referred"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset(s for s in Status if s is not Status.CLOSED)

#: status -> statuses a case may move to by an ordinary status change.
#: Closing needs a resolution and reopening has its own service; both are listed
#: here so the rule lives in one place.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.ON_HOLD, Status.WAITING, Status.CLOSED}),
    Status.OPEN: frozenset({Status.IN_PROGRESS, Status.ON_HOLD, Status.WAITING, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.OPEN, Status.ON_HOLD, Status.WAITING, Status.CLOSED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.WAITING, Status.CLOSED}),
    Status.WAITING: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.CLOSED}),
    Status.REOPENED: frozenset({Status.IN_PROGRESS, Status.ON_HOLD, Status.WAITING, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
}

#: Other names a person may type for a status (after lower-casing and ``_`` for spaces).
STATUS_ALIASES = {
    "waiting_for_resident": Status.WAITING,
    "waiting_for_the_resident": Status.WAITING,
    "waiting_for_customer": Status.WAITING,
    "waiting_for_requester": Status.WAITING,
    "hold": Status.ON_HOLD,
}

#: A status in words, for people (case show, Open311 status notes).
STATUS_LABELS = {
    Status.NEW: "Received",
    Status.OPEN: "Open",
    Status.IN_PROGRESS: "In progress",
    Status.ON_HOLD: "On hold",
    Status.WAITING: "Waiting for the resident",
    Status.CLOSED: "Closed",
    Status.REOPENED: "Reopened",
}


def parse_status(text: str, *, field: str = "status") -> Status:
    """The Status named by ``text`` (``in progress``, ``in-progress`` and ``in_progress`` alike;
    ``waiting for resident`` for ``waiting``)."""
    return parse_name(Status, text, field=field, what="status", aliases=STATUS_ALIASES)


def parse_resolution(text: str, *, field: str = "resolution") -> Resolution:
    """The Resolution named by ``text``."""
    return parse_name(Resolution, text, field=field, what="resolution")


def check_transition(tracking_number: str, current: Status, target: Status) -> None:
    """Raise CivicError unless a case may move from ``current`` to ``target``."""
    if target == current:
        raise CivicError(f"case {tracking_number}: cannot change status to {target.value}: it is already {current.value}")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing"
        raise CivicError(
            f"case {tracking_number}: cannot change status from {current.value} to {target.value}; "
            f"from {current.value} a case may go to {allowed}"
        )


def _optional_float(value):
    return None if value is None else float(value)


@attrs.frozen
class Location:
    """Where the problem is. Every part is optional; a point has both coordinates."""

    address: str | None = None
    """Street address as given."""
    latitude: float | None = attrs.field(default=None, converter=_optional_float)
    """WGS84 latitude in degrees."""
    longitude: float | None = attrs.field(default=None, converter=_optional_float)
    """WGS84 longitude in degrees."""
    zip_code: str | None = None
    """Five-digit ZIP code."""
    council_district: str | None = None
    """Council district identifier, from the city's district polygons."""
    neighborhood: str | None = None
    """Neighbourhood name."""

    def __attrs_post_init__(self):
        if (self.latitude is None) != (self.longitude is None):
            raise CivicError("location: latitude and longitude go together; one was given without the other", field="latitude")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise CivicError(f"latitude: {self.latitude} is not between -90 and 90", field="latitude")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise CivicError(f"longitude: {self.longitude} is not between -180 and 180", field="longitude")

    @property
    def has_point(self) -> bool:
        return self.latitude is not None


#: Ways a customer may ask to be contacted, and the address each needs.
CONTACT_CHANNELS = {"email": "email", "sms": "phone", "phone": "phone"}


def _contact_channel(value):
    if value is None or not str(value).strip():
        return None
    key = str(value).strip().lower()
    return {"e-mail": "email", "text": "sms", "call": "phone"}.get(key, key)


EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
"""What an e-mail address looks like: a local part, ``@`` and a domain with a dot."""


@attrs.frozen
class Customer:
    """The person who asked. Kept in its own table, never published."""

    name: str | None = attrs.field(default=None, converter=visible_text)
    email: str | None = None
    phone: str | None = None
    id: int | None = None
    contact_by: str | None = attrs.field(default=None, converter=_contact_channel)
    """The channel the customer prefers (email, sms or phone); None when they did not say."""
    language: str | None = None
    """The language they wrote in or chose (``en``, ``es``); None: the city's first language."""

    def __attrs_post_init__(self):
        if self.id is None and self.email and not EMAIL_ADDRESS.match(self.email.strip()):
            # a new customer's address is checked; a stored one is kept as it was recorded
            raise CivicError(f"email: {self.email!r} is not an e-mail address like someone@example.org", field="email")
        if self.contact_by is None:
            return
        if self.contact_by not in CONTACT_CHANNELS:
            raise CivicError(f"contact_by: {self.contact_by!r}; expected one of {', '.join(CONTACT_CHANNELS)}",
                             field="contact_by")
        if self.id is None and not getattr(self, CONTACT_CHANNELS[self.contact_by]):
            # a stored customer may have been redacted since; a new one must give the address
            raise CivicError(f"contact_by: {self.contact_by} needs the customer's {CONTACT_CHANNELS[self.contact_by]}",
                             field="contact_by")

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.email or self.phone)

    def address_for(self, channel: str) -> str | None:
        """The customer's address on an outbound channel (email: the e-mail address; sms, phone: the number)."""
        field = CONTACT_CHANNELS.get(channel)
        return getattr(self, field) if field else None


@attrs.frozen
class Routing:
    """Who owns a case: the department and its work group (codes from the profile); no department for a
    case without a type."""

    department: str | None
    work_group: str | None = None


@attrs.frozen
class CaseDraft:
    """What intake knows about a case before it is stored."""

    service_code: str | None
    """None: a case without a type, for the triage queue (no department, no due time until typed)."""
    description: str = attrs.field(converter=visible_text)
    """As sent, less bidirectional controls and zero-width characters (every channel builds a draft)."""
    channel: str
    location: Location = attrs.field(factory=Location)
    customer: Customer | None = None
    opened_at: datetime | None = attrs.field(default=None, validator=aware)
    origin: str = "intake"
    """Where the case came from: ``intake`` for a live contact, ``import:<format>`` for history."""
    attributes: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Answers to the service type's attributes: code -> values (several only for a multi-value list)."""
    media_url: str | None = None
    """A link to a photo or other media the requester sent."""


@attrs.frozen
class Case:
    """One service request, as stored."""

    id: int
    tracking_number: str
    service_code: str | None
    """None while the case waits in the triage queue without a type (``is_untyped``)."""
    request_type: str | None
    category: str | None
    department: str | None
    work_group: str | None
    channel: str
    description: str
    location: Location
    status: Status
    opened_at: datetime = attrs.field(validator=require_aware)
    updated_at: datetime = attrs.field(validator=require_aware)
    due_at: datetime | None = attrs.field(default=None, validator=aware)
    closed_at: datetime | None = attrs.field(default=None, validator=aware)
    resolution: Resolution | None = None
    on_time: bool | None = None
    """The project's verdict at close: closed at or before ``due_at``."""
    duplicate_of: str | None = None
    """Tracking number of the case this one was merged into."""
    origin: str = "intake"
    external_id: str | None = None
    """The case's identifier in the system it was imported from."""
    customer_id: int | None = None
    city_exceeded_timeframe: bool | None = None
    """The source system's own verdict, kept beside the project's."""
    city_days_to_close: float | None = None
    days_to_close: float | None = None
    """Days from opening to closing (fractional), fixed at close."""
    # The SLA clock (civiccrm.domain.lifecycle moves it; docs/sla.md describes it).
    response_due_at: datetime | None = attrs.field(default=None, validator=aware)
    """When a first response is due, if the policy has a first-response target."""
    responded_at: datetime | None = attrs.field(default=None, validator=aware)
    """The first response: when the case first left ``new`` (status change, close or merge)."""
    sla_clock_from: datetime | None = attrs.field(default=None, validator=aware)
    """When the clock started if not at ``opened_at`` (a reopened case counts from reopening)."""
    sla_paused_at: datetime | None = attrs.field(default=None, validator=aware)
    """When the current pause began (on hold, waiting); None while the clock runs."""
    sla_paused_seconds: float = 0.0
    """Time taken off the clock by past pauses (open seconds on business bases)."""
    sla_level: int = 0
    """Escalation written by the breach scan: 0 none, 1 warning, 2 breached."""
    sla_response_level: int = 0
    """First-response escalation written by the breach scan: 0 none, 2 breached."""

    @property
    def paused_since(self) -> datetime | None:
        return self.sla_paused_at

    @property
    def is_open(self) -> bool:
        return self.status is not Status.CLOSED

    @property
    def is_untyped(self) -> bool:
        """Nobody has classified it yet: no service type, department or due time (the triage queue)."""
        return self.service_code is None

    @property
    def is_import(self) -> bool:
        return self.origin.startswith("import")


@attrs.frozen
class CaseEvent:
    """One entry of a case's append-only history."""

    kind: str
    """created, assigned, status_changed, note, public_note, closed, reopened, merged, updated, hook_failed, hook_retried, imported, ..."""
    at: datetime = attrs.field(validator=require_aware)
    actor: str
    changes: dict = attrs.field(factory=dict)
    """field -> [old, new] for what changed."""
    note: str | None = None
    origin: str = "intake"
    id: int | None = None
    case_id: int | None = None
