"""Reading cases for the open-data export: public columns only, in batches, streamed from the database."""

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import String, select, type_coerce

from civiccrm.store.tables import cases_table

#: Columns of ``cases`` that may be published; nothing else is ever selected
#: (customers, case media and history notes are never read by the export).
PUBLIC_CASE_COLUMNS = (
    "tracking_number", "service_code", "request_type", "category", "department", "work_group", "channel",
    "status", "resolution", "opened_at", "due_at", "closed_at", "updated_at", "days_to_close", "on_time",
    "city_exceeded_timeframe", "city_days_to_close", "address", "zip_code", "council_district", "neighborhood",
    "latitude", "longitude", "duplicate_of", "origin", "description",
)
_TIMES = {"opened_at", "due_at", "closed_at", "updated_at"}


def case_batches(*, connection, columns: Sequence[str], start: datetime | None = None, end: datetime | None = None,
                 service_codes: Sequence[str] | None = None, batch_size: int = 50_000) -> Iterator[list[tuple]]:
    """Rows of ``columns`` (a subset of PUBLIC_CASE_COLUMNS) opened in [start, end), by id, ``batch_size`` at a time.

    On SQLite the times come back as the stored UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``),
    on PostgreSQL as aware datetimes: the caller converts a whole column at once.
    """
    unknown = [c for c in columns if c not in PUBLIC_CASE_COLUMNS]
    if unknown:
        raise ValueError(f"not public case columns: {', '.join(unknown)}")
    sqlite = connection.dialect.name == "sqlite"
    c = cases_table.c
    selected = [type_coerce(c[name], String) if sqlite and name in _TIMES else c[name] for name in columns]
    query = select(*selected).order_by(c.id)
    if start is not None:
        query = query.where(c.opened_at >= start)
    if end is not None:
        query = query.where(c.opened_at < end)
    if service_codes:
        query = query.where(c.service_code.in_(list(service_codes)))
    result = connection.execution_options(stream_results=True, yield_per=batch_size).execute(query)
    for partition in result.partitions(batch_size):
        yield partition
