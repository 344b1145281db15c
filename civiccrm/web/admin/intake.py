"""Call-taker intake (/admin/intake): find the type, read the knowledge-base answer, look the caller up,
check the location and the possible duplicates, record the case through the same intake service as the
Open311 POST, and read back the tracking number and the time-frame."""

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.attributes import Datatype, validate_attributes
from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.domain.knowledge import ArticleScope
from civiccrm.domain.type_search import search_types
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, current_actor, permission, require
from civiccrm.web.i18n import gettext as _
from civiccrm.web.labels import timeframe_label

CALLER_FIELDS = ("name", "email", "phone", "contact_by")
ACTIONS = ("lookup", "check", "create", "create_anyway", "follow")
MAX_QUERY = 150


def _service_type(code: str | None):
    return get_deployment().profile.service_type(code) if code else None


def _definitions(service_type) -> list:
    if service_type is None:
        return []
    found = get_deployment().profile.service_attributes.get(service_type.code, ())
    return sorted(found, key=lambda a: a.order)


def _attribute_answers(form, definitions) -> dict[str, tuple[str, ...]]:
    answers = {}
    for attribute in definitions:
        values = tuple(v for v in form.getlist(f"attribute[{attribute.code}]") if v.strip())
        if values:
            answers[attribute.code] = values
    return answers


def _number(form, name: str) -> float | None:
    value = (form.get(name) or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise CivicError(f"{name}: {value[:30]!r} is not a number; decimal degrees such as 39.0997 and -94.5786",
                         field=name) from None


def _location(form) -> Location:
    latitude, longitude = _number(form, "latitude"), _number(form, "longitude")
    if (latitude is None) != (longitude is None):
        missing = "longitude" if latitude is not None else "latitude"
        raise CivicError(f"{missing}: give both latitude and longitude, or neither", field=missing)
    address = (form.get("address") or "").strip()[:300] or None
    return Location(address=address, latitude=latitude, longitude=longitude)


def _customer(form) -> Customer | None:
    if form.get("anonymous"):
        return None
    customer = Customer(**{key: (form.get(key) or "").strip() or None for key in CALLER_FIELDS})
    return None if customer.is_empty else customer


def _caller_lookup(form) -> dict:
    from civiccrm.store import callers

    email, phone = (form.get("email") or "").strip(), (form.get("phone") or "").strip()
    if not (email or phone):
        raise CivicError("email: give the caller's e-mail or phone to look them up", field="email")
    with get_deployment().engine.connect() as connection:
        found = callers.find_callers(connection=connection, email=email, phone=phone)
        their_cases = callers.caller_cases(connection=connection, customer_ids=[c.id for c in found])
    return {"callers": found, "cases": their_cases}


def _render(service_type=None, *, form=None, error=None, lookup=None, located=None, duplicates=None, status=200):
    from civiccrm.services import knowledge

    deployment = get_deployment()
    query = (request.args.get("q") or (form.get("q") if form else "") or "").strip()[:MAX_QUERY]
    matches = search_types(deployment.profile.taxonomy, query) if query and service_type is None else []
    article = knowledge.for_type(deployment, service_type.code) if service_type else None
    return render_template(
        "admin/intake.html", q=query, matches=matches, service_type=service_type, article=article,
        definitions=_definitions(service_type), Datatype=Datatype, form=form,
        values=(lambda name: form.getlist(name) if form else []), error=error, lookup=lookup, located=located,
        duplicates=duplicates, channels=deployment.profile.channels,
        can_write_article=service_type is not None and allowed(Permission.KNOWLEDGE_EDIT,
                                                               ArticleScope(service_type.department)),
        timeframe=timeframe_label(deployment, service_type) if service_type else None,
    ), status


@bp.get("/intake")
@permission(Permission.CASE_CREATE)
def intake():
    try:
        service_type = _service_type(request.args.get("type"))
    except CivicError as exc:
        return _render(error=str(exc), status=400)
    return _render(service_type)


@bp.post("/intake")
@permission(Permission.CASE_CREATE)
def take_call():
    """One form, five buttons: look the caller up, check the location (and nearby duplicates), create the
    case (shown the possible duplicates first when there are any), create it anyway, or have the caller
    follow one of the duplicates (``follow``: its tracking number) instead of opening a new case."""
    from civiccrm.services import cases, duplicates

    deployment = get_deployment()
    form = request.form
    service_type = None
    try:
        service_type = _service_type(form.get("type"))
        if service_type is None:
            raise CivicError("type: choose the service type first", field="type")
        action = "follow" if form.get("follow") else form.get("action", "create")
        if action not in ACTIONS:
            raise CivicError(f"action: {action[:30]!r}; expected one of {', '.join(ACTIONS)}", field="action")
        if action == "lookup":
            return _render(service_type, form=form, lookup=_caller_lookup(form))
        if action == "follow":
            require(Permission.CASE_WORK, cases.get(deployment, (form.get("follow") or "").strip()), hide=True)
            case = duplicates.report_again(deployment, (form.get("follow") or "").strip(), _customer(form),
                                           channel=form.get("channel") or "phone", actor=current_actor().name)
            flash(_("The caller follows %(number)s: no new case.", number=case.tracking_number), "info")
            return redirect(url_for("admin.intake_done", tracking_number=case.tracking_number))
        location = cases.locate(deployment, _location(form))
        definitions = _definitions(service_type)
        draft = CaseDraft(service_code=service_type.code, description=(form.get("description") or "").strip(),
                          channel=form.get("channel") or "phone", location=location, customer=_customer(form),
                          attributes=_attribute_answers(form, definitions))
        candidates = duplicates.for_draft(deployment, draft)
        if action == "check":
            return _render(service_type, form=form, located=location, duplicates=candidates)
        validate_attributes(tuple(definitions), draft.attributes, service_code=service_type.code)
        if candidates and action != "create_anyway":
            return _render(service_type, form=form, located=location, duplicates=candidates)
        actor = current_actor().name
        case = cases.intake(deployment, draft, actor=actor)
        on_behalf = (form.get("on_behalf_of") or "").strip()[:200]
        if on_behalf and not form.get("anonymous"):
            cases.add_note(deployment, case.tracking_number, f"Called on behalf of {on_behalf}", actor=actor)
    except CivicError as exc:
        return _render(service_type, form=form, error=str(exc), status=exc.http_status)
    return redirect(url_for("admin.intake_done", tracking_number=case.tracking_number))


@bp.get("/intake/done/<tracking_number>")
@permission(Permission.CASE_CREATE)
def intake_done(tracking_number):
    """What to read back to the caller: the tracking number and the time-frame."""
    from civiccrm.services import cases, knowledge

    deployment = get_deployment()
    case = cases.get(deployment, tracking_number)
    require(Permission.CASE_VIEW, case, hide=True)
    service_type = deployment.profile.taxonomy.service_types.get(case.service_code)
    article = knowledge.for_type(deployment, case.service_code)
    return render_template("admin/intake_done.html", case=case, article=article,
                           timeframe=timeframe_label(deployment, service_type) if service_type else None)
