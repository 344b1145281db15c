"""Configuration (/admin/config): the taxonomy, calendars and SLA policies in force; a new SLA policy
version (never an edit of an old one) for administrators; every change recorded with who and when."""

from datetime import date

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.calendar import WEEKDAYS, format_day_hours
from civiccrm.domain.taxonomy import SlaBasis
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, current_actor, permission, require
from civiccrm.web.i18n import gettext as _


def _number(form, name: str, *, required: bool = False) -> float | None:
    text = (form.get(name) or "").strip()
    if not text:
        if required:
            raise CivicError(f"{name}: required (a number such as 5 or 0.5)", field=name)
        return None
    try:
        return float(text)
    except ValueError:
        raise CivicError(f"{name}: {text[:20]!r} is not a number", field=name) from None


def _date(form, name: str) -> date | None:
    text = (form.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CivicError(f"{name}: {text[:20]!r} is not a date like 2027-01-01", field=name) from None


@bp.get("/config")
@permission(Permission.CASE_VIEW)
def config():
    from civiccrm.services import config_changes

    deployment = get_deployment()
    profile = deployment.profile
    query = (request.args.get("q") or "").strip().casefold()[:150]
    types = sorted(profile.taxonomy.service_types.values(), key=lambda t: t.name)
    if query:
        types = [t for t in types if query in t.name.casefold() or query in t.code]
    now = deployment.clock()
    return render_template("admin/config.html", profile=profile, types=types[:200], more=len(types) > 200, q=query,
                           policy=lambda st: profile.sla_policy(st, now), changes=config_changes.recent(deployment),
                           can_edit=allowed(Permission.CONFIG_EDIT), added=config_changes.admin_closures(deployment),
                           today=now.astimezone(profile.tz).date().isoformat())


@bp.post("/config/calendars/<calendar_code>/closures")
@permission(Permission.CONFIG_EDIT)
def add_closure(calendar_code):
    """Close a calendar on a day (today or later), with a reason."""
    from civiccrm.services import config_changes

    return _day_with_reason(calendar_code, config_changes.add_closure, "date: choose the day the city is closed",
                            lambda day: _("%(calendar)s is closed on %(day)s.", calendar=calendar_code, day=day),
                            url_for("admin.config"))


def _day_with_reason(calendar_code, change, missing: str, done, back: str):
    """A calendar change of one day (form fields ``date``, ``reason``), then back to ``back``."""
    day = _date(request.form, "date")
    if day is None:
        raise CivicError(missing, field="date")
    change(get_deployment(), calendar_code, day, actor=current_actor().name, reason=request.form.get("reason", ""))
    flash(done(day.isoformat()), "info")
    return redirect(back)


@bp.post("/config/calendars/<calendar_code>/closures/<day>/remove")
@permission(Permission.CONFIG_EDIT)
def remove_closure(calendar_code, day):
    """Open again on a day closed in the admin."""
    from civiccrm.services import config_changes

    parsed = _date({"date": day}, "date")
    config_changes.remove_closure(get_deployment(), calendar_code, parsed, actor=current_actor().name)
    flash(_("%(calendar)s is open again on %(day)s.", calendar=calendar_code, day=parsed.isoformat()), "info")
    return redirect(url_for("admin.config"))


@bp.route("/config/sla/<service_code>", methods=["GET", "POST"])
@permission(Permission.CASE_VIEW)
def sla_policy(service_code):
    """A type's SLA policy versions; administrators add a version from a date (today or later)."""
    from civiccrm.services import config_changes

    deployment = get_deployment()
    profile = deployment.profile
    service_type = profile.taxonomy.service_types.get(service_code)
    if service_type is None:
        raise CivicError(f"service_code: no service type {service_code!r}", field="service_code")
    error = None
    if request.method == "POST":
        require(Permission.CONFIG_EDIT)
        form = request.form
        try:
            added = config_changes.add_sla_version(
                deployment, service_type.code, actor=current_actor().name,
                target=_number(form, "target", required=True), basis=(form.get("basis") or "").strip() or None,
                calendar=(form.get("calendar") or "").strip() or None, effective_from=_date(form, "effective_from"),
                first_response=_number(form, "first_response"), note=(form.get("note") or "").strip()[:500] or None)
        except CivicError as exc:
            error = str(exc)
        else:
            flash(_("New SLA policy version from %(day)s saved.", day=added.effective_from.isoformat()), "info")
            return redirect(url_for("admin.sla_policy", service_code=service_type.code))
    now = deployment.clock()
    return render_template(
        "admin/sla_policy.html", service_type=service_type, current=profile.sla_policy(service_type, now),
        versions=list(reversed(profile.sla.history(service_type.code))), bases=SlaBasis.ALL,
        calendars=sorted(profile.calendars), changes=config_changes.recent(deployment, subject=service_type.code,
                                                                        kind="sla_policy"),
        can_edit=allowed(Permission.CONFIG_EDIT), error=error, values=request.form,
        today=now.astimezone(profile.tz).date().isoformat(),
    ), 400 if error else 200


@bp.get("/config/calendars/<calendar_code>")
@permission(Permission.CASE_VIEW)
def calendar(calendar_code):
    """A calendar's weekly hours (in force and from later dates) and its public holidays ahead."""
    from civiccrm.services import config_changes

    deployment = get_deployment()
    found = config_changes.find_calendar(deployment, calendar_code)
    today = deployment.clock().astimezone(deployment.profile.tz).date()
    changes = [c for c in config_changes.recent(deployment, subject=found.code, limit=100)
               if c.kind in ("hours", "holiday_worked")]
    return render_template("admin/calendar.html", calendar=found, weekdays=WEEKDAYS, today=today.isoformat(),
                           now_hours=found.hours_on(today), later=[(d, h) for d, h in found.hours_from if d > today],
                           holidays=config_changes.holidays_ahead(found, today), changes=changes,
                           can_edit=allowed(Permission.CONFIG_EDIT), hours_text=format_day_hours)


@bp.post("/config/calendars/<calendar_code>/hours")
@permission(Permission.CONFIG_EDIT)
def add_hours(calendar_code):
    """New weekly hours from a date (today or later): fields ``effective_from`` and ``hours_monday`` ..
    ``hours_sunday`` (``"08:00-12:00, 13:00-17:00"``; empty: closed)."""
    from civiccrm.services import config_changes

    form = request.form
    first = _date(form, "effective_from")
    config_changes.add_hours(get_deployment(), calendar_code, {day: form.get(f"hours_{day}", "") for day in WEEKDAYS},
                             effective_from=first, actor=current_actor().name)
    flash(_("New hours saved."), "info")
    return redirect(url_for("admin.calendar", calendar_code=calendar_code))


@bp.post("/config/calendars/<calendar_code>/worked")
@permission(Permission.CONFIG_EDIT)
def work_on_holiday(calendar_code):
    """Work on a public holiday (fields ``date``, ``reason``): due times computed from then on count it."""
    from civiccrm.services import config_changes

    return _day_with_reason(calendar_code, config_changes.work_on_holiday, "date: choose the holiday worked",
                            lambda day: _("%(calendar)s works on %(day)s.", calendar=calendar_code, day=day),
                            url_for("admin.calendar", calendar_code=calendar_code))
