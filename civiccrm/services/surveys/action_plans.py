"""Action plans: the profile's, stored once each; added for items under target; closed."""

from datetime import date

from sqlalchemy import func, select

from civiccrm.domain.surveys import ActionPlan, ActionStatus
from civiccrm.errors import CivicError, NotFound
from civiccrm.services.surveys.instruments import instrument
from civiccrm.store.surveys import action_plan_from_row, list_action_plans
from civiccrm.store.tables import SurveyActionPlanRow


def load_profile_action_plans(deployment) -> int:
    """Store the action plans of the profile's instruments that are not stored yet (by code); returns
    how many were added. Plans already stored keep their status, and plans added with the CLI stay."""
    from sqlalchemy.dialects import postgresql, sqlite

    now = deployment.clock()
    rows = [{"code": p.code, "instrument": p.instrument, "item": p.item, "department": p.department,
             "owner": p.owner, "actions": p.actions, "due": p.due, "status": p.status.value, "created_at": now,
             "closed_at": now if p.status is ActionStatus.CLOSED else None}
            for inst in deployment.profile.surveys.values() for p in inst.action_plans]
    if not rows:
        return 0
    table = SurveyActionPlanRow.__table__
    dialect_insert = postgresql.insert if deployment.engine.dialect.name == "postgresql" else sqlite.insert
    with deployment.engine.begin() as conn:
        before = conn.scalar(select(func.count()).select_from(table))
        conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=["code"]), rows)
        return conn.scalar(select(func.count()).select_from(table)) - before


def add_action_plan(deployment, *, instrument_code: str, item: str, owner: str, actions: str, due: date,
                    department: str | None = None) -> ActionPlan:
    """Attach an action plan to an item that is under its target (overall or for the department)."""
    from civiccrm.metrics import surveys as survey_metrics

    inst = instrument(deployment, instrument_code)
    inst.question(item)
    if department is not None and department not in deployment.profile.taxonomy.departments:
        raise CivicError(f"department: no department {department!r} in {deployment.profile.name}", field="department")
    for name, value in (("owner", owner), ("actions", actions)):
        if not (value or "").strip():
            raise CivicError(f"{name}: an action plan needs its {name}", field=name)
    target = inst.target_for(item, department)
    if target is None:
        raise CivicError(f"item: {item!r} has no target{' for ' + department if department else ''}; "
                         "action plans are for items under target", field="item")
    figures = survey_metrics.results(deployment, instrument_code, item=item,
                                     by="department" if department else None)
    row = next((r for r in figures["rows"] if department is None or r["group"] == department), None)
    if row is None or row["share"] is None:
        raise CivicError(f"item: {item!r} has no answers{' for ' + department if department else ''} yet", field="item")
    if row["share"] >= target.target:
        raise CivicError(f"item: {item!r} is at {row['share']:.1%}, not under its target {target.target:.0%}; "
                         "action plans are for items under target", field="item")
    with deployment.session() as s:
        plan = SurveyActionPlanRow(instrument=instrument_code, item=item, department=department, owner=owner.strip(),
                                   actions=actions.strip(), due=due, status=ActionStatus.OPEN.value,
                                   created_at=deployment.clock())
        s.add(plan)
        s.commit()
        return action_plan_from_row(plan)


def update_action_plan(deployment, plan_id: int, status: ActionStatus) -> ActionPlan:
    with deployment.session() as s:
        row = s.get(SurveyActionPlanRow, plan_id)
        if row is None:
            raise NotFound(f"action plan {plan_id} not found")
        row.status = status.value
        row.closed_at = deployment.clock() if status is ActionStatus.CLOSED else None
        s.commit()
        return action_plan_from_row(row)


def action_plans(deployment, *, instrument_code: str | None = None, include_closed: bool = False) -> list[ActionPlan]:
    with deployment.session() as s:
        return list_action_plans(session=s, instrument_code=instrument_code, include_closed=include_closed)
