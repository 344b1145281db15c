"""Follow a request (/status/<tracking_number>): status, public notes, timeline and time-frame; nothing private."""

from flask import redirect, render_template, request, session, url_for

from civiccrm.errors import NotFound
from civiccrm.services import public
from civiccrm.web import get_deployment
from civiccrm.web.i18n import gettext as _
from civiccrm.web.labels import timeframe_label
from civiccrm_plugins.public_pages import bp
from civiccrm_plugins.public_pages.report import CREATED_KEY


@bp.get("/status")
def lookup():
    """The lookup form; ``?tracking_number=`` goes to that request's page."""
    number = (request.args.get("tracking_number") or "").strip()
    if number:
        return redirect(url_for("public.status", tracking_number=number[:public.MAX_TRACKING_NUMBER]), 303)
    return render_template("public/lookup.html")


@bp.get("/status/<tracking_number>")
def status(tracking_number: str):
    deployment = get_deployment()
    try:
        found = public.status(deployment, tracking_number)
    except NotFound:
        raise NotFound(_("There is no request %(number)s. Check the number you were given.",
                         number=tracking_number[:public.MAX_TRACKING_NUMBER]), field="tracking_number") from None
    created = session.get(CREATED_KEY)
    just_made = session.pop(CREATED_KEY) if created and created.get("number") == found.tracking_number else None
    service_type = deployment.profile.taxonomy.service_types.get(found.service_code)
    district = next((d for d in deployment.profile.city_map.districts if d.id == found.council_district), None)
    return render_template("public/status.html", case=found, just_made=just_made, now=deployment.clock(),
                           on_time=found.on_time(deployment.clock()), district=district,
                           timeframe=timeframe_label(deployment, service_type) if service_type else None)
