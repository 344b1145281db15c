"""Work orders: the job a department's system does for a case, and the rule that a case closes when it is done."""

import enum
from datetime import datetime

import attrs

from civiccrm.domain.cases import Resolution
from civiccrm.domain.timeutil import aware, require_aware
from civiccrm.errors import CivicError

class WorkOrderStatus(enum.StrEnum):
    OPEN = "open"
    """Sent (or waiting to be sent) to the department's system; the work is not done."""
    COMPLETED = "completed"
    """The department's system says the work is done."""
    CANCELLED = "cancelled"
    """The department's system dropped it (or the case was closed another way)."""


@attrs.frozen
class WorkOrder:
    """One case's job in one destination system (at most one per case and destination)."""

    id: int
    case_id: int
    destination: str
    """The integration destination it was sent to (a key of ``[integrations]`` in the profile)."""
    status: WorkOrderStatus
    opened_at: datetime = attrs.field(validator=require_aware)
    external_id: str | None = None
    """The destination's reference, known once it took the case."""
    external_status: str | None = None
    """The destination's last status code, as it sent it."""
    completed_at: datetime | None = attrs.field(default=None, validator=aware)
    resolution: Resolution | None = None
    """The resolution the destination's status maps to, when it completed."""

    @property
    def is_open(self) -> bool:
        return self.status is WorkOrderStatus.OPEN


def check_close(tracking_number: str, orders, resolution: Resolution, *, override_reason: str | None = None,
                may_override: bool = False, actor_name: str = "this user") -> str | None:
    """Refuse closing a case as fixed while a work order is open, unless a supervisor overrides with a reason.

    Returns the override note to record (None when no override was needed)."""
    still_open = [o for o in orders if o.is_open]
    if resolution is not Resolution.FIXED or not still_open:
        return None
    names = ", ".join(f"{o.destination} ({o.external_id or 'not yet taken'})" for o in still_open)
    if override_reason is None or not override_reason.strip():
        raise CivicError(
            f"case {tracking_number}: cannot close as fixed: the work order in {names} is not complete; "
            "it closes by itself when the work is done, or a supervisor may override with a reason",
            field="resolution")
    if not may_override:
        raise CivicError(f"case {tracking_number}: {actor_name} may not override an open work order; "
                         "only a supervisor may", field="override_reason")
    return f"closed as fixed while the work order in {names} was open: {override_reason.strip()}"
