"""The case lifecycle: pure transitions that return the evolved case and the changes for its history.

Each transition takes a ``Case`` and returns ``(case, changes)``: a new ``Case`` (cases are
frozen) and ``changes``, ``{field: [old, new]}`` for the history event; an illegal move raises
``CivicError`` and changes nothing. The SLA clock moves with the case: a pausing status stops
it, leaving one resumes it and pushes the due time back by the time paused, closing fixes the
on-time verdict and the days to close, reopening restarts the clock.

What a transition needs to know about SLA policies (due times, which statuses pause, how long
a pause counts) it asks of an ``SlaRules`` object the services give it, so the rules of the
lifecycle live here and the policy look-ups (and the ``compute_due_at`` hook) stay outside.
"""

from datetime import datetime, timedelta
from typing import Protocol

import attrs

from civiccrm.domain.cases import Case, Location, Resolution, Routing, Status, check_transition
from civiccrm.domain.taxonomy import ServiceType
from civiccrm.errors import CivicError

#: Escalation levels as stored (``sla_level``, ``sla_response_level``) and as named in history.
LEVEL_NAMES = {0: None, 1: "warning", 2: "breached"}


class SlaRules(Protocol):
    """The SLA look-ups a transition needs; ``civiccrm.services.sla_clock.DeploymentRules`` answers them."""

    warning: timedelta
    """How long before its due time an open case is escalated with a warning."""

    def service_type(self, code: str) -> ServiceType | None:
        """The service type of a code, or None for one the taxonomy does not hold (imported history)."""

    def due_at(self, service_type: ServiceType, opened_at: datetime, *, clock_from: datetime | None,
               paused_seconds: float) -> datetime | None:
        """The due time of a case whose clock started at ``clock_from or opened_at``, paused so long."""

    def response_due_at(self, service_type: ServiceType, opened_at: datetime) -> datetime | None:
        """When a first response is due, if the policy has a first-response target."""

    def pause_statuses(self, service_type: ServiceType, clock_start: datetime) -> frozenset[str]:
        """Statuses that stop the clock under the policy version in force at ``clock_start``."""

    def paused_counted(self, service_type: ServiceType, clock_start: datetime, start: datetime,
                       end: datetime) -> float:
        """Seconds a pause from ``start`` to ``end`` takes off the clock."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def days_between(opened_at: datetime, closed_at: datetime) -> float:
    """Days to close: the elapsed time in days (the import applies the same rule to each closed row)."""
    return (closed_at - opened_at).total_seconds() / 86400


def on_time(closed_at: datetime | None, due_at: datetime | None) -> bool | None:
    """The project's verdict: closed at or before the due time; None without one of the two."""
    if closed_at is None or due_at is None:
        return None
    return closed_at <= due_at


def level_at(due: datetime | None, now: datetime, warning: timedelta) -> int:
    """The escalation a due time calls for at ``now``: 2 past due, 1 within the warning window, else 0."""
    if due is None:
        return 0
    if due <= now:
        return 2
    return 1 if due <= now + warning else 0


def clock_started(case: Case) -> datetime:
    """When the case's resolution clock started: its opening, or its last reopening.

    The policy version is the one in force then, for the due time, pauses and recompute alike.
    """
    return case.sla_clock_from or case.opened_at


def require_open(case: Case, action: str) -> None:
    if case.status is Status.CLOSED:
        raise CivicError(f"case {case.tracking_number}: cannot {action}: it is closed "
                         f"({case.resolution.value if case.resolution else 'no resolution'}); reopen it first")


# --- the SLA clock ------------------------------------------------------------------------


def _first_response(case: Case, at: datetime, changes: dict) -> Case:
    """Record the first response: the first time a case leaves ``new`` (a status change, a close or a merge).

    Assignments and notes are not responses: routing is internal, and public notes arrive
    from Open311 clients on the requester's behalf.
    """
    if case.responded_at is not None:
        return case
    changes["responded_at"] = [None, at.isoformat()]
    return attrs.evolve(case, responded_at=at)


def _with_due(case: Case, service_type: ServiceType, now: datetime, rules: SlaRules, changes: dict) -> Case:
    """The due time computed afresh; the escalation level lowered if the new due time is further off."""
    new_due = rules.due_at(service_type, case.opened_at, clock_from=case.sla_clock_from,
                           paused_seconds=case.sla_paused_seconds)
    if new_due != case.due_at:
        changes["due_at"] = [_iso(case.due_at), _iso(new_due)]
    level = min(case.sla_level, level_at(new_due, now, rules.warning))
    if level != case.sla_level:
        changes["sla_level"] = [LEVEL_NAMES[case.sla_level], LEVEL_NAMES[level]]
    return attrs.evolve(case, due_at=new_due, sla_level=level)


def _resumed(case: Case, service_type: ServiceType, at: datetime, rules: SlaRules, changes: dict) -> Case:
    counted = rules.paused_counted(service_type, clock_started(case), case.sla_paused_at, at)
    total = case.sla_paused_seconds + counted
    changes["sla_paused_at"] = [_iso(case.sla_paused_at), None]
    changes["sla_paused_seconds"] = [case.sla_paused_seconds, total]
    return attrs.evolve(case, sla_paused_at=None, sla_paused_seconds=total)


def _clock_on_status(case: Case, status: Status, now: datetime, rules: SlaRules, changes: dict) -> Case:
    """Pause or resume the clock as the case enters or leaves a pausing status."""
    service_type = rules.service_type(case.service_code)
    if service_type is None or case.due_at is None:
        return case
    pauses = status.value in rules.pause_statuses(service_type, clock_started(case))
    if pauses and case.sla_paused_at is None:
        changes["sla_paused_at"] = [None, now.isoformat()]
        return attrs.evolve(case, sla_paused_at=now)
    if not pauses and case.sla_paused_at is not None:
        case = _resumed(case, service_type, now, rules, changes)
        return _with_due(case, service_type, now, rules, changes)
    return case


def _clock_on_close(case: Case, closed_at: datetime, rules: SlaRules, changes: dict) -> Case:
    """End a pause at close so the verdict counts paused time out."""
    service_type = rules.service_type(case.service_code)
    if case.sla_paused_at is not None and service_type is not None and case.due_at is not None:
        case = _resumed(case, service_type, closed_at, rules, changes)
        case = _with_due(case, service_type, closed_at, rules, changes)
    return case


# --- transitions ------------------------------------------------------------------------------


def assign(case: Case, *, department: str, work_group: str | None) -> tuple[Case, dict]:
    """Give an open case to another department and/or work group."""
    require_open(case, "assign it")
    changes = {}
    if case.department != department:
        changes["department"] = [case.department, department]
    if case.work_group != work_group:
        changes["work_group"] = [case.work_group, work_group]
    if not changes:
        raise CivicError(f"case {case.tracking_number}: already assigned to {case.department}/{case.work_group}")
    return attrs.evolve(case, department=department, work_group=work_group), changes


def change_status(case: Case, status: Status, *, now: datetime, rules: SlaRules) -> tuple[Case, dict]:
    """Move an open case along its lifecycle; closing and reopening are transitions of their own."""
    if status is Status.CLOSED:
        raise CivicError(f"case {case.tracking_number}: use close with a resolution to close a case")
    if status is Status.REOPENED:
        raise CivicError(f"case {case.tracking_number}: use reopen to reopen a closed case")
    check_transition(case.tracking_number, case.status, status)
    changes = {"status": [case.status.value, status.value]}
    if status is not Status.NEW:
        case = _first_response(case, now, changes)
    case = _clock_on_status(case, status, now, rules, changes)
    return attrs.evolve(case, status=status), changes


def close(case: Case, resolution: Resolution | None, *, now: datetime, rules: SlaRules) -> tuple[Case, dict]:
    """Close a case with a resolution; the on-time verdict and the days to close are fixed now."""
    if resolution is None:
        raise CivicError(f"case {case.tracking_number}: closing needs a resolution "
                         f"({', '.join(r.value for r in Resolution)})", field="resolution")
    changes: dict = {}
    case = _first_response(case, now, changes)
    case = _clock_on_close(case, now, rules, changes)
    check_transition(case.tracking_number, case.status, Status.CLOSED)
    if now < case.opened_at:
        raise CivicError(f"case {case.tracking_number}: closed_at {now.isoformat()} is before it was opened")
    verdict = on_time(now, case.due_at)
    changes.update({"status": [case.status.value, Status.CLOSED.value],
                    "resolution": [case.resolution.value if case.resolution else None, resolution.value],
                    "on_time": [None, verdict]})
    return attrs.evolve(case, status=Status.CLOSED, resolution=resolution, closed_at=now,
                        days_to_close=days_between(case.opened_at, now), on_time=verdict), changes


def merge(case: Case, into: Case, *, now: datetime, rules: SlaRules) -> tuple[Case, dict]:
    """Close ``case`` as a duplicate of the open case ``into``."""
    if case.tracking_number == into.tracking_number:
        raise CivicError(f"case {case.tracking_number}: cannot merge a case into itself")
    if into.status is Status.CLOSED:
        raise CivicError(f"case {into.tracking_number}: cannot merge into it: it is closed "
                         f"({into.resolution.value if into.resolution else 'no resolution'}); reopen it first")
    case, changes = close(case, Resolution.DUPLICATE, now=now, rules=rules)
    changes["duplicate_of"] = [None, into.tracking_number]
    return attrs.evolve(case, duplicate_of=into.tracking_number), changes


def reopen(case: Case, *, now: datetime, rules: SlaRules) -> tuple[Case, dict]:
    """Reopen a closed case: the clock restarts from now, with no pause carried over and no escalation."""
    check_transition(case.tracking_number, case.status, Status.REOPENED)
    changes: dict = {}
    if case.sla_level:
        changes["sla_level"] = [LEVEL_NAMES[case.sla_level], None]
    service_type = rules.service_type(case.service_code)
    new_due = (rules.due_at(service_type, case.opened_at, clock_from=now, paused_seconds=0.0)
               if service_type is not None else None)
    changes.update({
        "status": [case.status.value, Status.REOPENED.value],
        "resolution": [case.resolution.value if case.resolution else None, None],
        "closed_at": [_iso(case.closed_at), None],
        "due_at": [_iso(case.due_at), _iso(new_due)],
    })
    return attrs.evolve(
        case, status=Status.REOPENED, resolution=None, closed_at=None, days_to_close=None, on_time=None,
        duplicate_of=None, due_at=new_due, sla_clock_from=now, sla_paused_seconds=0.0, sla_paused_at=None,
        sla_level=0,
    ), changes


def change_type(case: Case, service_type: ServiceType, *, now: datetime, rules: SlaRules,
                routing: Routing | None = None) -> tuple[Case, dict]:
    """File an open case under another service type: the due times under its policy, time paused kept.

    A case without a type (the triage queue) is typed: its SLA clock starts ``now`` (time waiting for a
    type is not the department's) and it goes to ``routing``, the type's department and work group."""
    require_open(case, "update it")
    if service_type.code == case.service_code:
        return case, {}
    changes = {"service_code": [case.service_code, service_type.code]}
    response_from = now if case.is_untyped else case.opened_at
    if case.is_untyped:
        changes["sla_clock_from"] = [_iso(case.sla_clock_from), now.isoformat()]
        case = attrs.evolve(case, sla_clock_from=now)
        if routing is not None:
            for key in ("department", "work_group"):
                if getattr(case, key) != getattr(routing, key):
                    changes[key] = [getattr(case, key), getattr(routing, key)]
            case = attrs.evolve(case, department=routing.department, work_group=routing.work_group)
    case = attrs.evolve(case, service_code=service_type.code, request_type=service_type.name,
                        category=service_type.category)
    case = _with_due(case, service_type, now, rules, changes)
    response_due = rules.response_due_at(service_type, response_from)
    if response_due != case.response_due_at:
        changes["response_due_at"] = [_iso(case.response_due_at), _iso(response_due)]
    response_level = case.sla_response_level
    if response_level and case.responded_at is None and (response_due is None or response_due > now):
        changes["response_level"] = [LEVEL_NAMES[response_level], None]
        response_level = 0
    return attrs.evolve(case, response_due_at=response_due, sla_response_level=response_level), changes


def update(case: Case, *, now: datetime, rules: SlaRules, service_type: ServiceType | None = None,
           description: str | None = None, location: Location | None = None,
           routing: Routing | None = None) -> tuple[Case, dict]:
    """Correct an open case's service type, description or location; refuses an update that changes nothing.
    ``routing``: where a case without a type goes once typed."""
    require_open(case, "update it")
    changes: dict = {}
    if service_type is not None:
        case, changes = change_type(case, service_type, now=now, rules=rules, routing=routing)
    if description and description != case.description:
        changes["description"] = [case.description, description]
        case = attrs.evolve(case, description=description)
    if location is not None:
        for key in LOCATION_FIELDS:
            old, new = getattr(case.location, key), getattr(location, key)
            if old != new:
                changes[key] = [old, new]
        case = attrs.evolve(case, location=location)
    if not changes:
        raise CivicError(f"case {case.tracking_number}: nothing to update")
    return case, changes


LOCATION_FIELDS = ("address", "latitude", "longitude", "zip_code", "council_district", "neighborhood")
