"""Configuration changed in the admin: each change recorded (append-only) with who, when, before and after.
SLA policies change by a new version, never an edit; calendar closures are added and removed here and
replayed over the profile's calendars when the deployment opens."""

import json
from datetime import date

import attrs
from sqlalchemy import insert, select

from civiccrm.domain.sla import SlaPolicy
from civiccrm.errors import CivicError, NotFound
from civiccrm.services.sla import policies
from civiccrm.store.tables import config_changes_table as table

CLOSURE_KINDS = ("closure_added", "closure_removed")


@attrs.frozen
class ConfigChange:
    id: int
    at: object
    actor: str
    kind: str
    """What changed: ``sla_policy``, ``closure_added`` or ``closure_removed``."""
    subject: str
    """Which one: a service code, or a calendar code."""
    before: dict | None
    after: dict | None


def _record(deployment, *, actor: str, kind: str, subject: str, before: dict | None, after: dict | None) -> None:
    with deployment.engine.begin() as connection:
        connection.execute(insert(table).values(
            at=deployment.clock(), actor=actor, kind=kind, subject=subject,
            before=json.dumps(before) if before is not None else None,
            after=json.dumps(after) if after is not None else None))


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


def _set_closures(deployment, code: str, closures: frozenset[date]) -> None:
    profile = deployment.profile
    calendars = {**profile.calendars, code: attrs.evolve(profile.calendars[code], closures=closures)}
    deployment.profile = attrs.evolve(profile, calendars=calendars)


def load_stored_closures(deployment) -> None:
    """Add the closures kept in the admin to the profile's calendars (called when a deployment opens)."""
    for code, days in admin_closures(deployment).items():
        if code in deployment.profile.calendars and days:
            _set_closures(deployment, code, deployment.profile.calendars[code].closures | frozenset(days))


def _today(deployment) -> date:
    return deployment.clock().astimezone(deployment.profile.tz).date()


def add_closure(deployment, calendar_code: str, day: date, *, actor: str, reason: str) -> None:
    """Close ``calendar_code`` on ``day`` (today or later): new cases' due times skip it."""
    calendar = _calendar(deployment, calendar_code)
    reason = " ".join((reason or "").split())[:200]
    if not reason:
        raise CivicError("reason: say why the city is closed that day", field="reason")
    if day < _today(deployment):
        raise CivicError(f"date: {day.isoformat()} is in the past; a closure is added for today or later",
                         field="date")
    if day in calendar.closures or calendar.is_holiday(day):
        raise CivicError(f"date: {calendar.code} is already closed on {day.isoformat()}", field="date")
    _record(deployment, actor=actor, kind="closure_added", subject=calendar.code, before=None,
            after={"date": day.isoformat(), "reason": reason})
    _set_closures(deployment, calendar.code, calendar.closures | {day})


def remove_closure(deployment, calendar_code: str, day: date, *, actor: str) -> None:
    """Open again on ``day``: only a closure added in the admin (the profile's are edited in its folder)."""
    calendar = _calendar(deployment, calendar_code)
    added = admin_closures(deployment).get(calendar.code, {})
    if day not in added:
        raise CivicError(f"date: {day.isoformat()} is not a closure added in the admin for {calendar.code}; "
                         "closures of the profile are edited in its folder", field="date")
    _record(deployment, actor=actor, kind="closure_removed", subject=calendar.code,
            before={"date": day.isoformat(), "reason": added[day]}, after={"date": day.isoformat()})
    _set_closures(deployment, calendar.code, calendar.closures - {day})


def _calendar(deployment, code: str):
    calendar = deployment.profile.calendars.get(code)
    if calendar is None:
        raise NotFound(f"calendar: no calendar {code!r}; expected one of {', '.join(deployment.profile.calendars)}",
                       field="calendar")
    return calendar


def recent(deployment, *, subject: str | None = None, limit: int = 50) -> list[ConfigChange]:
    """The latest changes, newest first (of one ``subject`` when given)."""
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(table.c.subject == subject)
    with deployment.engine.connect() as connection:
        return [ConfigChange(id=r.id, at=r.at, actor=r.actor, kind=r.kind, subject=r.subject,
                             before=json.loads(r.before) if r.before else None,
                             after=json.loads(r.after) if r.after else None)
                for r in connection.execute(query)]
