"""Engines and sessions: SQLite by default (WAL, synchronous=FULL), PostgreSQL by URL."""

import os
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from civiccrm.errors import CivicError

DEFAULT_URL = "sqlite:///civiccrm.db"
ENV_VAR = "CIVICCRM_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """The URL to use: the one given, else ``$CIVICCRM_DATABASE_URL``, else ./civiccrm.db."""
    url = explicit or os.environ.get(ENV_VAR) or DEFAULT_URL
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CivicError(f"--db: {url!r} is not a database URL like sqlite:///civiccrm.db or postgresql://user@host/db") from None
    if parsed.drivername == "postgresql" or parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise CivicError(f"--db: {parsed.get_backend_name()} is not supported; use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the pragmas above."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CivicError(f"--db: cannot create the folder for {parsed.database}: {exc.strerror}") from None
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("cases")
