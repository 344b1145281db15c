"""Survey results computed in the database: share acceptable, mean, intervals, targets, response rate.

One GROUP BY query gives, per group and item, the answers counted (N/A, don't know
and blanks excluded), the acceptable answers and the mean; stratified samples add the
stratum and its design weight to the grouping, so Python only combines a handful of
rows per group. Wilson 95% intervals for census and simple random samples; a
design-weighted share and variance for stratified samples; no interval, and the label
"not representative", for convenience samples.
"""

from sqlalchemy import Integer, String, and_, cast, func, literal, or_, select

from civiccrm.domain.sampling import Method
from civiccrm.domain.survey_stats import StratumCount, stratified_share, wilson
from civiccrm.domain.surveys import QuestionType
from civiccrm.errors import CivicError
from civiccrm.store.surveys import list_action_plans
from civiccrm.store.tables import (
    SurveyPlanRow,
    cases_table,
    outbox_table,
    survey_answers_table,
    survey_attrs_table,
    survey_invitations_table,
    survey_responses_table,
)

_r = survey_responses_table.c
_a = survey_answers_table.c

BY_COLUMNS = {
    "department": _r.department, "work_group": _r.work_group, "service_type": _r.service_code,
    "district": _r.district, "channel": _r.channel, "period": _r.period, "wave": _r.wave,
    "method": _r.method, "audience": _r.audience,
}
"""``--by`` values that are columns of a response; anything else names a demographic attribute."""

_CASE_COLUMNS = {
    "department": cases_table.c.department, "work_group": cases_table.c.work_group,
    "service_type": cases_table.c.service_code, "district": cases_table.c.council_district,
    "channel": cases_table.c.channel,
}

DEFINITIONS = {
    "answered": "answers counted: blanks, N/A and don't know are left out",
    "share": "share acceptable-or-better: answers at or above the item's acceptable point / answers counted",
    "mean": "mean of the answers counted",
    "interval": "95% interval: Wilson score for census and simple random samples; normal, from the "
                "design-weighted variance, for stratified samples (strata with fewer than two answers pooled, "
                "counted in collapsed_strata; answers outside the plan without a finite population "
                "correction; none when even pooled there are fewer than two answers); none for convenience samples",
    "response_rate": "responses / invitations sent (web responses only)",
    "options": "choice and yes/no items: answers per option / answers counted (not design-weighted)",
    "text_items": "free-text items: the number of answers given",
}


def _group_column(by: str | None, instrument):
    if by is None:
        return literal("all", String), None
    key = by.replace("-", "_")
    if key in BY_COLUMNS:
        return BY_COLUMNS[key], None
    if by in instrument.demographics or any(q.code == by for q in instrument.questions):
        return None, by
    allowed = ", ".join(list(BY_COLUMNS) + list(instrument.demographics))
    raise CivicError(f"--by: {by!r}; expected one of {allowed}", field="by")


def _design(conn, instrument_code: str, plan_code: str | None):
    """The sampling method behind the responses: the plan's, else one plan's if all share it."""
    if plan_code:
        plan = conn.execute(select(SurveyPlanRow).where(SurveyPlanRow.code == plan_code)).first()
        if plan is None:
            raise CivicError(f"--plan: no sampling plan {plan_code!r}", field="plan")
        return plan.id, Method(plan.method)
    plans = conn.execute(select(_r.plan_id).where(_r.instrument == instrument_code).distinct()).scalars().all()
    ids = [p for p in plans if p is not None]
    if len(ids) > 1:
        raise CivicError("responses come from several sampling plans; choose one with --plan", field="plan")
    if not ids:
        return None, Method.SIMPLE_RANDOM
    method = conn.execute(select(SurveyPlanRow.method).where(SurveyPlanRow.id == ids[0])).scalar_one()
    return ids[0], Method(method)


def results(deployment, instrument_code: str, *, item: str | None = None, by: str | None = None,
            plan: str | None = None, wave: str | None = None, items: list[str] | None = None) -> dict:
    """Per group and rated item (scale, yes/no): answered, acceptable share, mean, interval, target,
    baseline, flags (``rows``); per group and choice or yes/no item: count and share per option
    (``choices``); per group and free-text item: answers given (``text_items``). ``wave`` keeps
    the responses of one wave only; ``items`` the items named only."""
    instrument = deployment.registry.survey_instrument(deployment.profile, instrument_code)
    asked = [instrument.question(item)] if item is not None else list(instrument.questions)
    if items is not None:
        asked = [q for q in asked if q.code in items]
    rated = [q for q in asked if q.is_rated]
    optioned = [q for q in asked if q.type in (QuestionType.CHOICE, QuestionType.YES_NO)]
    texts = [q for q in asked if q.type is QuestionType.TEXT]
    codes = [q.code for q in rated]
    column, attribute = _group_column(by, instrument)
    with deployment.engine.connect() as conn:
        plan_id, method = _design(conn, instrument_code, plan)
        if attribute is not None:
            t = survey_attrs_table.alias("t")
            group = func.coalesce(t.c.value, "unknown")
            source = survey_answers_table.join(survey_responses_table, _a.response_id == _r.id).outerjoin(
                t, (t.c.response_id == _r.id) & (t.c.name == attribute))
        else:
            group = func.coalesce(cast(column, String), "unknown")
            source = survey_answers_table.join(survey_responses_table, _a.response_id == _r.id)
        stratified = method is Method.STRATIFIED
        keys = ([] if by is None else [group]) + [_a.item] + ([_r.stratum, _r.weight] if stratified else [])
        query = (select(group.label("grp"), *keys[0 if by is None else 1:], func.count(_a.value).label("n"), func.sum(_a.acceptable).label("acc"),
                        func.avg(cast(_a.value, Integer) * 1.0).label("mean"))
                 .select_from(source)
                 .where(_r.instrument == instrument_code, _a.item.in_(codes), _a.value.is_not(None))
                 .group_by(*keys))
        if plan_id is not None and plan:
            query = query.where(_r.plan_id == plan_id)
        if wave is not None:
            query = query.where(_r.wave == wave)
        raw = conn.execute(query).all() if codes else []
        only_plan = _r.plan_id == plan_id if plan_id is not None and plan else None
        if wave is not None:
            only_plan = _r.wave == wave if only_plan is None else and_(only_plan, _r.wave == wave)
        grouping = [] if by is None else [group]  # no GROUP BY on the constant "all"
        options = _option_counts(conn, instrument_code, source, group, grouping, optioned, only_plan)
        text_counts = _text_counts(conn, instrument_code, source, group, grouping, texts, only_plan)
        baselines = _first_period(conn, instrument_code, codes, by if by == "department" else None)
        invited, answered = _response_counts(conn, instrument_code, by)

    with deployment.session() as session:
        open_plans = list_action_plans(session=session, instrument_code=instrument_code)
    combined: dict = {}
    for row in raw:
        entry = combined.setdefault((row.grp, row.item), {"n": 0, "acc": 0, "sum": 0.0, "strata": []})
        entry["n"] += row.n
        entry["acc"] += row.acc or 0
        entry["sum"] += float(row.mean) * row.n
        if stratified:
            in_plan = row.weight is not None
            entry["strata"].append(StratumCount(population=max(round((row.weight or 1.0) * row.n), row.n),
                                                answered=row.n, acceptable=row.acc or 0, known_population=in_plan))
    order = {code: i for i, code in enumerate(codes)}
    rows = []
    for (grp, code), e in sorted(combined.items(), key=lambda kv: (str(kv[0][0]), order[kv[0][1]])):
        question = instrument.question(code)
        share = e["acc"] / e["n"] if e["n"] else None
        low = high = variance = None
        collapsed = 0
        if method is Method.STRATIFIED:
            est = stratified_share(e["strata"])
            if est is not None:
                share, variance, low, high, collapsed = est.share, est.variance, est.low, est.high, est.collapsed
        elif method is not Method.CONVENIENCE:
            low, high = wilson(e["acc"], e["n"]) or (None, None)
        department = grp if by == "department" else None
        target = instrument.target_for(code, department)
        baseline = target.baseline if target and target.baseline is not None else baselines.get((code, grp if department else None))
        under = target is not None and share is not None and share < target.target
        rows.append({
            "group": grp, "item": code, "text": question.text, "answered": e["n"], "acceptable": e["acc"],
            "share": share, "mean": e["sum"] / e["n"] if e["n"] else None, "low": low, "high": high,
            "variance": variance, "collapsed_strata": collapsed,
            "target": target.target if target else None, "baseline": baseline,
            "under_target": under,
            "action_plans": [
                {"id": p.id, "owner": p.owner, "actions": p.actions, "due": p.due.isoformat(), "status": p.status.value}
                for p in open_plans if p.item == code and (p.department is None or p.department == department)
            ],
        })
    total_invited = sum(invited.values())
    total_answered = sum(answered.values())
    return {
        "instrument": instrument_code, "name": instrument.name, "audience": instrument.audience,
        "by": by, "design": method.value, "representative": method is not Method.CONVENIENCE,
        "label": None if method is not Method.CONVENIENCE else "convenience sample: not representative, no interval",
        "invited": total_invited, "responses_to_invitations": total_answered,
        "response_rate": total_answered / total_invited if total_invited else None,
        "response_rates": {g: {"invited": n, "answered": answered.get(g, 0), "rate": answered.get(g, 0) / n}
                           for g, n in sorted(invited.items(), key=lambda kv: str(kv[0])) if n},
        "rows": rows, "choices": options, "text_items": text_counts, "definitions": DEFINITIONS,
    }


def waves(deployment, instrument_code: str) -> dict[str, int]:
    """Wave -> responses stored for it (responses without a wave left out)."""
    query = (select(_r.wave, func.count()).where(_r.instrument == instrument_code, _r.wave.is_not(None))
             .group_by(_r.wave))
    with deployment.engine.connect() as conn:
        return {w: int(n) for w, n in conn.execute(query)}


def _option_counts(conn, instrument_code: str, source, group, grouping, questions, only_plan) -> list[dict]:
    """Per group and choice or yes/no item: answers counted and, per option, the count and share.

    One GROUP BY (group, item, value); options nobody picked are listed with 0. Counts are of
    answers as given (not design-weighted); N/A, don't know and blanks are left out.
    """
    if not questions:
        return []
    query = (select(group.label("grp"), _a.item, _a.value, func.count().label("n"))
             .select_from(source)
             .where(_r.instrument == instrument_code, _a.item.in_([q.code for q in questions]), _a.value.is_not(None))
             .group_by(*grouping, _a.item, _a.value))
    if only_plan is not None:
        query = query.where(only_plan)
    counts: dict = {}
    for grp, code, value, n in conn.execute(query):
        counts.setdefault((grp, code), {})[value] = n
    order = {q.code: i for i, q in enumerate(questions)}
    by_code = {q.code: q for q in questions}
    found = []
    for (grp, code), per_value in sorted(counts.items(), key=lambda kv: (str(kv[0][0]), order[kv[0][1]])):
        question = by_code[code]
        total = sum(per_value.values())
        found.append({
            "group": grp, "item": code, "text": question.text, "type": question.type.value, "answered": total,
            "options": [{"value": value, "label": label, "count": per_value.get(value, 0),
                         "share": per_value.get(value, 0) / total}
                        for value, label in question.points if value not in question.na_codes],
        })
    return found


def _text_counts(conn, instrument_code: str, source, group, grouping, questions, only_plan) -> list[dict]:
    """Per group and free-text item: how many answered (the texts themselves are not summarised)."""
    if not questions:
        return []
    query = (select(group.label("grp"), _a.item, func.count(_a.text))
             .select_from(source)
             .where(_r.instrument == instrument_code, _a.item.in_([q.code for q in questions]), _a.text.is_not(None))
             .group_by(*grouping, _a.item))
    if only_plan is not None:
        query = query.where(only_plan)
    order = {q.code: i for i, q in enumerate(questions)}
    by_code = {q.code: q for q in questions}
    rows = sorted(conn.execute(query).all(), key=lambda r: (str(r[0]), order[r[1]]))
    return [{"group": grp, "item": code, "text": by_code[code].text, "answered": n} for grp, code, n in rows]


def _first_period(conn, instrument_code: str, codes: list[str], by: str | None) -> dict:
    """(item, department or None) -> the share acceptable in the first period with answers."""
    keys = [_a.item, _r.period] + ([_r.department] if by == "department" else [])
    query = (select(*keys, func.count(_a.value), func.sum(_a.acceptable))
             .select_from(survey_answers_table.join(survey_responses_table, _a.response_id == _r.id))
             .where(_r.instrument == instrument_code, _a.item.in_(codes), _a.value.is_not(None))
             .group_by(*keys))
    first: dict = {}
    for row in conn.execute(query):
        item, period, n, acc = row[0], row[1], row[-2], row[-1]
        key = (item, row[2] if by == "department" else None)
        if n and (key not in first or period < first[key][0]):
            first[key] = (period, (acc or 0) / n)
    return {key: share for key, (_, share) in first.items()}


def _invited():
    """An invitation that reached the person: answered, sent before the outbox (``sent``), or its
    outbox message delivered (``queued`` with a sent row)."""
    return or_(survey_invitations_table.c.status.in_(("sent", "answered")), outbox_table.c.state == "sent")


def _with_delivery(joined):
    return joined.outerjoin(outbox_table, outbox_table.c.id == survey_invitations_table.c.outbox_id)


def _response_counts(conn, instrument_code: str, by: str | None) -> tuple[dict, dict]:
    """Invitations sent and answered per group (groups a case has: department, service type, ...)."""
    i = survey_invitations_table.c
    key = (by or "").replace("-", "_")
    if by is not None and key not in _CASE_COLUMNS:
        return {}, {}
    group = func.coalesce(cast(_CASE_COLUMNS[key], String), "unknown") if by else literal("all", String)
    query = (select(group.label("grp"), func.count(), func.count(i.answered_at))
             .select_from(_with_delivery(survey_invitations_table.outerjoin(cases_table, i.case_id == cases_table.c.id)))
             .where(i.instrument == instrument_code, _invited())
             .group_by(group if by else i.instrument))
    invited, answered = {}, {}
    for grp, n, done in conn.execute(query):
        invited[grp] = n
        answered[grp] = done
    return invited, answered


def coverage(deployment, instrument_code: str) -> list[dict]:
    """Who was surveyed about which service: invitations and answers per department and service type."""
    i = survey_invitations_table.c
    c = cases_table.c
    query = (select(c.department, c.service_code, c.request_type, func.count(), func.count(i.answered_at))
             .select_from(_with_delivery(survey_invitations_table.join(cases_table, i.case_id == c.id)))
             .where(i.instrument == instrument_code, _invited())
             .group_by(c.department, c.service_code, c.request_type)
             .order_by(c.department, c.service_code))
    with deployment.engine.connect() as conn:
        return [{"department": d, "service_code": s, "service": n, "invited": inv, "answered": ans}
                for d, s, n, inv, ans in conn.execute(query)]

