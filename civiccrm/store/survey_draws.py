"""The survey screen's list of draws: which plan, method, frame and sample sizes, when (keyword-only)."""

from sqlalchemy import select
from sqlalchemy.engine import Connection

from civiccrm.store.tables import SurveyDrawRow, SurveyPlanRow

d = SurveyDrawRow.__table__.c
p = SurveyPlanRow.__table__.c


def recent_draws(*, connection: Connection, limit: int = 50) -> list:
    """The latest draws, newest first."""
    return connection.execute(
        select(d.id, p.code.label("plan"), p.instrument, d.method, d.seed, d.frame_size, d.sample_size, d.drawn_at)
        .join(SurveyPlanRow.__table__, p.id == d.plan_id).order_by(d.id.desc()).limit(limit)).all()
