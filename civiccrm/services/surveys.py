"""Survey use cases: plans and draws, invitations on close, answers by token, imports, action plans."""

import csv
import hashlib
import json
import logging
import os
import re
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path

import attrs
from sqlalchemy import func, insert, select, update

from civiccrm.domain import sampling
from civiccrm.domain.cases import Case, Status
from civiccrm.domain.sampling import Allocation, Method, SamplingPlan, Unit
from civiccrm.domain.surveys import (
    ActionPlan,
    ActionStatus,
    SurveyInstrument,
    SurveyResponse,
    contact_routes,
)
from civiccrm.errors import CivicError, NotFound
from civiccrm.profiles.csv_files import open_csv
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store.surveys import action_plan_from_row, list_action_plans
from civiccrm.store.tables import (
    CaseRow,
    SurveyActionPlanRow,
    SurveyDrawRow,
    SurveyInvitationRow,
    SurveyOptOutRow,
    SurveyPlanRow,
    cases_table,
    survey_answers_table,
    survey_attrs_table,
    survey_responses_table,
)

log = logging.getLogger(__name__)

DEFAULTS = {"instrument": "post-case", "repeat_days": 90, "expires_days": 30, "base_url": "http://localhost:5000"}
"""Dispatch settings; a profile overrides them under ``[plugins.survey_dispatch]``."""

STRATUM_COLUMNS = {
    "department": cases_table.c.department, "service_type": cases_table.c.service_code,
    "district": cases_table.c.council_district, "channel": cases_table.c.channel,
}


def settings(deployment) -> dict:
    """Dispatch settings: defaults, then the profile's ``[plugins.survey_dispatch]``, then
    ``CIVICCRM_SURVEY_BASE_URL`` for the public address of the answer page."""
    found = dict(DEFAULTS)
    found.update(deployment.profile.settings.get("plugins", {}).get("survey_dispatch", {}))
    if os.environ.get("CIVICCRM_SURVEY_BASE_URL"):
        found["base_url"] = os.environ["CIVICCRM_SURVEY_BASE_URL"]
    for key in ("repeat_days", "expires_days"):
        if not isinstance(found[key], int) or found[key] < 0:
            raise CivicError(f"plugins.survey_dispatch.{key}: {found[key]!r} must be a whole number of days")
    return found


def instruments(deployment) -> dict[str, SurveyInstrument]:
    """The profile's instruments and those plugins register."""
    return deployment.registry.survey_instruments(deployment.profile)


def instrument(deployment, code: str) -> SurveyInstrument:
    return deployment.registry.survey_instrument(deployment.profile, code)


# --- sampling plans and draws ------------------------------------------------------------


def _plan(row: SurveyPlanRow) -> SamplingPlan:
    return SamplingPlan(code=row.code, instrument=row.instrument, method=Method(row.method), sample_size=row.sample_size,
                        rate=row.rate, strata=row.strata, allocation=Allocation(row.allocation), seed=row.seed, id=row.id)


def create_plan(deployment, *, code: str, instrument_code: str, method: str, sample_size: int | None = None,
                rate: float | None = None, strata: str | None = None, allocation: str = "proportional",
                seed: int | None = None) -> SamplingPlan:
    """Store a sampling plan; it becomes the instrument's active plan (the previous one is retired)."""
    instrument(deployment, instrument_code)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,99}", code or ""):
        raise CivicError(f"code: {code!r} must be lowercase letters, digits, '-', '_' or '.'", field="code")
    try:
        alloc = Allocation(allocation)
    except ValueError:
        raise CivicError(f"allocation: {allocation!r}; expected proportional or equal", field="allocation") from None
    plan = SamplingPlan(code=code, instrument=instrument_code, method=sampling.parse_method(method),
                        sample_size=sample_size, rate=rate, strata=strata, allocation=alloc,
                        seed=secrets.randbits(31) if seed is None else seed)
    with deployment.session() as s:
        if s.scalar(select(SurveyPlanRow.id).where(SurveyPlanRow.code == code)) is not None:
            raise CivicError(f"code: a sampling plan {code!r} already exists", field="code")
        s.execute(update(SurveyPlanRow).where(SurveyPlanRow.instrument == instrument_code).values(active=False))
        row = SurveyPlanRow(code=code, instrument=instrument_code, method=plan.method.value, sample_size=sample_size,
                            rate=rate, strata=strata, allocation=alloc.value, seed=plan.seed, active=True,
                            created_at=deployment.clock())
        s.add(row)
        s.commit()
        return _plan(row)


def get_plan(deployment, code: str) -> SamplingPlan:
    with deployment.session() as s:
        row = s.scalar(select(SurveyPlanRow).where(SurveyPlanRow.code == code))
    if row is None:
        raise NotFound(f"plan: no sampling plan {code!r} (`civiccrm survey plan list` shows them)")
    return _plan(row)


def list_plans(deployment) -> list[dict]:
    with deployment.session() as s:
        rows = s.scalars(select(SurveyPlanRow).order_by(SurveyPlanRow.id)).all()
    return [{**attrs.asdict(_plan(r)), "active": r.active, "created_at": r.created_at} for r in rows]


def active_plan(deployment, instrument_code: str) -> SamplingPlan | None:
    with deployment.session() as s:
        row = s.scalar(select(SurveyPlanRow).where(SurveyPlanRow.instrument == instrument_code, SurveyPlanRow.active)
                       .order_by(SurveyPlanRow.id.desc()))
    return _plan(row) if row else None


def _frame(deployment, plan: SamplingPlan, closed_from: datetime, closed_to: datetime) -> list[Unit]:
    """Cases closed in [from, to) that could be invited: live (not imported) with a customer."""
    c = cases_table.c
    stratum = STRATUM_COLUMNS[plan.strata] if plan.strata else None
    query = (select(c.id, stratum if stratum is not None else c.id)
             .where(c.closed_at >= closed_from, c.closed_at < closed_to, c.status == Status.CLOSED.value,
                    c.customer_id.is_not(None), ~c.origin.like("import%")).order_by(c.id))
    with deployment.engine.connect() as conn:
        return [Unit(id=row[0], stratum=str(row[1]) if stratum is not None and row[1] is not None else None)
                for row in conn.execute(query)]


def draw(deployment, plan_code: str, closed_from: datetime, closed_to: datetime) -> dict:
    """Draw a plan's sample from the cases closed in a period and store frame, seed and sample."""
    if closed_to <= closed_from:
        raise CivicError("--to must be after --from", field="to")
    plan = get_plan(deployment, plan_code)
    frame = _frame(deployment, plan, closed_from, closed_to)
    result = sampling.draw(plan, frame)
    with deployment.session() as s:
        row = SurveyDrawRow(
            plan_id=plan.id, method=plan.method.value, seed=plan.seed,
            frame_definition=json.dumps({"closed_from": closed_from.isoformat(), "closed_to": closed_to.isoformat(),
                                         "rule": "closed cases, not imported, with a customer", "strata": plan.strata}),
            frame=json.dumps([[u.id, u.stratum] for u in frame]),
            sample=json.dumps([[u.id, u.stratum, result.weight(u)] for u in result.selected]),
            strata=json.dumps(result.strata), frame_size=result.frame_size, sample_size=len(result.selected),
            drawn_at=deployment.clock(),
        )
        s.add(row)
        s.commit()
        draw_id = row.id
    return {"draw": draw_id, "plan": plan.code, "method": plan.method.value, "seed": plan.seed,
            "frame_size": result.frame_size, "sample_size": len(result.selected), "strata": result.strata,
            "start": result.start, "step": result.step, "representative": plan.representative}


def verify_draw(deployment, draw_id: int) -> bool:
    """Re-draw from the stored frame and seed; True when the stored sample comes out again."""
    with deployment.session() as s:
        row = s.get(SurveyDrawRow, draw_id)
        if row is None:
            raise NotFound(f"draw: no draw {draw_id}")
        plan = _plan(s.get(SurveyPlanRow, row.plan_id))
    frame = [Unit(id=i, stratum=st) for i, st in json.loads(row.frame)]
    again = sampling.draw(plan, frame)
    return [[u.id, u.stratum] for u in again.selected] == [[i, st] for i, st, _ in json.loads(row.sample)]


# --- invitations ---------------------------------------------------------------------------


def _hash(token: str) -> str:
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
            customer_id=case.customer_id, address=_normal(address), channel=channel, token_hash=_hash(token),
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
        plan = _plan(s.get(SurveyPlanRow, row.plan_id))
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


# --- answers -------------------------------------------------------------------------------


class AlreadyAnswered(CivicError):
    """The invitation has been answered: one answer per invitation."""


class Expired(CivicError):
    """The invitation's link is past its expiry date."""


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
    row = s.scalar(select(SurveyInvitationRow).where(SurveyInvitationRow.token_hash == _hash(token or "")))
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


def _answer_rows(checked: dict) -> list[dict]:
    return [{"item": item, "value": value, "raw": raw, "acceptable": None if ok is None else int(ok), "text": text}
            for item, (value, raw, ok, text) in checked.items() if raw is not None or text is not None]


def _period(deployment, at: datetime) -> str:
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
            instrument=inv.instrument, invitation_id=inv.id, source="web", period=_period(deployment, now),
            answered_at=now, department=case.department if case else None,
            work_group=case.work_group if case else None, service_code=case.service_code if case else None,
            district=case.council_district if case else None, channel=case.channel if case else None,
            audience=invitation.instrument.audience, stratum=inv.stratum, weight=inv.weight, plan_id=inv.plan_id,
        ).returning(survey_responses_table.c.id)).scalar_one()
        rows = _answer_rows(checked)
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
    """Opt the invited address out of surveys, from the link in the invitation."""
    with deployment.session() as s:
        row = s.scalar(select(SurveyInvitationRow).where(SurveyInvitationRow.token_hash == _hash(token or "")))
    if row is None:
        raise NotFound("token: this survey link is not valid; check that the whole link was copied")
    opt_out(deployment, row.address)


# --- imports -------------------------------------------------------------------------------

_MISSING = {"", "NA", "N/A", "#NULL!"}
_CSV_ATTRS = ("respondent_id", "wave", "method", "answered_at", "department", "work_group", "service_code",
              "district", "channel", "audience")


def _code_of(raw: str) -> str | None:
    raw = raw.strip()
    if raw.upper() in _MISSING:
        return None
    if raw.upper() == "Y":  # a ticked box
        return "1"
    if raw.endswith(".0"):
        raw = raw[:-2]
    return raw


IMPORT_BATCH = 1000
"""Responses written per executemany (their answers and attributes follow in one more each)."""


def _insert_responses(deployment, instrument_code: str, prepared: list[tuple[dict, list[dict], dict]]) -> int:
    """Insert (response, answers, attributes) triples in batches, in one transaction, skipping
    respondents already stored for the wave."""
    r = survey_responses_table.c
    with deployment.engine.begin() as conn:
        waves = {p[0]["wave"] for p in prepared}
        existing = set()
        for wave in waves:
            existing |= {(wave, e) for e in conn.execute(select(r.external_id).where(
                r.instrument == instrument_code, r.wave == wave if wave is not None else r.wave.is_(None)
            )).scalars()}
        fresh = [p for p in prepared if p[0]["external_id"] is None or (p[0]["wave"], p[0]["external_id"]) not in existing]
        add_responses = insert(survey_responses_table).returning(r.id, sort_by_parameter_order=True)
        for start in range(0, len(fresh), IMPORT_BATCH):
            batch = fresh[start:start + IMPORT_BATCH]
            # one executemany per table and batch; the new ids come back in the order of the rows
            ids = conn.execute(add_responses, [response for response, _, _ in batch]).scalars().all()
            answers = [{**a, "response_id": rid} for rid, (_, rows, _) in zip(ids, batch) for a in rows]
            if answers:
                conn.execute(insert(survey_answers_table), answers)
            attributes = [{"response_id": rid, "name": k, "value": v}
                          for rid, (_, _, attrs_) in zip(ids, batch) for k, v in attrs_.items()]
            if attributes:
                conn.execute(insert(survey_attrs_table), attributes)
    return len(fresh)


def import_resident_survey(deployment, instrument_code: str, files: list[Path]) -> dict:
    """Import resident-survey CSV files laid out as the instrument's profile describes.

    Idempotent by (instrument, wave, respondent id): a respondent already stored for
    that wave is skipped. A file without the respondent column is refused.
    """
    inst = instrument(deployment, instrument_code)
    if not inst.respondent_column or not inst.wave_column:
        raise CivicError(f"instrument {instrument_code!r} has no respondent_column/wave_column in the profile; "
                         "it cannot be imported as a resident survey")
    pattern = re.compile(inst.item_pattern or r"^q\d+_\d+$")
    questions = {q.code: q for q in inst.questions}
    summary = {"files": [], "read": 0, "imported": 0, "skipped": 0}
    now = deployment.clock()
    for path in files:
        path = Path(path)
        prepared = []
        with open_csv(path) as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column in (inst.respondent_column, inst.wave_column):
                if column not in header:
                    raise CivicError(f"{path}: line 1: no column {column!r} (respondent id and wave identify a response)")
            items = [c for c in header if pattern.match(c)]
            unknown = [c for c in items if c not in questions]
            if unknown:
                raise CivicError(f"{path}: line 1: column(s) {', '.join(unknown[:5])} have no label in the profile; "
                                 f"add them to the items of survey {instrument_code!r}")
            seen = {}
            for row in reader:
                line = reader.line_num
                rid = (row.get(inst.respondent_column) or "").strip()
                wave = (row.get(inst.wave_column) or "").strip()
                if not rid or not wave:
                    raise CivicError(f"{path}: line {line}: empty {inst.respondent_column if not rid else inst.wave_column}")
                if (wave, rid) in seen:
                    raise CivicError(f"{path}: line {line}: respondent {rid!r} appears twice in wave {wave!r} (first on line {seen[(wave, rid)]})")
                seen[(wave, rid)] = line
                answers = []
                for item in items:
                    code = _code_of(row.get(item) or "")
                    if code is None:
                        continue
                    try:
                        value, raw, ok, text = questions[item].check(code)
                    except CivicError as exc:
                        raise CivicError(f"{path}: line {line}: column {item}: {exc}") from None
                    answers.append({"item": item, "value": value, "raw": raw,
                                    "acceptable": None if ok is None else int(ok), "text": text})
                attributes = {k: _code_of(row.get(k) or "") for k in inst.demographics if k in header}
                district = _code_of(row.get(inst.district_column) or "") if inst.district_column else None
                method = (row.get(inst.method_column) or "").strip() or None if inst.method_column else None
                prepared.append(({
                    "instrument": instrument_code, "source": "import", "external_id": rid, "wave": wave,
                    "method": method, "period": wave[:10], "answered_at": now, "district": district,
                    "audience": inst.audience,
                }, answers, {k: v for k, v in attributes.items() if v is not None}))
        imported = _insert_responses(deployment, instrument_code, prepared)
        summary["files"].append({"file": str(path), "read": len(prepared), "imported": imported})
        summary["read"] += len(prepared)
        summary["imported"] += imported
        summary["skipped"] += len(prepared) - imported
    return summary


def import_csv(deployment, instrument_code: str, path: Path) -> dict:
    """Import answers from a CSV with one column per item code, plus optional columns
    respondent_id, wave, method, answered_at, department, work_group, service_code,
    district, channel, audience. Every row is checked before anything is stored."""
    inst = instrument(deployment, instrument_code)
    codes = {q.code for q in inst.questions}
    path = Path(path)
    prepared = []
    with open_csv(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in codes and c not in _CSV_ATTRS]
        if unknown:
            raise CivicError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}; expected item codes of "
                             f"{instrument_code!r} or {', '.join(_CSV_ATTRS)}")
        for row in reader:
            line = reader.line_num
            meta = {k: (row.get(k) or "").strip() or None for k in _CSV_ATTRS}
            try:
                at = datetime.fromisoformat(meta["answered_at"]) if meta["answered_at"] else deployment.clock()
            except ValueError:
                raise CivicError(f"{path}: line {line}: answered_at {meta['answered_at']!r} is not a date like 2026-03-01") from None
            if at.tzinfo is None:
                at = at.replace(tzinfo=deployment.profile.tz)
            try:
                checked = inst.check_answers({c: row.get(c) for c in codes if c in header}, department=meta["department"])
            except CivicError as exc:
                raise CivicError(f"{path}: line {line}: {exc}") from None
            prepared.append(({
                "instrument": instrument_code, "source": "csv", "external_id": meta["respondent_id"],
                "wave": meta["wave"], "method": meta["method"], "period": _period(deployment, at), "answered_at": at,
                "department": meta["department"], "work_group": meta["work_group"],
                "service_code": meta["service_code"], "district": meta["district"], "channel": meta["channel"],
                "audience": meta["audience"] or inst.audience,
            }, _answer_rows(checked), {}))
    imported = _insert_responses(deployment, instrument_code, prepared)
    return {"file": str(path), "read": len(prepared), "imported": imported, "skipped": len(prepared) - imported}


# --- action plans --------------------------------------------------------------------------


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


def invitation_counts(deployment, instrument_code: str) -> dict:
    """Invitations by status (sent, failed, answered) for an instrument."""
    with deployment.session() as s:
        rows = s.execute(select(SurveyInvitationRow.status, func.count()).where(
            SurveyInvitationRow.instrument == instrument_code).group_by(SurveyInvitationRow.status)).all()
    return {status: n for status, n in rows}

