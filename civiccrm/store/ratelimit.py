"""A rate limiter kept in the database, so every worker process counts the same hits."""

import functools
import math
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from civiccrm.domain.timeutil import utcnow
from civiccrm.store import plain
from civiccrm.store.tables import rate_limits_table as table
from civiccrm.store.types import UTCDateTime

_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@functools.cache
def _hit_statement(dialect: str):
    """The counting upsert, built once per dialect with bound values: it runs on every counted request, and
    building and compiling a statement costs more than running it."""
    now = bindparam("now", type_=UTCDateTime)
    expired = table.c.window_start <= bindparam("expired_before", type_=UTCDateTime)
    statement = _INSERT[dialect](table).values(scope=bindparam("scope"), key=bindparam("key"), window_start=now, hits=1)
    return statement.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.key],
        set_={"hits": case((expired, 1), else_=table.c.hits + 1),
              "window_start": case((expired, now), else_=table.c.window_start)},
    ).returning(table.c.hits, table.c.window_start)


def hit(*, connection: Connection, scope: str, key: str, limit: int, window_seconds: float,
        now: datetime | None = None) -> float | None:
    """Count one hit on ``key`` in ``scope``; None while at most ``limit`` hits fell in the current
    window of ``window_seconds``, else the seconds until the window ends (for Retry-After).

    One atomic upsert (INSERT ... ON CONFLICT DO UPDATE ... RETURNING), so concurrent workers
    never lose a hit. It runs in the caller's transaction: the caller commits (on SQLite, use a
    write transaction so the count and the commit hold the write lock together)."""
    now = now or utcnow()
    window = timedelta(seconds=window_seconds)
    counted = plain.execute(connection, _hit_statement(connection.dialect.name), {  # the driver's cursor: a hot path
        "scope": scope, "key": key, "now": now, "expired_before": now - window})[0]
    hits, window_start = counted["hits"], counted["window_start"]
    if hits <= limit:
        return None
    return max(1.0, math.ceil((window_start + window - now).total_seconds()))


def reset(*, connection: Connection, scope: str, key: str) -> None:
    """Forget the hits on ``key`` (e.g. an account's failed logins after an administrator's password reset)."""
    connection.execute(delete(table).where(table.c.scope == scope, table.c.key == key))


def prune(*, connection: Connection, older_than_seconds: float, now: datetime | None = None) -> int:
    """Delete counters whose window started more than ``older_than_seconds`` ago; how many were deleted."""
    cutoff = (now or utcnow()) - timedelta(seconds=older_than_seconds)
    return connection.execute(delete(table).where(table.c.window_start < cutoff)).rowcount
