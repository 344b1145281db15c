"""Possible duplicates at intake: what a call taker, a channel or the Open311 POST is offered."""

from contextlib import nullcontext
from datetime import datetime

from civiccrm.domain.cases import Case, CaseDraft, CaseEvent, Customer, Location
from civiccrm.domain.duplicates import DuplicateCandidate, bounding_box, rank
from civiccrm.errors import CivicError
from civiccrm.store import duplicates as store
from civiccrm.store import repo
from civiccrm.store.db import read_connection


def _find(deployment, service_code: str, location: Location, at: datetime, *, exclude_id: int | None = None,
          connection=None) -> list[DuplicateCandidate]:
    policy = deployment.profile.duplicates
    rule = policy.rule_for(service_code)
    if not rule.enabled or not location.has_point:
        return []
    box = bounding_box(location.latitude, location.longitude, rule.radius_m)
    with read_connection(deployment.engine) if connection is None else nullcontext(connection) as connection:
        rows = store.open_cases_in_box(connection, service_codes=policy.related_codes(service_code), box=box,
                                       opened_from=at - rule.window, opened_to=at, exclude_id=exclude_id,
                                       newest=policy.scan)
    return rank((location.latitude, location.longitude), at, rule, rows, limit=policy.limit)


def for_draft(deployment, draft: CaseDraft) -> list[DuplicateCandidate]:
    """Open cases that may be the problem ``draft`` describes, best first (before it is stored: the call
    taker's screen asks this while the resident is on the line)."""
    service_type = deployment.profile.service_type(draft.service_code)
    return _find(deployment, service_type.code, draft.location, draft.opened_at or deployment.clock())


def for_case(deployment, case: Case | str, *, connection=None) -> list[DuplicateCandidate]:
    """Open cases opened before ``case`` (a Case or a tracking number) that may be the same problem; read on
    ``connection`` when given (the one intake wrote the case on: one connection per Open311 POST)."""
    if isinstance(case, str):
        with deployment.session() as s:
            case = repo.case_from_row(repo.get_case_row(session=s, tracking_number=case))
    return _find(deployment, case.service_code, case.location, case.opened_at, exclude_id=case.id,
                 connection=connection)


def links(deployment, case: Case) -> list[tuple[str, str]]:
    """(kind, tracking number) of every case linked to ``case`` (``duplicate_of`` / ``duplicate``)."""
    with deployment.engine.connect() as connection:
        return store.links_of(connection, case.id)


def report_again(deployment, tracking_number: str, customer: Customer | None, *, channel: str,
                 actor: str = "system") -> Case:
    """A contact reports an open case already known: no new case; the caller (unless anonymous) follows it
    and its history notes the report."""
    from civiccrm.services.cases import _channel
    from civiccrm.services.events import fire

    channel = _channel(deployment, channel)
    with deployment.session() as s:
        case = repo.load_case(session=s, tracking_number=tracking_number, for_update=True)
        if not case.is_open:
            raise CivicError(f"case {case.tracking_number}: closed; create a new case instead", field="follow")
        now = deployment.clock()
        if customer is not None and not customer.is_empty:
            customer_id = repo.add_customer(session=s, customer=customer, created_at=now)
            store.add_follower(s.connection(), case_id=case.id, customer_id=customer_id, at=now)
        event = CaseEvent(kind="note", at=now, actor=actor, origin="intake", changes={"reported_again": [None, channel]},
                          note=f"Reported again ({channel}){'' if customer else ', anonymously'}")
        repo.add_event(session=s, case_id=case.id, event=event)
        s.commit()
    fire(deployment, "case_updated", case=case, event=event)
    return case
