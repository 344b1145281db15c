"""Column types: timezone-aware UTC datetimes that work alike on SQLite and PostgreSQL."""

from datetime import datetime, timezone

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores instants in UTC and always hands back timezone-aware datetimes.

    PostgreSQL stores ``timestamptz``. SQLite keeps no offset, so values are stored as
    UTC text in SQLAlchemy's own SQLite layout (``YYYY-MM-DD HH:MM:SS.ffffff``, which
    sorts and compares as time does); formatting it here with ``isoformat`` skips the
    generic datetime processors, the bulk of the cost of a bulk import's bindings. A
    naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not timezone.utc:
            if value.utcoffset() is None:
                raise ValueError(f"naive datetime {value!r} refused: CivicCRM stores timezone-aware instants only")
            value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
