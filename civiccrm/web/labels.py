"""Words for statuses, resolutions and roles on web pages, marked for translation (``N_``), and local times."""

from civiccrm.domain.cases import Resolution, Status
from civiccrm.domain.users import Role
from civiccrm.web.i18n import gettext


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


STATUS = {
    Status.NEW: N_("Received"), Status.OPEN: N_("Open"), Status.IN_PROGRESS: N_("In progress"),
    Status.ON_HOLD: N_("On hold"), Status.WAITING: N_("Waiting for the resident"), Status.CLOSED: N_("Closed"),
    Status.REOPENED: N_("Reopened"),
}
RESOLUTION = {
    Resolution.FIXED: N_("Fixed"), Resolution.DUPLICATE: N_("Duplicate"), Resolution.NOT_CITY: N_("Not the city's"),
    Resolution.NO_ACTION: N_("No action needed"), Resolution.REFERRED: N_("Referred"),
    Resolution.CANCELLED: N_("Cancelled"),
}
ROLE = {
    Role.ADMINISTRATOR: N_("Administrator"), Role.SUPERVISOR: N_("Supervisor"), Role.CALL_TAKER: N_("Call taker"),
    Role.DEPARTMENT_WORKER: N_("Department worker"), Role.ANALYST: N_("Analyst"), Role.READ_ONLY: N_("Read only"),
}

EVENT = {
    "created": N_("Created"), "assigned": N_("Assigned"), "status_changed": N_("Status changed"),
    "note": N_("Internal note"), "public_note": N_("Reply to the resident"), "closed": N_("Closed"),
    "reopened": N_("Reopened"), "merged": N_("Merged"), "updated": N_("Updated"), "imported": N_("Imported"),
    "hook_failed": N_("Plugin failed"), "hook_retried": N_("Plugin retried"), "sla_escalated": N_("SLA escalated"),
}


def event_label(kind: str) -> str:
    return gettext(EVENT[kind]) if kind in EVENT else kind.replace("_", " ")


BASIS = {"calendar_days": N_("calendar days"), "business_days": N_("business days"),
         "business_hours": N_("business hours")}


def basis_label(basis: str) -> str:
    """How an SLA target is counted, in words: "business days"."""
    return gettext(BASIS[basis]) if basis in BASIS else str(basis).replace("_", " ")


def timeframe_label(deployment, service_type) -> str:
    """The SLA time-frame of a new case of ``service_type``, in words: "5 business days"."""
    policy = deployment.profile.sla_policy(service_type, deployment.clock())
    return f"{policy.target:g} {basis_label(policy.basis)}"


def _label(table, enum, value) -> str:
    try:
        return gettext(table[enum(value)])
    except (ValueError, KeyError):
        return "" if value is None else str(value)


def status_label(value) -> str:
    return _label(STATUS, Status, value)


def resolution_label(value) -> str:
    return _label(RESOLUTION, Resolution, value)


def role_label(value) -> str:
    return _label(ROLE, Role, value)


def local_time(value, format: str = "%Y-%m-%d %H:%M", *, tz=None) -> str:
    """An instant in the city's timezone, as the staff and residents there read clocks. ``tz`` saves the
    deployment look-up when the caller formats many (the work queue's rows)."""
    if value is None:
        return ""
    if tz is None:
        from civiccrm.web import get_deployment

        tz = get_deployment().profile.tz
    return value.astimezone(tz).strftime(format)


def weekday_label(day: str) -> str:
    """A weekday of ``civiccrm.domain.calendar.WEEKDAYS`` ("monday" ..) in the page's language, from the CLDR
    day names Babel carries (so a language needs no catalogue entries for them)."""
    from babel.dates import get_day_names

    from civiccrm.domain.calendar import WEEKDAYS
    from civiccrm.web.i18n import current_language

    return get_day_names("wide", locale=current_language().replace("-", "_"))[WEEKDAYS.index(day)].capitalize()


def init_app(app) -> None:
    app.jinja_env.filters.update(status=status_label, resolution=resolution_label, role=role_label, local=local_time,
                                 event=event_label, basis=basis_label, weekday=weekday_label)
