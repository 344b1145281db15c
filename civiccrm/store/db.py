"""Engines and sessions: SQLite by default (WAL, synchronous=FULL), PostgreSQL by URL."""

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from civiccrm.errors import CivicError

try:
    import fcntl
except ImportError:  # Windows: only the threads of a process queue
    fcntl = None

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


class _WriterQueue:
    """Writers of one SQLite file take turns here before asking SQLite for its write lock.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in the
    busy handler (1, 2, 5, 10 ... 100 ms) and polls, so under several processes the lock
    sits idle between turns while waiters sleep. Waiting on a lock here instead wakes the
    next writer as soon as the last one is done: a thread lock for the threads of this
    process, then ``flock`` on a file beside the database for the other processes. It
    only orders writers that use it; SQLite's own lock still guards the data (writers
    that do not queue here, e.g. another program, go through the busy handler as before).
    """

    def __init__(self, database: str):
        self.path = f"{database}-writers.lock"
        self.thread_lock = threading.Lock()
        self.forming_lock = threading.Lock()
        self.forming: "WriteGroup | None" = None
        """The group of writers waiting for their leader's turn, which writers arriving now join."""
        self._pid = None
        self._fd = None

    def _file(self):
        if self._pid != os.getpid():  # a forked worker opens its own file: a shared one would not exclude
            self._pid = os.getpid()
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:  # a read-only folder: threads still queue, processes use the busy handler
                self._fd = None
        return self._fd

    @contextmanager
    def turn(self):
        with self.thread_lock:
            fd = self._file() if fcntl is not None else None
            if fd is None:
                yield
                return
            _lock_file(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

def _lock_file(fd: int) -> None:
    """``flock(fd, LOCK_EX)``. Under gevent's monkey patching (the served app's workers) a writer that has to wait
    waits in gevent's thread pool: a blocking ``flock`` in the worker's own thread would stop every other request
    of the worker (reading, parsing, answering, joining the writer's group) until another process's writer was
    done."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent import get_hub

        get_hub().threadpool.apply(fcntl.flock, (fd, fcntl.LOCK_EX))
    else:
        fcntl.flock(fd, fcntl.LOCK_EX)


_queues: dict[str, _WriterQueue] = {}
_queues_lock = threading.Lock()


@contextmanager
def read_connection(engine: Engine):
    """``engine.connect()`` for reads, ended with COMMIT instead of the ROLLBACK of closing it (an error still
    rolls back). psycopg forgets and deallocates every statement it prepared on a connection at each ROLLBACK,
    and it prepares a query only from its fifth run there: reads ended by ROLLBACK were parsed and planned by
    PostgreSQL afresh every time (about 1 ms of its CPU per Open311 POST)."""
    with engine.connect() as connection:
        yield connection
        end_read(connection)


def end_read(connection) -> None:
    """End ``connection``'s read transaction, if one is open, with COMMIT (see ``read_connection``)."""
    if connection.in_transaction():
        connection.commit()


def _queue(engine: Engine) -> _WriterQueue | None:
    """The writer queue of ``engine``'s SQLite file; None for PostgreSQL and in-memory SQLite (no queue)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    database = os.path.abspath(database)
    queue = _queues.get(database)
    if queue is None:
        with _queues_lock:
            queue = _queues.setdefault(database, _WriterQueue(database))
    return queue


@contextmanager
def writer_turn(engine: Engine):
    """Wait for this process's and other processes' writers of the same SQLite file (see _WriterQueue);
    PostgreSQL and in-memory SQLite need no queue."""
    queue = _queue(engine)
    if queue is None:
        yield
        return
    with queue.turn():
        yield


class WriteGroup:
    """Writers of one process that share a writer's turn and its commit (group commit, SQLite only).

    A durable commit waits for the disk (about 2 ms here), and on SQLite every writer of the file waits for the
    one holding the write lock: with one commit per writer, that wait is the ceiling on how many cases a second
    the service takes. The first writer to arrive leads a group: while it waits for the turn, others of the
    process join it. The leader opens the transaction; each member, the leader first, then writes its part
    inside a SAVEPOINT of its own, one at a time (a member whose part fails rolls back to its savepoint and gets
    its error; the others' parts stay); the leader commits once for all of them and every member learns the
    outcome. Members arriving after the leader's own part is written start the next group."""

    def __init__(self, queue: _WriterQueue):
        self.queue = queue
        self.members = 0
        """Members that joined and have not finished their part."""
        self.changed = threading.Condition()
        self.part = threading.Lock()
        """Held while one member writes its part (parts never interleave on the connection)."""
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.connection = None
        self.error: BaseException | None = None
        self.savepoints = 0

    def joined(self) -> None:
        with self.changed:
            self.members += 1

    def finished(self) -> None:
        with self.changed:
            self.members -= 1
            self.changed.notify_all()


def join_group(engine: Engine) -> tuple[WriteGroup, bool] | None:
    """The group a writer of ``engine``'s file joins and whether it leads it; None where writers do not queue
    (PostgreSQL, in-memory SQLite: each writer commits alone)."""
    queue = _queue(engine)
    if queue is None:
        return None
    with queue.forming_lock:
        group = queue.forming
        leader = group is None
        if leader:
            group = queue.forming = WriteGroup(queue)
        group.joined()  # under the group's own lock too: a member finishing its part counts down at the same time
    return group, leader


def close_group(group: WriteGroup) -> None:
    """No writer joins ``group`` any more: the next one leads a new group."""
    with group.queue.forming_lock:
        if group.queue.forming is group:
            group.queue.forming = None


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("cases")
