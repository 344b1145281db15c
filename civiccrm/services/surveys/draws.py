"""Draws: a plan's sample from the cases closed in a period, stored with its frame and seed."""

import json
from datetime import datetime

from sqlalchemy import select

from civiccrm.domain import sampling
from civiccrm.domain.cases import Status
from civiccrm.domain.sampling import SamplingPlan, Unit
from civiccrm.errors import CivicError, NotFound
from civiccrm.services.surveys.plans import get_plan
from civiccrm.store.surveys import plan_from_row
from civiccrm.store.tables import SurveyDrawRow, SurveyPlanRow, cases_table


STRATUM_COLUMNS = {
    "department": cases_table.c.department, "service_type": cases_table.c.service_code,
    "district": cases_table.c.council_district, "channel": cases_table.c.channel,
}


def _frame(deployment, plan: SamplingPlan, closed_from: datetime, closed_to: datetime) -> list[Unit]:
    """Cases closed in [from, to) that could be invited: live (not imported) with a customer."""
    c = cases_table.c
    stratum = STRATUM_COLUMNS[plan.strata] if plan.strata else None
    query = (select(c.id, stratum if stratum is not None else c.id)
             .where(c.closed_at >= closed_from, c.closed_at < closed_to, c.status == Status.CLOSED.value,
                    c.customer_id.is_not(None), ~c.origin.like("import%")).order_by(c.id))
    with deployment.engine.connect() as conn:
        return [Unit(id=row[0], stratum=str(row[1]) if stratum is not None and row[1] is not None else None)
                for row in conn.execute(query)]


def draw(deployment, plan_code: str, closed_from: datetime, closed_to: datetime) -> dict:
    """Draw a plan's sample from the cases closed in a period and store frame, seed and sample."""
    if closed_to <= closed_from:
        raise CivicError("--to must be after --from", field="to")
    plan = get_plan(deployment, plan_code)
    frame = _frame(deployment, plan, closed_from, closed_to)
    result = sampling.draw(plan, frame)
    with deployment.session() as s:
        row = SurveyDrawRow(
            plan_id=plan.id, method=plan.method.value, seed=plan.seed,
            frame_definition=json.dumps({"closed_from": closed_from.isoformat(), "closed_to": closed_to.isoformat(),
                                         "rule": "closed cases, not imported, with a customer", "strata": plan.strata}),
            frame=json.dumps([[u.id, u.stratum] for u in frame]),
            sample=json.dumps([[u.id, u.stratum, result.weight(u)] for u in result.selected]),
            strata=json.dumps(result.strata), frame_size=result.frame_size, sample_size=len(result.selected),
            drawn_at=deployment.clock(),
        )
        s.add(row)
        s.commit()
        draw_id = row.id
    return {"draw": draw_id, "plan": plan.code, "method": plan.method.value, "seed": plan.seed,
            "frame_size": result.frame_size, "sample_size": len(result.selected), "strata": result.strata,
            "start": result.start, "step": result.step, "representative": plan.representative}


def verify_draw(deployment, draw_id: int) -> bool:
    """Re-draw from the stored frame and seed; True when the stored sample comes out again."""
    with deployment.session() as s:
        row = s.get(SurveyDrawRow, draw_id)
        if row is None:
            raise NotFound(f"draw: no draw {draw_id}")
        plan = plan_from_row(s.get(SurveyPlanRow, row.plan_id))
    frame = [Unit(id=i, stratum=st) for i, st in json.loads(row.frame)]
    again = sampling.draw(plan, frame)
    return [[u.id, u.stratum] for u in again.selected] == [[i, st] for i, st, _ in json.loads(row.sample)]
