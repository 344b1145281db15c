"""Backup and restore of a whole database while it is in use: SQLite's online backup, pg_dump/pg_restore."""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from civiccrm.errors import CivicError
from civiccrm.store.db import database_url, make_engine


def _sqlite_path(url) -> Path:
    if not url.database or url.database == ":memory:":
        raise CivicError("--db: an in-memory database cannot be backed up or restored")
    return Path(url.database)


def libpq_url(url) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CivicError(f"{name} not found: install PostgreSQL's client programs (Debian: postgresql-client)")
    return found


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise CivicError(f"{what} failed: {reason[-1] if reason else f'exit {done.returncode}'}")


def backup(db: str | None, out: Path) -> str:
    """Copy the database to ``out`` as one consistent snapshot while writers go on; the kind of copy made.

    SQLite: the online backup API in one step, which in WAL mode reads a snapshot without
    blocking writers; the copy is checked with ``PRAGMA integrity_check``. PostgreSQL:
    ``pg_dump --format=custom`` (a repeatable-read snapshot).
    """
    url = make_url(database_url(db))
    out = Path(out)
    if out.exists():
        raise CivicError(f"--out: {out} exists; a backup never overwrites a file", field="out")
    partial = out.with_name(out.name + ".partial")
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            if target.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise CivicError(f"backup: the copy in {partial} failed its integrity check")
        finally:
            target.close()
            source.close()
        kind = "sqlite online backup"
    else:
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", libpq_url(url)], "pg_dump")
        kind = "pg_dump custom format"
    os.replace(partial, out)
    return kind


def restore(db: str | None, backup_file: Path) -> None:
    """Load ``backup_file`` into the database at ``db``, which must be empty (nothing stored is overwritten)."""
    backup_file = Path(backup_file)
    if not backup_file.is_file():
        raise CivicError(f"FILE: {backup_file} is not a file", field="file")
    url = make_url(database_url(db))
    engine = make_engine(database_url(db))
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise CivicError(f"--db: {url.render_as_string(hide_password=True)} already holds {len(tables)} tables; "
                         "restore into a new, empty database")
    if url.get_backend_name() == "sqlite":
        with backup_file.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise CivicError(f"FILE: {backup_file} is not an SQLite backup", field="file")
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(url))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    _run([_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={libpq_url(url)}", str(backup_file)],
         "pg_restore")
