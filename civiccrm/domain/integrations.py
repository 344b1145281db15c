"""Integration destinations: which cases go where, how their statuses map to ours, and what comes back."""

from datetime import datetime

import attrs

from civiccrm.domain.cases import Resolution, Status
from civiccrm.domain.timeutil import require_aware
from civiccrm.errors import CivicError


@attrs.frozen
class StatusMapping:
    """What one of the destination's status codes means here."""

    external: str
    """The code as the destination sends it (compared lower-case)."""
    status: Status
    resolution: Resolution | None = None
    """Set when ``status`` is closed: the case closes with it once every work order is done."""
    note: str | None = None
    """A public note written on the case, ``{description}`` and ``{external_id}`` filled in."""

    def __attrs_post_init__(self):
        if (self.status is Status.CLOSED) != (self.resolution is not None):
            raise CivicError(f"status map {self.external!r}: a resolution goes with the closed status, and only with it")

    def public_note(self, *, description: str | None, external_id: str | None) -> str | None:
        if not self.note:
            return description or None
        return self.note.replace("{description}", description or "").replace("{external_id}", external_id or "").strip()


#: mySociety's servicerequestupdates statuses (FixMyStreet's Open311 updates), the default map.
MYSOCIETY_STATUSES = (
    StatusMapping("open", Status.OPEN),
    StatusMapping("investigating", Status.IN_PROGRESS),
    StatusMapping("in_progress", Status.IN_PROGRESS),
    StatusMapping("action_scheduled", Status.IN_PROGRESS, note="Work is scheduled. {description}"),
    StatusMapping("fixed", Status.CLOSED, Resolution.FIXED),
    StatusMapping("closed", Status.CLOSED, Resolution.FIXED),
    StatusMapping("duplicate", Status.CLOSED, Resolution.DUPLICATE),
    StatusMapping("not_councils_responsibility", Status.CLOSED, Resolution.NOT_CITY),
    StatusMapping("no_further_action", Status.CLOSED, Resolution.NO_ACTION),
    StatusMapping("unable_to_fix", Status.CLOSED, Resolution.NO_ACTION),
    StatusMapping("internal_referral", Status.CLOSED, Resolution.REFERRED),
)


@attrs.frozen
class Destination:
    """One system cases are sent to (a key of ``[integrations]`` in the profile)."""

    name: str
    integration: str
    """The registered Integration that talks to it (``open311``, ``webhook``, a plugin's)."""
    departments: tuple[str, ...] = ()
    """Cases of these departments go there."""
    service_codes: tuple[str, ...] = ()
    """Cases of these service types go there (whatever their department)."""
    status_map: dict[str, StatusMapping] = attrs.field(factory=lambda: {m.external: m for m in MYSOCIETY_STATUSES})
    settings: dict = attrs.field(factory=dict, eq=False, repr=False)
    """The integration's own settings (URL, format, the name of the environment variable with the key)."""
    alert_after_failures: int = 3
    """An alert is raised when this many deliveries in a row failed."""
    alert_after_hours: float = 24.0
    """An alert is raised when no update arrived for this long while cases are open there."""

    def takes(self, case) -> bool:
        return case.department in self.departments or case.service_code in self.service_codes

    def mapping(self, external_status: str) -> StatusMapping:
        found = self.status_map.get((external_status or "").strip().lower())
        if found is None:
            raise CivicError(f"status: {external_status!r} is not in the status map of {self.name}; expected one of "
                             f"{', '.join(sorted(self.status_map))}", field="status")
        return found

    def setting(self, key: str, *, required: bool = True, default=None):
        value = self.settings.get(key, default)
        if required and value in (None, ""):
            raise CivicError(f"integrations.{self.name}.settings.{key}: missing; the {self.integration} "
                             "integration needs it", field=key)
        return value


def routes(destinations, case) -> list[Destination]:
    """The destinations ``case`` is sent to, in name order."""
    return sorted((d for d in destinations if d.takes(case)), key=lambda d: d.name)


@attrs.frozen
class ExternalUpdate:
    """A status change a destination reports for one of its work orders."""

    external_id: str
    """The destination's reference of the work order (or our tracking number when it echoes it)."""
    status: str
    """The destination's status code (mapped through the status map)."""
    at: datetime = attrs.field(validator=require_aware)
    update_id: str | None = None
    """The destination's id of this update; one update is applied once."""
    description: str | None = None


@attrs.frozen
class BadUpdate:
    """An update a fetch could not read; recorded with its reason, the others go on."""

    reason: str
    update_id: str | None = None
    raw: str | None = None
