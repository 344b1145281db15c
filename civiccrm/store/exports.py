"""Reading cases for the open-data export: public columns only, in batches, streamed from the database."""

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import select

from civiccrm.store.tables import cases_table
from civiccrm.store.types import UTCDateTime

#: Columns of ``cases`` that may be published; nothing else is ever selected
#: (customers, case media and history notes are never read by the export).
PUBLIC_CASE_COLUMNS = (
    "tracking_number", "service_code", "request_type", "category", "department", "work_group", "channel",
    "status", "resolution", "opened_at", "due_at", "closed_at", "updated_at", "days_to_close", "on_time",
    "city_exceeded_timeframe", "city_days_to_close", "address", "zip_code", "council_district", "neighborhood",
    "latitude", "longitude", "duplicate_of", "origin", "description",
)




def case_batches(*, connection, columns: Sequence[str], start: datetime | None = None, end: datetime | None = None,
                 service_codes: Sequence[str] | None = None, batch_size: int = 20_000) -> Iterator[list[tuple]]:
    """Rows of ``columns`` (a subset of PUBLIC_CASE_COLUMNS) opened in [start, end), by id, ``batch_size`` at a time.

    On SQLite the rows come straight from the driver's cursor (no SQLAlchemy row processing:
    the export's cost is per value): times as the stored UTC text (``YYYY-MM-DD
    HH:MM:SS.ffffff``), booleans as 0/1. On PostgreSQL a server-side cursor gives aware
    datetimes and booleans. The caller converts a whole column at once.
    """
    unknown = [c for c in columns if c not in PUBLIC_CASE_COLUMNS]
    if unknown:
        raise ValueError(f"not public case columns: {', '.join(unknown)}")
    if connection.dialect.name == "sqlite":
        yield from _sqlite_batches(connection, columns, start, end, service_codes, batch_size)
        return
    c = cases_table.c
    query = select(*(c[name] for name in columns)).order_by(c.id)
    if start is not None:
        query = query.where(c.opened_at >= start)
    if end is not None:
        query = query.where(c.opened_at < end)
    if service_codes:
        query = query.where(c.service_code.in_(list(service_codes)))
    result = connection.execution_options(stream_results=True, yield_per=batch_size).execute(query)
    for partition in result.partitions(batch_size):
        yield partition


def _sqlite_batches(connection, columns, start, end, service_codes, batch_size):
    where, params = _sqlite_where(connection, start, end, service_codes)
    # Column names come from PUBLIC_CASE_COLUMNS only (checked above), never from the caller's text.
    sql = (f"SELECT {', '.join(columns)} FROM cases" + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY id")
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch_size):
            yield rows
    finally:
        cursor.close()


#: What SQLite holds in each public column, for the typed first row ADBC infers types from.
_NUMBERS = {"days_to_close", "city_days_to_close", "latitude", "longitude"}
_FLAGS = {"on_time", "city_exceeded_timeframe"}


def sqlite_arrow_batches(*, connection, columns: Sequence[str], start: datetime | None = None,
                         end: datetime | None = None, service_codes: Sequence[str] | None = None,
                         batch_size: int = 20_000) -> Iterator:
    """Like ``case_batches`` on SQLite, but as Arrow record batches read by the ADBC SQLite driver
    (SQLite to Arrow in C: no Python object per value), or None when that cannot be used (the
    driver is not installed, or the database is in memory).

    The driver infers each column's type from its first batch, and a column NULL throughout
    that batch would be taken as integers; so the query starts with one typed row of its own
    (id -1: text, real or integer as the column holds them), which is dropped here. Times are
    the stored UTC text, flags 0/1, as from ``case_batches``.
    """
    unknown = [c for c in columns if c not in PUBLIC_CASE_COLUMNS]
    if unknown:
        raise ValueError(f"not public case columns: {', '.join(unknown)}")
    database = connection.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    try:
        import adbc_driver_sqlite
        import adbc_driver_sqlite.dbapi
    except ImportError:
        return None
    where, params = _sqlite_where(connection, start, end, service_codes)
    typed = ", ".join(f"{'0.0' if c in _NUMBERS else '0' if c in _FLAGS else chr(39) * 2} AS {c}" for c in columns)
    # Column names come from PUBLIC_CASE_COLUMNS only (checked above), never from the caller's text.
    sql = (f"SELECT -1 AS id, {typed} UNION ALL SELECT id, {', '.join(columns)} FROM cases"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id")

    def batches():
        conn = adbc_driver_sqlite.dbapi.connect(database)
        try:
            cursor = conn.cursor()
            cursor.adbc_statement.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(batch_size)})
            cursor.execute(sql, params)
            first = True
            for batch in cursor.fetch_record_batch():
                batch = batch.drop_columns(["id"])
                if first:
                    batch, first = batch.slice(1), False
                if batch.num_rows:
                    yield batch
            cursor.close()
        finally:
            conn.close()

    return batches()


def _sqlite_where(connection, start, end, service_codes) -> tuple[list[str], list]:
    stored = UTCDateTime().process_bind_param  # an instant as the cases table holds it (UTC text)
    where, params = [], []
    if start is not None:
        where.append("opened_at >= ?")
        params.append(stored(start, connection.dialect))
    if end is not None:
        where.append("opened_at < ?")
        params.append(stored(end, connection.dialect))
    if service_codes:
        where.append(f"service_code IN ({', '.join('?' * len(service_codes))})")
        params.extend(service_codes)
    return where, params
