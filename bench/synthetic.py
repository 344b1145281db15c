"""Synthetic Kansas City cases at New York's size, shared by bench/reports.py and bench/export.py.

``generate`` makes ``n`` cases as an Arrow table (numpy, no Python per row): two years to
June 2020, the profile's types with a Zipf mix (their departments, work groups, categories
and time-frames), Kansas City's channel mix, log-normal days to close (5% still open),
200,000 addresses so that repeats occur, six council districts, points in the city's box.
The same seed always gives the same rows.

``sqlite_deployment`` and ``load_postgres`` write them into a Kansas City deployment the
fast way: the secondary indexes and triggers of ``cases`` are dropped, the rows go in in one
transaction (SQLite: the ADBC driver's bulk ingest from Arrow; PostgreSQL: ``COPY`` of the
table as CSV), then the indexes and triggers are put back exactly as they were and the table
is analysed.

With a cache folder (``--cache DIR`` of both benchmarks) the generated rows are kept as
``cases-N.parquet`` and the loaded SQLite deployment as ``cases-N.db``, and reused when they
hold the requested number of cases; a database is renamed into place only once complete,
so a stopped load never leaves a file that looks reusable.
"""

import io
import sqlite3
import time
from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet

CITY = "kansas-city"
SEED = 2026
FIRST = np.datetime64("2018-07-01T05:00:00", "s")
LAST = np.datetime64("2020-07-01T05:00:00", "s")
CHANNELS = (("phone", 0.72), ("web", 0.15), ("email", 0.05), ("staff", 0.04), ("social", 0.02), ("app", 0.02))
ADDRESSES = 200_000
TIMES = ("opened_at", "updated_at", "due_at", "closed_at")


def _strings(prefix: str, numbers, width: int = 0, suffix: str = "") -> pyarrow.Array:
    text = pc.cast(pyarrow.array(numbers), pyarrow.string())
    if width:
        text = pc.utf8_lpad(text, width, "0")
    return pc.binary_join_element_wise(prefix, text, suffix, "")


def generate(profile, n: int, seed: int = SEED) -> pyarrow.Table:
    """``n`` synthetic cases of ``profile`` in ``cases`` column names; instants as UTC timestamps."""
    rng = np.random.default_rng(seed)
    types = sorted(profile.taxonomy.service_types.values(), key=lambda t: t.code)
    weights = 1 / np.arange(1, len(types) + 1) ** 1.1
    pick = rng.choice(len(types), n, p=weights / weights.sum())

    def of_type(attribute):
        return pyarrow.DictionaryArray.from_arrays(
            pyarrow.array(pick.astype(np.int32)), pyarrow.array([getattr(t, attribute) for t in types],
                                                                 pyarrow.string())).cast(pyarrow.string())

    target = np.array([float(t.sla_target) for t in types])[pick]
    names = [c for c, _ in CHANNELS]
    channel = pyarrow.DictionaryArray.from_arrays(
        pyarrow.array(rng.choice(len(names), n, p=[w for _, w in CHANNELS]).astype(np.int32)),
        pyarrow.array(names)).cast(pyarrow.string())
    span = int((LAST - FIRST) / np.timedelta64(1, "s"))
    opened = FIRST + np.sort(rng.integers(0, span, n)).astype("timedelta64[s]")
    days = np.round(rng.lognormal(np.log(4), 1.2, n), 4)
    still_open = rng.random(n) < 0.05
    closed = opened + (days * 86400).astype("timedelta64[s]")
    still_open |= closed >= LAST
    on_time = days <= target
    exceeded = ~on_time ^ (rng.random(n) < 0.03)
    due = opened + (target * 86400).astype("timedelta64[s]")
    number = rng.integers(0, ADDRESSES, n)
    district = rng.integers(1, 7, n)
    latitude = np.round(38.9 + 0.35 * rng.random(n), 6)
    longitude = np.round(-94.75 + 0.4 * rng.random(n), 6)
    closed_mask = pyarrow.array(still_open)

    def unless_open(values, kind=None):
        array = pyarrow.array(values, kind) if kind is not None else pyarrow.array(values)
        return pc.if_else(closed_mask, pyarrow.scalar(None, array.type), array)

    utc = pyarrow.timestamp("us", tz="UTC")
    stamp = lambda values: pyarrow.array(values.astype("datetime64[us]")).cast(utc)  # noqa: E731
    counter = np.arange(n)
    columns = {
        "tracking_number": _strings("NYC-", counter, 8),
        "service_code": of_type("code"), "request_type": of_type("name"), "category": of_type("category"),
        "department": of_type("department"), "work_group": of_type("work_group"), "channel": channel,
        "description": _strings("Synthetic case ", counter),
        "address": _strings("", number, 0, " Broadway"),
        "latitude": pyarrow.array(latitude), "longitude": pyarrow.array(longitude),
        "zip_code": _strings("641", number % 100, 2),
        "council_district": pc.cast(pyarrow.array(district), pyarrow.string()),
        "status": pc.if_else(closed_mask, "open", "closed"),
        "resolution": pc.if_else(closed_mask, pyarrow.scalar(None, pyarrow.string()), "fixed"),
        "opened_at": stamp(opened),
        "updated_at": pc.if_else(closed_mask, stamp(opened), stamp(closed)),
        "due_at": stamp(due),
        "closed_at": unless_open(closed.astype("datetime64[us]")).cast(utc),
        "days_to_close": unless_open(days),
        "on_time": unless_open(on_time),
        "origin": pyarrow.array(np.full(n, "bench", dtype=object), pyarrow.string()),
        "city_exceeded_timeframe": unless_open(exceeded),
        "sla_paused_seconds": pyarrow.array(np.zeros(n)),
        "sla_level": pyarrow.array(np.zeros(n, dtype=np.int64)),
        "sla_response_level": pyarrow.array(np.zeros(n, dtype=np.int64)),
    }
    return pyarrow.table(columns)


def cases(profile, n: int, cache: Path | None = None) -> pyarrow.Table:
    """The ``n`` synthetic cases, from ``cache/cases-N.parquet`` when it is there (else made, and kept there)."""
    path = cache / f"cases-{n}.parquet" if cache else None
    if path is not None and path.is_file():
        table = pyarrow.parquet.read_table(path)
        if table.num_rows == n:
            return table
    table = generate(profile, n)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".parquet.part")
        pyarrow.parquet.write_table(table, partial, compression="zstd")
        partial.replace(path)
    return table


def as_text(table: pyarrow.Table, suffix: str = "") -> pyarrow.Table:
    """``table`` with its instants as the UTC text a backend stores (SQLite: ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    for name in TIMES:
        index = table.schema.get_field_index(name)
        text = pc.cast(table[name].cast(pyarrow.timestamp("us")), pyarrow.string())
        if suffix:
            text = pc.binary_join_element_wise(text, suffix, "")
        table = table.set_column(index, name, text)
    return table


def stored_cases(db: Path) -> int:
    """Cases in the SQLite database ``db``; -1 when there is no such database or no cases table."""
    if not Path(db).is_file():
        return -1
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def load_sqlite(db: Path, table: pyarrow.Table) -> float:
    """Append ``table`` to ``cases`` of the SQLite database ``db``, indexes and triggers rebuilt after; seconds."""
    import adbc_driver_sqlite.dbapi

    began = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    kept = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'cases' "
                        "AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()
    for kind, name, _ in kept:
        conn.execute(f'DROP {kind.upper()} "{name}"')
    conn.close()
    with adbc_driver_sqlite.dbapi.connect(str(db)) as adbc:
        with adbc.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-400000")
            cursor.adbc_ingest("cases", as_text(table), mode="append")
        adbc.commit()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("BEGIN")
    for _, _, sql in kept:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - began


def sqlite_deployment(profile, n: int, cache: Path | None, folder: Path) -> tuple[Path, str]:
    """A SQLite Kansas City deployment holding the ``n`` synthetic cases: (path, how it was had).

    With ``cache`` the database is ``cache/cases-N.db``, reused when it holds ``n`` cases;
    without, it is made in ``folder``. The schema is brought to the head either way."""
    from civiccrm.services.deployment import init_deployment

    db = (cache or folder) / f"cases-{n}.db"
    if cache is not None and stored_cases(db) == n:
        init_deployment(f"sqlite:///{db}", CITY).engine.dispose()  # migrations landed since, if any
        return db, f"reused from {db}"
    began = time.perf_counter()
    partial = db.with_name(db.name + ".part")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    init_deployment(f"sqlite:///{partial}", CITY).engine.dispose()
    table = cases(profile, n, cache)
    made = time.perf_counter() - began
    loaded = load_sqlite(partial, table)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    partial.replace(db)
    return db, f"generated in {made:.1f} s, loaded into SQLite with its indexes in {loaded:.1f} s"


def load_postgres(url: str, table: pyarrow.Table) -> float:
    """``COPY`` ``table`` into ``cases`` of the PostgreSQL database at ``url`` (psycopg URL); seconds.

    Secondary indexes are dropped and made again after, user triggers disabled for the copy."""
    import psycopg

    began = time.perf_counter()
    names = ", ".join(table.column_names)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET maintenance_work_mem = '256MB'")
        kept = conn.execute("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = 'cases' AND i.schemaname = current_schema()
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""").fetchall()
        for name, _ in kept:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("ALTER TABLE cases DISABLE TRIGGER USER")
        options = pyarrow.csv.WriteOptions(include_header=False)
        with conn.cursor().copy(f"COPY cases ({names}) FROM STDIN (FORMAT csv)") as copy:
            for batch in as_text(table, "+00").to_batches(max_chunksize=100_000):
                buffer = io.BytesIO()
                pyarrow.csv.write_csv(batch, buffer, options)
                copy.write(buffer.getvalue())
        conn.execute("ALTER TABLE cases ENABLE TRIGGER USER")
        for _, sql in kept:
            conn.execute(sql)
        conn.commit()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("ANALYZE cases")
    return time.perf_counter() - began
