"""Case use cases: intake, assign, note, status, close, reopen, merge, update.

Each one loads the case, applies a transition of ``civiccrm.domain.lifecycle`` (which refuses an
illegal move), saves the evolved case with its history event (``repo.save_case``) and then fires
the event hook."""

from types import SimpleNamespace

import attrs

from civiccrm.domain.attributes import validate_attributes
from civiccrm.domain import lifecycle
from civiccrm.domain.cases import Case, CaseDraft, CaseEvent, Location, Resolution, Routing, Status
from civiccrm.domain.text import visible_text
from civiccrm.errors import CivicError
from civiccrm.services import integrations, notifications, sla
from civiccrm.services.events import fire
from civiccrm.store import duplicates, repo

MAX_DESCRIPTION = 4000
MAX_MEDIA_URL = 2000


def _clean_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = visible_text(value).strip()
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


def route(deployment, draft: CaseDraft, service_type) -> Routing:
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


def intake(deployment, draft: CaseDraft, *, actor: str = "system", in_transaction=None, connection=None,
           attributes_checked: bool = False) -> Case:
    """Create a case from a contact: route it, give it a tracking number and a due time.

    ``in_transaction(connection)``, if given, runs inside intake's write transaction right before the case's
    number is taken (the Open311 API counts a POST's rate-limit hit there: one writer turn per POST, and the
    counter's row is locked only for the case's last statements); if it raises, nothing is stored.
    ``connection`` (not in a transaction) is written on instead of a new one when this intake leads its group of
    writers (``repo.grouped_write``: on SQLite, the intakes of a process waiting for the same turn commit together),
    and is left open for the caller.
    ``attributes_checked``: the draft's attributes are ``validate_attributes``' answer for this service type
    already (the Open311 API checks them, required ones included, with the rest of the request): not checked
    again.

    A draft without a service code (a message nobody could classify) becomes a case without a type:
    no department, work group or due time, in the admin's triage queue until staff type it (``update``)."""
    profile = deployment.profile
    service_type = profile.service_type(draft.service_code) if draft.service_code is not None else None
    if service_type is not None and not service_type.active:
        raise CivicError(f"service_code: {service_type.code!r} ({service_type.name}) is no longer taken; "
                         "choose another service type", field="service_code")
    description = _clean_text(draft.description, "description", MAX_DESCRIPTION) or ""
    if not description:
        raise CivicError("description: a case needs a description of the problem", field="description")
    channel = _channel(deployment, draft.channel)
    if service_type is None:
        attributes = {}
    elif attributes_checked:
        attributes = draft.attributes
    else:
        attributes = validate_attributes(profile.service_attributes.get(service_type.code, ()), draft.attributes,
                                         service_code=service_type.code, require=False)
    media_url = _media_url(draft.media_url)
    location = locate(deployment, draft.location)
    draft = attrs.evolve(draft, location=location)  # route_case sees the council district
    routing = route(deployment, draft, service_type) if service_type is not None else Routing(department=None)
    now = deployment.clock()
    opened_at = draft.opened_at or now
    due = sla.compute_due(deployment, service_type, opened_at) if service_type is not None else None

    customer = draft.customer if draft.customer is not None and not draft.customer.is_empty else None
    year = opened_at.astimezone(profile.tz).year
    prefix = f"{profile.tracking_prefix}-{year}-"
    values = dict(
        service_code=service_type and service_type.code, request_type=service_type and service_type.name,
        category=service_type and service_type.category,
        department=routing.department, work_group=routing.work_group, channel=channel,
        description=description, status=Status.NEW.value, opened_at=opened_at, updated_at=now,
        due_at=due, origin=draft.origin, **repo.location_columns(location),
        response_due_at=sla.first_response_due(deployment, service_type, opened_at) if service_type else None,
    )
    event = CaseEvent(
        kind="created", at=now, actor=actor, origin=draft.origin,
        changes={"status": [None, Status.NEW.value], "service_code": [None, values["service_code"]],
                 "department": [None, routing.department], "work_group": [None, routing.work_group],
                 "channel": [None, channel], "due_at": [None, due.isoformat() if due else None]},
    )
    answers = [(code, value) for code, values in attributes.items() for value in values]
    unsaved = repo.case_from_row(SimpleNamespace(
        id=0, tracking_number="", customer_id=None, resolution=None, closed_at=None, on_time=None, duplicate_of=None,
        external_id=None, city_exceeded_timeframe=None, city_days_to_close=None, **values,
    ))
    notify = notifications.settings(deployment)
    # Everything is computed (the Case but its id and number, the notification settings); the write transaction
    # only inserts: on SQLite every writer waits for the one holding the write lock, taken at its start. It is
    # committed as the block ends, with the intakes of this process that share its turn (one wait for the disk).
    with repo.grouped_write(deployment.engine, connection=connection) as connection:
        case_id, tracking_number, customer_id, event_id = repo.insert_case(
            connection, values=values, tracking_prefix=prefix, year=year, customer=customer, customer_created_at=now,
            attributes=answers, media_url=media_url, event=event, before_number=in_transaction,
        )
        case = attrs.evolve(unsaved, id=case_id, tracking_number=tracking_number, customer_id=customer_id)
        event = attrs.evolve(event, id=event_id, case_id=case_id)
        integrations.queue(deployment, connection_or_session=connection, case=case, event=event)
        notifications.queue(deployment, connection_or_session=connection, case=case, event=event, config=notify)
    fire(deployment, "case_created", case=case, event=event)
    return case


def get(deployment, tracking_number: str) -> Case:
    with deployment.session() as s:
        return repo.case_from_row(repo.get_case_row(session=s, tracking_number=tracking_number))


def history(deployment, tracking_number: str) -> list[CaseEvent]:
    with deployment.session() as s:
        row = repo.get_case_row(session=s, tracking_number=tracking_number)
        return repo.history(session=s, case_id=row.id)


def _change(deployment, tracking_number: str, actor: str, kind, transition, *, note=None,
            hook="case_updated", guard=None) -> Case:
    """Load a case for update, let ``transition(case, now)`` evolve it, save it with its event, fire.

    ``kind`` is the event's kind, or ``kind(case)`` choosing it from the locked case.
    ``guard(session, case)``, run with the case locked, may refuse the change (raise) or return words
    added to the event's note (a supervisor's override)."""
    return _change_event(deployment, tracking_number, actor, kind, transition, note=note, hook=hook, guard=guard)[0]


def _change_event(deployment, tracking_number: str, actor: str, kind, transition, *, note=None,
                  hook="case_updated", guard=None) -> tuple[Case, CaseEvent]:
    """``_change``, returning the saved event too (with its id): the row this change wrote."""
    with deployment.session() as s:
        case = repo.load_case(session=s, tracking_number=tracking_number, for_update=True)
        added = guard(s, case) if guard is not None else None
        if added:
            note = f"{note} ({added})" if note else added
        if callable(kind):
            kind = kind(case)
        now = deployment.clock()
        case, changes = transition(case, now)
        case = attrs.evolve(case, updated_at=now)
        event = CaseEvent(kind=kind, at=now, actor=actor, changes=changes, note=note, origin="intake")
        event = attrs.evolve(event, id=repo.save_case(session=s, case=case, event=event), case_id=case.id)
        integrations.queue(deployment, connection_or_session=s, case=case, event=event)
        notifications.queue(deployment, connection_or_session=s, case=case, event=event)
        s.commit()
    fire(deployment, hook, case=case, event=event)
    return case, event


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
    return _change(deployment, tracking_number, actor, "assigned", lambda case, now: lifecycle.assign(
        case, department=new_department, work_group=wg.code if wg else None), note=note)


def add_note(deployment, tracking_number: str, note: str, *, actor: str = "system", public: bool = False) -> Case:
    """Add a note to a case's history; a ``public`` note is shown to residents (Open311 updates)."""
    note = _clean_text(note, "note", MAX_DESCRIPTION)
    if not note:
        raise CivicError("note: empty note", field="note")
    return _change(deployment, tracking_number, actor, "public_note" if public else "note",
                   lambda case, now: (case, {}), note=note)


def resident_update(deployment, tracking_number: str, text: str, *, actor: str, reopen: bool,
                    guard=None) -> CaseEvent:
    """A requester's update (Open311 servicerequestupdates): a public note, or, when ``reopen`` and the
    case is closed, its reopening with ``text`` as the reason. Decided with the case locked; the
    event written, with its id. ``guard(session, case)`` may refuse the update (as in ``close``)."""
    text = _clean_text(text, "description", MAX_DESCRIPTION)
    if not text:
        raise CivicError("description: missing; say what changed", field="description")
    rules = sla.DeploymentRules(deployment)

    def kind(case):
        return "reopened" if reopen and not case.is_open else "public_note"

    def transition(case, now):
        if reopen and not case.is_open:
            return lifecycle.reopen(case, now=now, rules=rules)
        return case, {}

    return _change_event(deployment, tracking_number, actor, kind, transition, note=text, guard=guard)[1]


def change_status(deployment, tracking_number: str, status: Status, *, actor: str = "system",
                  note: str | None = None) -> Case:
    """Move an open case along its lifecycle (closing and reopening have their own services)."""
    rules = sla.DeploymentRules(deployment)
    return _change(deployment, tracking_number, actor, "status_changed",
                   lambda case, now: lifecycle.change_status(case, status, now=now, rules=rules),
                   note=_clean_text(note, "note", MAX_DESCRIPTION))


def close(deployment, tracking_number: str, resolution: Resolution | None, *, actor: str = "system",
          note: str | None = None, override_reason: str | None = None, override_by=None) -> Case:
    """Close a case; a resolution is required, and the on-time verdict is fixed now.

    A case with an open work order closes as fixed only with ``override_reason`` from a supervisor
    (``override_by``, an Actor); the override is written into the close's note."""
    if resolution is None:
        raise CivicError(f"case {tracking_number}: closing needs a resolution ({', '.join(r.value for r in Resolution)})", field="resolution")
    note = _clean_text(note, "note", MAX_DESCRIPTION)
    override_reason = _clean_text(override_reason, "override_reason", MAX_DESCRIPTION)
    rules = sla.DeploymentRules(deployment)
    return _change(deployment, tracking_number, actor, "closed",
                   lambda case, now: lifecycle.close(case, resolution, now=now, rules=rules),
                   note=note, hook="case_closed",
                   guard=lambda s, case: integrations.check_close(
                       deployment, session=s, case=case, resolution=resolution, override_reason=override_reason,
                       actor=override_by))


def reopen(deployment, tracking_number: str, *, actor: str = "system", reason: str | None = None) -> Case:
    """Reopen a closed case; its due time is computed afresh from now."""
    rules = sla.DeploymentRules(deployment)
    return _change(deployment, tracking_number, actor, "reopened",
                   lambda case, now: lifecycle.reopen(case, now=now, rules=rules),
                   note=_clean_text(reason, "reason", MAX_DESCRIPTION))


def merge(deployment, duplicate: str, into: str, *, actor: str = "system") -> Case:
    """Close ``duplicate`` as a duplicate of ``into``; both histories say so, in one transaction."""
    if duplicate.strip() == into.strip():
        raise CivicError(f"case {duplicate}: cannot merge a case into itself")
    rules = sla.DeploymentRules(deployment)
    with deployment.session() as s:
        # Lock both cases in one order, so two merges of the same pair cannot deadlock.
        loaded = {number: repo.load_case(session=s, tracking_number=number, for_update=True)
                  for number in sorted((duplicate.strip(), into.strip()))}
        case, target = loaded[duplicate.strip()], loaded[into.strip()]
        now = deployment.clock()
        case, changes = lifecycle.merge(case, target, now=now, rules=rules)
        case, target = attrs.evolve(case, updated_at=now), attrs.evolve(target, updated_at=now)
        merged = CaseEvent(kind="merged", at=now, actor=actor, changes=changes,
                           note=f"duplicate of {target.tracking_number}", origin="intake")
        noted = CaseEvent(kind="note", at=now, actor=actor, changes={"merged_from": [None, case.tracking_number]},
                          note=f"{case.tracking_number} was merged into this case", origin="intake")
        merged = attrs.evolve(merged, id=repo.save_case(session=s, case=case, event=merged), case_id=case.id)
        noted = attrs.evolve(noted, id=repo.save_case(session=s, case=target, event=noted), case_id=target.id)
        duplicates.link_merge(s.connection(), duplicate=case, target=target, at=now, actor=actor)
        integrations.queue(deployment, connection_or_session=s, case=case, event=merged)
        notifications.queue(deployment, connection_or_session=s, case=case, event=merged)
        s.commit()
    fire(deployment, "case_closed", case=case, event=merged)
    fire(deployment, "case_updated", case=target, event=noted)
    return case


def update(deployment, tracking_number: str, *, actor: str = "system", service_type: str | None = None,
           description: str | None = None, location: Location | None = None) -> Case:
    """Correct an open case's service type, description or location (a new type gets a new due time).

    Typing a case without a type (the triage queue) also routes it to the department ``route_case``
    gives the type, and starts its SLA clock now."""
    profile = deployment.profile
    new_type = profile.service_type(service_type) if service_type else None
    if new_type is not None and not new_type.active:
        raise CivicError(f"service_type: {new_type.code!r} ({new_type.name}) is no longer taken; "
                         "choose another service type", field="service_type")
    new_description = _clean_text(description, "description", MAX_DESCRIPTION)
    new_location = locate(deployment, location) if location is not None else None
    rules = sla.DeploymentRules(deployment)

    def transition(case, now):
        routing = None
        if new_type is not None and case.is_untyped:
            draft = CaseDraft(service_code=new_type.code, description=case.description, channel=case.channel,
                              location=new_location or case.location, opened_at=case.opened_at, origin=case.origin)
            routing = route(deployment, draft, new_type)
        return lifecycle.update(case, now=now, rules=rules, service_type=new_type, description=new_description,
                                location=new_location, routing=routing)

    return _change(deployment, tracking_number, actor, "updated", transition)
