"""The work queue's filters and its page cursor, read from a query string."""

from collections.abc import Mapping
from datetime import datetime

import attrs

from civiccrm.domain.cases import OPEN_STATUSES, parse_status
from civiccrm.errors import CivicError

PAGE_SIZE = 50
MAX_DUE_WITHIN_HOURS = 24 * 365

FILTER_FIELDS = ("status", "type", "department", "work_group", "district", "channel", "overdue", "due_within", "mine",
                 "triage")


@attrs.frozen
class QueueFilter:
    """Which open cases the queue shows; every part is optional."""

    status: str | None = None
    service_code: str | None = None
    department: str | None = None
    work_group: str | None = None
    district: str | None = None
    channel: str | None = None
    overdue: bool = False
    """Only cases past their due time."""
    due_within_hours: int | None = None
    """Only cases due within this many hours from now (overdue ones included)."""
    mine: bool = False
    """Only cases assigned to the user looking at the queue."""
    triage: bool = False
    """Only cases without a service type (nobody could classify them): the triage queue."""

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> "QueueFilter":
        """Read the filter from a query string (``type`` is the service code); a bad value is a CivicError naming it."""

        def text(name):
            value = (args.get(name) or "").strip()
            if len(value) > 150:
                raise CivicError(f"{name}: {len(value)} characters; at most 150", field=name)
            return value or None

        status = text("status")
        if status is not None:
            parsed = parse_status(status)
            if parsed not in OPEN_STATUSES:
                raise CivicError(f"status: the queue holds open cases; {parsed.value} is not an open status",
                                 field="status")
            status = parsed.value
        due_within = text("due_within")
        if due_within is not None:
            try:
                due_within = int(due_within)
            except ValueError:
                raise CivicError(f"due_within: {due_within!r} is not a whole number of hours", field="due_within") from None
            if not 1 <= due_within <= MAX_DUE_WITHIN_HOURS:
                raise CivicError(f"due_within: {due_within} hours; expected 1 to {MAX_DUE_WITHIN_HOURS}",
                                 field="due_within")
        return cls(status=status, service_code=text("type"), department=text("department"),
                   work_group=text("work_group"), district=text("district"), channel=text("channel"),
                   overdue=_flag(args, "overdue"), due_within_hours=due_within, mine=_flag(args, "mine"),
                   triage=_flag(args, "triage"))

    def query(self) -> dict[str, str]:
        """The filter as query-string parameters (the inverse of ``from_query``)."""
        values = {"status": self.status, "type": self.service_code, "department": self.department,
                  "work_group": self.work_group, "district": self.district, "channel": self.channel,
                  "overdue": "1" if self.overdue else None, "mine": "1" if self.mine else None,
                  "triage": "1" if self.triage else None,
                  "due_within": str(self.due_within_hours) if self.due_within_hours else None}
        return {key: value for key, value in values.items() if value}


def _flag(args: Mapping[str, str], name: str) -> bool:
    value = (args.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise CivicError(f"{name}: {value!r}; expected 1 or 0", field=name)


@attrs.frozen
class Cursor:
    """Where the next page starts: after the case with this due time (None: no due time) and id."""

    due_at: datetime | None
    id: int

    def __attrs_post_init__(self):
        if self.due_at is not None and self.due_at.utcoffset() is None:
            raise CivicError("after: the position's due time has no timezone", field="after")

    def token(self) -> str:
        return f"{self.due_at.isoformat() if self.due_at else '-'}~{self.id}"

    @classmethod
    def parse(cls, token: str | None) -> "Cursor | None":
        if not token:
            return None
        due, _, number = token.partition("~")
        try:
            return cls(due_at=None if due == "-" else datetime.fromisoformat(due), id=int(number))
        except ValueError:
            raise CivicError(f"after: {token[:60]!r} is not a queue position", field="after") from None


@attrs.frozen
class CasesOf:
    """What the work queue asks ``permission_allowed`` about (action ``case.read``): the cases of a department,
    or of one work group when ``work_group`` is given."""

    department: str
    work_group: str | None = None


@attrs.frozen
class QueueScope:
    """The cases a queue shows, from the answers about each ``CasesOf``: those of ``departments`` but not of
    ``except_work_groups``, and those of ``work_groups`` (of departments not shown whole)."""

    departments: tuple[str, ...] = ()
    except_work_groups: tuple[str, ...] = ()
    work_groups: tuple[str, ...] = ()
