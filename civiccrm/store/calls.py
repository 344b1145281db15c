"""Storing call records and interval rows: batched upserts, case links and the caller-hash key."""

import hashlib
import secrets

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from civiccrm.store.tables import Setting, call_intervals_table, calls_table, cases_table
from civiccrm.store.types import UTCDateTime

CALLER_KEY_SETTING = "calls.caller_key"
"""Settings row holding this deployment's random key for hashing callers' numbers."""

_CALL_COLUMNS = (
    "source", "external_id", "queue", "started_at", "started_epoch", "local_date", "local_slot", "local_weekday",
    "outcome", "wait_seconds", "talk_seconds", "hold_seconds", "acw_seconds", "wrap_up", "agent", "caller_key",
    "case_number", "case_id", "updated_at",
)
_INTERVAL_COLUMNS = (
    "source", "queue", "interval_start", "length_seconds", "local_date", "local_slot", "local_weekday", "offered",
    "handled", "abandoned", "short_abandoned", "answered_within_t", "wait_seconds", "handle_seconds", "agents",
    "service_level_seconds", "short_abandon_seconds",
)


def caller_key(conn: Connection) -> bytes:
    """This deployment's key for hashing callers' numbers, made on first use."""
    settings = Setting.__table__
    found = conn.execute(select(settings.c.value).where(settings.c.key == CALLER_KEY_SETTING)).scalar()
    if found is None:
        found = secrets.token_hex(32)
        conn.execute(settings.insert().values(key=CALLER_KEY_SETTING, value=found))
    return bytes.fromhex(found)


def hash_caller(number: str | None, key: bytes) -> str | None:
    """A keyed hash of a phone number's last ten digits (None when there are no digits)."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())[-10:]
    if not digits:
        return None
    return hashlib.blake2b(digits.encode(), key=key, digest_size=16).hexdigest()


def case_ids(conn: Connection, numbers) -> dict[str, int]:
    """Case number (tracking number, or the city's own id of an imported case) -> case id."""
    numbers = sorted(set(numbers))
    found: dict[str, int] = {}
    c = cases_table.c
    for start in range(0, len(numbers), 400):
        chunk = numbers[start:start + 400]
        rows = conn.execute(
            select(c.id, c.tracking_number, c.external_id)
            .where(or_(c.tracking_number.in_(chunk), c.external_id.in_(chunk)))
        )
        for case_id, tracking, external in rows:
            for number in (tracking, external):
                if number in chunk:
                    found.setdefault(number, case_id)
    return found


def _upsert(conn: Connection, table, columns, key, rows, newer_only: bool) -> None:
    if not rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    name = quote(table.name)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in key)
    statement = (
        f"INSERT INTO {name} ({', '.join(quote(c) for c in columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {updates}"
    )
    if newer_only:
        # A contact exported again with an older or equal update time changes nothing.
        statement += (f" WHERE excluded.updated_at IS NULL OR {name}.updated_at IS NULL"
                      f" OR excluded.updated_at > {name}.updated_at")
    instants = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    to_db = UTCDateTime().process_bind_param
    params = []
    for row in rows:
        values = [row[c] for c in columns]
        for i in instants:
            values[i] = to_db(values[i], dialect)
        params.append(tuple(values))
    conn.exec_driver_sql(statement, params)


def upsert_calls(conn: Connection, rows: list[dict]) -> None:
    """Insert call rows; a call already stored (same source and id) is replaced by a later update."""
    _upsert(conn, calls_table, _CALL_COLUMNS, ("source", "external_id"), rows, newer_only=True)


def upsert_intervals(conn: Connection, rows: list[dict]) -> None:
    """Insert interval rows; the same queue and interval from the same source replaces the stored one."""
    _upsert(conn, call_intervals_table, _INTERVAL_COLUMNS, ("source", "queue", "interval_start"), rows,
            newer_only=False)


def count_rows(conn: Connection, table) -> int:
    from sqlalchemy import func

    return conn.execute(select(func.count()).select_from(table)).scalar_one()
