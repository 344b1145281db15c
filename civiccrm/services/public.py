"""What a resident may see of a case on the public status page: never a name, address of a person,
e-mail, phone or internal note."""

from datetime import datetime

import attrs

from civiccrm.domain.cases import Resolution, Status
from civiccrm.errors import NotFound
from civiccrm.services import cases, photos

PUBLIC_KINDS = ("created", "status_changed", "public_note", "closed", "merged", "reopened")
"""History kinds a resident sees; every other kind (notes, assignment, hook records) is internal."""
MAX_TRACKING_NUMBER = 40


@attrs.frozen
class PublicStep:
    """One step of the public timeline."""

    at: datetime
    kind: str
    status: Status | None = None
    resolution: Resolution | None = None
    note: str | None = None
    """Only the text of a public note (a reply to the resident)."""


@attrs.frozen
class PublicStatus:
    """The public view of one case."""

    tracking_number: str
    service_code: str | None
    """None while nobody has typed the case (the triage queue)."""
    request_type: str | None
    status: Status
    resolution: Resolution | None
    opened_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    duplicate_of: str | None
    address: str | None
    """The problem's street address as given (where, not who)."""
    council_district: str | None
    timeline: tuple[PublicStep, ...]
    photos: tuple[str, ...] = ()
    """Tokens of the photos sent with the report (public, like the description)."""

    def on_time(self, now: datetime) -> bool | None:
        """Whether the time-frame is met: closed by the due time, or still within it; None without one."""
        if self.due_at is None:
            return None
        return (self.closed_at or now) <= self.due_at


def _step(event) -> PublicStep:
    new_status = (event.changes.get("status") or [None, None])[1]
    new_resolution = (event.changes.get("resolution") or [None, None])[1]
    return PublicStep(at=event.at, kind=event.kind, status=Status(new_status) if new_status else None,
                      resolution=Resolution(new_resolution) if new_resolution else None,
                      note=event.note if event.kind == "public_note" else None)


def status(deployment, tracking_number: str) -> PublicStatus:
    """The public view of one case; NotFound for a number that is not a case (or is malformed)."""
    number = (tracking_number or "").strip().upper()
    if not number or len(number) > MAX_TRACKING_NUMBER:
        raise NotFound(f"tracking_number: no request {(tracking_number or '')[:MAX_TRACKING_NUMBER]!r}",
                       field="tracking_number")
    try:
        case = cases.get(deployment, number)
    except NotFound:
        raise NotFound(f"tracking_number: no request {number!r}", field="tracking_number") from None
    timeline = tuple(_step(e) for e in cases.history(deployment, number) if e.kind in PUBLIC_KINDS)
    return PublicStatus(tracking_number=case.tracking_number, service_code=case.service_code,
                        request_type=case.request_type, status=case.status, resolution=case.resolution,
                        opened_at=case.opened_at, due_at=case.due_at, closed_at=case.closed_at,
                        duplicate_of=case.duplicate_of, address=case.location.address,
                        council_district=case.location.council_district, timeline=timeline,
                        photos=photos.tokens_of(deployment, case.id))
