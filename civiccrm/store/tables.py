"""The database tables (SQLModel). Validation lives in the domain, not here."""

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, LargeBinary, Text, UniqueConstraint, literal_column, text
from sqlmodel import Field, SQLModel

from civiccrm.store.types import UTCDateTime


def _when(**kwargs):
    return Field(sa_type=UTCDateTime, **kwargs)


class Setting(SQLModel, table=True):
    __tablename__ = "settings"
    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_type=Text)


class DepartmentRow(SQLModel, table=True):
    __tablename__ = "departments"
    code: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)


class WorkGroupRow(SQLModel, table=True):
    __tablename__ = "work_groups"
    code: str = Field(primary_key=True, max_length=150)
    name: str = Field(max_length=200)
    department: str = Field(max_length=100)


class ServiceTypeRow(SQLModel, table=True):
    __tablename__ = "service_types"
    code: str = Field(primary_key=True, max_length=150)
    name: str = Field(max_length=300)
    category: str | None = Field(default=None, max_length=200)
    type: str | None = Field(default=None, max_length=200)
    detail: str | None = Field(default=None, max_length=200)
    department: str = Field(max_length=100)
    work_group: str | None = Field(default=None, max_length=150)
    sla_target: float
    sla_basis: str = Field(max_length=20)
    sla_source: str = Field(max_length=20)
    calendar: str | None = Field(default=None, max_length=100)


class CustomerRow(SQLModel, table=True):
    """Personal data, kept apart from cases so it can be redacted without touching them."""

    __tablename__ = "customers"
    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    contact_by: str | None = Field(default=None, max_length=10)
    """The channel the customer prefers to be contacted on: email, sms or phone (None: no preference)."""
    language: str | None = Field(default=None, max_length=10)
    """The language the customer wrote in or chose (a code of the profile's languages); None: the city's first."""
    created_at: datetime = _when()
    redacted_at: datetime | None = _when(default=None)


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("origin", "external_id", name="uq_cases_origin_external_id"),
        Index("ix_cases_opened_at", "opened_at"),
        Index("ix_cases_closed_at", "closed_at"),
        Index("ix_cases_status_due_at", "status", "due_at"),
        Index("ix_cases_department", "department"),
        # The breach scan's first-response query: only cases still awaiting a response.
        Index("ix_cases_awaiting_response", "response_due_at",
              sqlite_where=text("responded_at IS NULL AND response_due_at IS NOT NULL"),
              postgresql_where=text("responded_at IS NULL AND response_due_at IS NOT NULL")),
        # The work queue: open cases by due time, for everyone and per work group, department or district.
        Index("ix_cases_queue", "due_at", "id", sqlite_where=text("status <> 'closed'"),
              postgresql_where=text("status <> 'closed'")),
        Index("ix_cases_queue_work_group", "work_group", "due_at", "id", sqlite_where=text("status <> 'closed'"),
              postgresql_where=text("status <> 'closed'")),
        Index("ix_cases_queue_department", "department", "due_at", "id", sqlite_where=text("status <> 'closed'"),
              postgresql_where=text("status <> 'closed'")),
        Index("ix_cases_queue_district", "council_district", "due_at", "id", sqlite_where=text("status <> 'closed'"),
              postgresql_where=text("status <> 'closed'")),
        # The triage queue (open and untyped) by department: a department worker's Triage badge on every queue page.
        Index("ix_cases_queue_triage", "department", "due_at", "id",
              sqlite_where=text("status <> 'closed' AND service_code IS NULL"),
              postgresql_where=text("status <> 'closed' AND service_code IS NULL")),
        # The case page's nearby duplicates: same type, opened near the same time. Also every lookup by type alone
        # (a one-column index on service_code would repeat its first column: dropped in migration 0030).
        Index("ix_cases_type_opened", "service_code", "opened_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    tracking_number: str = Field(max_length=40, unique=True)
    service_code: str | None = Field(default=None, max_length=150)
    """None: nobody could classify it yet (the triage queue); typing it starts its SLA (migration 0026)."""
    request_type: str | None = Field(default=None, max_length=300)
    category: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=100)
    work_group: str | None = Field(default=None, max_length=150)
    channel: str = Field(max_length=40)
    description: str = Field(default="", sa_type=Text)
    address: str | None = Field(default=None, max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    zip_code: str | None = Field(default=None, max_length=10)
    council_district: str | None = Field(default=None, max_length=20)
    neighborhood: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=20)
    resolution: str | None = Field(default=None, max_length=20)
    opened_at: datetime = _when()
    updated_at: datetime = _when()
    due_at: datetime | None = _when(default=None)
    closed_at: datetime | None = _when(default=None)
    days_to_close: float | None = None
    on_time: bool | None = None
    duplicate_of: str | None = Field(default=None, max_length=40)
    origin: str = Field(default="intake", max_length=40)
    external_id: str | None = Field(default=None, max_length=60)
    customer_id: int | None = Field(default=None, foreign_key="customers.id")
    city_exceeded_timeframe: bool | None = None
    city_days_to_close: float | None = None
    sla_paused_seconds: float = 0.0
    """Time taken off the SLA clock by past pauses (open seconds on business bases)."""
    sla_paused_at: datetime | None = _when(default=None)
    """When the current pause began; None while the clock runs."""
    sla_level: int = 0
    """Highest escalation written by the breach scan: 0 none, 1 warning, 2 breached."""
    sla_clock_from: datetime | None = _when(default=None)
    """When the SLA clock started if not at ``opened_at`` (a reopened case counts from reopening)."""
    response_due_at: datetime | None = _when(default=None)
    """When a first response is due (the policy's first-response target), if it has one."""
    responded_at: datetime | None = _when(default=None)
    """The first response: when the case first left ``new`` (status change, close or merge)."""
    sla_response_level: int = 0
    """First-response escalation written by the breach scan: 0 none, 2 breached."""
    last_event_id: int | None = None
    """The event that last saved the case (None: none since it was created or imported). A trigger
    (migration 0023) refuses a change of an outcome column that does not advance it to a new event."""


class CaseEventRow(SQLModel, table=True):
    """Append-only: triggers in the database refuse UPDATE and DELETE."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    at: datetime = _when()
    actor: str = Field(max_length=100)
    kind: str = Field(max_length=40)
    origin: str = Field(default="intake", max_length=40)
    changes: str = Field(default="{}", sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)


class TrackingCounter(SQLModel, table=True):
    __tablename__ = "tracking_counters"
    year: int = Field(primary_key=True)
    last: int = 0


class SlaPolicyRow(SQLModel, table=True):
    """A policy version added with ``civiccrm sla policy set`` (never updated: a change is a new row)."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("service_code", "effective_from", name="uq_sla_policies_code_from"),)
    id: int | None = Field(default=None, primary_key=True)
    service_code: str = Field(max_length=150)
    effective_from: date
    target: float
    basis: str = Field(max_length=20)
    calendar: str = Field(max_length=100)
    first_response: float | None = None
    pause_statuses: str = Field(max_length=200)
    clock_start: str = Field(max_length=20)
    note: str | None = Field(default=None, sa_type=Text)
    actor: str = Field(max_length=100)
    created_at: datetime = _when()


cases_table = CaseRow.__table__
events_table = CaseEventRow.__table__


def case_is_open():
    """``cases.status <> 'closed'`` with the word in the SQL, not a bound parameter: the partial work-queue
    indexes (ix_cases_queue*) say ``status <> 'closed'``, and only a literal lets PostgreSQL's generic plan
    of a prepared statement (psycopg prepares a query from its fifth run) prove that and use them."""
    return cases_table.c.status != literal_column("'closed'")

customers_table = CustomerRow.__table__
service_types_table = ServiceTypeRow.__table__


class ApiKeyRow(SQLModel, table=True):
    """An Open311 API key: only its SHA-256 is stored; the key is shown once, at creation."""

    __tablename__ = "api_keys"
    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    key_prefix: str = Field(max_length=12)
    name: str = Field(max_length=200)
    channel: str = Field(max_length=40)
    created_at: datetime = _when()
    revoked_at: datetime | None = _when(default=None)
    scope: str = Field(default="own", max_length=20)
    """Which cases the key's updates may touch: ``own`` (those it created) or ``all``."""


class CaseAttributeRow(SQLModel, table=True):
    """An answer to a service attribute (one row per value of a multi-value list)."""

    __tablename__ = "case_attributes"
    __table_args__ = (Index("ix_case_attributes_case_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    code: str = Field(max_length=100)
    value: str = Field(sa_type=Text)


class CaseMediaRow(SQLModel, table=True):
    """A link to a photo or other media sent with a case (public, like the description)."""

    __tablename__ = "case_media"
    __table_args__ = (Index("ix_case_media_case_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    url: str = Field(max_length=2000)


case_attributes_table = CaseAttributeRow.__table__
case_media_table = CaseMediaRow.__table__
Index("ix_cases_updated_at", cases_table.c.updated_at)


class SurveyPlanRow(SQLModel, table=True):
    """A sampling plan for one instrument (see civiccrm.domain.sampling)."""

    __tablename__ = "survey_plans"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=100, unique=True)
    instrument: str = Field(max_length=100)
    method: str = Field(max_length=20)
    sample_size: int | None = None
    rate: float | None = None
    strata: str | None = Field(default=None, max_length=20)
    allocation: str = Field(default="proportional", max_length=20)
    seed: int = Field(default=0, sa_type=BigInteger)
    active: bool = True
    created_at: datetime = _when()


class SurveyDrawRow(SQLModel, table=True):
    """A draw: the frame, seed and sample as JSON, so it can be reproduced and audited."""

    __tablename__ = "survey_draws"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="survey_plans.id")
    method: str = Field(max_length=20)
    seed: int = Field(sa_type=BigInteger)
    frame_definition: str = Field(sa_type=Text)
    frame: str = Field(sa_type=Text)
    sample: str = Field(sa_type=Text)
    strata: str = Field(default="{}", sa_type=Text)
    frame_size: int
    sample_size: int
    drawn_at: datetime = _when()


class SurveyInvitationRow(SQLModel, table=True):
    """One invitation to answer an instrument about one case; only the token's SHA-256 is kept."""

    __tablename__ = "survey_invitations"
    __table_args__ = (Index("ix_survey_invitations_address", "address", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    instrument: str = Field(max_length=100)
    plan_id: int | None = Field(default=None, foreign_key="survey_plans.id")
    draw_id: int | None = Field(default=None, foreign_key="survey_draws.id")
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    customer_id: int | None = Field(default=None, foreign_key="customers.id")
    address: str | None = Field(default=None, max_length=320)
    channel: str = Field(max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    status: str = Field(max_length=20)
    stratum: str | None = Field(default=None, max_length=200)
    weight: float | None = None
    error: str | None = Field(default=None, sa_type=Text)
    outbox_id: int | None = None
    """The outbox row carrying the invitation's message (status ``queued``): its state is the delivery's."""
    created_at: datetime = _when()
    expires_at: datetime = _when()
    answered_at: datetime | None = _when(default=None)


class SurveyResponseRow(SQLModel, table=True):
    """One completed questionnaire, with what results are grouped by copied onto it."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("instrument", "wave", "external_id", name="uq_survey_responses_wave_respondent"),
        Index("ix_survey_responses_instrument", "instrument", "answered_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    instrument: str = Field(max_length=100)
    invitation_id: int | None = Field(default=None, foreign_key="survey_invitations.id", unique=True)
    source: str = Field(max_length=20)
    external_id: str | None = Field(default=None, max_length=60)
    wave: str | None = Field(default=None, max_length=40)
    method: str | None = Field(default=None, max_length=40)
    period: str = Field(max_length=10)
    answered_at: datetime = _when()
    department: str | None = Field(default=None, max_length=100)
    work_group: str | None = Field(default=None, max_length=150)
    service_code: str | None = Field(default=None, max_length=150)
    district: str | None = Field(default=None, max_length=20)
    channel: str | None = Field(default=None, max_length=40)
    audience: str | None = Field(default=None, max_length=40)
    stratum: str | None = Field(default=None, max_length=200)
    weight: float | None = None
    plan_id: int | None = Field(default=None, foreign_key="survey_plans.id")


class SurveyAnswerRow(SQLModel, table=True):
    """One answer: value None for no answer, N/A or don't know (the raw code is kept)."""

    __tablename__ = "survey_answers"
    __table_args__ = (Index("ix_survey_answers_response", "response_id"), Index("ix_survey_answers_item", "item"))
    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="survey_responses.id")
    item: str = Field(max_length=60)
    value: int | None = None
    raw: int | None = None
    acceptable: int | None = None
    text: str | None = Field(default=None, sa_type=Text)


class SurveyResponseAttrRow(SQLModel, table=True):
    """A demographic or other grouping attribute of a response (e.g. q41_w = 2)."""

    __tablename__ = "survey_response_attrs"
    response_id: int = Field(foreign_key="survey_responses.id", primary_key=True)
    name: str = Field(max_length=60, primary_key=True)
    value: str = Field(max_length=200)


class SurveyOptOutRow(SQLModel, table=True):
    """An address (e-mail or phone, lower-cased) that must never be invited again."""

    __tablename__ = "survey_optouts"
    address: str = Field(primary_key=True, max_length=320)
    created_at: datetime = _when()


class SurveyActionPlanRow(SQLModel, table=True):
    """What a department will do about an item under target; listed until closed."""

    __tablename__ = "survey_action_plans"
    __table_args__ = (Index("ux_survey_action_plans_code", "code", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, max_length=100)
    """The plan's code in the city profile (None for plans added with the CLI)."""
    instrument: str = Field(max_length=100)
    item: str = Field(max_length=60)
    department: str | None = Field(default=None, max_length=100)
    owner: str = Field(max_length=200)
    actions: str = Field(sa_type=Text)
    due: date
    status: str = Field(max_length=20)
    created_at: datetime = _when()
    closed_at: datetime | None = _when(default=None)


survey_responses_table = SurveyResponseRow.__table__
survey_answers_table = SurveyAnswerRow.__table__
survey_attrs_table = SurveyResponseAttrRow.__table__
survey_invitations_table = SurveyInvitationRow.__table__


class AuditChainRow(SQLModel, table=True):
    """One link of the hash chain over case history: ``hash = sha256(previous hash + event)``.

    Sealed after the event commits (``civiccrm audit seal``); append-only like the history.
    """

    __tablename__ = "audit_chain"
    seq: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(unique=True)
    hash: str = Field(max_length=64)
    sealed_at: datetime = _when()


audit_chain_table = AuditChainRow.__table__


class OutboxRow(SQLModel, table=True):
    """One delivery (a message, an integration call) written in the transaction of the change causing it,
    sent later by ``civiccrm deliver`` (see civiccrm.services.outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_subject", "subject"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=80)
    destination: str = Field(max_length=320)
    subject: str | None = Field(default=None, max_length=120)
    payload: str = Field(sa_type=Text)
    idempotency_key: str = Field(max_length=200, unique=True)
    state: str = Field(max_length=20)
    tries: int = 0
    max_attempts: int
    created_at: datetime = _when()
    next_attempt_at: datetime = _when()
    lease_token: str | None = Field(default=None, max_length=120)
    """The worker delivering it now (with ``lease_until``); None when no worker holds it."""
    lease_until: datetime | None = _when(default=None)
    sent_at: datetime | None = _when(default=None)
    receipt: str | None = Field(default=None, max_length=500)
    last_error: str | None = Field(default=None, sa_type=Text)


class OutboxAttemptRow(SQLModel, table=True):
    """Every try of an outbox row, with its outcome and reason (append-only by habit: never updated)."""

    __tablename__ = "outbox_attempts"
    __table_args__ = (Index("ix_outbox_attempts_outbox_id", "outbox_id"),)
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id")
    attempt: int
    worker: str = Field(max_length=120)
    started_at: datetime = _when()
    finished_at: datetime = _when()
    outcome: str = Field(max_length=20)
    reason: str | None = Field(default=None, sa_type=Text)


outbox_table = OutboxRow.__table__
outbox_attempts_table = OutboxAttemptRow.__table__


# The duplicate check's lookup at intake: open cases of a type, narrowed by a bounding box.
OPEN_CASE = "status <> 'closed' AND latitude IS NOT NULL"
Index("ix_cases_open_point", cases_table.c.service_code, cases_table.c.latitude, cases_table.c.longitude,
      cases_table.c.opened_at, sqlite_where=text(OPEN_CASE), postgresql_where=text(OPEN_CASE))


class CaseFollowerRow(SQLModel, table=True):
    """A person told about a case they did not open (the requester of a duplicate merged into it)."""

    __tablename__ = "case_followers"
    __table_args__ = (UniqueConstraint("case_id", "customer_id", name="uq_case_followers_case_customer"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    customer_id: int = Field(foreign_key="customers.id")
    via_case_id: int | None = Field(default=None, foreign_key="cases.id")
    """The case the follower opened (the merged duplicate), if any."""
    created_at: datetime = _when()


class CaseLinkRow(SQLModel, table=True):
    """A link between two cases, one row each way (``duplicate_of`` on the duplicate, ``duplicate`` on the main case)."""

    __tablename__ = "case_links"
    __table_args__ = (
        UniqueConstraint("case_id", "linked_case_id", "kind", name="uq_case_links"),
        Index("ix_case_links_case_id", "case_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    linked_case_id: int = Field(foreign_key="cases.id")
    kind: str = Field(max_length=20)
    created_at: datetime = _when()
    actor: str = Field(max_length=100)


case_followers_table = CaseFollowerRow.__table__
case_links_table = CaseLinkRow.__table__


class IdempotencyKeyRow(SQLModel, table=True):
    """The first answer to an Open311 POST sent with an idempotency key (per API key)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "idem_key", name="uq_idempotency_keys"),)
    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(foreign_key="api_keys.id")
    idem_key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    """SHA-256 of the request's fields, so a key reused for another request is refused."""
    response: str | None = Field(default=None, sa_type=Text)
    """The answer as JSON; None while the first request is still being handled."""
    created_at: datetime = _when()


idempotency_keys_table = IdempotencyKeyRow.__table__


class CallRow(SQLModel, table=True):
    """One call offered to a queue (civiccrm/domain/calls.py CallRecord), with its local half-hour."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_calls_source_external_id"),
        Index("ix_calls_local_date", "local_date"),
        # Covering for first-contact resolution (metrics/calls.py _first_contact): read in index order.
        Index("ix_calls_caller_code", "caller_key", "wrap_up", "started_epoch", "local_date", "outcome"),
        # Covering for the wrap-up codes' talk-time percentiles (metrics/calls.py _wrap_ups): read in order.
        Index("ix_calls_answered_talk", "wrap_up", "talk_seconds", "local_date", "case_number", "outcome",
              sqlite_where=text("outcome = 'answered'"), postgresql_where=text("outcome = 'answered'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=60)
    """The format it was imported with (e.g. amazon-connect)."""
    external_id: str = Field(max_length=120)
    queue: str = Field(max_length=120)
    started_at: datetime = _when()
    started_epoch: int = Field(sa_type=BigInteger)
    """started_at as Unix seconds: the same arithmetic on SQLite and PostgreSQL."""
    local_date: str = Field(max_length=10)
    """The city-local date, YYYY-MM-DD."""
    local_slot: int
    """The city-local half-hour of the day, 0..47."""
    local_weekday: int
    """0 Monday .. 6 Sunday (city-local)."""
    outcome: str = Field(max_length=10)
    wait_seconds: float
    talk_seconds: float
    hold_seconds: float
    acw_seconds: float
    wrap_up: str | None = Field(default=None, max_length=120)
    agent: str | None = Field(default=None, max_length=120)
    caller_key: str | None = Field(default=None, max_length=32)
    """A keyed hash of the caller's number (the number itself is not stored)."""
    case_number: str | None = Field(default=None, max_length=60)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    updated_at: datetime | None = _when(default=None)


class CallIntervalRow(SQLModel, table=True):
    """One queue's interval from an ACD interval report (civiccrm/domain/calls.py IntervalRow)."""

    __tablename__ = "call_intervals"
    __table_args__ = (
        UniqueConstraint("source", "queue", "interval_start", name="uq_call_intervals_source_queue_start"),
        Index("ix_call_intervals_local_date", "local_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=60)
    queue: str = Field(max_length=120)
    interval_start: datetime = _when()
    length_seconds: int
    local_date: str = Field(max_length=10)
    local_slot: int
    local_weekday: int
    offered: int
    handled: int
    abandoned: int
    short_abandoned: int
    answered_within_t: int | None = None
    wait_seconds: float
    handle_seconds: float
    agents: float | None = None
    service_level_seconds: float | None = None
    """The threshold the ACD counted answered_within_t with."""
    short_abandon_seconds: float | None = None


calls_table = CallRow.__table__
call_intervals_table = CallIntervalRow.__table__


class WorkOrderRow(SQLModel, table=True):
    """A case's job in one destination system; a case with an open one is not closed as fixed."""

    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("case_id", "destination", name="uq_work_orders_case_destination"),
        Index("ix_work_orders_destination_external", "destination", "external_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    destination: str = Field(max_length=100)
    status: str = Field(max_length=20)
    external_id: str | None = Field(default=None, max_length=200)
    external_status: str | None = Field(default=None, max_length=100)
    opened_at: datetime = _when()
    updated_at: datetime = _when()
    completed_at: datetime | None = _when(default=None)
    resolution: str | None = Field(default=None, max_length=20)


class IntegrationUpdateRow(SQLModel, table=True):
    """An update fetched from or pushed by a destination, with what was done with it (bad ones too)."""

    __tablename__ = "integration_updates"
    __table_args__ = (
        UniqueConstraint("destination", "update_id", name="uq_integration_updates_destination_update"),
        Index("ix_integration_updates_destination_received", "destination", "received_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=100)
    update_id: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    work_order_id: int | None = Field(default=None, foreign_key="work_orders.id")
    status: str | None = Field(default=None, max_length=100)
    at: datetime | None = _when(default=None)
    received_at: datetime = _when()
    via: str = Field(max_length=10)
    """fetch or push."""
    outcome: str = Field(max_length=20)
    """applied, unchanged or refused."""
    reason: str | None = Field(default=None, sa_type=Text)
    raw: str | None = Field(default=None, sa_type=Text)


class IntegrationFetchRow(SQLModel, table=True):
    """One fetch of updates from a destination: when, from when on, and how it went."""

    __tablename__ = "integration_fetches"
    __table_args__ = (Index("ix_integration_fetches_destination", "destination", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=100)
    since: datetime | None = _when(default=None)
    started_at: datetime = _when()
    finished_at: datetime = _when()
    ok: bool
    updates: int = 0
    refused: int = 0
    error: str | None = Field(default=None, sa_type=Text)


work_orders_table = WorkOrderRow.__table__
integration_updates_table = IntegrationUpdateRow.__table__
integration_fetches_table = IntegrationFetchRow.__table__


class UserRow(SQLModel, table=True):
    """A staff user of the admin screens; only the argon2id hash of the password is kept."""

    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=60, unique=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=30)
    departments: str = Field(default="[]", sa_type=Text)
    """JSON list of department codes."""
    work_groups: str = Field(default="[]", sa_type=Text)
    """JSON list of work group codes."""
    language: str = Field(default="en", max_length=10)
    session_version: int = 1
    must_change_password: bool = False
    """Set for a one-time password: the first login asks for a new one."""
    created_at: datetime = _when()
    password_changed_at: datetime = _when()
    disabled_at: datetime | None = _when(default=None)


class StaffSessionRow(SQLModel, table=True):
    """A logged-in browser: the cookie carries a random token, the database only its SHA-256."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id"),)
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id")
    session_version: int
    created_at: datetime = _when()
    last_seen_at: datetime = _when()


class LoginAttemptRow(SQLModel, table=True):
    """Append-only: every login attempt with its outcome (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    username: str = Field(max_length=100)
    address: str = Field(max_length=64)
    outcome: str = Field(max_length=20)
    """success, bad_password, unknown_user, disabled or limited."""
    user_id: int | None = Field(default=None, foreign_key="users.id")


class RateLimitRow(SQLModel, table=True):
    """A fixed-window counter per scope and key, shared by every worker process (store/ratelimit.py)."""

    __tablename__ = "rate_limits"
    scope: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=200)
    window_start: datetime = _when()
    hits: int = 0


users_table = UserRow.__table__
staff_sessions_table = StaffSessionRow.__table__
login_attempts_table = LoginAttemptRow.__table__
rate_limits_table = RateLimitRow.__table__


class CaseAssigneeRow(SQLModel, table=True):
    """The staff user a case is assigned to, within its work group (each change is a history event)."""

    __tablename__ = "case_assignees"
    __table_args__ = (Index("ix_case_assignees_user", "user_id"),)
    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    assigned_at: datetime = _when()


class SavedFilterRow(SQLModel, table=True):
    """A work-queue filter a user saved under a name (the query string of the queue page)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_filters_user_name"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    name: str = Field(max_length=100)
    query: str = Field(sa_type=Text)
    created_at: datetime = _when()


case_assignees_table = CaseAssigneeRow.__table__
saved_filters_table = SavedFilterRow.__table__



class KbArticleRow(SQLModel, table=True):
    """A knowledge-base article: for one service type, or a general FAQ (service_code None)."""

    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_service_code", "service_code"),)
    id: int | None = Field(default=None, primary_key=True)
    service_code: str | None = Field(default=None, max_length=150)
    department: str | None = Field(default=None, max_length=100)
    """The department whose editors may change it (None: supervisors and administrators only)."""
    created_at: datetime = _when()


class KbVersionRow(SQLModel, table=True):
    """Append-only: one version of an article (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "kb_versions"
    __table_args__ = (UniqueConstraint("article_id", "number", name="uq_kb_versions_article_number"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="kb_articles.id")
    number: int
    title: str = Field(max_length=200)
    answer: str = Field(sa_type=Text)
    questions: str = Field(default="", sa_type=Text)
    timeframe: str = Field(default="", max_length=200)
    public: bool = False
    author: str = Field(max_length=100)
    created_at: datetime = _when()


class ConfigChangeRow(SQLModel, table=True):
    """Append-only: a configuration change made in the admin, with who, when and the values before and after."""

    __tablename__ = "config_changes"
    __table_args__ = (Index("ix_config_changes_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    actor: str = Field(max_length=100)
    kind: str = Field(max_length=40)
    subject: str = Field(max_length=200)
    before: str | None = Field(default=None, sa_type=Text)
    """JSON of the values before (None for something new)."""
    after: str | None = Field(default=None, sa_type=Text)
    """JSON of the values after."""


kb_articles_table = KbArticleRow.__table__
kb_versions_table = KbVersionRow.__table__
config_changes_table = ConfigChangeRow.__table__

class PublicPhotoRow(SQLModel, table=True):
    """A photo sent with a report from the public pages, re-encoded as JPEG (services/photos.py)."""

    __tablename__ = "public_photos"
    __table_args__ = (Index("ix_public_photos_case", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    """Random; the photo's public name."""
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    """None until the case is stored (a photo of a refused report is deleted)."""
    content_type: str = Field(max_length=40)
    data: bytes = Field(sa_type=LargeBinary)
    size: int
    width: int
    height: int
    created_at: datetime = _when()


class AlertSubscriptionRow(SQLModel, table=True):
    """A resident's e-mail subscription to service alerts for a district or a radius around a point."""

    __tablename__ = "alert_subscriptions"
    __table_args__ = (Index("ix_alert_subscriptions_email", "email"),
                      Index("ix_alert_subscriptions_active", "confirmed_at", "unsubscribed_at"))
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    language: str = Field(default="en", max_length=10)
    district: str | None = Field(default=None, max_length=40)
    latitude: float | None = None
    longitude: float | None = None
    radius_m: float | None = None
    token: str = Field(max_length=64, unique=True)
    """The random secret in the subscriber's confirm and unsubscribe links (kept: every alert
    e-mail carries the unsubscribe link)."""
    created_at: datetime = _when()
    confirmed_at: datetime | None = _when(default=None)
    unsubscribed_at: datetime | None = _when(default=None)


class ServiceAlertRow(SQLModel, table=True):
    """An alert the city posted (storm, trash delay) for the whole city, a district or a radius."""

    __tablename__ = "service_alerts"
    __table_args__ = (Index("ix_service_alerts_posted", "posted_at"),)
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    district: str | None = Field(default=None, max_length=40)
    latitude: float | None = None
    longitude: float | None = None
    radius_m: float | None = None
    posted_at: datetime = _when()
    posted_by: str = Field(max_length=100)
    recipients: int = 0
    """Confirmed subscriptions the alert was queued for (one outbox message each)."""


public_photos_table = PublicPhotoRow.__table__
alert_subscriptions_table = AlertSubscriptionRow.__table__
service_alerts_table = ServiceAlertRow.__table__


class ContactAddressRow(SQLModel, table=True):
    """An e-mail address or phone number (normalised) that must not be sent to: opted out or bouncing."""

    __tablename__ = "contact_addresses"
    address: str = Field(primary_key=True, max_length=320)
    channel: str = Field(max_length=40)
    opted_out_at: datetime | None = _when(default=None)
    """When the resident said stop (SMS STOP); None: not opted out."""
    bouncing_since: datetime | None = _when(default=None)
    """When a delivery report said mail to it fails; None: not bouncing."""
    reason: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = _when()


class InboundMessageRow(SQLModel, table=True):
    """Every message received on an inbound channel and what became of it (a case, a note, nothing and why)."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "message_id", name="uq_inbound_messages_channel_message_id"),
        Index("ix_inbound_messages_sender", "channel", "sender", "received_at"),
        Index("ix_inbound_messages_case_id", "case_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=40)
    sender: str = Field(max_length=320)
    message_id: str | None = Field(default=None, max_length=300)
    """The channel's own id (an e-mail's Message-ID, an SMS provider's message id): a repeat is dropped."""
    received_at: datetime = _when()
    subject: str | None = Field(default=None, max_length=300)
    outcome: str = Field(max_length=20)
    """case, note, triage, ignored (robots, loops), bounce, refused, limited, awaiting_choice, answered."""
    reason: str | None = Field(default=None, sa_type=Text)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    pending_body: str | None = Field(default=None, sa_type=Text)
    """The text waiting for the sender to say which of their open cases it is about."""


class CaseAttachmentRow(SQLModel, table=True):
    """A file that came with an inbound message (an e-mail's photo), kept within the channel's limits."""

    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_case_attachments_case_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _when()


contact_addresses_table = ContactAddressRow.__table__
inbound_messages_table = InboundMessageRow.__table__
case_attachments_table = CaseAttachmentRow.__table__
