"""Storing call records and interval rows: batched upserts, case links and the caller-hash key."""

import hashlib
import secrets
from datetime import timezone

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from civiccrm.store.tables import Setting, call_intervals_table, calls_table, cases_table
from civiccrm.store.types import UTCDateTime

CALLER_KEY_SETTING = "calls.caller_key"
"""Settings row holding this deployment's random key for hashing callers' numbers."""

CALL_COLUMNS = (
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
    digits = (number if number.isdigit() else "".join(filter(str.isdigit, number)))[-10:] if number else ""
    if not digits:
        return None
    return hashlib.blake2b(digits.encode(), key=key, digest_size=16).hexdigest()


class CallerHasher:
    """``hash_caller`` with this deployment's key, remembering recent numbers (callers call again)."""

    LIMIT = 200_000

    def __init__(self, key: bytes):
        self.key = key
        self._seen: dict[str, str | None] = {}

    def key_of(self, number: str | None) -> str | None:
        if not number:
            return None
        found = self._seen.get(number)
        if found is None:
            if len(self._seen) >= self.LIMIT:
                self._seen.clear()
            found = self._seen[number] = hash_caller(number, self.key)
        return found


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


def _upsert(conn: Connection, table, columns, key, rows: list[tuple], newer_only: bool) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE of ``rows`` (tuples of ``columns``) in one bulk statement:
    executemany on SQLite; on PostgreSQL the rows are COPYed into a staging table first."""
    if not rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    names = ", ".join(quote(c) for c in columns)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in key)
    conflict = f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {updates}"
    if newer_only:
        # A contact exported again with an older or equal update time changes nothing.
        conflict += (f" WHERE excluded.updated_at IS NULL OR {name}.updated_at IS NULL"
                     f" OR excluded.updated_at > {name}.updated_at")
    if dialect.name == "postgresql":
        stage = quote(f"{table.name}_stage")
        cursor = conn.connection.driver_connection.cursor()
        with cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {name} WITH NO DATA")
            with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {name} ({names}) SELECT {names} FROM {stage} {conflict}")
            cursor.execute(f"DROP TABLE {stage}")
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    instants = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    if instants:
        to_db = UTCDateTime().process_bind_param
        utc = timezone.utc
        converted = []
        for row in rows:
            values = list(row)
            for i in instants:
                value = values[i]
                if value is not None:
                    # UTC already (the import's case): UTCDateTime's text, without its checks per value
                    values[i] = value.isoformat(" ", "microseconds")[:26] if value.tzinfo is utc else to_db(value, dialect)
            converted.append(tuple(values))
        rows = converted
    conn.exec_driver_sql(f"INSERT INTO {name} ({names}) VALUES ({', '.join([mark] * len(columns))}) {conflict}", rows)


def upsert_calls(conn: Connection, rows: list[tuple]) -> None:
    """Insert call rows (tuples of ``CALL_COLUMNS``); a call already stored (same source and id) is
    replaced by a later update."""
    _upsert(conn, calls_table, CALL_COLUMNS, ("source", "external_id"), rows, newer_only=True)


def upsert_intervals(conn: Connection, rows: list[dict]) -> None:
    """Insert interval rows; the same queue and interval from the same source replaces the stored one."""
    _upsert(conn, call_intervals_table, _INTERVAL_COLUMNS, ("source", "queue", "interval_start"),
            [tuple(row[c] for c in _INTERVAL_COLUMNS) for row in rows], newer_only=False)


SQLITE_IMPORT_CACHE_KIB = 131_072
"""Page cache of an import's SQLite connection (128 MiB): the unique index stays in memory longer."""


def prepare_bulk(conn: Connection) -> None:
    """Per-batch settings of a bulk import's connection (a bigger page cache on SQLite)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")


def secondary_indexes(table) -> list:
    """The indexes of ``table`` no statement of an import needs (the unique key it upserts on stays)."""
    return sorted((index for index in table.indexes if not index.unique), key=lambda index: index.name)


def drop_indexes(conn: Connection, indexes) -> None:
    for index in indexes:
        index.drop(conn, checkfirst=True)


def create_indexes(conn: Connection, indexes) -> None:
    """Create the ones missing (also after an import that was killed before it rebuilt them)."""
    for index in indexes:
        index.create(conn, checkfirst=True)


def count_rows(conn: Connection, table) -> int:
    from sqlalchemy import func

    return conn.execute(select(func.count()).select_from(table)).scalar_one()
