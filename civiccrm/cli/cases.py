"""``civiccrm case ...``: open, read, change and close cases from the command line."""

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.params import format_remaining, inclusive_range
from civiccrm.domain.cases import STATUS_LABELS, CaseDraft, Customer, Location, parse_resolution, parse_status
from civiccrm.errors import CivicError


def case_dict(case, deployment, *, history=None) -> dict:
    """A case as the CLI and JSON show it (no personal data)."""
    tz = deployment.profile.tz
    now = deployment.clock()
    data = {
        "tracking_number": case.tracking_number,
        "status": case.status.value,
        "resolution": case.resolution.value if case.resolution else None,
        "service_code": case.service_code,
        "request_type": case.request_type,
        "category": case.category,
        "department": case.department,
        "work_group": case.work_group,
        "channel": case.channel,
        "description": case.description,
        "address": case.location.address,
        "latitude": case.location.latitude,
        "longitude": case.location.longitude,
        "zip_code": case.location.zip_code,
        "council_district": case.location.council_district,
        "neighborhood": case.location.neighborhood,
        "opened_at": case.opened_at.astimezone(tz),
        "due_at": case.due_at.astimezone(tz) if case.due_at else None,
        "closed_at": case.closed_at.astimezone(tz) if case.closed_at else None,
        "on_time": case.on_time,
        "overdue": bool(case.is_open and case.due_at and case.due_at < now),
        "remaining": format_remaining(case.due_at - now) if case.is_open and case.due_at else None,
        "duplicate_of": case.duplicate_of,
        "origin": case.origin,
        "city_exceeded_timeframe": case.city_exceeded_timeframe,
        "city_days_to_close": case.city_days_to_close,
        "has_customer": case.customer_id is not None,
    }
    if history is not None:
        data["history"] = [
            {"at": e.at.astimezone(tz), "actor": e.actor, "kind": e.kind, "changes": e.changes, "note": e.note}
            for e in history
        ]
    return data


@cli.group(cls=CivicGroup)
def case():
    """Open, show, list, update, close, reopen and merge cases."""


@case.command("new")
@click.option("--type", "type_", required=True, help="Service code or the city's request-type name.")
@click.option("--description", required=True)
@click.option("--channel", default="phone", show_default=True)
@click.option("--address")
@click.option("--lat", type=float)
@click.option("--long", "long_", type=float)
@click.option("--zip", "zip_code")
@click.option("--name")
@click.option("--email")
@click.option("--phone")
@click.option("--contact-by", type=click.Choice(["email", "sms", "phone"]),
              help="How the requester prefers to be contacted (surveys, notifications).")
@click.option("--attribute", "attributes", multiple=True, metavar="CODE=VALUE",
              help="An answer to one of the service type's questions, as Open311's attribute[CODE]=VALUE "
                   "(repeat it; a multi-value list takes CODE=VALUE once per value).")
@json_option
@pass_obj
def case_new(obj, type_, description, channel, address, lat, long_, zip_code, name, email, phone, contact_by,
             attributes, as_json):
    """Open a case and print its tracking number."""
    from civiccrm.services import cases as case_service

    deployment = obj.deployment
    answers: dict[str, tuple[str, ...]] = {}
    for item in attributes:
        code, sep, value = item.partition("=")
        if not sep or not code.strip():
            raise CivicError(f"--attribute: {item!r} must be written CODE=VALUE, like SIZE=large", field="attribute")
        answers[code.strip()] = (*answers.get(code.strip(), ()), value.strip())
    draft = CaseDraft(
        service_code=type_, description=description, channel=channel,
        location=Location(address=address, latitude=lat, longitude=long_, zip_code=zip_code),
        customer=Customer(name=name, email=email, phone=phone, contact_by=contact_by), attributes=answers,
    )
    created = case_service.intake(deployment, draft, actor=obj.actor)
    if as_json:
        emit_json(case_dict(created, deployment))
    else:
        click.echo(created.tracking_number)


@case.command("show")
@click.argument("tracking_number")
@json_option
@pass_obj
def case_show(obj, tracking_number, as_json):
    """Show a case, its time left and its history."""
    from civiccrm.services import cases as case_service

    deployment = obj.deployment
    found = case_service.get(deployment, tracking_number)
    data = case_dict(found, deployment, history=case_service.history(deployment, tracking_number))
    data.update(_sla_fields(deployment, found))
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        if key == "service_code" and value is None:
            value = "(no type yet: the admin's triage queue; `case update --type` gives it one)"
        if key != "history" and value not in (None, ""):
            click.echo(f"{key:>24}: {value}")
    click.echo("history:")
    for event in data["history"]:
        changed = ", ".join(f"{k} {v[0]!s}->{v[1]!s}" if isinstance(v, list) else f"{k}={v}" for k, v in event["changes"].items())
        click.echo(f"  {event['at']:%Y-%m-%d %H:%M %Z} {event['actor']:<10} {event['kind']:<14} {changed} {event['note'] or ''}".rstrip())


def _sla_fields(deployment, found) -> dict:
    """The case's SLA policy, pause and first response, for ``case show``."""
    from civiccrm.services import sla

    state = sla.state(deployment, found.tracking_number)
    tz = deployment.profile.tz
    fields = {
        "sla_policy": f"{state.policy.label} [{state.policy.source}]" if state.policy else None,
        "sla_paused_since": state.paused_since.astimezone(tz) if state.paused_since else None,
        "sla_paused_hours": round(state.paused_seconds / 3600, 2) if state.paused_seconds else None,
        "sla_escalation": state.level,
        "response_due_at": state.response_due_at.astimezone(tz) if state.response_due_at else None,
        "responded_at": state.responded_at.astimezone(tz) if state.responded_at else None,
    }
    if state.response_level:
        fields["response_escalation"] = state.response_level
    if state.paused_since and found.is_open:
        fields["remaining"] = f"paused (clock stopped while {STATUS_LABELS[found.status].lower()})"
        fields["overdue"] = False
    return fields


@case.command("list")
@click.option("--status", multiple=True,
              help="new, open, in_progress, on_hold, waiting, closed, reopened (repeatable).")
@click.option("--department")
@click.option("--work-group")
@click.option("--district")
@click.option("--type", "type_", help="Service code or request-type name.")
@click.option("--channel")
@click.option("--from", "date_from", help="Opened on or after this date (YYYY-MM-DD, city time).")
@click.option("--to", "date_to", help="Opened on or before this date (inclusive).")
@click.option("--overdue", is_flag=True, help="Only open cases past their due time.")
@click.option("--due-within", help="Only open cases due within this time, e.g. 24h or 3d.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@json_option
@pass_obj
def case_list(obj, status, department, work_group, district, type_, channel, date_from, date_to,
              overdue, due_within, limit, offset, as_json):
    """List cases, newest first (most overdue first with --overdue or --due-within)."""
    from civiccrm.domain.sla import parse_duration
    from civiccrm.store.queries import CaseFilter, list_cases

    deployment = obj.deployment
    profile = deployment.profile
    taxonomy = profile.taxonomy
    if department:
        found = taxonomy.find_department(department)
        if not found:
            raise CivicError(f"--department: no department {department!r}")
        department = found.code
    if work_group:
        found = taxonomy.find_work_group(work_group)
        if not found:
            raise CivicError(f"--work-group: no work group {work_group!r}")
        work_group = found.code
    service_code = profile.service_type(type_).code if type_ else None
    start, end = inclusive_range(date_from, date_to, profile.tz)
    now = deployment.clock()
    filters = CaseFilter(
        statuses=tuple(parse_status(s, field="--status").value for s in status),
        department=department, work_group=work_group, district=district,
        service_codes=(service_code,) if service_code else (),
        channel=channel, opened_from=start, opened_before=end,
        overdue_at=now if overdue else None,
        due_before=now + parse_duration(due_within, where="--due-within") if due_within else None,
        limit=limit, offset=offset,
    )
    with deployment.session() as s:
        found_cases = list_cases(session=s, filters=filters)
    rows = [case_dict(c, deployment) for c in found_cases]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['tracking_number']:<16} {row['status']:<12} {row['opened_at']:%Y-%m-%d} "
            f"{(row['remaining'] or row['resolution'] or ''):<16} {(row['request_type'] or '(no type)')[:40]:<40} "
            f"{row['address'] or ''}"
        )
    if not rows:
        click.echo("no cases match", err=True)


@case.command("update")
@click.argument("tracking_number")
@click.option("--type", "type_", help="New service type (code or name); the due time is recomputed.")
@click.option("--description")
@click.option("--address")
@click.option("--lat", type=float)
@click.option("--long", "long_", type=float)
@click.option("--status", help="Move to another open status: open, in_progress, on_hold, "
              "waiting (for the resident).")
@click.option("--assign", "work_group", help="Work group code or name to assign to.")
@click.option("--department", help="Department code or name to assign to.")
@click.option("--note", help="Add a note to the history.")
@json_option
@pass_obj
def case_update(obj, tracking_number, type_, description, address, lat, long_, status, work_group,
                department, note, as_json):
    """Change an open case: type, description, location, status, assignment, or add a note."""
    from civiccrm.services import cases as case_service

    deployment = obj.deployment
    updated = None
    if type_ or description or address or lat is not None or long_ is not None:
        location = None
        if address or lat is not None or long_ is not None:
            current = case_service.get(deployment, tracking_number).location
            location = Location(
                address=address or current.address,
                latitude=lat if lat is not None else current.latitude,
                longitude=long_ if long_ is not None else current.longitude,
                zip_code=current.zip_code, neighborhood=current.neighborhood,
            )
        updated = case_service.update(deployment, tracking_number, actor=obj.actor, service_type=type_,
                                      description=description, location=location)
    if work_group or department:
        updated = case_service.assign(deployment, tracking_number, work_group=work_group,
                                      department=department, actor=obj.actor)
    if status:
        updated = case_service.change_status(deployment, tracking_number, parse_status(status, field="--status"),
                                             actor=obj.actor, note=note)
        note = None
    if note:
        updated = case_service.add_note(deployment, tracking_number, note, actor=obj.actor)
    if updated is None:
        raise CivicError("case update: nothing to change; give --type, --description, --address, --status, --assign or --note")
    _print_result(updated, deployment, as_json)


def _print_result(result, deployment, as_json):
    if as_json:
        emit_json(case_dict(result, deployment))
    else:
        click.echo(f"{result.tracking_number}: {result.status.value}"
                   + (f" ({result.resolution.value})" if result.resolution else ""))


@case.command("close")
@click.argument("tracking_number")
@click.option("--resolution", help="fixed, duplicate, not_city, no_action, referred, cancelled (required).")
@click.option("--note")
@click.option("--override-reason", help="Close as fixed although a work order is still open (supervisors; recorded).")
@json_option
@pass_obj
def case_close(obj, tracking_number, resolution, note, override_reason, as_json):
    """Close a case with a resolution (close only when the work is done)."""
    from civiccrm.domain.actors import Actor
    from civiccrm.services import cases as case_service

    # A missing resolution is refused by the close service, in one line like every other mistake.
    resolution = parse_resolution(resolution, field="--resolution") if resolution else None
    closed = case_service.close(obj.deployment, tracking_number, resolution, actor=obj.actor, note=note,
                                override_reason=override_reason, override_by=Actor(name=obj.actor, kind="os"))
    _print_result(closed, obj.deployment, as_json)


@case.command("reopen")
@click.argument("tracking_number")
@click.option("--reason", help="Why the case is reopened (required; kept in its history).")
@json_option
@pass_obj
def case_reopen(obj, tracking_number, reason, as_json):
    """Reopen a closed case."""
    from civiccrm.services import cases as case_service

    if not (reason or "").strip():
        raise CivicError("--reason: say why the case is reopened; it is kept in the case's history", field="reason")
    _print_result(case_service.reopen(obj.deployment, tracking_number, actor=obj.actor, reason=reason),
                  obj.deployment, as_json)


@case.command("merge")
@click.argument("duplicate")
@click.option("--into", required=True, help="Tracking number of the case to keep.")
@json_option
@pass_obj
def case_merge(obj, duplicate, into, as_json):
    """Close DUPLICATE as a duplicate of another open case."""
    from civiccrm.services import cases as case_service

    _print_result(case_service.merge(obj.deployment, duplicate, into, actor=obj.actor), obj.deployment, as_json)


