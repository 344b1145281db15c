"""Customer service survey results for a period: per department, key process and customer, against targets.

What Tulsa's customer service plan asks every department to publish: for each of the
standard statements the share agreeing (N/A left out and counted apart), who was surveyed
about which service (invited, answered, response rate), the baseline and the target, the
items under target and their action plans. Three GROUP BY queries, the same on SQLite
and PostgreSQL:

1. answers given in the period per (department, key process, customer, item): answered
   with a value, agreeing (acceptable), N/A (no value but a raw code);
2. invitations created in the period per (department, key process): invited and answered;
3. nothing else: targets, baselines and plans come from the instrument and the store.
"""

from datetime import datetime

import attrs
from sqlalchemy import and_, case, func, select

from civiccrm.metrics.definitions import Metric
from civiccrm.store.tables import cases_table, survey_answers_table, survey_invitations_table, survey_responses_table

_r = survey_responses_table.c
_a = survey_answers_table.c
_i = survey_invitations_table.c
_c = cases_table.c

CUSTOMERS = {"internal": "internal", "employee": "internal", "external": "external", "resident": "external"}
"""A response's recorded audience -> the kind of customer it speaks for; anything else is "not recorded"."""

SHARE_AGREEING = Metric(
    "share_agreeing", "agree",
    "share agreeing = answers at or above the item's acceptable point (Agree or Strongly Agree on Tulsa's 1-4 "
    "scale) / answers with a value, given in the period; N/A and blanks are left out and N/A is counted apart",
)
RESPONSE_RATE = Metric(
    "response_rate", "response rate",
    "response rate = invitations created in the period that were answered / invitations created in the period "
    "(sent or answered), per department and key process of the case surveyed about",
)
UNDER_TARGET = Metric(
    "under_target", "under target",
    "under target = an item whose share agreeing in the period is below its target (the department's own "
    "target where the profile sets one, else the instrument's); its open action plans are listed",
)
BASELINE = Metric(
    "baseline", "baseline",
    "baseline = the share agreeing the profile records for the item and department (with its period)",
)
CUSTOMER_KIND = Metric(
    "customer", "customer",
    "customer = internal (the response's audience is internal or employee) or external (external or resident); "
    "responses that record neither are shown as not recorded",
)
CUSTOMER_SERVICE_METRICS = (SHARE_AGREEING, RESPONSE_RATE, UNDER_TARGET, BASELINE, CUSTOMER_KIND)


@attrs.frozen
class ItemCount:
    department: str | None
    service_code: str | None
    customer: str
    item: str
    answered: int
    agreeing: int
    not_applicable: int


@attrs.frozen
class Invitations:
    department: str | None
    service_code: str | None
    service: str | None
    invited: int
    answered: int


def _customer():
    whens = [(_r.audience == audience, kind) for audience, kind in CUSTOMERS.items()]
    return case(*whens, else_="not recorded")


def item_counts(db, *, instrument: str, items: list[str], start: datetime, end: datetime) -> list[ItemCount]:
    """Answers given in [start, end) per department, key process (service type), customer kind and item."""
    customer = _customer()
    keys = (_r.department, _r.service_code, customer, _a.item)
    query = (select(*keys, func.count(_a.value).label("answered"),
                    func.coalesce(func.sum(case((_a.acceptable == 1, 1), else_=0)), 0).label("agreeing"),
                    func.coalesce(func.sum(case((and_(_a.value.is_(None), _a.raw.is_not(None)), 1), else_=0)), 0)
                    .label("na"))
             .select_from(survey_answers_table.join(survey_responses_table, _a.response_id == _r.id))
             .where(_r.instrument == instrument, _r.answered_at >= start, _r.answered_at < end, _a.item.in_(items))
             .group_by(*keys))
    return [ItemCount(d, s, c, item, int(n), int(agree), int(na)) for d, s, c, item, n, agree, na in db.execute(query)]


def invitations(db, *, instrument: str, start: datetime, end: datetime) -> list[Invitations]:
    """Who was surveyed about which service: invitations created in [start, end) and answered, per key process."""
    query = (select(_c.department, _c.service_code, func.max(_c.request_type), func.count(),
                    func.count(_i.answered_at))
             .select_from(survey_invitations_table.outerjoin(cases_table, _i.case_id == _c.id))
             .where(_i.instrument == instrument, _i.status.in_(("sent", "answered")),
                    _i.created_at >= start, _i.created_at < end)
             .group_by(_c.department, _c.service_code))
    return [Invitations(d, s, name, int(n), int(done)) for d, s, name, n, done in db.execute(query)]


__all__ = ["CUSTOMER_SERVICE_METRICS", "ItemCount", "Invitations", "invitations", "item_counts"]
