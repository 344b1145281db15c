"""Read queries behind the Open311 API: request lists, one request, public history, updates."""

import functools
from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection

from civiccrm.store import plain
from civiccrm.store.queries import CaseFilter, bound_conditions, filter_shape, filter_values
from civiccrm.store.tables import (
    case_attributes_table,
    case_media_table,
    cases_table,
    events_table,
)

#: History events a resident may see (staff notes and assignments stay internal).
PUBLIC_EVENT_KINDS = ("created", "status_changed", "closed", "reopened", "merged", "public_note")

_FIRST_MEDIA = (
    select(case_media_table.c.url).where(case_media_table.c.case_id == cases_table.c.id)
    .order_by(case_media_table.c.id).limit(1).correlate(cases_table).scalar_subquery().label("media_url")
)
_CASE_COLUMNS = [
    *(cases_table.c[name] for name in (
        "id", "tracking_number", "service_code", "request_type", "department", "channel", "description",
        "address", "latitude", "longitude", "zip_code", "council_district", "status", "resolution",
        "opened_at", "updated_at", "due_at", "closed_at", "duplicate_of",
    )),
    _FIRST_MEDIA,
]
_ONE_REQUEST = select(*_CASE_COLUMNS).where(cases_table.c.tracking_number == bindparam("tracking_number"))


@functools.cache
def _requests_statement(shape: tuple[str, ...]):
    c = cases_table.c
    return (
        select(*_CASE_COLUMNS).where(and_(True, *bound_conditions(shape)))
        .order_by(c.opened_at.desc(), c.id.desc()).limit(bindparam("limit")).offset(bindparam("offset"))
    )


def find_requests(connection: Connection, query: CaseFilter) -> list[dict]:
    """Case rows (as dicts) matching ``query``, newest first, each with its first ``media_url``."""
    statement = _requests_statement(filter_shape(query))
    values = {**filter_values(query), "limit": query.limit, "offset": query.offset}
    result = connection.execute(statement, values)
    keys = tuple(result.keys())
    return [dict(zip(keys, row)) for row in result.all()]  # one fetch; plain rows zipped, not a RowMapping each


def requests_matching(engine, query: CaseFilter) -> list[dict]:
    """``find_requests`` on a pooled driver connection of ``engine`` (``store.plain``): the same rows in the same
    order with the same types, without the Connection and result layers (GET a list of requests; the statement
    is compiled once per dialect and filter shape, its IN lists laid out once per length; ``tests/test_open311_
    trust.py`` compares the two)."""
    values = {**filter_values(query), "limit": query.limit, "offset": query.offset}
    return plain.read(engine, _requests_statement(filter_shape(query)), values)


def find_request(connection: Connection, tracking_number: str) -> dict | None:
    """One case row (as a dict) by tracking number, or None."""
    row = connection.execute(_ONE_REQUEST, {"tracking_number": tracking_number}).mappings().first()
    return dict(row) if row else None


def request_by_number(engine, tracking_number: str) -> dict | None:
    """``find_request`` on a pooled driver connection of ``engine``: the same row, without the Connection and
    result layers, which cost GET one request more CPU than the indexed read itself (0.25 -> 0.09 ms in
    process; ``tests/test_open311_trust.py`` compares the two)."""
    return plain.read(engine, _ONE_REQUEST, {"tracking_number": tracking_number}, first=True)


def attributes_of(connection: Connection, case_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """case id -> [(code, value), ...] in the order they were given."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if case_ids:
        t = case_attributes_table.c
        for case_id, code, value in connection.execute(
            select(t.case_id, t.code, t.value).where(t.case_id.in_(case_ids)).order_by(t.id)
        ):
            found[case_id].append((code, value))
    return found


def public_history(connection: Connection, case_ids: list[int]) -> dict[int, list[dict]]:
    """case id -> its public events (dicts with kind, at, changes, note), oldest first."""
    found: dict[int, list[dict]] = defaultdict(list)
    if case_ids:
        e = events_table.c
        for row in connection.execute(
            select(e.id, e.case_id, e.kind, e.at, e.changes, e.note)
            .where(e.case_id.in_(case_ids), e.kind.in_(PUBLIC_EVENT_KINDS)).order_by(e.id)
        ).mappings():
            found[row["case_id"]].append(dict(row))
    return found


def public_updates(connection: Connection, *, start: datetime, end: datetime, limit: int, offset: int = 0) -> list[dict]:
    """Public events between ``start`` and ``end`` with their case's number, status and resolution."""
    e, c = events_table.c, cases_table.c
    statement = (
        select(e.id, e.kind, e.at, e.changes, e.note, c.tracking_number, c.status, c.resolution)
        .join(cases_table, c.id == e.case_id)
        .where(e.kind.in_(PUBLIC_EVENT_KINDS), e.at >= start, e.at <= end)
        .order_by(e.at, e.id).limit(limit).offset(offset)
    )
    return [dict(r) for r in connection.execute(statement).mappings()]


def created_by(connection: Connection, case_id: int) -> str | None:
    """The actor of a case's ``created`` event (one indexed row)."""
    return connection.execute(select(events_table.c.actor).where(
        events_table.c.case_id == case_id, events_table.c.kind == "created").limit(1)).scalar()
