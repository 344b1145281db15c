"""Surveys (/admin/surveys): instruments, sampling plans and draws (supervisors add a plan and draw its
sample); results per item with intervals and targets (/admin/surveys/<instrument>); action plans for items
under target (owner, actions, due, status)."""

from datetime import date

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.sampling import Method
from civiccrm.domain.surveys import ActionStatus
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, permission
from civiccrm.web.i18n import gettext as _

GROUPINGS = ("", "department", "work_group", "service_type", "district", "channel", "period", "wave")


@bp.get("/surveys")
@permission(Permission.SURVEYS_VIEW)
def surveys():
    from civiccrm.services.surveys import instruments, plans
    from civiccrm.store import survey_draws

    deployment = get_deployment()
    with deployment.engine.connect() as connection:
        draws = survey_draws.recent_draws(connection=connection)
    return render_template("admin/surveys.html", instruments=instruments.instruments(deployment),
                           plans=plans.list_plans(deployment), draws=draws, methods=[m.value for m in Method],
                           can_manage=allowed(Permission.SURVEYS_MANAGE))


def _instrument(code: str):
    from civiccrm.services.surveys import instruments

    found = instruments.instruments(get_deployment())
    if code not in found:
        raise CivicError(f"instrument: no survey instrument {code!r}; expected one of {', '.join(found)}",
                         field="instrument")
    return found[code]


@bp.get("/surveys/<instrument_code>")
@permission(Permission.SURVEYS_VIEW)
def survey_results(instrument_code):
    from civiccrm.metrics import surveys as survey_metrics
    from civiccrm.services.surveys import action_plans

    deployment = get_deployment()
    instrument = _instrument(instrument_code)
    by = (request.args.get("by") or "").strip()
    if by not in GROUPINGS and by not in instrument.demographics:
        raise CivicError(f"by: {by[:40]!r}; expected one of {', '.join(g for g in GROUPINGS if g)} or a "
                         "demographic question", field="by")
    figures = survey_metrics.results(deployment, instrument.code, by=by or None)
    return render_template(
        "admin/survey_results.html", instrument=instrument, figures=figures, by=by, groupings=GROUPINGS,
        plans=action_plans.action_plans(deployment, instrument_code=instrument.code, include_closed=True),
        statuses=[s.value for s in ActionStatus], can_manage=allowed(Permission.SURVEYS_MANAGE),
        taxonomy=deployment.profile.taxonomy, values=request.args,
    )


@bp.post("/surveys/<instrument_code>/action-plans")
@permission(Permission.SURVEYS_MANAGE)
def add_action_plan(instrument_code):
    """An action plan for an item under its target (overall, or for one department)."""
    from civiccrm.services.surveys import action_plans

    instrument = _instrument(instrument_code)
    form = request.form
    due_text = (form.get("due") or "").strip()
    try:
        due = date.fromisoformat(due_text)
    except ValueError:
        raise CivicError(f"due: {due_text[:20]!r} is not a date like 2027-03-31", field="due") from None
    plan = action_plans.add_action_plan(
        get_deployment(), instrument_code=instrument.code, item=(form.get("item") or "").strip(),
        owner=(form.get("owner") or "")[:200], actions=(form.get("actions") or "")[:4000], due=due,
        department=(form.get("department") or "").strip() or None)
    flash(_("Action plan %(id)s added.", id=plan.id), "info")
    return redirect(url_for("admin.survey_results", instrument_code=instrument.code))


@bp.post("/surveys/action-plans/<int:plan_id>")
@permission(Permission.SURVEYS_MANAGE)
def action_plan_status(plan_id):
    from civiccrm.services.surveys import action_plans

    text = (request.form.get("status") or "").strip()
    try:
        status = ActionStatus(text)
    except ValueError:
        raise CivicError(f"status: {text[:20]!r}; expected one of {', '.join(s.value for s in ActionStatus)}",
                         field="status") from None
    plan = action_plans.update_action_plan(get_deployment(), plan_id, status)
    flash(_("Action plan %(id)s is %(status)s.", id=plan.id, status=plan.status.value), "info")
    return redirect(url_for("admin.survey_results", instrument_code=plan.instrument))


def _whole(form, name: str) -> int | None:
    text = (form.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise CivicError(f"{name}: {text[:20]!r} is not a whole number", field=name)
    return int(text)


@bp.post("/surveys/plans")
@permission(Permission.SURVEYS_MANAGE)
def add_plan():
    """A sampling plan (it becomes its instrument's active plan), as `civiccrm survey plan add` stores one."""
    from civiccrm.services.surveys import plans

    form = request.form
    rate_text = (form.get("rate") or "").strip()
    try:
        rate = float(rate_text) if rate_text else None
    except ValueError:
        raise CivicError(f"rate: {rate_text[:20]!r} is not a number such as 0.1", field="rate") from None
    plan = plans.create_plan(get_deployment(), code=(form.get("code") or "").strip(),
                             instrument_code=_instrument((form.get("instrument") or "").strip()).code,
                             method=(form.get("method") or "").strip(), sample_size=_whole(form, "sample_size"),
                             rate=rate, strata=(form.get("strata") or "").strip() or None, seed=_whole(form, "seed"))
    flash(_("Sampling plan %(code)s added (seed %(seed)s).", code=plan.code, seed=plan.seed), "info")
    return redirect(url_for("admin.surveys"))


@bp.post("/surveys/plans/<plan_code>/draw")
@permission(Permission.SURVEYS_MANAGE)
def draw_plan(plan_code):
    """Draw the plan's sample from the cases closed between two local dates (both included)."""
    from datetime import datetime, time, timedelta

    from civiccrm.services.surveys import draws

    deployment = get_deployment()
    tz = deployment.profile.tz
    days = {}
    for name in ("from", "to"):
        text = (request.form.get(name) or "").strip()
        try:
            days[name] = date.fromisoformat(text)
        except ValueError:
            raise CivicError(f"{name}: {text[:20]!r} is not a date like 2026-11-01", field=name) from None
    start = datetime.combine(days["from"], time(), tz)
    end = datetime.combine(days["to"] + timedelta(days=1), time(), tz)
    result = draws.draw(deployment, plan_code, start, end)
    flash(_("Draw %(id)s: %(sample)s of %(frame)s cases.", id=result["draw"], sample=result["sample_size"],
            frame=result["frame_size"]), "info")
    return redirect(url_for("admin.surveys"))
