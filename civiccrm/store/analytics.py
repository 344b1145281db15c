"""The analytics engine: DuckDB over a Parquet copy of the tables reports read, kept current incrementally.

Reports and dashboards run the same SQLAlchemy Core statements on it as on SQLite or
PostgreSQL (through the ``duckdb_engine`` dialect), so a figure is the same to the last
digit whichever answers it; DuckDB's columnar scans make a monthly pack over millions of
cases cost well under a second.

The copy lives in a folder of Parquet files:

- ``cases/base.parquet`` and ``cases/delta-NNNNNN.parquet``: every case once in the base,
  and each sync appends the cases whose ``updated_at`` is after the last one seen (new and
  changed cases alike); the ``cases`` view keeps each case's newest row. When the deltas
  grow past a share of the base they are folded into a new base (compaction).
- the reference and survey tables the reports join (departments, work groups, SLA
  escalation events, survey invitations, responses and answers): rewritten whole when
  their row count or newest id changed, else kept.
- ``state.json``: the watermark (newest ``updated_at`` and id copied), the file list and the
  data version (``figures_version``, bumped by every sync that copied something).
- ``figures.json``: figures of past periods computed once (``civiccrm.store.figure_cache``);
  each sync drops exactly those whose cases it copied.

Which engine answers is chosen by ``engine_for``: ``CIVICCRM_ANALYTICS`` set to ``sql``
(always the database), ``duckdb`` (always the copy) or ``auto`` (default: the copy once the
database holds more than ``CIVICCRM_ANALYTICS_ABOVE`` cases, 1,000,000 unless set).
"""

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pyarrow
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from civiccrm.errors import CivicError
from civiccrm.store import figure_cache
from civiccrm.store.plain import Plain
from civiccrm.store.tables import (
    DepartmentRow,
    WorkGroupRow,
    cases_table,
    events_table,
    survey_answers_table,
    survey_invitations_table,
    survey_responses_table,
)

ENGINE_ENV, ABOVE_ENV, DIR_ENV = "CIVICCRM_ANALYTICS", "CIVICCRM_ANALYTICS_ABOVE", "CIVICCRM_ANALYTICS_DIR"
IN_MEMORY_ENV = "CIVICCRM_ANALYTICS_IN_MEMORY_ROWS"
BYTES_IN_MEMORY = 500
"""What a case takes in DuckDB's memory once loaded (3,500,000 cases: 1.69 GB)."""
ENGINES = ("auto", "sql", "duckdb")
DEFAULT_ABOVE = 1_000_000
BATCH = 250_000
COMPACT_SHARE = 0.2
"""Fold the deltas into a new base once they hold more rows than this share of it."""

CASE_COLUMNS = [c for c in cases_table.c if c.name not in ("description",)]
"""Every case column a report may read (the free-text description stays behind)."""
ENUM_COLUMNS = ("channel", "department", "work_group", "service_code", "council_district")
"""The case columns reports group by, held in a connection's in-memory table as ENUMs of the values the copy
holds (sorted, so min, max and ORDER BY are the text's): DuckDB groups small integer codes, not text, about 40%
less CPU for the KCStat month's counts by four groupings over 3.5 million cases (0.64 -> 0.38 CPU s) and its
percentiles (0.21 -> 0.12). The values are the same text to every statement: comparing an ENUM with text
compares the text (a value not in the copy matches nothing), joins to the side tables' codes and functions on
it read the text, and rows come back as text."""
SIDE_TABLES = {
    "departments": DepartmentRow.__table__, "work_groups": WorkGroupRow.__table__,
    "survey_invitations": survey_invitations_table, "survey_responses": survey_responses_table,
    "survey_answers": survey_answers_table,
}
"""Tables copied whole when they change (keyed by name); events are copied for SLA escalations only."""


def _duck_type(column) -> str:
    name = type(column.type).__name__.lower()
    if "datetime" in name or name == "utcdatetime":
        return "TIMESTAMPTZ"
    if "bool" in name:
        return "BOOLEAN"
    if "float" in name:
        return "DOUBLE"
    if "integer" in name:
        return "BIGINT"
    if name == "date":
        return "DATE"
    return "VARCHAR"


def _columns_sql(columns) -> str:
    return ", ".join(f'CAST("{c.name}" AS {_duck_type(c)}) AS "{c.name}"' for c in columns)


def _sqlite_batches(conn, sql: str, columns) -> Iterator:
    """The rows of ``sql`` (compiled with its values inline) as Arrow tables, read by the SQLite driver itself.

    The stored values go straight from the driver's tuples into Arrow columns (UTC text for
    times, 0/1 for flags; the CASTs of ``_columns_sql`` make them DuckDB's types), without
    SQLAlchemy's result rows and type processing, which cost most of a first sync's time.
    Not the ADBC driver (as the export uses): read that way, a sync right after a change in
    tests/test_analytics.py missed the rows just committed (0 of 6). The driver links its own
    copy of SQLite, and two copies in one process do not share their POSIX locks on a file;
    that is the likely cause, not proven (an export right after a write saw every row)."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(BATCH):
            values = list(zip(*rows))
            yield pyarrow.table({c.name: pyarrow.array(values[i]) for i, c in enumerate(columns)})
    finally:
        cursor.close()


def _postgresql_batches(conn, query, columns) -> Iterator:
    """The rows of ``query`` as Arrow tables of text, streamed by PostgreSQL's ``COPY ... TO STDOUT`` (CSV, times
    in UTC) and parsed by Arrow's CSV reader; the CASTs of ``_columns_sql`` make them DuckDB's types.

    Not SQLAlchemy's rows: building a Python object per value held a first sync to about 4,000 cases a
    second on a loaded machine (hours for tens of millions). PostgreSQL's text forms are exact (floats
    round-trip, ``t``/``f`` for flags), and CSV tells NULL (empty) from an empty string (``""``)."""
    import threading

    from pyarrow import csv

    # The statement's SQL and its values converted by their types (the watermark's UTCDateTime), as the driver
    # path builds them; Plain itself, not the cached plain(): each sync's statement is a new one.
    sql, params = Plain(query, conn.dialect).bind({})
    raw = conn.connection.driver_connection
    conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    read, write = os.pipe()
    failure = []

    def pump():
        try:
            with os.fdopen(write, "wb") as out, raw.cursor() as cursor:
                with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
                    for data in copy:
                        out.write(data)
        except BaseException as exc:  # re-raised by the reader below
            failure.append(exc)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    names = [c.name for c in columns]
    try:
        with os.fdopen(read, "rb") as source:
            reader = csv.open_csv(
                source, read_options=csv.ReadOptions(column_names=names, block_size=1 << 23),
                parse_options=csv.ParseOptions(newlines_in_values=True),
                convert_options=csv.ConvertOptions(column_types={n: pyarrow.string() for n in names},
                                                   strings_can_be_null=True, quoted_strings_can_be_null=False))
            pending, rows = [], 0
            for batch in reader:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= BATCH:
                    yield pyarrow.Table.from_batches(pending)
                    pending, rows = [], 0
            if pending:
                yield pyarrow.Table.from_batches(pending)
    except pyarrow.ArrowInvalid as exc:
        thread.join()
        if failure:
            raise failure[0] from None
        if "Empty CSV file" in str(exc):  # no rows at all
            return
        raise
    thread.join()
    if failure:
        raise failure[0]


class AnalyticsCopy:
    """The Parquet copy of one database in ``folder``; ``sync`` brings it up to date."""

    def __init__(self, source: Engine, folder: Path):
        self.source = source
        self.folder = Path(folder)

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    def state(self) -> dict:
        if not self.state_path.is_file():
            return {"cases": {"base": None, "deltas": [], "base_rows": 0, "delta_rows": 0,
                              "updated_at": None, "max_id": 0}, "tables": {}}
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def _write_state(self, state: dict) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        temporary.replace(self.state_path)

    def _export(self, duck, query, columns, path: Path) -> int:
        """Run ``query`` on the source in batches and write its rows to ``path`` (Parquet); rows written."""
        written, parts = 0, []
        for n, arrays in enumerate(self._batches(query, columns)):
            part = path.with_name(f"{path.stem}.part{n}.parquet")
            duck.register("batch", arrays)
            duck.execute(f"COPY (SELECT {_columns_sql(columns)} FROM batch) TO '{part}' (FORMAT parquet)")
            duck.unregister("batch")
            parts.append(part)
            written += arrays.num_rows
        if parts:
            files = ", ".join(f"'{p}'" for p in parts)
            duck.execute(f"COPY (SELECT * FROM read_parquet([{files}])) TO '{path}' (FORMAT parquet)")
        else:
            empty = ", ".join(f'CAST(NULL AS {_duck_type(c)}) AS "{c.name}"' for c in columns)
            duck.execute(f"COPY (SELECT {empty} LIMIT 0) TO '{path}' (FORMAT parquet)")
        for part in parts:
            part.unlink()
        return written

    def _batches(self, query, columns) -> Iterator:
        """``query``'s rows as Arrow tables of at most BATCH rows, as the database stores them (the CASTs of
        ``_columns_sql`` make them DuckDB's types): on SQLite from the driver's own rows, else by SQLAlchemy."""
        with self.source.connect() as conn:
            if self.source.dialect.name == "sqlite":
                sql = str(query.compile(dialect=self.source.dialect, compile_kwargs={"literal_binds": True}))
                yield from _sqlite_batches(conn, sql, columns)
                return
            if self.source.dialect.name == "postgresql":
                yield from _postgresql_batches(conn, query, columns)
                return
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
            for batch in result.partitions(BATCH):
                yield pyarrow.table({c.name: pyarrow.array([row[i] for row in batch]) for i, c in enumerate(columns)})

    def sync(self) -> dict:
        """Copy what changed since the last sync; what was copied (rows per table).

        Held under the folder's lock (one sync at a time, and no figure written meanwhile). The
        cached figures whose cases changed are dropped (``_drop_stale_figures``) before the new
        rows join the copy, and the data version goes up when anything was copied."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with figure_cache.folder_lock(self.folder):
            return self._sync()

    def _sync(self) -> dict:
        import duckdb

        (self.folder / "cases").mkdir(exist_ok=True)
        state = self.state()
        figures = figure_cache.read_file(self.folder)
        if figures.get("version") != state.get("figures_version", 0) or state["cases"]["base"] is None:
            figures = {"version": state.get("figures_version", 0), "entries": {}}
        cases = state["cases"]
        copied = {}
        named_before = dict(state["tables"])
        duck = duckdb.connect()
        duck.execute("SET TimeZone = 'UTC'")
        try:
            watermark = datetime.fromisoformat(cases["updated_at"]) if cases["updated_at"] else None
            query = select(*CASE_COLUMNS).order_by(cases_table.c.updated_at, cases_table.c.id)
            if watermark is not None:
                query = query.where(cases_table.c.updated_at > watermark)
            with self.source.connect() as conn:
                newest = conn.execute(select(func.max(cases_table.c.updated_at), func.max(cases_table.c.id))).one()
            if cases["base"] is None:
                # The first copy in no order: connect() sorts the table, and sorting tens of millions of rows on
                # the server for it spilled gigabytes to disk.
                rows = self._export(duck, query.order_by(None), CASE_COLUMNS, self.folder / "cases" / "base.parquet")
                cases.update(base="base.parquet", base_rows=rows, deltas=[], delta_rows=0)
            else:
                name = f"delta-{len(cases['deltas']) + 1:06d}.parquet"
                rows = self._export(duck, query, CASE_COLUMNS, self.folder / "cases" / name) if newest[0] and (
                    watermark is None or newest[0] > watermark) else 0
                if rows:
                    self._drop_stale_figures(duck, cases, self.folder / "cases" / name, figures)
                    cases["deltas"].append(name)
                    cases["delta_rows"] += rows
                elif (self.folder / "cases" / name).exists():
                    (self.folder / "cases" / name).unlink()
            copied["cases"] = rows
            if newest[0] is not None:
                cases["updated_at"] = newest[0].astimezone(timezone.utc).isoformat()
                cases["max_id"] = int(newest[1])
            if cases["deltas"] and cases["delta_rows"] > COMPACT_SHARE * max(cases["base_rows"], 1):
                self._compact(duck, cases)
            for name, table in SIDE_TABLES.items():
                copied[name] = self._side_table(duck, state, name, table, select(*table.c), list(table.c))
            escalations = select(*events_table.c).where(events_table.c.kind == "sla_escalated")
            copied["case_events"] = self._side_table(duck, state, "case_events", events_table, escalations,
                                                     list(events_table.c))
        finally:
            duck.close()
        if any(state["tables"].get(name) != named_before.get(name) for name in ("departments", "work_groups")):
            figures["entries"] = {}  # names some figures carry
        if any(copied.values()) or "figures_version" not in state:
            state["figures_version"] = state.get("figures_version", 0) + 1
        figures["version"] = state["figures_version"]
        # The figures first: should the state not follow, the older version it names keeps them unread.
        figure_cache.write_file(self.folder, figures)
        self._write_state(state)
        return copied

    def _drop_stale_figures(self, duck, cases: dict, delta: Path, figures: dict) -> None:
        """Drop from ``figures`` the entries whose scope holds a case of ``delta``, as copied before or now."""
        if not figures["entries"]:
            return
        columns = figure_cache.CHANGED_SQL_COLUMNS
        changed = (f"SELECT {columns} FROM read_parquet('{delta}') UNION ALL "
                   f"SELECT {columns} FROM ({self._cases_sql(cases)}) "
                   f"WHERE id IN (SELECT id FROM read_parquet('{delta}'))")
        for key in figure_cache.stale_keys(duck, figures["entries"], changed):
            del figures["entries"][key]

    def _side_table(self, duck, state, name, table, query, columns) -> int:
        key = next(iter(table.primary_key.columns))
        with self.source.connect() as conn:
            rows = query.subquery()
            count, newest = conn.execute(select(func.count(), func.max(rows.c[key.name]))).one()
        stamp = [int(count), None if newest is None else str(newest)]
        if state["tables"].get(name) == stamp and (self.folder / f"{name}.parquet").exists():
            return 0
        rows = self._export(duck, query, columns, self.folder / f"{name}.parquet")
        state["tables"][name] = stamp
        return rows

    def _compact(self, duck, cases: dict) -> None:
        folder = self.folder / "cases"
        new_base = folder / "base-new.parquet"
        duck.execute(f"COPY (SELECT * FROM ({self._cases_sql(cases)})) TO '{new_base}' (FORMAT parquet)")
        for name in cases["deltas"]:
            (folder / name).unlink()
        new_base.replace(folder / "base.parquet")
        rows = duck.execute(f"SELECT count(*) FROM read_parquet('{folder / 'base.parquet'}')").fetchone()[0]
        cases.update(base="base.parquet", base_rows=int(rows), deltas=[], delta_rows=0)

    def _cases_sql(self, cases: dict, base: str | None = None) -> str:
        """The newest row of every case: the deltas' over the base's (``base``: the base's relation, by default
        its Parquet file)."""
        folder = self.folder / "cases"
        base = base or f"read_parquet('{folder / cases['base']}')"
        if not cases["deltas"]:
            return f"SELECT * FROM {base}"
        deltas = ", ".join(f"'{folder / name}'" for name in cases["deltas"])
        newest = (f"SELECT * FROM read_parquet([{deltas}], filename = true) "
                  "QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, filename DESC) = 1")
        return (f"SELECT * EXCLUDE (filename) FROM ({newest}) UNION ALL "
                f"SELECT * FROM {base} WHERE id NOT IN (SELECT id FROM read_parquet([{deltas}]))")

    def stored_base(self, cases: dict) -> Path:
        """The base as a DuckDB database file (``cases/stored-*.duckdb``, one table ``cases`` in the base's
        order), built from ``base.parquet`` the first time it is asked for and again only when the base
        is rewritten (the first copy, a compaction); the deltas stay Parquet. Built under a name of its own
        and renamed into place, so a process reading the old one keeps it."""
        import duckdb

        folder = self.folder / "cases"
        source = folder / cases["base"]
        stat = source.stat()
        path = folder / f"stored-{stat.st_size}-{stat.st_mtime_ns}.duckdb"
        if path.exists():
            return path
        with figure_cache.folder_lock(self.folder):  # no sync rewrites the base meanwhile
            if path.exists():
                return path
            building = path.with_suffix(".building")
            building.unlink(missing_ok=True)
            duck = duckdb.connect(str(building))
            try:
                duck.execute("SET TimeZone = 'UTC'")
                duck.execute(f"SET temp_directory = '{folder / 'stored.tmp'}'")
                # In the base's order, streamed: sorting 40 million rows took all of the machine's memory, then
                # more than 15 GB of disk to spill. The base comes in the order the database keeps its rows,
                # cases as they were written, so mostly by opened_at: each row group's min and max still skip most
                # (DuckDB keeps the insertion order unless told not to).
                duck.execute(f"CREATE TABLE cases AS SELECT * FROM read_parquet('{source}')")
            finally:
                duck.close()
                shutil.rmtree(folder / "stored.tmp", ignore_errors=True)
            building.replace(path)
            for old in folder.glob("stored-*.duckdb"):
                if old != path:
                    old.unlink()  # a reader that has it open keeps reading it
        return path

    @contextmanager
    def connect(self, *, in_memory: bool = True) -> Iterator:
        """A SQLAlchemy connection to an in-memory DuckDB holding the copied tables.

        ``in_memory`` loads them into DuckDB's memory once (sorted by ``opened_at``), which
        a connection kept for several reports repays many times; without it the tables are
        views that read the Parquet files on every query. A copy of more than
        ``CIVICCRM_ANALYTICS_IN_MEMORY_ROWS`` cases (unless set: as many as fill 40% of the memory at
        about 500 bytes each; 40 million took more than DuckDB's 80% of 24 GB) is not loaded: its ``cases`` is a view
        over the base kept as a DuckDB file (``stored_base``; opened in no time, read through
        DuckDB's buffer pool) with the deltas' newer rows over it."""
        state = self.state()
        if state["cases"]["base"] is None:
            raise CivicError(f"analytics: no copy in {self.folder} yet; run `civiccrm analytics sync`")
        cases = state["cases"]
        stored = in_memory and cases["base_rows"] + cases["delta_rows"] > in_memory_rows()
        engine = create_engine("duckdb:///:memory:")
        try:
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                raw.execute("SET TimeZone = 'UTC'")
                kind = "TABLE" if in_memory else "VIEW"
                if stored:
                    raw.execute(f"ATTACH '{self.stored_base(cases)}' AS stored (READ_ONLY)")
                    raw.execute(f"CREATE VIEW cases AS {self._cases_sql(cases, 'stored.main.cases')}")
                else:
                    cases_sql = self._cases_sql(cases)
                    if in_memory:
                        for name in ENUM_COLUMNS:
                            raw.execute(f"CREATE TYPE case_{name} AS ENUM (SELECT DISTINCT {name} FROM ({cases_sql}) "
                                        f"WHERE {name} IS NOT NULL ORDER BY 1)")
                        coded = ", ".join(f"CAST({name} AS case_{name}) AS {name}" for name in ENUM_COLUMNS)
                        cases_sql = f"SELECT * REPLACE ({coded}) FROM ({cases_sql})"
                    order = " ORDER BY opened_at, id" if in_memory else ""
                    raw.execute(f"CREATE {kind} cases AS SELECT * FROM ({cases_sql}){order}")
                for name in (*SIDE_TABLES, "case_events"):
                    raw.execute(f"CREATE {kind} {name} AS SELECT * FROM read_parquet('{self.folder / (name + '.parquet')}')")
                cache = figure_cache.FigureCache(self.folder, state.get("figures_version", 0))
                conn.info["figure_cache"] = cache
                yield conn
                cache.save()
        finally:
            engine.dispose()


def in_memory_rows() -> int:
    """``CIVICCRM_ANALYTICS_IN_MEMORY_ROWS``, checked: the most cases a connection loads into memory; by default
    as many as take 40% of the machine's memory (about 19 million on 24 GB)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): assume 8 GB
        memory = 8 << 30
    return _cases_setting(IN_MEMORY_ENV, int(memory * 0.4) // BYTES_IN_MEMORY)


def analytics_folder(source: Engine) -> Path:
    """``CIVICCRM_ANALYTICS_DIR``, else ``<database file>.analytics/`` for SQLite, else ``var/analytics/<database>``."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    url = source.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_suffix(".analytics")
    return Path("var") / "analytics" / (url.database or "default")


def engine_choice() -> tuple[str, int]:
    """(engine, threshold) from the environment, checked."""
    choice = os.environ.get(ENGINE_ENV, "auto").strip().lower()
    if choice not in ENGINES:
        raise CivicError(f"{ENGINE_ENV}: {choice!r}; expected one of {', '.join(ENGINES)}")
    return choice, _cases_setting(ABOVE_ENV, DEFAULT_ABOVE)


def _cases_setting(name: str, default: int) -> int:
    """The environment variable ``name``, a whole number of cases (``default`` when unset), checked."""
    text = os.environ.get(name, str(default))
    try:
        return int(text)
    except ValueError:
        raise CivicError(f"{name}: {text!r} is not a whole number of cases") from None


def engine_for(source: Engine) -> str:
    """``sql`` or ``duckdb``: which engine answers reports for this database now."""
    choice, above = engine_choice()
    if choice != "auto":
        return choice
    return "duckdb" if more_cases_than(source, above) else "sql"


def more_cases_than(source: Engine, above: int) -> bool:
    """Whether the database holds more than ``above`` cases, exactly, reading at most ``above + 1`` of them:
    no case id beyond ``above`` answers at once (ids are distinct positive integers), else a count bounded
    by LIMIT. A count of every case took seconds at tens of millions, on every report."""
    with source.connect() as conn:
        if (conn.execute(select(func.max(cases_table.c.id))).scalar() or 0) <= above:
            return False
        first = select(cases_table.c.id).limit(above + 1).subquery()
        return conn.execute(select(func.count()).select_from(first)).scalar_one() > above


@contextmanager
def report_source(source: Engine) -> Iterator:
    """What a report reads from: the database itself, or the analytics copy (synced first) when chosen."""
    if engine_for(source) == "sql":
        yield source
        return
    copy = AnalyticsCopy(source, analytics_folder(source))
    copy.sync()
    with copy.connect() as conn:
        yield conn
