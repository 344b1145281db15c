"""Report a problem (/): find the service type by typing, answer its questions, say where, send."""

import re
from datetime import datetime

from flask import redirect, render_template, request, session, url_for
from werkzeug.datastructures import MultiDict

from civiccrm.domain.attributes import Datatype
from civiccrm.domain.cases import Customer, Location
from civiccrm.errors import CivicError
from civiccrm.services import cases as case_service
from civiccrm.services import public_reports
from civiccrm.web import get_deployment
from civiccrm.web.i18n import current_language
from civiccrm.web.i18n import gettext as _
from civiccrm.web.labels import N_, timeframe_label
from civiccrm_plugins.open311 import params
from civiccrm_plugins.public_pages import bp, maps, photos

CREATED_KEY = "public_created"
"""Session key: the request just made (its number and the possible duplicates shown with it)."""
_LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")

HINTS = {
    "service_code": N_("Choose the kind of problem from the list."),
    "description": N_("Describe the problem."),
    "address_string": N_("Give the address of the problem, or a point inside the city."),
    "lat": N_("Give the address of the problem, or a point inside the city."),
    "long": N_("Give the address of the problem, or a point inside the city."),
    "latitude": N_("The point is outside the city limits. Check the address or the point."),
    "first_name": N_("Check your name."),
    "last_name": N_("Check your name."),
    "email": N_("The e-mail address does not look right."),
    "phone": N_("Check the phone number."),
    "photo": N_("The photo could not be accepted."),
}
FIELD_IDS = {"latitude": "lat", "address": "address_string"}


def hint(field: str | None) -> str:
    if field and field.startswith("attribute["):
        return _("Answer the questions about this problem.")
    return _(HINTS[field]) if field in HINTS else _("Check the form.")


def _choose(deployment, *, query: str = "", error: str | None = None, status: int = 200):
    results = public_reports.find_types(deployment, query) if query else []
    template = "public/_type_results.html" if request.headers.get("HX-Request") else "public/choose.html"
    config = public_reports.settings(deployment.profile)
    return render_template(template, query=query, results=results, error=error,
                           emergency=public_reports.emergency_types(deployment),
                           emergency_message=config["emergency_message"],
                           popular=public_reports.popular_types(deployment), profile=deployment.profile), status


def _form(deployment, service_type, *, values=None, error: CivicError | None = None, status: int = 200):
    field = error.field if error is not None else None
    field_id = f"attr-{field[10:-1]}" if field and field.startswith("attribute[") else FIELD_IDS.get(field, field)
    return render_template(
        "public/report.html", service_type=service_type, timeframe=timeframe_label(deployment, service_type),
        attributes=sorted(deployment.profile.service_attributes.get(service_type.code, ()), key=lambda a: a.order),
        values=values if values is not None else MultiDict(), error=error, error_field=field_id, hint=hint(field),
        city=maps.city_svg(deployment.profile.city_map), profile=deployment.profile, Datatype=Datatype,
        max_photo=public_reports.settings(deployment.profile)["photo_max_bytes"],
    ), status


@bp.get("/")
def report():
    deployment = get_deployment()
    code = (request.args.get("service_code") or "").strip()
    if code:
        service_type = deployment.profile.taxonomy.service_types.get(code)
        if service_type is None:
            return _choose(deployment, error=_("There is no such kind of problem: choose one from the list."),
                           status=404)
        return _form(deployment, service_type)
    return _choose(deployment, query=(request.args.get("q") or "").strip()[:100])


def _attributes(deployment, service_code: str, values) -> dict[str, tuple[str, ...]]:
    """The form's answers; a date and time without an offset is the city's local time."""
    answers = params.attributes(values)
    kinds = {a.code: a.datatype for a in deployment.profile.service_attributes.get(service_code, ())}
    tz = deployment.profile.tz
    for code, given in answers.items():
        if kinds.get(code) == Datatype.DATETIME:
            answers[code] = tuple(_with_offset(v.strip(), tz) for v in given)
    return answers


def _with_offset(value: str, tz) -> str:
    if not _LOCAL_MINUTE.match(value):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=tz).isoformat()


def _customer(values) -> Customer | None:
    names = [params.text(values, f, 100) for f in ("first_name", "last_name")]
    customer = Customer(name=" ".join(n for n in names if n) or None, email=params.text(values, "email", 320),
                        phone=params.text(values, "phone", 40), language=current_language())
    return None if customer.is_empty else customer


def _location(values) -> Location:
    lat, lng = params.coordinate(values, "lat", 90), params.coordinate(values, "long", 180)
    if (lat is None) != (lng is None):
        given, missing = ("lat", "long") if lat is not None else ("long", "lat")
        raise CivicError(f"{missing}: {given} was given without {missing}; give both or neither", field=missing)
    return Location(address=params.text(values, "address_string", 300), latitude=lat, longitude=lng)


@bp.post("/")
def submit():
    deployment = get_deployment()
    values = request.form
    code = (values.get("service_code") or "").strip()
    service_type = deployment.profile.taxonomy.service_types.get(code)
    if service_type is None:
        return _choose(deployment, error=_("There is no such kind of problem: choose one from the list."),
                       status=400)
    photo = None
    try:
        description = params.text(values, "description", case_service.MAX_DESCRIPTION, multiline=True)
        if not description:
            raise CivicError("description: missing; say what the problem is", field="description")
        location, customer = _location(values), _customer(values)
        answers = _attributes(deployment, code, values)
        photo = photos.accept(deployment, request.files.get("photo"))
        submitted = public_reports.submit(
            deployment, service_code=code, description=description, location=location, attributes=answers,
            customer=customer, media_url=photos.url(photo) if photo else None)
    except CivicError as exc:
        if photo is not None:
            photos.discard(deployment, photo)
        status = exc.http_status if exc.http_status in (400, 413, 429) else 400
        return _form(deployment, service_type, values=values, error=exc, status=status)
    if photo is not None:
        photos.attach(deployment, photo, submitted.case)
    session[CREATED_KEY] = {"number": submitted.case.tracking_number,
                            "duplicates": [c.tracking_number for c in submitted.possible_duplicates]}
    return redirect(url_for("public.status", tracking_number=submitted.case.tracking_number), 303)
