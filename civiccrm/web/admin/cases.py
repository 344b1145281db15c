"""The case page (/admin/cases/<tracking_number>): everything about a case, and one form to work it."""

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.cases import Resolution, Status, parse_resolution, parse_status
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, current_actor, require
from civiccrm.web.admin.maps import case_map
from civiccrm.web.admin.menu import links_from
from civiccrm.web.i18n import gettext as _
from civiccrm.web.labels import resolution_label, status_label

DUPLICATE_RADIUS_METRES = 150
DUPLICATE_WINDOW = timedelta(days=30)


def _visible_case(tracking_number: str, action: str = Permission.CASE_VIEW):
    """The case, or 404 when it does not exist or the actor may not see (or work) it."""
    from civiccrm.services import cases

    case = cases.get(get_deployment(), tracking_number)
    require(Permission.CASE_VIEW, case, hide=True)
    if action != Permission.CASE_VIEW:
        require(action, case)
    return case


def sla_clock(case, sla, now) -> dict:
    """Time left, paused or breached, for the SLA box."""
    if case.due_at is None:
        return {"state": "none"}
    if case.status is Status.CLOSED:
        return {"state": "closed", "on_time": case.on_time}
    if sla.sla_paused_at is not None:
        return {"state": "paused", "since": sla.sla_paused_at}
    left = case.due_at - now
    return {"state": "breached" if left.total_seconds() < 0 else "running", "left": _duration(abs(left))}


def _duration(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    hours, minutes = seconds // 3600, (seconds % 3600) // 60
    if days:
        return _("%(days)s d %(hours)s h", days=days, hours=hours)
    return _("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)


@bp.get("/cases/<tracking_number>")
def case(tracking_number):
    from civiccrm.services import cases
    from civiccrm.store import assignees, casepage, repo

    deployment = get_deployment()
    found = _visible_case(tracking_number)
    now = deployment.clock()
    with deployment.session() as s:
        connection = s.connection()
        sla = casepage.sla_columns(connection=connection, case_id=found.id)
        answers = casepage.attributes(connection=connection, case_id=found.id)
        assignee = assignees.assignee_of(connection=connection, case_id=found.id)
        customer = repo.get_customer(session=s, customer_id=found.customer_id) if found.customer_id else None
        location = found.location
        nearby = []
        if location.has_point and found.is_open:
            nearby = casepage.nearby(connection=connection, case_id=found.id, service_code=found.service_code,
                                     latitude=location.latitude, longitude=location.longitude,
                                     opened_at=found.opened_at, radius_metres=DUPLICATE_RADIUS_METRES,
                                     window=DUPLICATE_WINDOW)
    history = cases.history(deployment, found.tracking_number)
    actor = current_actor()
    extra_actions = links_from(deployment.pm.hook.case_actions(deployment=deployment, actor=actor, case=found),
                               "case_actions")
    taxonomy = deployment.profile.taxonomy
    return render_template(
        "admin/case.html", case=found, sla=sla_clock(found, sla, now), sla_row=sla, answers=answers,
        assignee=assignee, customer=customer, nearby=nearby, history=list(reversed(history)),
        map=case_map(deployment.profile.city_map, location.council_district, location.latitude, location.longitude),
        can_work=allowed(Permission.CASE_WORK, found), taxonomy=taxonomy, extra_actions=extra_actions,
        statuses=[(s.value, status_label(s)) for s in Status if s not in (Status.CLOSED, Status.REOPENED)],
        resolutions=[(r.value, resolution_label(r)) for r in Resolution if r is not Resolution.DUPLICATE],
        radius=DUPLICATE_RADIUS_METRES,
    )


@bp.post("/cases/<tracking_number>")
def work(tracking_number):
    """The one form: a public reply, an internal note, status, work group, close with a resolution.

    Each part given is applied in that order; the first refusal stops the rest and is shown."""
    from civiccrm.services import cases

    deployment = get_deployment()
    found = _visible_case(tracking_number, Permission.CASE_WORK)
    actor = current_actor().name
    form = request.form
    reply, note = (form.get("reply") or "").strip(), (form.get("note") or "").strip()
    status = (form.get("status") or "").strip()
    work_group = (form.get("work_group") or "").strip()
    resolution = (form.get("resolution") or "").strip()
    done = []
    if reply:
        cases.add_note(deployment, found.tracking_number, reply, actor=actor, public=True)
        done.append(_("reply sent"))
    if note:
        cases.add_note(deployment, found.tracking_number, note, actor=actor)
        done.append(_("note added"))
    if work_group and work_group != (found.work_group or ""):
        cases.assign(deployment, found.tracking_number, work_group=work_group, actor=actor)
        done.append(_("assigned"))
    if status == Status.CLOSED.value or resolution:
        if not resolution:
            raise CivicError("resolution: choose how the case was resolved to close it", field="resolution")
        cases.close(deployment, found.tracking_number, parse_resolution(resolution), actor=actor,
                    note=(form.get("resolution_note") or "").strip() or None)
        done.append(_("closed"))
    elif status and status != found.status.value:
        cases.change_status(deployment, found.tracking_number, parse_status(status), actor=actor)
        done.append(_("status changed"))
    if not done:
        flash(_("Nothing to change: write a reply or a note, or choose a new status, work group or resolution."),
              "error")
    else:
        flash(_("%(number)s: %(what)s.", number=found.tracking_number, what=", ".join(done)), "info")
    return redirect(url_for("admin.case", tracking_number=found.tracking_number))


@bp.post("/cases/<tracking_number>/type")
def set_type(tracking_number):
    """Give the case a service type (or another one): a case from the triage queue is routed to the type's
    department and its time-frame starts now."""
    from civiccrm.services import cases

    deployment = get_deployment()
    found = _visible_case(tracking_number, Permission.CASE_WORK)
    code = (request.form.get("service_type") or "").strip()
    if not code:
        raise CivicError("service_type: choose the service type", field="service_type")
    typed = cases.update(deployment, found.tracking_number, service_type=code, actor=current_actor().name)
    flash(_("%(number)s is now %(type)s.", number=typed.tracking_number, type=typed.request_type), "info")
    return redirect(url_for("admin.case", tracking_number=typed.tracking_number))


@bp.post("/cases/<tracking_number>/reopen")
def reopen(tracking_number):
    from civiccrm.services import cases

    deployment = get_deployment()
    found = _visible_case(tracking_number, Permission.CASE_WORK)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        raise CivicError("reason: say why the case is reopened", field="reason")
    cases.reopen(deployment, found.tracking_number, actor=current_actor().name, reason=reason)
    flash(_("%(number)s is reopened.", number=found.tracking_number), "info")
    return redirect(url_for("admin.case", tracking_number=found.tracking_number))


@bp.post("/cases/<tracking_number>/merge")
def merge(tracking_number):
    """Close this case as a duplicate of the case named in ``into`` (which the actor must be able to see)."""
    from civiccrm.services import cases

    deployment = get_deployment()
    found = _visible_case(tracking_number, Permission.CASE_WORK)
    into = (request.form.get("into") or "").strip()
    if not into:
        raise CivicError("into: give the tracking number of the case to merge into", field="into")
    target = _visible_case(into)
    cases.merge(deployment, found.tracking_number, target.tracking_number, actor=current_actor().name)
    flash(_("%(number)s is merged into %(into)s.", number=found.tracking_number, into=target.tracking_number), "info")
    return redirect(url_for("admin.case", tracking_number=target.tracking_number))
