"""Service alerts by area (/alerts): subscribe by e-mail to a district or a radius around a point,
confirm by the e-mailed link, unsubscribe in one click (RFC 8058); ``civiccrm alerts post`` sends one."""

import click
from flask import current_app, render_template, request

from civiccrm.domain.alerts import Area
from civiccrm.errors import CivicError
from civiccrm.services import alerts as alert_service
from civiccrm.web import Config, get_deployment
from civiccrm.web.i18n import catalog, current_language
from civiccrm.web.labels import N_
from civiccrm.web.security import csrf
from civiccrm_plugins.open311 import params
from civiccrm_plugins.public_pages import bp

RADII = (250, 500, 1000, 2000, 5000)
"""The radii (metres) the form offers."""


def link_maker(base_url: str):
    """``link(kind, token)``: the confirm or unsubscribe URL of a subscription."""
    base = base_url.rstrip("/")
    return lambda kind, token: f"{base}/alerts/{kind}/{token}"


def describe_area(area: Area, profile, gettext) -> str:
    if area.is_city:
        return gettext(N_("the whole city"))
    if area.district is not None:
        district = next((d for d in profile.city_map.districts if d.id == area.district), None)
        return district.name if district else area.district
    return gettext(N_("within %(radius)s m of %(lat)s, %(long)s")) % {
        "radius": f"{area.radius_m:g}", "lat": f"{area.latitude:.5f}", "long": f"{area.longitude:.5f}"}


def renderer(deployment):
    """The e-mails' words, in the subscriber's language."""
    profile = deployment.profile

    def render(kind, *, subscription, link, alert=None):
        gettext = catalog(subscription.language).gettext
        area = describe_area(subscription.area, profile, gettext)
        if kind == "confirm":
            subject = gettext(N_("Confirm your service alerts from %(city)s")) % {"city": profile.name}
            body = gettext(N_("Someone (we hope you) asked for e-mail alerts from %(city)s about %(area)s.\n\n"
                              "To start them, open this link and press Confirm:\n%(link)s\n\n"
                              "If it was not you, ignore this message: nothing will be sent.")) % {
                "city": profile.name, "area": area, "link": link}
            return subject, body
        subject = gettext(N_("Service alert from %(city)s: %(title)s")) % {"city": profile.name, "title": alert.title}
        body = gettext(N_("%(title)s\n\n%(body)s\n\nYou get this because you subscribed to alerts about %(area)s.\n"
                          "Unsubscribe in one click: %(link)s")) % {
            "title": alert.title, "body": alert.body, "area": area, "link": link}
        return subject, body

    return render


def _link():
    return link_maker(current_app.config["PUBLIC_URL"])


def _area(values) -> Area:
    chosen = values.get("area") or ("district" if values.get("district") else "point")
    if chosen == "district":
        district = params.optional(values, "district")
        if district is None:
            raise CivicError("district: choose a council district", field="district")
        return Area(district=district)
    lat, lng = params.coordinate(values, "lat", 90), params.coordinate(values, "long", 180)
    radius = params.positive_int(values, "radius_m", 500, 20_000)
    if lat is None or lng is None:
        raise CivicError("lat: give the latitude and longitude of the point", field="lat")
    return Area(latitude=lat, longitude=lng, radius_m=float(radius))


def _page(*, error=None, values=None, status=200, done=False):
    deployment = get_deployment()
    return render_template("public/alerts.html", alerts=alert_service.recent(deployment), error=error,
                           values=values or {}, done=done, districts=deployment.profile.city_map.districts,
                           radii=RADII, describe=lambda area: describe_area(area, deployment.profile, _gettext)), status


def _gettext(message):
    return catalog(current_language()).gettext(message)


@bp.get("/alerts")
def alerts():
    return _page()


@bp.post("/alerts")
def subscribe():
    deployment = get_deployment()
    try:
        email = alert_service.check_email(request.form.get("email"))  # the form's first field is checked first
        alert_service.subscribe(deployment, email=email, area=_area(request.form),
                                language=current_language(), link=_link(), render=renderer(deployment))
    except CivicError as exc:
        return _page(error=exc, values=request.form, status=400)
    return _page(done=True)


def _token_page(action: str, found):
    return render_template("public/alert_token.html", action=action, subscription=found,
                           area=describe_area(found.area, get_deployment().profile, _gettext))


@bp.get("/alerts/confirm/<token>")
def confirm_page(token):
    return _token_page("confirm", alert_service.subscription(get_deployment(), token))


@bp.post("/alerts/confirm/<token>")
def confirm(token):
    return _token_page("confirmed", alert_service.confirm(get_deployment(), token))


@bp.get("/alerts/unsubscribe/<token>")
def unsubscribe_page(token):
    return _token_page("unsubscribe", alert_service.subscription(get_deployment(), token))


@bp.post("/alerts/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click without cookies; the token is the proof
def unsubscribe(token):
    return _token_page("unsubscribed", alert_service.unsubscribe(get_deployment(), token))


# --- the command line ------------------------------------------------------------------------


def _cli_area(district, point, radius) -> Area:
    if point is None:
        if radius is not None:
            raise CivicError("--radius: goes with --point", field="radius_m")
        return Area(district=district)
    if district is not None:
        raise CivicError("--district and --point: give one of them (neither: the whole city)", field="district")
    try:
        lat, lng = (float(part) for part in point.split(","))
    except ValueError:
        raise CivicError(f"--point: {point!r} is not LAT,LONG like 39.0997,-94.5786", field="lat") from None
    return Area(latitude=lat, longitude=lng, radius_m=float(radius if radius is not None else 1000))


def register_alert_commands(cli):
    from civiccrm.cli import CivicGroup, emit_json, json_option, pass_obj

    @cli.group("alerts", cls=CivicGroup)
    def alerts_group():
        """Service alerts residents subscribe to by area (/alerts)."""

    @alerts_group.command("post")
    @click.option("--title", required=True, help="One line, e.g. 'Trash pickup delayed one day'.")
    @click.option("--body", required=True, help="What residents should know.")
    @click.option("--district", help="A council district id (default: the whole city).")
    @click.option("--point", metavar="LAT,LONG", help="The centre of the area instead of a district.")
    @click.option("--radius", type=float, help="Metres around --point (default 1000).")
    @click.option("--public-url", envvar="CIVICCRM_PUBLIC_URL", default=Config.PUBLIC_URL, show_default=True,
                  help="Where residents reach the public pages (the unsubscribe links).")
    @pass_obj
    def post(obj, title, body, district, point, radius, public_url):
        """Post an alert: one e-mail to each confirmed subscriber it concerns, sent by `civiccrm deliver`."""
        deployment = obj.deployment
        alert = alert_service.post(deployment, title=title, body=body, area=_cli_area(district, point, radius),
                                   actor=obj.actor, link=link_maker(public_url), render=renderer(deployment))
        click.echo(f"Alert {alert.id} posted; {alert.recipients} e-mails queued (civiccrm deliver sends them).")

    @alerts_group.command("list")
    @click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
    @json_option
    @pass_obj
    def list_alerts(obj, limit, as_json):
        """The latest alerts, newest first."""
        found = alert_service.recent(obj.deployment, limit=limit)
        if as_json:
            emit_json([{"id": a.id, "title": a.title, "posted_at": a.posted_at, "posted_by": a.posted_by,
                        "recipients": a.recipients, "district": a.area.district, "latitude": a.area.latitude,
                        "longitude": a.area.longitude, "radius_m": a.area.radius_m} for a in found])
            return
        for a in found:
            click.echo(f"{a.id}\t{a.posted_at.isoformat(timespec='seconds')}\t{a.recipients} e-mails\t{a.title}")

