"""Sampling plans: store one, list them, the active plan of an instrument."""

import re
import secrets

import attrs
from sqlalchemy import select, update

from civiccrm.domain import sampling
from civiccrm.domain.sampling import Allocation, SamplingPlan
from civiccrm.errors import CivicError, NotFound
from civiccrm.services.surveys.instruments import instrument
from civiccrm.store.surveys import plan_from_row
from civiccrm.store.tables import SurveyPlanRow


def create_plan(deployment, *, code: str, instrument_code: str, method: str, sample_size: int | None = None,
                rate: float | None = None, strata: str | None = None, allocation: str = "proportional",
                seed: int | None = None) -> SamplingPlan:
    """Store a sampling plan; it becomes the instrument's active plan (the previous one is retired)."""
    instrument(deployment, instrument_code)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,99}", code or ""):
        raise CivicError(f"code: {code!r} must be lowercase letters, digits, '-', '_' or '.'", field="code")
    try:
        alloc = Allocation(allocation)
    except ValueError:
        raise CivicError(f"allocation: {allocation!r}; expected proportional or equal", field="allocation") from None
    plan = SamplingPlan(code=code, instrument=instrument_code, method=sampling.parse_method(method),
                        sample_size=sample_size, rate=rate, strata=strata, allocation=alloc,
                        seed=secrets.randbits(31) if seed is None else seed)
    with deployment.session() as s:
        if s.scalar(select(SurveyPlanRow.id).where(SurveyPlanRow.code == code)) is not None:
            raise CivicError(f"code: a sampling plan {code!r} already exists", field="code")
        s.execute(update(SurveyPlanRow).where(SurveyPlanRow.instrument == instrument_code).values(active=False))
        row = SurveyPlanRow(code=code, instrument=instrument_code, method=plan.method.value, sample_size=sample_size,
                            rate=rate, strata=strata, allocation=alloc.value, seed=plan.seed, active=True,
                            created_at=deployment.clock())
        s.add(row)
        s.commit()
        return plan_from_row(row)


def get_plan(deployment, code: str) -> SamplingPlan:
    with deployment.session() as s:
        row = s.scalar(select(SurveyPlanRow).where(SurveyPlanRow.code == code))
    if row is None:
        raise NotFound(f"plan: no sampling plan {code!r} (`civiccrm survey plan list` shows them)")
    return plan_from_row(row)


def list_plans(deployment) -> list[dict]:
    with deployment.session() as s:
        rows = s.scalars(select(SurveyPlanRow).order_by(SurveyPlanRow.id)).all()
    return [{**attrs.asdict(plan_from_row(r)), "active": r.active, "created_at": r.created_at} for r in rows]


def active_plan(deployment, instrument_code: str) -> SamplingPlan | None:
    with deployment.session() as s:
        row = s.scalar(select(SurveyPlanRow).where(SurveyPlanRow.instrument == instrument_code, SurveyPlanRow.active)
                       .order_by(SurveyPlanRow.id.desc()))
    return plan_from_row(row) if row else None
