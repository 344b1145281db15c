"""The database tables (SQLModel). Validation lives in the domain, not here."""

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
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
        Index("ix_cases_service_code", "service_code"),
    )
    id: int | None = Field(default=None, primary_key=True)
    tracking_number: str = Field(max_length=40, unique=True)
    service_code: str = Field(max_length=150)
    request_type: str = Field(max_length=300)
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


cases_table = CaseRow.__table__
events_table = CaseEventRow.__table__
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
