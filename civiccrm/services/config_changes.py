"""Configuration changed in the admin: each one recorded (append-only) with who, when, before and after;
SLA policies changed by adding a version, never by editing one."""

import json
from datetime import date

import attrs
from sqlalchemy import insert, select

from civiccrm.domain.sla import SlaPolicy
from civiccrm.services.sla import policies
from civiccrm.store.tables import config_changes_table as table


@attrs.frozen
class ConfigChange:
    id: int
    at: object
    actor: str
    kind: str
    """What changed: ``sla_policy`` (more kinds as the admin edits more)."""
    subject: str
    """Which one: a service code."""
    before: dict | None
    after: dict | None


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
    with deployment.engine.begin() as connection:
        connection.execute(insert(table).values(
            at=deployment.clock(), actor=actor, kind="sla_policy", subject=service_type.code,
            before=json.dumps(_policy_values(before)), after=json.dumps(_policy_values(added))))
    return added


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
