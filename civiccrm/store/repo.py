"""Mappers between domain objects and rows, and the small queries the services need."""

import functools
import json
from contextlib import contextmanager, nullcontext
from operator import itemgetter

import numpy as np
from sqlalchemy import String, Text, bindparam, cast, func, insert, literal, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from civiccrm.domain.cases import Case, CaseEvent, Customer, Location, Resolution, Status
from civiccrm.domain.profile import CityProfile
from civiccrm.errors import NotFound
from civiccrm.store import plain
from civiccrm.store.db import WriteGroup, close_group, join_group, writer_turn
from civiccrm.store.tables import (
    CaseAttributeRow,
    CaseEventRow,
    CaseMediaRow,
    CaseRow,
    CustomerRow,
    DepartmentRow,
    ServiceTypeRow,
    Setting,
    TrackingCounter,
    WorkGroupRow,
)


#: Case columns a transition may change; ``save_case`` writes them.
SAVED_COLUMNS = (
    "service_code", "request_type", "category", "department", "work_group", "description", "address",
    "latitude", "longitude", "zip_code", "council_district", "neighborhood", "status", "resolution",
    "updated_at", "due_at", "closed_at", "days_to_close", "on_time", "duplicate_of", "response_due_at",
    "responded_at", "sla_clock_from", "sla_paused_at", "sla_paused_seconds", "sla_level", "sla_response_level",
)


def case_from_row(row: CaseRow) -> Case:
    """The Case of a row (or of any object with the case columns; a new case's SLA columns may be
    missing: the clock then has not run)."""
    return Case(
        id=row.id,
        tracking_number=row.tracking_number,
        service_code=row.service_code,
        request_type=row.request_type,
        category=row.category,
        department=row.department,
        work_group=row.work_group,
        channel=row.channel,
        description=row.description,
        location=Location(
            address=row.address, latitude=row.latitude, longitude=row.longitude,
            zip_code=row.zip_code, council_district=row.council_district, neighborhood=row.neighborhood,
        ),
        status=Status(row.status),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        due_at=row.due_at,
        closed_at=row.closed_at,
        resolution=Resolution(row.resolution) if row.resolution else None,
        on_time=row.on_time,
        duplicate_of=row.duplicate_of,
        origin=row.origin,
        external_id=row.external_id,
        customer_id=row.customer_id,
        city_exceeded_timeframe=row.city_exceeded_timeframe,
        city_days_to_close=row.city_days_to_close,
        days_to_close=getattr(row, "days_to_close", None),
        response_due_at=getattr(row, "response_due_at", None),
        responded_at=getattr(row, "responded_at", None),
        sla_clock_from=getattr(row, "sla_clock_from", None),
        sla_paused_at=getattr(row, "sla_paused_at", None),
        sla_paused_seconds=getattr(row, "sla_paused_seconds", None) or 0.0,
        sla_level=getattr(row, "sla_level", None) or 0,
        sla_response_level=getattr(row, "sla_response_level", None) or 0,
    )


def case_columns(case: Case) -> dict:
    """The columns ``save_case`` writes, from a Case."""
    values = {name: getattr(case, name) for name in SAVED_COLUMNS if name not in LOCATION_COLUMNS}
    values.update(location_columns(case.location))
    values["status"] = case.status.value
    values["resolution"] = case.resolution.value if case.resolution else None
    return values


LOCATION_COLUMNS = ("address", "latitude", "longitude", "zip_code", "council_district", "neighborhood")


def location_columns(location: Location) -> dict:
    return {
        "address": location.address, "latitude": location.latitude, "longitude": location.longitude,
        "zip_code": location.zip_code, "council_district": location.council_district,
        "neighborhood": location.neighborhood,
    }


def event_from_row(row: CaseEventRow) -> CaseEvent:
    return CaseEvent(
        id=row.id, case_id=row.case_id, kind=row.kind, at=row.at, actor=row.actor,
        changes=json.loads(row.changes or "{}"), note=row.note, origin=row.origin,
    )


def add_event(*, session: Session, case_id: int, event: CaseEvent) -> CaseEventRow:
    row = CaseEventRow(
        case_id=case_id, at=event.at, actor=event.actor, kind=event.kind, origin=event.origin,
        changes=json.dumps(event.changes, default=str, sort_keys=True), note=event.note,
    )
    session.add(row)
    return row


def _lock_for_write(session: Session) -> None:
    """SQLite has no row locks (FOR UPDATE is ignored): take the database's write lock before reading,
    so two sessions cannot both read a case and then both change it."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_case_row(*, session: Session, tracking_number: str, for_update: bool = False) -> CaseRow:
    query = select(CaseRow).where(CaseRow.tracking_number == tracking_number.strip())
    if for_update:
        _lock_for_write(session)
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"case {tracking_number!r} not found")
    return row


def load_case(*, session: Session, tracking_number: str, for_update: bool = False) -> Case:
    """The case with that tracking number (NotFound otherwise); ``for_update`` locks it until the commit."""
    return case_from_row(get_case_row(session=session, tracking_number=tracking_number, for_update=for_update))


_SAVE_CASE = update(CaseRow.__table__).where(CaseRow.__table__.c.id == bindparam("b_id")).values(
    {name: bindparam(name) for name in (*SAVED_COLUMNS, "last_event_id")})


def save_case(*, session: Session, case: Case, event: CaseEvent) -> int:
    """Write the history event of a change, then the case a transition evolved, pointing at it
    (``last_event_id``: the database refuses an outcome change without a new event); the caller
    commits. Returns the event's id, as the insert returned it (not read back: another writer's
    event may be newer)."""
    event_id = session.execute(_INSERT_EVENT.returning(CaseEventRow.__table__.c.id),
                               event_values(case.id, event)).scalar_one()
    session.execute(_SAVE_CASE, {**case_columns(case), "last_event_id": event_id, "b_id": case.id})
    return event_id


def history(*, session: Session, case_id: int) -> list[CaseEvent]:
    rows = session.scalars(select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id))
    return [event_from_row(r) for r in rows]


def add_customer(*, session: Session, customer: Customer, created_at) -> int:
    row = CustomerRow(name=customer.name, email=customer.email, phone=customer.phone,
                      contact_by=customer.contact_by, language=customer.language, created_at=created_at)
    session.add(row)
    session.flush()
    return row.id


@contextmanager
def write_transaction(engine, *, durable: bool = True, connection: Connection | None = None):
    """A connection in a write transaction, for short transactions that only write (the caller commits).

    On SQLite the writer first waits its turn among this deployment's writers (``writer_turn``),
    then takes the write lock at BEGIN (IMMEDIATE), so the transaction never upgrades a read lock
    and everything after BEGIN runs with the lock already held.

    ``durable=False`` is for bookkeeping that may be lost in a power failure (rate-limit counters):
    its commit does not wait for the disk (SQLite synchronous=NORMAL under WAL, PostgreSQL
    synchronous_commit off), and it is still atomic and seen by every other connection at once.

    ``connection`` (one of ``engine``'s, not in a transaction) is used instead of a new one and left open: the
    caller may read on it once the writer's turn is over (the Open311 POST's duplicate lookup)."""
    with engine.connect() if connection is None else nullcontext(connection) as connection, writer_turn(engine):
        sqlite = connection.dialect.name == "sqlite"
        if sqlite and not durable:
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")  # outside a transaction, as it must be
        if sqlite:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not durable:
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        try:
            yield connection
        finally:
            if connection.in_transaction():  # not committed: give the lock back before the next writer's turn
                connection.rollback()
            if sqlite and not durable:
                connection.exec_driver_sql("PRAGMA synchronous=FULL")  # the pooled connection as make_engine set it


@contextmanager
def grouped_write(engine, *, connection: Connection | None = None):
    """A connection to write one short, durable part on (intake's), committed when the block ends, with the parts
    of whichever other writers of this process share the writer's turn (``db.WriteGroup``: on SQLite one commit,
    one wait for the disk, for all of them; on PostgreSQL and in-memory SQLite each part commits alone). The block
    must not commit. An error in it rolls back its own part only, and is raised; an error at the commit is raised
    to every part. ``connection`` (one of ``engine``'s, not in a transaction) is written on if this writer leads
    its group, and is left open for the caller."""
    joined = join_group(engine)
    if joined is None:
        with write_transaction(engine, connection=connection) as connection:
            yield connection
            connection.commit()
        return
    group, leader = joined
    if leader:
        yield from _lead(engine, group, connection)
        return
    try:
        group.opened.wait()
    except BaseException:  # stopped while waiting (a worker's shutdown): the leader must not wait for this part
        group.finished()
        raise
    if group.error is not None:
        group.finished()
        raise group.error.with_traceback(None)
    yield from _part(group)
    group.ended.wait()
    if group.error is not None:
        raise group.error.with_traceback(None)


def _lead(engine, group: WriteGroup, connection: Connection | None):
    """The leader of ``group``: take the turn, open the transaction, write its own part, wait for the members'
    parts, commit for all."""
    committed = False
    try:
        with engine.connect() if connection is None else nullcontext(connection) as connection, writer_turn(engine):
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException as exc:
                group.error = exc
                group.finished()
                raise
            finally:
                group.connection = connection
                group.opened.set()
            own_error = None
            try:
                yield from _part(group)
            except Exception as exc:  # the others' parts are still committed
                own_error = exc
            close_group(group)
            with group.changed:
                group.changed.wait_for(lambda: group.members == 0)
            try:
                connection.commit()
                committed = True
            except BaseException as exc:
                group.error = exc
                raise
            finally:
                if connection.in_transaction():
                    connection.rollback()
            if own_error is not None:
                raise own_error
    finally:
        close_group(group)
        if not committed and group.error is None:  # no connection, or stopped (a worker's shutdown) before the commit
            group.error = OperationalError("COMMIT", None, Exception("the writers' group ended before its commit"))
        group.opened.set()
        group.ended.set()


def _part(group: WriteGroup):
    """One member's part of ``group``'s transaction, in a savepoint of its own; the member is finished however
    it ends (stopped while waiting for its go included), so the leader never waits for it in vain."""
    try:
        with group.part:
            group.savepoints += 1
            name = f"part_{group.savepoints}"
            group.connection.exec_driver_sql(f"SAVEPOINT {name}")
            try:
                yield group.connection
            except BaseException:
                group.connection.exec_driver_sql(f"ROLLBACK TO {name}")
                group.connection.exec_driver_sql(f"RELEASE {name}")
                raise
            group.connection.exec_driver_sql(f"RELEASE {name}")
    finally:
        group.finished()


_INSERT_CUSTOMER = insert(CustomerRow.__table__).returning(CustomerRow.__table__.c.id)
_INSERT_CASE = insert(CaseRow.__table__).returning(CaseRow.__table__.c.id)
_INSERT_ATTRIBUTES = insert(CaseAttributeRow.__table__)
_INSERT_MEDIA = insert(CaseMediaRow.__table__)
_INSERT_EVENT = insert(CaseEventRow.__table__)
_INSERT_FIRST_EVENT = insert(CaseEventRow.__table__).returning(CaseEventRow.__table__.c.id)


def event_values(case_id: int, event: CaseEvent) -> dict:
    return {"case_id": case_id, "at": event.at, "actor": event.actor, "kind": event.kind, "origin": event.origin,
            "changes": json.dumps(event.changes, default=str, sort_keys=True), "note": event.note}


def tracking_number(prefix: str, sequence: int) -> str:
    """The public number of a year's ``sequence``-th case: ``KC-2026-`` and at least six digits."""
    return f"{prefix}{sequence:06d}"


@functools.cache
def _insert_numbered(columns: tuple[str, ...]):
    """PostgreSQL: take the year's next number, insert the case under it and its first event, in one statement
    (data-modifying CTEs): one round trip instead of three, and the year's counter row, which every concurrent
    intake of the year waits for, is locked only from this statement to the commit. Returns (case id, tracking
    number, event id); ``columns`` are the case's bound values."""
    counter, cases, events = TrackingCounter.__table__, CaseRow.__table__, CaseEventRow.__table__
    taken = (postgresql.insert(counter).values(year=bindparam("year"), last=1)
             .on_conflict_do_update(index_elements=[counter.c.year], set_={"last": counter.c.last + 1})
             .returning(counter.c.last).cte("taken"))
    digits = cast(taken.c.last, Text)
    number = bindparam("tracking_prefix", type_=String) + sql_case(
        (taken.c.last < 1_000_000, func.lpad(digits, 6, "0")), else_=digits)  # as tracking_number() writes it
    # The columns' own defaults (SLA counters at 0) written out: from_select would bind them unset, as NULL.
    defaults = [c for c in cases.c if c.name not in columns and c.default is not None and c.default.is_scalar]
    case_row = (insert(cases).from_select(
        [*columns, *(c.name for c in defaults), "tracking_number"],
        select(*(bindparam(name, type_=cases.c[name].type) for name in columns),
               *(literal(c.default.arg, type_=c.type) for c in defaults), number).select_from(taken),
        include_defaults=False)
        .returning(cases.c.id, cases.c.tracking_number).cte("case_row"))
    event_columns = ("at", "actor", "kind", "origin", "changes", "note")
    event_row = (insert(events).from_select(
        ["case_id", *event_columns],
        select(case_row.c.id, *(bindparam(f"event_{name}", type_=events.c[name].type) for name in event_columns))
        .select_from(case_row))
        .returning(events.c.id).cte("event_row"))
    return select(case_row.c.id, case_row.c.tracking_number, event_row.c.id.label("event_id")).select_from(
        case_row.join(event_row, literal(True)))


def insert_case(connection, *, values: dict, tracking_prefix: str, year: int, customer: Customer | None = None,
                customer_created_at=None, attributes=(), media_url: str | None = None, event: CaseEvent,
                before_number=None) -> tuple[int, str, int | None, int]:
    """Store a new case with its customer, attributes, media and first event; returns (id, tracking number,
    customer id, the event's id). Core statements run on the driver's cursor (``store.plain``: SQLAlchemy's
    execution layer cost more CPU than the inserts), one round each (the case's id comes back by RETURNING), so the
    write lock is held for as little as possible; everything is computed before. The case's number is the year's
    next (``tracking_number(tracking_prefix, n)``). The caller commits.

    ``before_number(connection)``, if given, runs right before the year's number is taken (after the customer's
    row): the Open311 API counts its rate-limit hit there, so neither that counter's row nor the year's is locked
    while the rest is written; if it raises, the caller's rollback stores nothing.

    On PostgreSQL the number, the case and its event are one statement (``_insert_numbered``); on SQLite,
    where the write lock is taken at BEGIN and held whole anyway, three."""
    customer_id = None
    if customer is not None:
        customer_id = plain.execute(connection, _INSERT_CUSTOMER, {
            "name": customer.name, "email": customer.email, "phone": customer.phone,
            "contact_by": customer.contact_by, "language": customer.language, "created_at": customer_created_at,
        })[0]["id"]
    if before_number is not None:
        before_number(connection)
    row = {**values, "customer_id": customer_id}
    first = event_values(None, event)
    if connection.dialect.name == "postgresql":
        inserted = plain.execute(connection, _insert_numbered(tuple(sorted(row))), {
            **row, "year": year, "tracking_prefix": tracking_prefix,
            **{f"event_{name}": value for name, value in first.items() if name != "case_id"}})[0]
        case_id, number, event_id = inserted["id"], inserted["tracking_number"], inserted["event_id"]
    else:
        number = tracking_number(tracking_prefix, plain.execute(connection, _NEXT_SEQUENCE[False], {"year": year})[0]["last"])
        case_id = plain.execute(connection, _INSERT_CASE, {**row, "tracking_number": number})[0]["id"]
        event_id = plain.execute(connection, _INSERT_FIRST_EVENT, {**first, "case_id": case_id})[0]["id"]
    if attributes:
        plain.execute(connection, _INSERT_ATTRIBUTES, [{"case_id": case_id, "code": code, "value": value}
                                                       for code, value in attributes])
    if media_url:
        plain.execute(connection, _INSERT_MEDIA, {"case_id": case_id, "url": media_url})
    return case_id, number, customer_id, event_id


def newest_event_id():
    """The id of the case's newest event, correlated with the cases row being updated: bulk paths
    write their events first, then point each case at its own (``last_event_id``, migration 0023)."""
    events = CaseEventRow.__table__
    return select(func.max(events.c.id)).where(events.c.case_id == CaseRow.__table__.c.id).scalar_subquery()


def set_outcome(connection, *, case_ids, values: dict, event: CaseEvent) -> None:
    """Change the same columns of many cases at once (a bulk correction, a fixture), each case with
    its own copy of ``event`` in its history. The caller commits."""
    ids, t = list(case_ids), CaseRow.__table__
    for start in range(0, len(ids), 10_000):  # bounded IN lists (SQLite's limit on bound parameters)
        chunk = ids[start:start + 10_000]
        bulk_insert(connection, CaseEventRow.__table__, [event_values(i, event) for i in chunk])
        connection.execute(update(t).where(t.c.id.in_(chunk)).values(**values, last_event_id=newest_event_id()))


def get_customer(*, session: Session, customer_id: int) -> Customer | None:
    row = session.get(CustomerRow, customer_id)
    return None if row is None else customer_from_row(row)


def customer_from_row(row) -> Customer:
    return Customer(id=row.id, name=row.name, email=row.email, phone=row.phone, contact_by=row.contact_by,
                    language=row.language)


def customers_by_id(*, connection: Connection, customer_ids) -> list[Customer]:
    """The customers with these ids, in the order asked (Core connection: usable inside a write transaction)."""
    ids = [i for i in dict.fromkeys(customer_ids) if i is not None]
    if not ids:
        return []
    t = CustomerRow.__table__
    found = {row.id: customer_from_row(row) for row in connection.execute(select(t).where(t.c.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


_NEXT_SEQUENCE = {
    is_postgresql: dialect_insert(TrackingCounter).values(year=bindparam("year"), last=1)
    .on_conflict_do_update(index_elements=[TrackingCounter.year], set_={"last": TrackingCounter.last + 1})
    .returning(TrackingCounter.last)
    for is_postgresql, dialect_insert in ((False, sqlite.insert), (True, postgresql.insert))
}


def next_tracking_sequence(*, session: Session, year: int) -> int:
    """Take the next number of ``year`` atomically: one upsert, so two first cases of a year cannot collide
    (``session`` may also be a Core connection)."""
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    statement = _NEXT_SEQUENCE[dialect.name == "postgresql"]
    return session.execute(statement, {"year": year}).scalar_one()


def get_setting(*, session: Session, key: str) -> str | None:
    row = session.get(Setting, key)
    return row.value if row else None


def set_setting(*, session: Session, key: str, value: str) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def sync_profile(*, session: Session, profile: CityProfile) -> None:
    """Mirror the profile's taxonomy into the database, so reports can join on it."""
    tax = profile.taxonomy
    for model in (ServiceTypeRow, WorkGroupRow, DepartmentRow):
        session.execute(model.__table__.delete())
    session.execute(insert(DepartmentRow), [{"code": d.code, "name": d.name} for d in tax.departments.values()])
    if tax.work_groups:
        session.execute(insert(WorkGroupRow), [
            {"code": w.code, "name": w.name, "department": w.department} for w in tax.work_groups.values()
        ])
    session.execute(insert(ServiceTypeRow), [
        {
            "code": s.code, "name": s.name, "category": s.category, "type": s.type, "detail": s.detail,
            "department": s.department, "work_group": s.work_group, "sla_target": s.sla_target,
            "sla_basis": s.sla_basis, "sla_source": s.sla_source, "calendar": s.calendar,
        }
        for s in tax.service_types.values()
    ])
    set_setting(session=session, key="city", value=profile.slug)
    set_setting(session=session, key="city_path", value=str(profile.path))


def count_cases(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CaseRow))


def _driver_sql(conn, template: str, table, columns) -> str:
    """``template`` with the quoted table name, column names and the driver's placeholder filled in."""
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return template.format(table=quote(table.name), columns=", ".join(quote(c) for c in columns),
                           marks=", ".join([mark] * len(columns)),
                           assignments=", ".join(f"{quote(c)} = {mark}" for c in columns), mark=mark)


def bulk_insert(conn, table, rows: list[dict]) -> None:
    """INSERT many rows of ``table`` with the driver's own executemany.

    For bulk paths (imports): the statement is built once and values go through the
    column types' bind conversion (UTC datetimes) directly, skipping SQLAlchemy's
    per-row parameter processing, which costs more than the database's own work.
    Every row must have the keys of the first.
    """
    if not rows:
        return
    from civiccrm.store.types import UTCDateTime

    dialect = conn.dialect
    columns = list(rows[0])
    statement = _driver_sql(conn, "INSERT INTO {table} ({columns}) VALUES ({marks})", table, columns)
    instants = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    to_db = UTCDateTime().process_bind_param
    get = itemgetter(*columns)
    params = []
    last = {i: (None, None) for i in instants}  # a batch often repeats one instant (its own "now")
    for row in rows:
        values = list(get(row)) if len(columns) > 1 else [get(row)]
        for i in instants:
            value = values[i]
            seen, converted = last[i]
            if value is not seen:
                converted = to_db(value, dialect)
                last[i] = (value, converted)
            values[i] = converted
        params.append(tuple(values))
    conn.exec_driver_sql(statement, params)


def bulk_update(conn, table, columns, params: list[tuple]) -> None:
    """UPDATE ``columns`` of many rows of ``table`` by ``id`` with the driver's own executemany.

    Each tuple of ``params`` holds the new values in the driver's own types (``driver_instants``
    for times), then the row's id."""
    if params:
        conn.exec_driver_sql(_driver_sql(conn, "UPDATE {table} SET {assignments} WHERE id = {mark}", table,
                                         columns), params)


def driver_instants(dialect: str, epochs: np.ndarray) -> list:
    """Epoch seconds (NaN for none) as the driver takes them for a ``UTCDateTime`` column: on SQLite the
    text SQLAlchemy stores (UTC, microseconds), on PostgreSQL aware datetimes."""
    missing = np.isnan(epochs)
    if dialect == "sqlite":
        micro = np.where(missing, 0, np.round(epochs * 1e6)).astype("int64").astype("datetime64[us]")
        texts = np.datetime_as_string(micro, unit="us")
        return [None if m else t[:10] + " " + t[11:] for t, m in zip(texts.tolist(), missing.tolist())]
    from civiccrm.domain.calendar import from_epoch

    return [None if m else from_epoch(d) for d, m in zip(epochs.tolist(), missing.tolist())]
