"""Report packs (/admin/reports): every pack the city may render, and a period and format to render it in."""

from datetime import date, datetime, time, timedelta

from flask import Response, render_template, request

from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import permission
from civiccrm.web.admin.config import _date

EXTENSIONS = {"html": "html", "pdf": "pdf", "csv": "csv", "json": "json", "zip": "zip"}


def _day(name: str) -> date:
    day = _date(request.args, name)
    if day is None:
        raise CivicError(f"{name}: a date like 2026-03-31 is required", field=name)
    return day


@bp.get("/reports")
@permission(Permission.REPORTS_VIEW)
def reports():
    deployment = get_deployment()
    packs = [p for _, p in sorted(deployment.registry.report_packs.items()) if p.enabled_for(deployment.profile)]
    today = deployment.clock().astimezone(deployment.profile.tz).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return render_template("admin/reports.html", packs=packs, first=first,
                           last=today.replace(day=1) - timedelta(days=1))


@bp.get("/reports/<name>")
@permission(Permission.REPORTS_VIEW)
def render_report(name):
    """The pack for ?from=&to= (both inclusive, city time) in ?format= (default: the pack's first)."""
    deployment = get_deployment()
    pack = deployment.registry.report_pack(name, profile=deployment.profile)
    first, last = _day("from"), _day("to")
    if last < first:
        raise CivicError(f"to: {last} is before from {first}", field="to")
    tz = deployment.profile.tz
    fmt = (request.args.get("format") or "").strip() or None
    rendered = pack.render_report(deployment, start=datetime.combine(first, time(0), tz),
                                  end=datetime.combine(last + timedelta(days=1), time(0), tz), format=fmt)
    response = Response(rendered.content, mimetype=rendered.media_type)
    fmt = fmt or pack.formats[0]
    if fmt != "html":
        response.headers["Content-Disposition"] = (f'attachment; filename="{pack.name}-{first}-{last}.'
                                                   f'{EXTENSIONS.get(fmt, "bin")}"')
    return response
