"""Answers by token: open an invitation, store its answers once, opt out from its link."""

from datetime import datetime

import attrs
from sqlalchemy import insert, select, update

from civiccrm.domain.surveys import SurveyInstrument, SurveyResponse
from civiccrm.errors import CivicError, NotFound
from civiccrm.services.events import fire
from civiccrm.services.surveys.instruments import instrument
from civiccrm.services.surveys.invitations import opt_out, token_hash
from civiccrm.store.tables import CaseRow, SurveyInvitationRow, survey_answers_table, survey_responses_table


class AlreadyAnswered(CivicError):
    """The invitation has been answered: one answer per invitation."""

    http_status = 409


class Expired(CivicError):
    """The invitation's link is past its expiry date."""

    http_status = 410


@attrs.frozen
class OpenInvitation:
    """What the answer page needs: the instrument, and the case it is about."""

    id: int
    instrument: SurveyInstrument
    tracking_number: str | None
    request_type: str | None
    department: str | None
    expires_at: datetime


def _invitation_row(s, deployment, token: str) -> SurveyInvitationRow:
    row = s.scalar(select(SurveyInvitationRow).where(SurveyInvitationRow.token_hash == token_hash(token or "")))
    if row is None:
        raise NotFound("token: this survey link is not valid; check that the whole link was copied")
    if row.answered_at is not None:
        raise AlreadyAnswered("token: this survey has already been answered; thank you", field="token")
    if row.expires_at <= deployment.clock():
        raise Expired(f"token: this survey link expired on {row.expires_at.date().isoformat()}", field="token")
    return row


def open_invitation(deployment, token: str) -> OpenInvitation:
    """The invitation behind a token, or CivicError for an unknown, expired or answered one."""
    with deployment.session() as s:
        row = _invitation_row(s, deployment, token)
        case = s.get(CaseRow, row.case_id) if row.case_id else None
    return OpenInvitation(id=row.id, instrument=instrument(deployment, row.instrument),
                          tracking_number=case.tracking_number if case else None,
                          request_type=case.request_type if case else None,
                          department=case.department if case else None, expires_at=row.expires_at)


def answer_rows(checked: dict) -> list[dict]:
    return [{"item": item, "value": value, "raw": raw, "acceptable": None if ok is None else int(ok), "text": text}
            for item, (value, raw, ok, text) in checked.items() if raw is not None or text is not None]


def month_of(deployment, at: datetime) -> str:
    return at.astimezone(deployment.profile.tz).strftime("%Y-%m")


def answer(deployment, token: str, answers: dict) -> SurveyResponse:
    """Store the answers to an invitation, once; then fire ``survey_answered``."""
    invitation = open_invitation(deployment, token)
    checked = invitation.instrument.check_answers(answers, department=invitation.department)
    now = deployment.clock()
    with deployment.session() as s:
        inv = s.get(SurveyInvitationRow, invitation.id)
        case = s.get(CaseRow, inv.case_id) if inv.case_id else None
        claimed = s.execute(update(SurveyInvitationRow).where(
            SurveyInvitationRow.id == inv.id, SurveyInvitationRow.answered_at.is_(None)
        ).values(answered_at=now, status="answered")).rowcount
        if claimed != 1:
            s.rollback()
            raise AlreadyAnswered("token: this survey has already been answered; thank you", field="token")
        response_id = s.execute(insert(survey_responses_table).values(
            instrument=inv.instrument, invitation_id=inv.id, source="web", period=month_of(deployment, now),
            answered_at=now, department=case.department if case else None,
            work_group=case.work_group if case else None, service_code=case.service_code if case else None,
            district=case.council_district if case else None, channel=case.channel if case else None,
            audience=invitation.instrument.audience, stratum=inv.stratum, weight=inv.weight, plan_id=inv.plan_id,
        ).returning(survey_responses_table.c.id)).scalar_one()
        rows = answer_rows(checked)
        if rows:
            s.execute(insert(survey_answers_table), [{**r, "response_id": response_id} for r in rows])
        s.commit()
    response = SurveyResponse(
        id=response_id, instrument=inv.instrument, answered_at=now,
        answers={item: (text if text is not None else value) for item, (value, _, _, text) in checked.items()},
        tracking_number=invitation.tracking_number, department=invitation.department,
        service_code=case.service_code if case else None,
    )
    fire(deployment, "survey_answered", response=response)
    return response


def opt_out_by_token(deployment, token: str) -> None:
    """Opt the invited address out of surveys, from the link in the invitation. A link is alive for
    this as for answering: an answered (409) or expired (410) one is refused as the answer page
    refuses it, so a forwarded or leaked old link cannot opt anyone out."""
    with deployment.session() as s:
        row = _invitation_row(s, deployment, token)
    opt_out(deployment, row.address)
