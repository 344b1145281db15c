"""Configuration changed in the admin: each change recorded (append-only) with who, when, before and after,
and replayed in order over the profile's folder whenever a deployment opens or sees the log grow.

SLA policies change by a new version, never an edit (kept in ``sla_policies``); calendars gain closures,
worked public holidays and new weekly hours from a date; the taxonomy gains and edits departments, work
groups and service types (mirrored into their tables for reports)."""

import json
import re
from collections.abc import Callable
from datetime import date

import attrs
from sqlalchemy import delete, func, insert, select

from civiccrm.domain.calendar import WEEKDAYS, format_day_hours, parse_day_hours
from civiccrm.domain.sla import SlaPolicy
from civiccrm.domain.taxonomy import Department, SlaBasis, ServiceType, WorkGroup
from civiccrm.errors import CivicError, NotFound
from civiccrm.services.sla import policies
from civiccrm.store.db import read_connection
from civiccrm.store.tables import DepartmentRow, ServiceTypeRow, SlaPolicyRow, WorkGroupRow
from civiccrm.store.tables import config_changes_table as table

CLOSURE_KINDS = ("closure_added", "closure_removed")
CODE = re.compile(r"[a-z0-9][a-z0-9-]*")


@attrs.frozen
class ConfigChange:
    id: int
    at: object
    actor: str
    kind: str
    """What changed: ``sla_policy``, ``closure_added``, ``closure_removed``, ``holiday_worked``, ``hours``,
    ``department``, ``work_group`` or ``service_type``."""
    subject: str
    """Which one: a service code, a calendar code, a department or work group code."""
    before: dict | None
    after: dict | None


def _record(deployment, *, actor: str, kind: str, subject: str, before: dict | None, after: dict | None,
            mirror: Callable | None = None) -> None:
    """Store the change (and its mirror in the taxonomy tables, in the same transaction), then reload."""
    with deployment.engine.begin() as connection:
        connection.execute(insert(table).values(
            at=deployment.clock(), actor=actor, kind=kind, subject=subject,
            before=json.dumps(before) if before is not None else None,
            after=json.dumps(after) if after is not None else None))
        if mirror is not None:
            mirror(connection)
    load_stored_config(deployment)


# --- replaying the log -------------------------------------------------------------------------------

def generation(deployment) -> tuple[int, int]:
    """How far the stored configuration has come: rows in the change log and in ``sla_policies``, both
    append-only, so any change anywhere moves it (one cheap read, every second in each web worker)."""
    query = select(select(func.count()).select_from(table).scalar_subquery(),
                   select(func.count()).select_from(SlaPolicyRow.__table__).scalar_subquery())
    with read_connection(deployment.engine) as connection:
        return tuple(connection.execute(query).one())


def refresh(deployment) -> bool:
    """Reload the stored configuration when another process (a gunicorn worker, the CLI) changed it since
    this deployment last read it; True if it did."""
    if generation(deployment) == deployment.config_generation:
        return False
    load_stored_config(deployment)
    return True


def _calendar_change(profile, code: str, change: Callable):
    if code not in profile.calendars:
        return profile
    return attrs.evolve(profile, calendars={**profile.calendars, code: change(profile.calendars[code])})


def _replay_closure(profile, subject, after, *, added: bool):
    day = date.fromisoformat(after["date"])
    return _calendar_change(profile, subject, lambda c: attrs.evolve(
        c, closures=c.closures | {day} if added else c.closures - {day}))


def _replay_worked(profile, subject, after):
    day = date.fromisoformat(after["date"])
    return _calendar_change(profile, subject, lambda c: attrs.evolve(c, worked=c.worked | {day}))


def _week(values: dict) -> tuple:
    return tuple(parse_day_hours([t for t in values.get(day, "").split(",") if t.strip()], where=f"hours_{day}")
                 for day in WEEKDAYS)


def _replay_hours(profile, subject, after):
    first = date.fromisoformat(after["effective_from"])
    return _calendar_change(profile, subject, lambda c: attrs.evolve(
        c, hours_from=tuple(sorted({**dict(c.hours_from), first: _week(after["hours"])}.items()))))


def _taxonomy_change(profile, **changed):
    taxonomy = profile.taxonomy
    return attrs.evolve(profile, taxonomy=attrs.evolve(taxonomy, **{
        name: {**getattr(taxonomy, name), **values} for name, values in changed.items()}))


def _replay_department(profile, subject, after):
    return _taxonomy_change(profile, departments={subject: Department(**after)})


def _replay_work_group(profile, subject, after):
    return _taxonomy_change(profile, work_groups={subject: WorkGroup(**after)})


def _replay_service_type(profile, subject, after):
    return _taxonomy_change(profile, service_types={subject: ServiceType(**{**after, "keywords": tuple(
        after["keywords"])})})


REPLAY = {
    "closure_added": lambda p, s, a: _replay_closure(p, s, a, added=True),
    "closure_removed": lambda p, s, a: _replay_closure(p, s, a, added=False),
    "holiday_worked": _replay_worked,
    "hours": _replay_hours,
    "department": _replay_department,
    "work_group": _replay_work_group,
    "service_type": _replay_service_type,
}
"""Change kind -> how it is applied to a profile (``sla_policy`` changes are replayed from their own table)."""


def load_stored_config(deployment) -> None:
    """The deployment's profile: its folder's, then the stored SLA versions, then the change log in order."""
    seen = generation(deployment)
    deployment.profile = deployment.base_profile
    policies.load_stored_policies(deployment)
    profile = deployment.profile
    query = select(table.c.kind, table.c.subject, table.c.after).where(table.c.kind.in_(REPLAY)).order_by(table.c.id)
    with deployment.engine.connect() as connection:
        for kind, subject, after in connection.execute(query):
            profile = REPLAY[kind](profile, subject, json.loads(after))
    deployment.profile = profile
    deployment.config_generation = seen


def recent(deployment, *, subject: str | None = None, kind: str | None = None, limit: int = 50) -> list[ConfigChange]:
    """The latest changes, newest first (of one ``subject`` and ``kind`` when given)."""
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(table.c.subject == subject)
    if kind is not None:
        query = query.where(table.c.kind == kind)
    with deployment.engine.connect() as connection:
        return [ConfigChange(id=r.id, at=r.at, actor=r.actor, kind=r.kind, subject=r.subject,
                             before=json.loads(r.before) if r.before else None,
                             after=json.loads(r.after) if r.after else None)
                for r in connection.execute(query)]


# --- SLA policies --------------------------------------------------------------------------------------

def _policy_values(policy: SlaPolicy) -> dict:
    return {"target": policy.target, "basis": policy.basis, "calendar": policy.calendar,
            "effective_from": policy.effective_from.isoformat() if policy.effective_from else None,
            "first_response": policy.first_response, "pause_statuses": sorted(policy.pause_statuses),
            "clock_start": str(policy.clock_start), "note": policy.note}


def add_sla_version(deployment, service_code: str, *, actor: str, target: float, basis: str | None = None,
                    calendar: str | None = None, effective_from: date | None = None,
                    first_response: float | None = None, note: str | None = None) -> SlaPolicy:
    """A new SLA policy version for ``service_code`` from ``effective_from`` (``sla policy set`` does the
    checks and the storing), recorded with the version in force before it."""
    service_type = deployment.profile.service_type(service_code)
    before = deployment.profile.sla_policy(service_type, deployment.clock())
    added = policies.set_policy(deployment, service_type.code, target=target, basis=basis, calendar=calendar,
                                effective_from=effective_from, first_response=first_response, note=note,
                                actor=actor)
    _record(deployment, actor=actor, kind="sla_policy", subject=service_type.code, before=_policy_values(before),
            after=_policy_values(added))
    return added


# --- calendars -----------------------------------------------------------------------------------------

def admin_closures(deployment) -> dict[str, dict[date, str]]:
    """Calendar code -> the closures added in the admin and not removed since, with their reasons."""
    found: dict[str, dict[date, str]] = {}
    query = (select(table.c.kind, table.c.subject, table.c.after).where(table.c.kind.in_(CLOSURE_KINDS))
             .order_by(table.c.id))
    with deployment.engine.connect() as connection:
        for kind, subject, after in connection.execute(query):
            values = json.loads(after)
            day = date.fromisoformat(values["date"])
            if kind == "closure_added":
                found.setdefault(subject, {})[day] = values.get("reason") or ""
            else:
                found.get(subject, {}).pop(day, None)
    return found


def _today(deployment) -> date:
    return deployment.clock().astimezone(deployment.profile.tz).date()


def _not_past(deployment, day: date, field: str, what: str) -> None:
    if day < _today(deployment):
        raise CivicError(f"{field}: {day.isoformat()} is in the past; {what} is added for today or later",
                         field=field)


def _reason(reason: str | None, why: str) -> str:
    reason = " ".join((reason or "").split())[:200]
    if not reason:
        raise CivicError(f"reason: say why {why}", field="reason")
    return reason


def add_closure(deployment, calendar_code: str, day: date, *, actor: str, reason: str) -> None:
    """Close ``calendar_code`` on ``day`` (today or later): due times computed from then on skip it."""
    calendar = find_calendar(deployment, calendar_code)
    reason = _reason(reason, "the city is closed that day")
    _not_past(deployment, day, "date", "a closure")
    if day in calendar.closures or calendar.is_holiday(day):
        raise CivicError(f"date: {calendar.code} is already closed on {day.isoformat()}", field="date")
    _record(deployment, actor=actor, kind="closure_added", subject=calendar.code, before=None,
            after={"date": day.isoformat(), "reason": reason})


def remove_closure(deployment, calendar_code: str, day: date, *, actor: str) -> None:
    """Open again on ``day``: only a closure added in the admin (the profile's are edited in its folder)."""
    calendar = find_calendar(deployment, calendar_code)
    added = admin_closures(deployment).get(calendar.code, {})
    if day not in added:
        raise CivicError(f"date: {day.isoformat()} is not a closure added in the admin for {calendar.code}; "
                         "closures of the profile are edited in its folder", field="date")
    _record(deployment, actor=actor, kind="closure_removed", subject=calendar.code,
            before={"date": day.isoformat(), "reason": added[day]}, after={"date": day.isoformat()})


def work_on_holiday(deployment, calendar_code: str, day: date, *, actor: str, reason: str) -> None:
    """Work on a public holiday of ``calendar_code`` (today or later): due times computed from then on count it."""
    calendar = find_calendar(deployment, calendar_code)
    reason = _reason(reason, "the team works on that holiday")
    _not_past(deployment, day, "date", "a worked holiday")
    if day in calendar.closures or not calendar.is_holiday(day):
        raise CivicError(f"date: {day.isoformat()} is not a public holiday of {calendar.code}"
                         + (" (it is a closure: open again instead)" if day in calendar.closures else ""),
                         field="date")
    _record(deployment, actor=actor, kind="holiday_worked", subject=calendar.code, before=None,
            after={"date": day.isoformat(), "reason": reason})


def holidays_ahead(calendar, start: date, days: int = 400) -> list[tuple[date, str]]:
    """The public holidays (with their names) in the ``days`` from ``start``, not counting worked ones."""
    if calendar.holidays is None:
        return []
    names = calendar.holidays.for_years(list(range(start.year, date.fromordinal(start.toordinal() + days).year + 1)))
    return sorted((day, name) for day, name in names.items()
                  if 0 <= (day - start).days <= days and day not in calendar.worked)


def add_hours(deployment, calendar_code: str, hours: dict[str, str], *, actor: str,
              effective_from: date | None = None) -> None:
    """New weekly hours for ``calendar_code`` from ``effective_from`` (today by default, never a past day);
    ``hours`` maps a weekday to intervals like ``"07:00-12:00, 13:00-17:00"`` (empty: closed that day).
    Hours in force on a day are never edited: a date already given is refused."""
    calendar = find_calendar(deployment, calendar_code)
    effective_from = effective_from or _today(deployment)
    _not_past(deployment, effective_from, "effective_from", "new hours")
    if effective_from in {first for first, _ in calendar.hours_from}:
        raise CivicError(f"effective_from: {calendar.code} already has hours from {effective_from.isoformat()}; "
                         "hours in force are never edited: choose a later date", field="effective_from")
    unknown = sorted(set(hours) - set(WEEKDAYS))
    if unknown:
        raise CivicError(f"hours_{unknown[0]}: not a weekday; expected {', '.join(WEEKDAYS)}", field="hours")
    week = {}
    for day in WEEKDAYS:
        text = " ".join((hours.get(day) or "").split())
        try:
            week[day] = format_day_hours(parse_day_hours([t for t in text.split(",") if t.strip()],
                                                         where=f"hours_{day}"))
        except CivicError as exc:
            raise CivicError(str(exc), field=f"hours_{day}") from None
    if not any(week.values()):
        raise CivicError("hours: give the opening hours of at least one weekday (like 08:00-17:00)", field="hours")
    before = {day: format_day_hours(intervals) for day, intervals in zip(WEEKDAYS, calendar.hours_on(effective_from))}
    _record(deployment, actor=actor, kind="hours", subject=calendar.code, before={"hours": before},
            after={"effective_from": effective_from.isoformat(), "hours": week})


def find_calendar(deployment, code: str):
    calendar = deployment.profile.calendars.get(code)
    if calendar is None:
        raise NotFound(f"calendar: no calendar {code!r}; expected one of {', '.join(deployment.profile.calendars)}",
                       field="calendar")
    return calendar


# --- the taxonomy --------------------------------------------------------------------------------------

def _text(value: str | None, field: str, limit: int, *, required: bool = True) -> str | None:
    text = " ".join((value or "").split())
    if len(text) > limit:
        raise CivicError(f"{field}: at most {limit} characters ({len(text)} given)", field=field)
    if not text and required:
        raise CivicError(f"{field}: required", field=field)
    return text or None


def _code(value: str | None, existing, *, new: bool, what: str, limit: int) -> str:
    code = (value or "").strip()
    if new:
        if not CODE.fullmatch(code) or len(code) > limit:
            raise CivicError(f"code: {code[:40]!r} is not a code of lower-case letters, digits and hyphens "
                             f"(at most {limit}), like street-lights", field="code")
        if code in existing:
            raise CivicError(f"code: a {what} {code!r} already exists; edit it instead", field="code")
    elif code not in existing:
        raise NotFound(f"code: no {what} {code[:40]!r}", field="code")
    return code


def _department(taxonomy, value: str | None) -> str:
    code = (value or "").strip()
    if code not in taxonomy.departments:
        raise CivicError(f"department: no department {code[:40]!r}; expected one of "
                         f"{', '.join(sorted(taxonomy.departments))}", field="department")
    return code


def _replace_row(model, code: str, values: dict) -> Callable:
    def mirror(connection):
        connection.execute(delete(model).where(model.code == code))
        connection.execute(insert(model).values(**values))
    return mirror


def save_department(deployment, code: str, *, name: str, actor: str, new: bool) -> Department:
    """Add a department (``new``) or rename one."""
    taxonomy = deployment.profile.taxonomy
    code = _code(code, taxonomy.departments, new=new, what="department", limit=100)
    department = Department(code=code, name=_text(name, "name", 200))
    before = attrs.asdict(taxonomy.departments[code]) if not new else None
    _record(deployment, actor=actor, kind="department", subject=code, before=before,
            after=attrs.asdict(department), mirror=_replace_row(DepartmentRow, code, attrs.asdict(department)))
    return department


def save_work_group(deployment, code: str, *, name: str, department: str, actor: str, new: bool) -> WorkGroup:
    """Add a work group (``new``) or change its name or department."""
    taxonomy = deployment.profile.taxonomy
    code = _code(code, taxonomy.work_groups, new=new, what="work group", limit=150)
    group = WorkGroup(code=code, name=_text(name, "name", 200), department=_department(taxonomy, department))
    before = attrs.asdict(taxonomy.work_groups[code]) if not new else None
    _record(deployment, actor=actor, kind="work_group", subject=code, before=before, after=attrs.asdict(group),
            mirror=_replace_row(WorkGroupRow, code, attrs.asdict(group)))
    return group


def _target(value, basis) -> tuple[float, str]:
    from civiccrm.domain.sla import check_target

    if not str(value or "").strip():
        raise CivicError("sla_target: required for a new type (its time-frame, a number such as 5 or 0.5)",
                         field="sla_target")
    try:
        target = check_target(str(value).strip(), where="sla_target")
    except CivicError as exc:
        raise CivicError(str(exc), field="sla_target") from None
    basis = (basis or SlaBasis.CALENDAR_DAYS).strip()
    if basis not in SlaBasis.ALL:
        raise CivicError(f"sla_basis: {basis[:30]!r}; expected one of {', '.join(SlaBasis.ALL)}", field="sla_basis")
    return target, basis


def save_service_type(deployment, code: str, *, name: str, department: str, actor: str, new: bool,
                      category: str | None = None, work_group: str | None = None, keywords: str = "",
                      active: bool = True, sla_target=None, sla_basis: str | None = None) -> ServiceType:
    """Add a service type (``new``, with its time-frame) or change its name, category, department, work
    group, keywords or whether it is taken (``active``). A type's time-frame then changes by SLA versions."""
    profile = deployment.profile
    taxonomy = profile.taxonomy
    code = _code(code, taxonomy.service_types, new=new, what="service type", limit=150)
    name = _text(name, "name", 300)
    same_name = taxonomy.find_service_type(name)
    if same_name is not None and same_name.code != code:
        raise CivicError(f"name: the service type {same_name.code!r} is already called {name!r}", field="name")
    department = _department(taxonomy, department)
    group = (work_group or "").strip() or None
    if group is not None:
        found = taxonomy.work_groups.get(group)
        if found is None or found.department != department:
            of_department = sorted(w.code for w in taxonomy.work_groups.values() if w.department == department)
            raise CivicError(f"work_group: {group[:40]!r} is not a work group of {department}; expected one of "
                             f"{', '.join(of_department) or 'none (leave it empty)'}", field="work_group")
    words = tuple(dict.fromkeys(w for w in (" ".join(k.split()) for k in (keywords or "").split(",")) if w))
    if sum(map(len, words)) > 1000:
        raise CivicError("keywords: at most 1000 characters", field="keywords")
    fields = dict(name=name, category=_text(category, "category", 200, required=False), department=department,
                  work_group=group, keywords=words, active=bool(active))
    if new:
        target, basis = _target(sla_target, sla_basis)
        service_type = ServiceType(code=code, type=None, detail=None, sla_target=target, sla_basis=basis,
                                   sla_source="admin", **fields)
        before = None
    else:
        old = taxonomy.service_types[code]
        service_type = attrs.evolve(old, **fields)
        before = _type_values(old)
    row = {k: getattr(service_type, k) for k in ("code", "name", "category", "type", "detail", "department",
                                                 "work_group", "sla_target", "sla_basis", "sla_source", "calendar")}
    _record(deployment, actor=actor, kind="service_type", subject=code, before=before,
            after=_type_values(service_type), mirror=_replace_row(ServiceTypeRow, code, row))
    return service_type


def _type_values(service_type: ServiceType) -> dict:
    values = attrs.asdict(service_type)
    values["keywords"] = list(service_type.keywords)
    return values
