"""Survey rows to domain values, and reads shared by the services and the metrics."""

from sqlalchemy import select
from sqlmodel import Session

from civiccrm.domain.sampling import Allocation, Method, SamplingPlan
from civiccrm.domain.surveys import ActionPlan, ActionStatus
from civiccrm.store.tables import SurveyActionPlanRow, SurveyPlanRow


def action_plan_from_row(row: SurveyActionPlanRow) -> ActionPlan:
    return ActionPlan(instrument=row.instrument, item=row.item, owner=row.owner, actions=row.actions, due=row.due,
                      department=row.department, status=ActionStatus(row.status), id=row.id, code=row.code)


def list_action_plans(*, session: Session, instrument_code: str | None = None,
                      include_closed: bool = False) -> list[ActionPlan]:
    """Action plans by due date; closed ones only when asked for."""
    query = select(SurveyActionPlanRow).order_by(SurveyActionPlanRow.due, SurveyActionPlanRow.id)
    if instrument_code:
        query = query.where(SurveyActionPlanRow.instrument == instrument_code)
    if not include_closed:
        query = query.where(SurveyActionPlanRow.status != ActionStatus.CLOSED.value)
    return [action_plan_from_row(r) for r in session.scalars(query)]


def plan_from_row(row: SurveyPlanRow) -> SamplingPlan:
    return SamplingPlan(code=row.code, instrument=row.instrument, method=Method(row.method), sample_size=row.sample_size,
                        rate=row.rate, strata=row.strata, allocation=Allocation(row.allocation), seed=row.seed, id=row.id)
