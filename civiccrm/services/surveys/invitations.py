"""Invitations: invite the requester of a closed case, or the cases of a draw; opt-outs."""

import hashlib
import json
import logging
import secrets
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy import case as sql_case

from civiccrm.domain.cases import Case, CaseEvent
from civiccrm.domain.outbox import DeliveryState
from civiccrm.domain.sampling import Method, SamplingPlan
from civiccrm.domain.surveys import contact_routes
from civiccrm.errors import CivicError, NotFound
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services import notifications
from civiccrm.services.deployment import DEFAULT_BASE_URL
from civiccrm.services.surveys.instruments import instrument, instruments
from civiccrm.services.surveys.plans import active_plan
from civiccrm.store import repo
from civiccrm.store.surveys import plan_from_row
from civiccrm.store.tables import (
    CaseRow, SurveyDrawRow, SurveyInvitationRow, SurveyOptOutRow, SurveyPlanRow, outbox_table,
)


log = logging.getLogger(__name__)

DEFAULTS = {"instrument": "post-case", "repeat_days": 90, "expires_days": 30, "base_url": DEFAULT_BASE_URL}
"""Dispatch settings; a profile overrides them under ``[plugins.survey_dispatch]``."""


def settings(deployment) -> dict:
    """Dispatch settings: defaults, then the profile's ``[plugins.survey_dispatch]``, then
    ``CIVICCRM_SURVEY_BASE_URL`` for the public address of the answer page."""
    found = plugin_settings(deployment.profile, "survey_dispatch", DEFAULTS, env={"base_url": "CIVICCRM_SURVEY_BASE_URL"})
    for key in ("repeat_days", "expires_days"):
        if not isinstance(found[key], int) or found[key] < 0:
            raise CivicError(f"plugins.survey_dispatch.{key}: {found[key]!r} must be a whole number of days")
    return found


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def opt_out(deployment, address: str) -> None:
    """Never invite this e-mail address or phone number again."""
    address = (address or "").strip().lower()
    if not address:
        raise CivicError("address: give the e-mail address or phone number to opt out", field="address")
    with deployment.session() as s:
        if s.get(SurveyOptOutRow, address) is None:
            s.add(SurveyOptOutRow(address=address, created_at=deployment.clock()))
            s.commit()


def _normal(address: str) -> str:
    return address.strip().lower()


def invite_case(deployment, case: Case, *, plan: SamplingPlan | None, instrument_code: str,
                draw_id: int | None = None, stratum: str | None = None, weight: float | None = None) -> str:
    """Invite the requester of a closed case; returns ``queued`` or why nobody was invited.

    The invitation is a notification (kind ``survey_invitation``): its message is written to
    the delivery outbox in the transaction that records the invitation, and ``civiccrm deliver``
    sends it. It goes on the customer's preferred channel when something delivers there, else
    by e-mail when there is an address (see ``contact_routes``). Never for imported cases,
    anonymous cases, cases without an address on a channel that delivers, customers with an
    opted-out address, or a customer invited within ``repeat_days`` at any of their addresses.
    When the customer asked for a channel nothing delivers on and gave no e-mail address, an
    invitation row is recorded with status ``skipped`` and the reason, and ``no_channel`` is returned.
    """
    if case.is_import:
        return "imported"
    if case.customer_id is None:
        return "anonymous"
    config = settings(deployment)
    instrument(deployment, instrument_code)
    with deployment.session() as s:
        customer = repo.get_customer(session=s, customer_id=case.customer_id)
    if customer is None:
        return "no_contact"
    routes = contact_routes(customer, notifications.deliverable(deployment))
    preferred = customer.contact_by
    if not routes and not (preferred and customer.address_for(preferred)):
        return "no_contact"
    addresses = sorted({_normal(a) for a in (customer.email, customer.phone) if a and a.strip()})
    now = deployment.clock()
    until = now + timedelta(days=config["expires_days"])
    token = secrets.token_urlsafe(24)
    with deployment.session() as s:
        if s.scalar(select(func.count()).select_from(SurveyOptOutRow).where(SurveyOptOutRow.address.in_(addresses))):
            return "opted_out"
        if s.scalar(select(func.count()).select_from(_with_delivery()).where(
                SurveyInvitationRow.address.in_(addresses), _counts_as_invited(),
                SurveyInvitationRow.created_at > now - timedelta(days=config["repeat_days"]))):
            return "recently_invited"
        channel, address = routes[0] if routes else (preferred, customer.address_for(preferred))
        row = SurveyInvitationRow(
            instrument=instrument_code, plan_id=plan.id if plan else None, draw_id=draw_id, case_id=case.id,
            customer_id=case.customer_id, address=_normal(address), channel=channel, token_hash=token_hash(token),
            status="queued" if routes else "skipped", stratum=stratum, weight=weight, created_at=now,
            expires_at=until if routes else now,
            error=None if routes else f"the customer prefers {preferred}, which nothing delivers on, "
                                      "and gave no e-mail address to fall back on",
        )
        s.add(row)
        s.flush()
        if routes:
            link = f"{config['base_url'].rstrip('/')}/survey/{token}"
            event = CaseEvent(kind="survey_invitation", at=now, actor="system", case_id=case.id, changes={
                "survey_link": link, "survey_until": until.date().isoformat(), "instrument": instrument_code})
            row.outbox_id = notifications.send(
                deployment, connection_or_session=s, kind="survey_invitation", case=case, event=event,
                customer=customer, idempotency_key=f"survey:{row.id}", route_to=(channel, address.strip()))
            if row.outbox_id is None:
                row.status, row.expires_at = "skipped", now
                row.error = (f"nothing was written for {channel} {address}: survey invitations are turned off "
                             "([plugins.notifications] kinds), the address opted out or bounces, or no plugin "
                             "writes the message")
        s.commit()
        status = row.status
    if status == "skipped":
        log.info("survey invitation for case %s skipped: no channel delivers to the customer", case.tracking_number)
        return "no_channel"
    return "queued"


def _with_delivery():
    return SurveyInvitationRow.__table__.outerjoin(outbox_table, outbox_table.c.id == SurveyInvitationRow.outbox_id)


def _counts_as_invited():
    """Invitations that count for the repeat window: not skipped, not failed, and not given up on by the outbox."""
    return and_(SurveyInvitationRow.status.not_in(("skipped", "failed")),
                or_(outbox_table.c.state.is_(None), outbox_table.c.state != DeliveryState.DEAD.value))


def dispatch_on_close(deployment, case: Case) -> str:
    """Invite the requester of a case just closed, if the instrument's active plan samples it.

    Without a stored plan the instrument is sent to every eligible requester (census).
    """
    code = settings(deployment)["instrument"]
    if code not in instruments(deployment):
        return "no_instrument"
    if case.is_import:
        return "imported"
    plan = active_plan(deployment, code)
    if plan is not None and not plan.selects_at_close(case.tracking_number):
        return "not_sampled"
    weight = 1 / plan.rate if plan is not None and plan.rate and plan.method is not Method.CENSUS else 1.0
    stratum = None
    if plan is not None and plan.strata:
        stratum = {"department": case.department, "service_type": case.service_code,
                   "district": case.location.council_district, "channel": case.channel}[plan.strata]
    return invite_case(deployment, case, plan=plan, instrument_code=code, stratum=stratum, weight=weight)


def send(deployment, draw_id: int) -> dict:
    """Invite the cases of a stored draw that have not been invited for it yet; outcome counts."""
    with deployment.session() as s:
        row = s.get(SurveyDrawRow, draw_id)
        if row is None:
            raise NotFound(f"draw: no draw {draw_id}")
        plan = plan_from_row(s.get(SurveyPlanRow, row.plan_id))
        done = set(s.scalars(select(SurveyInvitationRow.case_id).where(
            SurveyInvitationRow.draw_id == draw_id, SurveyInvitationRow.status != "skipped")))
        sample = json.loads(row.sample)
        case_rows = {r.id: r for r in s.scalars(select(CaseRow).where(CaseRow.id.in_([u[0] for u in sample])))}
    outcomes: dict[str, int] = {}
    for case_id, stratum, weight in sample:
        if case_id in done:
            outcome = "already_sent"
        else:
            outcome = invite_case(deployment, repo.case_from_row(case_rows[case_id]), plan=plan,
                                  instrument_code=plan.instrument, draw_id=draw_id, stratum=stratum, weight=weight)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"draw": draw_id, "plan": plan.code, "outcomes": outcomes}


def invitation_counts(deployment, instrument_code: str) -> dict:
    """Invitations by status for an instrument: ``queued`` ones by their outbox message's state
    (``queued`` while waiting, ``sent``, ``failed`` when the outbox gave up), then skipped, answered."""
    delivery = sql_case((outbox_table.c.state == DeliveryState.SENT.value, "sent"),
                    (outbox_table.c.state == DeliveryState.DEAD.value, "failed"), else_="queued")
    status = sql_case((SurveyInvitationRow.status == "queued", delivery), else_=SurveyInvitationRow.status)
    with deployment.session() as s:
        rows = s.execute(select(status, func.count()).select_from(_with_delivery()).where(
            SurveyInvitationRow.instrument == instrument_code).group_by(status)).all()
    return {found: n for found, n in rows}
