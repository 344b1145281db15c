"""SLA policy versions: the profile's, and those stored with ``civiccrm sla policy set`` (never edited)."""

from datetime import date, datetime

import attrs
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from civiccrm.domain import sla as rules
from civiccrm.domain.sla import SlaPolicy
from civiccrm.domain.taxonomy import ServiceType
from civiccrm.errors import CivicError
from civiccrm.domain.sla import parse_basis, parse_clock_start, parse_pause_statuses
from civiccrm.store.tables import SlaPolicyRow


def _policy_from_row(row) -> SlaPolicy:
    return SlaPolicy(
        service_code=row.service_code, target=row.target, basis=row.basis, calendar=row.calendar,
        effective_from=row.effective_from, first_response=row.first_response,
        pause_statuses=frozenset(s for s in row.pause_statuses.split(";") if s), clock_start=row.clock_start,
        source=f"cli ({row.actor}, {row.created_at:%Y-%m-%d %H:%M} UTC)", note=row.note,
    )


def load_stored_policies(deployment) -> None:
    """Add the versions stored with ``sla policy set`` to the deployment's profile."""
    if not inspect(deployment.engine).has_table("sla_policies"):
        return
    with deployment.session() as s:
        rows = s.scalars(select(SlaPolicyRow).order_by(SlaPolicyRow.id)).all()
    if rows:
        profile = deployment.profile
        deployment.profile = attrs.evolve(profile, sla=profile.sla.with_versions(_policy_from_row(r) for r in rows))


def policy_for(deployment, service_type: ServiceType, opened_at: datetime) -> SlaPolicy:
    return deployment.profile.sla_policy(service_type, opened_at)


def set_policy(deployment, service: str, *, target: float, basis: str | None = None, calendar: str | None = None,
               effective_from: date | None = None, first_response: float | None = None,
               pause_statuses=None, clock_start: str | None = None, note: str | None = None,
               actor: str = "system") -> SlaPolicy:
    """Add a policy version from ``effective_from`` (today by default); history is never edited."""
    profile = deployment.profile
    service_type = profile.service_type(service)
    now = deployment.clock()
    today = now.astimezone(profile.tz).date()
    effective_from = effective_from or today
    if effective_from < today:
        raise CivicError(
            f"--from: {effective_from.isoformat()} is in the past; a new version applies from today "
            f"({today.isoformat()}) or later, so cases already opened keep the version they were held to",
            field="effective_from",
        )
    current = profile.sla_policy(service_type, now)
    policy = SlaPolicy(
        service_code=service_type.code,
        target=rules.check_target(target, where="--target"),
        basis=parse_basis(basis, where="--basis") if basis else current.basis,
        calendar=calendar or current.calendar,
        effective_from=effective_from,
        first_response=(rules.check_target(first_response, where="--first-response")
                        if first_response is not None else current.first_response),
        pause_statuses=(parse_pause_statuses(pause_statuses, where="--pause") if pause_statuses
                        else current.pause_statuses),
        clock_start=parse_clock_start(clock_start, where="--clock-start") if clock_start else current.clock_start,
        source="cli", note=note,
    )
    if policy.calendar not in profile.calendars:
        raise CivicError(f"--calendar: {policy.calendar!r} is not a calendar of {profile.name}; "
                         f"expected one of {', '.join(profile.calendars)}", field="calendar")
    row = SlaPolicyRow(
        service_code=policy.service_code, effective_from=effective_from, target=policy.target,
        basis=policy.basis, calendar=policy.calendar, first_response=policy.first_response,
        pause_statuses=";".join(sorted(policy.pause_statuses)), clock_start=policy.clock_start,
        note=note, actor=actor, created_at=now,
    )
    with deployment.session() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise CivicError(
                f"--from: {service_type.code!r} already has a version stored from {effective_from.isoformat()}; "
                "versions are never edited: choose a later date", field="effective_from",
            ) from None
    load_stored_policies(deployment)
    return _policy_from_row(row)
