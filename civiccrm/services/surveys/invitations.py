"""Invitations: invite the requester of a closed case, or the cases of a draw; opt-outs."""

import hashlib
import json
import logging
import secrets
from datetime import date, timedelta

from sqlalchemy import func, select, update

from civiccrm.domain.cases import Case
from civiccrm.domain.sampling import Method, SamplingPlan
from civiccrm.domain.surveys import contact_routes
from civiccrm.errors import CivicError, NotFound
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services.deployment import DEFAULT_BASE_URL
from civiccrm.services.surveys.instruments import instrument, instruments
from civiccrm.services.surveys.plans import active_plan
from civiccrm.store import repo
from civiccrm.store.surveys import plan_from_row
from civiccrm.store.tables import CaseRow, SurveyDrawRow, SurveyInvitationRow, SurveyOptOutRow, SurveyPlanRow


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


def _message(deployment, case: Case, channel: str, link: str, until: date) -> tuple[str, str]:
    """(subject, body) of an invitation; a text message is kept short."""
    if channel == "sms":
        return "", (f"{deployment.profile.name}: request {case.tracking_number} is closed. How did we do? {link} "
                    f"(until {until.isoformat()}; the page lets you stop surveys)")
    subject = f"{deployment.profile.name}: how did we do with request {case.tracking_number}?"
    body = (f"Your request {case.tracking_number} ({case.request_type}) has been closed.\n\n"
            f"Please tell us how we did; it takes a minute:\n{link}\n\n"
            f"The link works once and until {until.isoformat()}.\n"
            f"To receive no more surveys, open the link and choose \"No more surveys\".\n")
    return subject, body


def invite_case(deployment, case: Case, *, plan: SamplingPlan | None, instrument_code: str,
                draw_id: int | None = None, stratum: str | None = None, weight: float | None = None) -> str:
    """Invite the requester of a closed case; returns ``sent`` or why nobody was invited.

    The invitation goes through the customer's preferred channel when a plugin sends on
    it (its ``Channel`` has ``send``), else by e-mail when there is an address (see
    ``contact_routes``). Never for imported cases, anonymous cases, cases without an
    address on an outbound channel, customers with an opted-out address, or a customer
    invited within ``repeat_days`` at any of their addresses. When the customer asked for
    a channel nobody sends on and gave no e-mail address, an invitation row is recorded
    with status ``skipped`` and the reason, and ``no_channel`` is returned.
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
    routes = contact_routes(customer, deployment.registry.outbound_channels())
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
        recent = s.scalar(select(func.count()).select_from(SurveyInvitationRow).where(
            SurveyInvitationRow.address.in_(addresses), SurveyInvitationRow.status.not_in(("skipped", "failed")),
            SurveyInvitationRow.created_at > now - timedelta(days=config["repeat_days"])))
        if recent:
            return "recently_invited"
        channel, address = routes[0] if routes else (preferred, customer.address_for(preferred))
        row = SurveyInvitationRow(
            instrument=instrument_code, plan_id=plan.id if plan else None, draw_id=draw_id, case_id=case.id,
            customer_id=case.customer_id, address=_normal(address), channel=channel, token_hash=token_hash(token),
            status="pending" if routes else "skipped", stratum=stratum, weight=weight, created_at=now,
            expires_at=until if routes else now,
            error=None if routes else f"the customer prefers {preferred}, which is not an outbound channel, "
                                      "and gave no e-mail address to fall back on",
        )
        s.add(row)
        s.commit()
        invitation_id = row.id
    if not routes:
        log.info("survey invitation for case %s skipped: no outbound %s channel", case.tracking_number, preferred)
        return "no_channel"
    link = f"{config['base_url'].rstrip('/')}/survey/{token}"
    receipt = error = None
    tried = []
    for channel, address in routes:
        subject, body = _message(deployment, case, channel, link, until.date())
        tried.append(channel)
        try:
            sender = deployment.registry.sender(channel)
            receipt = sender.send(deployment, address, subject, body) if sender is not None else None
        except Exception as exc:  # a mail server's failure must not undo the close
            log.info("survey invitation for case %s not sent on %s: %s", case.tracking_number, channel, exc)
            error = f"{type(exc).__name__}: {exc}"
            break
        if receipt is not None:
            break
    if error:
        status = "failed"
    elif receipt is None:  # no plugin answered on any route
        status, error = "skipped", f"no plugin sends on the {' or '.join(tried)} channel"
        if preferred and not (customer.email or "").strip():
            error += f" (the customer prefers {preferred} and gave no e-mail address to fall back on)"
    else:
        status = "sent"
    with deployment.session() as s:
        s.execute(update(SurveyInvitationRow).where(SurveyInvitationRow.id == invitation_id)
                  .values(status=status, error=error, channel=channel, address=_normal(address)))
        s.commit()
    return {"sent": "sent", "failed": "failed", "skipped": "no_channel"}[status]


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
    """Invitations by status (sent, failed, answered) for an instrument."""
    with deployment.session() as s:
        rows = s.execute(select(SurveyInvitationRow.status, func.count()).where(
            SurveyInvitationRow.instrument == instrument_code).group_by(SurveyInvitationRow.status)).all()
    return {status: n for status, n in rows}
