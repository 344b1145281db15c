"""The work queue (/admin/queue): open cases by SLA due time, filtered, paged by keyset; bulk changes."""

import time

from flask import current_app, flash, g, redirect, render_template, request, url_for

from civiccrm.domain.cases import OPEN_STATUSES, Status, parse_status
from civiccrm.domain.queue import PAGE_SIZE, CasesOf, Cursor, QueueFilter, QueueScope
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, current_actor, permission, require, safe_next
from civiccrm.web.admin.queue_rows import queue_rows
from civiccrm.web.i18n import gettext as _
from civiccrm.web.i18n import ngettext
from civiccrm.web.labels import status_label

MAX_BULK = 200
SCOPE_SECONDS = 10.0
"""How long one user's queue scope is reused before ``permission_allowed`` is asked again; it is asked again
at once when the stored configuration or the loaded plugins change."""


def cached_queue_scope(deployment, actor) -> QueueScope | None:
    """``queue_scope``, kept per user for ``SCOPE_SECONDS`` in the app (140 hook calls for Kansas City)."""
    scopes = current_app.extensions["civiccrm"].setdefault("queue_scopes", {})
    key = (actor.name, actor.role, tuple(actor.departments), tuple(actor.work_groups), deployment.config_generation,
           frozenset(map(id, deployment.pm.get_plugins())))
    now = time.monotonic()
    kept = scopes.get(key)
    if kept is not None and now - kept[0] < SCOPE_SECONDS:
        return kept[1]
    if len(scopes) > 1000:
        scopes.clear()
    scope = queue_scope(deployment, actor)
    scopes[key] = (now, scope)
    return scope


def queue_scope(deployment, actor) -> QueueScope | None:
    """The cases the queue shows ``actor``, as ``permission_allowed`` answers for the cases of each department
    and each work group (``CasesOf``, action ``case.read``), so a plugin can widen or narrow it; None when
    every department is allowed whole (no filter at all). The answers become one SQL filter."""
    taxonomy = deployment.profile.taxonomy
    ask = deployment.pm.hook.permission_allowed

    def allows(department, work_group=None) -> bool:
        return ask(deployment=deployment, actor=actor, action=str(Permission.CASE_VIEW),
                   resource=CasesOf(department=department, work_group=work_group)) is True

    whole = {d for d in {*taxonomy.departments, *actor.departments} if allows(d)}
    group_departments = {w.code: w.department for w in taxonomy.work_groups.values()}
    group_departments.update({w: "" for w in actor.work_groups if w not in group_departments})
    refused, extra = set(), set()
    for group, department in group_departments.items():
        if department in whole:
            if not allows(department, group):
                refused.add(group)
        elif allows(department, group):
            extra.add(group)
    if whole >= set(taxonomy.departments) and not refused:
        return None
    return QueueScope(departments=tuple(sorted(whole)), except_work_groups=tuple(sorted(refused)),
                      work_groups=tuple(sorted(extra)))


def status_choices():
    return [(s.value, status_label(s)) for s in Status if s in OPEN_STATUSES]


@bp.get("/queue")
@permission(Permission.CASE_VIEW)
def queue():
    from civiccrm.store import queue as store

    deployment = get_deployment()
    actor = current_actor()
    try:
        filters = QueueFilter.from_query(request.args)
        after = Cursor.parse(request.args.get("after"))
    except CivicError as exc:
        filters, after = QueueFilter(), None
        g.filter_error = exc
    now = deployment.clock()
    scope = cached_queue_scope(deployment, actor)
    with deployment.engine.connect() as connection:
        rows = store.page(connection=connection, filters=filters, scope=scope, now=now, user_id=actor.id,
                          after=after, limit=PAGE_SIZE + 1)
        counts = store.counts(connection=connection, filters=filters, scope=scope, now=now,
                              user_id=actor.id)
        untyped = store.counts(connection=connection, filters=QueueFilter(triage=True), scope=scope,
                               now=now, user_id=actor.id)["total"]
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_after = Cursor(due_at=rows[-1].due_at, id=rows[-1].id).token() if more else None
    taxonomy = deployment.profile.taxonomy
    error = g.get("filter_error")
    can_work = allowed(Permission.CASE_WORK)
    table = queue_rows(rows, now=now, can_work=can_work, taxonomy=taxonomy, tz=deployment.profile.tz,
                       case_url=lambda number: url_for("admin.case", tracking_number=number))
    return render_template(
        "admin/queue.html", rows=rows, table=table, counts=counts, untyped=untyped, filters=filters, query=filters.query(), next_after=next_after,
        first_page=after is None, now=now, statuses=status_choices(), taxonomy=taxonomy,
        districts=[d.id for d in deployment.profile.city_map.districts], channels=deployment.profile.channels,
        can_work=can_work, error=str(error) if error else None,
    ), 400 if error else 200


@bp.post("/queue/bulk")
@permission(Permission.CASE_WORK)
def bulk():
    """Apply one change to the ticked cases: assign to me, to a work group, or a status."""
    from civiccrm.services import assignees, cases

    deployment = get_deployment()
    actor = current_actor()
    numbers = list(dict.fromkeys(n.strip() for n in request.form.getlist("case") if n.strip()))
    back = url_for("admin.queue", **QueueFilter.from_query(request.args).query())
    if not numbers:
        flash(_("Tick at least one case."), "error")
        return redirect(back)
    if len(numbers) > MAX_BULK:
        flash(_("At most %(count)s cases at once.", count=MAX_BULK), "error")
        return redirect(back)
    action = request.form.get("action", "")
    if action not in ("assign_to_me", "assign", "status"):
        raise CivicError(f"action: {action!r}; expected assign_to_me, assign or status", field="action")
    status = parse_status(request.form.get("status", "")) if action == "status" else None
    work_group = (request.form.get("work_group") or "").strip() if action == "assign" else None
    if action == "assign" and not work_group:
        raise CivicError("work_group: choose the work group to assign to", field="work_group")
    done, failed = 0, []
    for number in numbers:
        try:
            case = cases.get(deployment, number)
            if not allowed(Permission.CASE_WORK, case):
                raise CivicError(f"case {number}: not found")
            if action == "assign_to_me":
                assignees.assign_user(deployment, number, actor.name, actor=actor.name)
            elif action == "assign":
                if not allowed(Permission.CASE_ASSIGN_ANY):
                    raise CivicError(f"case {number}: your role cannot move cases to other work groups")
                cases.assign(deployment, number, work_group=work_group, actor=actor.name)
            else:
                cases.change_status(deployment, number, status, actor=actor.name)
            done += 1
        except CivicError as exc:
            failed.append(str(exc))
    if done:
        flash(ngettext("%(num)s case changed.", "%(num)s cases changed.", done), "info")
    for message in failed[:10]:
        flash(message, "error")
    return redirect(back)


@bp.post("/cases/<tracking_number>/assign-to-me")
@permission(Permission.CASE_WORK)
def assign_to_me(tracking_number):
    from civiccrm.services import assignees, cases

    deployment = get_deployment()
    actor = current_actor()
    case = cases.get(deployment, tracking_number)
    require(Permission.CASE_WORK, case, hide=True)
    assignees.assign_user(deployment, case.tracking_number, actor.name, actor=actor.name)
    flash(_("%(number)s is assigned to you.", number=case.tracking_number), "info")
    return redirect(safe_next(request.form.get("next")))
