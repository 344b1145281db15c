"""Case use cases: intake, assign, note, status, close, reopen, merge, update."""

from datetime import datetime
from types import SimpleNamespace

import attrs

from civiccrm.domain.attributes import validate_attributes
from civiccrm.domain.cases import (
    Case,
    CaseDraft,
    CaseEvent,
    Location,
    Resolution,
    Routing,
    Status,
    check_transition,
)
from civiccrm.domain.taxonomy import ServiceType
from civiccrm.errors import CivicError
from civiccrm.services import sla
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store.tables import CaseRow

MAX_DESCRIPTION = 4000
MAX_MEDIA_URL = 2000


def _clean_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise CivicError(f"{field}: {len(value)} characters; at most {limit} are allowed", field=field)
    bad = [c for c in value if ord(c) < 32 and c not in "\n\r\t"]
    if bad:
        raise CivicError(f"{field}: contains control characters (e.g. {bad[0]!r}); plain text expected", field=field)
    return value


def _media_url(value: str | None) -> str | None:
    value = _clean_text(value, "media_url", MAX_MEDIA_URL)
    if not value:
        return None
    if not value.lower().startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise CivicError(f"media_url: {value[:80]!r} is not an http(s) URL", field="media_url")
    return value


def locate(deployment, location: Location) -> Location:
    """Check a point lies in the city and fill in its council district from the profile's map."""
    if not location.has_point:
        return location
    city_map = deployment.profile.city_map
    if not city_map.contains(location.latitude, location.longitude):
        raise CivicError(
            f"location: ({location.latitude}, {location.longitude}) is outside the city limits of "
            f"{deployment.profile.name}",
            field="latitude",
        )
    district = city_map.district_at(location.latitude, location.longitude)
    if district is None:
        return location
    return attrs.evolve(location, council_district=district)


def due_at(deployment, opened_at: datetime, service_type: ServiceType) -> datetime | None:
    return deployment.pm.hook.compute_due_at(deployment=deployment, opened_at=opened_at, service_type=service_type,
                                             profile=deployment.profile)


def route(deployment, draft: CaseDraft, service_type: ServiceType) -> Routing:
    routing = deployment.pm.hook.route_case(deployment=deployment, draft=draft, service_type=service_type,
                                            profile=deployment.profile)
    if not isinstance(routing, Routing):
        raise CivicError(f"route_case returned {routing!r}; a plugin must return a Routing or None")
    return routing


def _channel(deployment, code: str) -> str:
    known = deployment.registry.channels
    allowed = [c for c in deployment.profile.channels if c in known] or list(known)
    if code not in allowed:
        raise CivicError(f"channel: {code!r} is not a channel of {deployment.profile.name}; expected one of {', '.join(allowed)}", field="channel")
    return code


def intake(deployment, draft: CaseDraft, *, actor: str = "system") -> Case:
    """Create a case from a contact: route it, give it a tracking number and a due time."""
    profile = deployment.profile
    service_type = profile.service_type(draft.service_code)
    description = _clean_text(draft.description, "description", MAX_DESCRIPTION) or ""
    if not description:
        raise CivicError("description: a case needs a description of the problem", field="description")
    channel = _channel(deployment, draft.channel)
    attributes = validate_attributes(
        profile.service_attributes.get(service_type.code, ()), draft.attributes, service_code=service_type.code,
        require=False,
    )
    media_url = _media_url(draft.media_url)
    location = locate(deployment, draft.location)
    draft = attrs.evolve(draft, location=location)  # route_case sees the council district
    routing = route(deployment, draft, service_type)
    now = deployment.clock()
    opened_at = draft.opened_at or now
    due = due_at(deployment, opened_at, service_type)

    customer = draft.customer if draft.customer is not None and not draft.customer.is_empty else None
    year = opened_at.astimezone(profile.tz).year
    prefix = f"{profile.tracking_prefix}-{year}-"
    values = dict(
        service_code=service_type.code, request_type=service_type.name, category=service_type.category,
        department=routing.department, work_group=routing.work_group, channel=channel,
        description=description, status=Status.NEW.value, opened_at=opened_at, updated_at=now,
        due_at=due, origin=draft.origin, **repo.location_columns(location),
        response_due_at=sla.first_response_due(deployment, service_type, opened_at),
    )
    event = CaseEvent(
        kind="created", at=now, actor=actor, origin=draft.origin,
        changes={"status": [None, Status.NEW.value], "service_code": [None, service_type.code],
                 "department": [None, routing.department], "work_group": [None, routing.work_group],
                 "channel": [None, channel], "due_at": [None, due.isoformat() if due else None]},
    )
    answers = [(code, value) for code, values in attributes.items() for value in values]
    # Everything is computed; the write transaction only inserts (SQLite's write lock is taken at its start).
    with repo.write_transaction(deployment.engine) as connection:
        case_id, tracking_number, customer_id = repo.insert_case(
            connection, values=values, tracking_number=lambda sequence: f"{prefix}{sequence:06d}", year=year,
            customer=customer, customer_created_at=now, attributes=answers, media_url=media_url, event=event,
        )
        connection.commit()
    case = repo.case_from_row(SimpleNamespace(
        id=case_id, tracking_number=tracking_number, customer_id=customer_id, resolution=None, closed_at=None,
        on_time=None, duplicate_of=None, external_id=None, city_exceeded_timeframe=None, city_days_to_close=None,
        **values,
    ))
    fire(deployment, "case_created", case=case, event=event)
    return case


def get(deployment, tracking_number: str) -> Case:
    with deployment.session() as s:
        return repo.case_from_row(repo.get_case_row(session=s, tracking_number=tracking_number))


def history(deployment, tracking_number: str) -> list[CaseEvent]:
    with deployment.session() as s:
        row = repo.get_case_row(session=s, tracking_number=tracking_number)
        return repo.history(session=s, case_id=row.id)


def _change(deployment, tracking_number: str, actor: str, kind: str, apply, *, note=None, hook="case_updated"):
    """Load a case for update, let ``apply(row, now)`` change it and return what changed, record it, fire."""
    with deployment.session() as s:
        row = repo.get_case_row(session=s, tracking_number=tracking_number, for_update=True)
        now = deployment.clock()
        changes = apply(row, now) or {}
        row.updated_at = now
        event = CaseEvent(kind=kind, at=now, actor=actor, changes=changes, note=note, origin="intake")
        repo.add_event(session=s, case_id=row.id, event=event)
        s.commit()
        case = repo.case_from_row(row)
    fire(deployment, hook, case=case, event=event)
    return case


def _require_open(row: CaseRow, action: str) -> None:
    if row.status == Status.CLOSED.value:
        raise CivicError(
            f"case {row.tracking_number}: cannot {action}: it is closed ({row.resolution}); reopen it first"
        )


def assign(deployment, tracking_number: str, *, work_group: str | None = None,
           department: str | None = None, actor: str = "system", note: str | None = None) -> Case:
    """Give a case to another department and/or work group (codes or names from the profile)."""
    taxonomy = deployment.profile.taxonomy
    if work_group is None and department is None:
        raise CivicError("assign: give a work group or a department")
    wg = taxonomy.find_work_group(work_group) if work_group else None
    if work_group and wg is None:
        raise CivicError(f"work_group: no work group {work_group!r} in {deployment.profile.name}", field="work_group")
    dep = taxonomy.find_department(department) if department else None
    if department and dep is None:
        raise CivicError(f"department: no department {department!r} in {deployment.profile.name}", field="department")
    if wg and dep and wg.department != dep.code:
        raise CivicError(f"work_group: {wg.name!r} belongs to {wg.department!r}, not {dep.code!r}", field="work_group")
    new_department = dep.code if dep else wg.department

    def apply(row, now):
        _require_open(row, "assign it")
        changes = {}
        if row.department != new_department:
            changes["department"] = [row.department, new_department]
            row.department = new_department
        new_wg = wg.code if wg else None
        if row.work_group != new_wg:
            changes["work_group"] = [row.work_group, new_wg]
            row.work_group = new_wg
        if not changes:
            raise CivicError(f"case {row.tracking_number}: already assigned to {row.department}/{row.work_group}")
        return changes

    return _change(deployment, tracking_number, actor, "assigned", apply, note=note)


def add_note(deployment, tracking_number: str, note: str, *, actor: str = "system", public: bool = False) -> Case:
    """Add a note to a case's history; a ``public`` note is shown to residents (Open311 updates)."""
    note = _clean_text(note, "note", MAX_DESCRIPTION)
    if not note:
        raise CivicError("note: empty note", field="note")
    return _change(deployment, tracking_number, actor, "public_note" if public else "note", lambda row, now: {}, note=note)


def change_status(deployment, tracking_number: str, status: Status, *, actor: str = "system",
                  note: str | None = None) -> Case:
    """Move an open case along its lifecycle (closing and reopening have their own services)."""
    if status is Status.CLOSED:
        raise CivicError(f"case {tracking_number}: use close with a resolution to close a case")
    if status is Status.REOPENED:
        raise CivicError(f"case {tracking_number}: use reopen to reopen a closed case")

    def apply(row, now):
        check_transition(row.tracking_number, Status(row.status), status)
        changes = {"status": [row.status, status.value], **sla.on_status_change(deployment, row, status, now)}
        row.status = status.value
        return changes

    return _change(deployment, tracking_number, actor, "status_changed", apply, note=_clean_text(note, "note", MAX_DESCRIPTION))


def _close_row(row: CaseRow, resolution: Resolution, closed_at: datetime) -> dict:
    check_transition(row.tracking_number, Status(row.status), Status.CLOSED)
    if closed_at < row.opened_at:
        raise CivicError(f"case {row.tracking_number}: closed_at {closed_at.isoformat()} is before it was opened")
    changes = {"status": [row.status, Status.CLOSED.value], "resolution": [row.resolution, resolution.value]}
    row.status = Status.CLOSED.value
    row.resolution = resolution.value
    row.closed_at = closed_at
    row.days_to_close = (closed_at - row.opened_at).total_seconds() / 86400
    row.on_time = None if row.due_at is None else closed_at <= row.due_at
    changes["on_time"] = [None, row.on_time]
    return changes


def close(deployment, tracking_number: str, resolution: Resolution | None, *, actor: str = "system",
          note: str | None = None) -> Case:
    """Close a case; a resolution is required, and the on-time verdict is fixed now."""
    if resolution is None:
        raise CivicError(f"case {tracking_number}: closing needs a resolution ({', '.join(r.value for r in Resolution)})", field="resolution")
    return _change(deployment, tracking_number, actor, "closed",
                   lambda row, now: {**sla.on_close(deployment, row, now), **_close_row(row, resolution, now)},
                   note=_clean_text(note, "note", MAX_DESCRIPTION), hook="case_closed")


def reopen(deployment, tracking_number: str, *, actor: str = "system", reason: str | None = None) -> Case:
    """Reopen a closed case; its due time is computed afresh from now."""

    def apply(row, now):
        check_transition(row.tracking_number, Status(row.status), Status.REOPENED)
        new_due, sla_changes = sla.on_reopen(deployment, row, now)
        changes = {**sla_changes,
            "status": [row.status, Status.REOPENED.value], "resolution": [row.resolution, None],
            "closed_at": [row.closed_at.isoformat() if row.closed_at else None, None],
            "due_at": [row.due_at.isoformat() if row.due_at else None, new_due.isoformat() if new_due else None],
        }
        row.status = Status.REOPENED.value
        row.resolution = None
        row.closed_at = None
        row.days_to_close = None
        row.on_time = None
        row.duplicate_of = None
        row.due_at = new_due
        return changes

    return _change(deployment, tracking_number, actor, "reopened", apply, note=_clean_text(reason, "reason", MAX_DESCRIPTION))


def merge(deployment, duplicate: str, into: str, *, actor: str = "system") -> Case:
    """Close ``duplicate`` as a duplicate of ``into``; both histories say so, in one transaction."""
    if duplicate.strip() == into.strip():
        raise CivicError(f"case {duplicate}: cannot merge a case into itself")
    with deployment.session() as s:
        # Lock both cases in one order, so two merges of the same pair cannot deadlock.
        rows = {number: repo.get_case_row(session=s, tracking_number=number, for_update=True)
                for number in sorted((duplicate.strip(), into.strip()))}
        row, target = rows[duplicate.strip()], rows[into.strip()]
        if target.status == Status.CLOSED.value:
            raise CivicError(f"case {into}: cannot merge into it: it is closed ({target.resolution}); reopen it first")
        now = deployment.clock()
        changes = {**sla.on_close(deployment, row, now), **_close_row(row, Resolution.DUPLICATE, now)}
        row.duplicate_of = target.tracking_number
        changes["duplicate_of"] = [None, target.tracking_number]
        row.updated_at = target.updated_at = now
        merged = CaseEvent(kind="merged", at=now, actor=actor, changes=changes,
                           note=f"duplicate of {target.tracking_number}", origin="intake")
        noted = CaseEvent(kind="note", at=now, actor=actor, changes={"merged_from": [None, row.tracking_number]},
                          note=f"{row.tracking_number} was merged into this case", origin="intake")
        repo.add_event(session=s, case_id=row.id, event=merged)
        repo.add_event(session=s, case_id=target.id, event=noted)
        s.commit()
        case, target_case = repo.case_from_row(row), repo.case_from_row(target)
    fire(deployment, "case_closed", case=case, event=merged)
    fire(deployment, "case_updated", case=target_case, event=noted)
    return case


def update(deployment, tracking_number: str, *, actor: str = "system", service_type: str | None = None,
           description: str | None = None, location: Location | None = None) -> Case:
    """Correct an open case's service type, description or location (a new type gets a new due time)."""
    profile = deployment.profile
    new_type = profile.service_type(service_type) if service_type else None
    new_description = _clean_text(description, "description", MAX_DESCRIPTION)
    new_location = locate(deployment, location) if location is not None else None

    def apply(row, now):
        _require_open(row, "update it")
        changes = {}
        if new_type and new_type.code != row.service_code:
            changes["service_code"] = [row.service_code, new_type.code]
            row.service_code, row.request_type, row.category = new_type.code, new_type.name, new_type.category
            changes.update(sla.on_type_change(deployment, row, new_type, now))
        if new_description and new_description != row.description:
            changes["description"] = [row.description, new_description]
            row.description = new_description
        if new_location is not None:
            for key, value in repo.location_columns(new_location).items():
                if getattr(row, key) != value:
                    changes[key] = [getattr(row, key), value]
                    setattr(row, key, value)
        if not changes:
            raise CivicError(f"case {row.tracking_number}: nothing to update")
        return changes

    return _change(deployment, tracking_number, actor, "updated", apply)
