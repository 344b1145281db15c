"""New York's size on PostgreSQL: intake, reads, the work queue, the SLA scan and a month's summary
over a long history, beside pgbench on the same server in the same run.

    bash scripts/with-postgres .venv/bin/python bench/scale.py [--cases 40000000] [--duration 10] [--paced-duration 30] [--intake-rate 25] [--clients 4]

(or ``make bench-scale``). It needs a PostgreSQL server: the URL in ``--db`` or
``$CIVICCRM_TEST_POSTGRES_URL`` (what ``scripts/with-postgres`` exports; that server runs
with fsync off, so write latencies are those of the database's own work, not of the disk).
``--data-dir DIR`` instead keeps a cluster of its own in DIR (made with initdb the first time,
started with fsync off like the throwaway one, stopped at the end, its data kept): a later run
with the same ``--cases`` reuses the loaded history, so the measurement is repeated without the
hours of a reload; ``--load-only`` stops after the load. Sizes measured on this machine are in
docs/scaling.md (about 0.6 GB per million cases with their events and indexes).

1. Fill: a Kansas City deployment in a new database gets ``--cases`` cases of history at
   New York's rate (3.5 million a year, so 40 million is about eleven and a half years),
   generated inside PostgreSQL (``INSERT ... SELECT generate_series``, one million per
   statement; the secondary indexes, unique and foreign keys of ``cases`` and ``case_events``
   dropped and their triggers off during the load, built again afterwards, then ANALYZE)
   with types drawn from the taxonomy (skewed, as real demand is), channels,
   points in the city, due times from each type's time-frame, and all but the last few
   weeks closed; each case has its ``created`` history event.
2. In process: intake's numbered insert (the year's number, the case, its event, the commit) as one
   statement, beside the three it was (``intake_statements``).
   Served by gunicorn with the shipped settings: Open311 POST
   (intake), GET one request, GET a filtered list; p50/p99 at an offered rate (``--intake-rate``,
   ``--get-rate``, ``--list-rate``; Poisson arrivals, each request timed from when it was due, so
   a service that falls behind shows it), for ``--paced-duration`` seconds each: the targets' figures. Before
   each, its capacity: ``--clients`` threads sending back to back for ``--duration`` seconds, requests a second
   with their p50/p99.
3. In process: the work queue (open cases of one work group by due time, 50 a page, as
   ``case list`` and the admin queue ask), one SLA scan over the open cases, and the
   summary of one month: on the SQL path (PostgreSQL itself, the baseline) and through the
   analytics engine, as reports read it at this size (docs/reports.md): the sync (the first one
   copies the whole history, minutes at tens of millions; with ``--data-dir`` the copy is kept
   beside the cluster in ``DIR.analytics``, so a re-run copies only what changed), loading the
   copy into DuckDB, then the summary cold and warm (the target is the warm one's), checked
   figure for figure against the SQL path's.
4. Baseline: pgbench on the same server (scale 50): select-only and TPC-B-like p99 from
   its per-transaction log.
"""

import argparse
import http.client
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_DRIVES = itertools.count()
"""Numbers each ``drive`` call: its connections' random streams are its own (as bench/open311's ``load``), so a
run never replays an earlier run's requests (the same points again, each a duplicate of the last run's case)."""

PER_YEAR = 3_500_000
CHUNK = 1_000_000
TARGETS = {"intake p99": 50.0, "GET one p99": 20.0, "month summary": 1000.0}
"""Milliseconds (issue 16; the summary's from the reports issue: under one second, warm, on the analytics
engine, which reports use at this size; the SQL path's time is printed beside it)."""


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def create_database(base_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(autocommit=True, host=url.host, port=url.port, user=url.username,
                         dbname=url.database or "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


FILL = """
WITH types AS (
    SELECT row_number() OVER (ORDER BY code) - 1 AS i, code, name, category, department, work_group, sla_target
    FROM service_types
), n AS (SELECT count(*) AS n FROM types),
g AS (
    SELECT s, timestamptz '{start}' + s * interval '{step} seconds' AS opened_at,
           floor((SELECT n FROM n) * power(random(), 3))::int AS t, random() AS r, random() AS p
    FROM generate_series({lo}, {hi}) s
)
INSERT INTO cases (tracking_number, service_code, request_type, category, department, work_group, channel,
                   description, address, latitude, longitude, council_district, status, resolution, opened_at,
                   updated_at, due_at, closed_at, days_to_close, on_time, origin, external_id)
SELECT 'NY-' || to_char(g.opened_at AT TIME ZONE 'America/Chicago', 'YYYY') || '-' || lpad(g.s::text, 9, '0'),
       types.code, types.name, types.category, types.department, types.work_group,
       (ARRAY['phone','phone','phone','web','email','app','sms','social','walk_in','mail'])[1 + (g.s % 10)],
       'synthetic case ' || g.s, g.s % 9999 || ' Main St', 38.95 + g.p * 0.25, -94.65 + g.r * 0.2,
       (1 + g.s % 6)::text,
       CASE WHEN g.opened_at > {open_from} THEN 'open' ELSE 'closed' END,
       CASE WHEN g.opened_at > {open_from} THEN NULL ELSE 'fixed' END,
       g.opened_at, g.opened_at,
       g.opened_at + types.sla_target * interval '1 day',
       CASE WHEN g.opened_at > {open_from} THEN NULL
            ELSE g.opened_at + (-ln(1 - g.r * 0.999) * types.sla_target * 0.8) * interval '1 day' END,
       CASE WHEN g.opened_at > {open_from} THEN NULL ELSE -ln(1 - g.r * 0.999) * types.sla_target * 0.8 END,
       CASE WHEN g.opened_at > {open_from} THEN NULL ELSE -ln(1 - g.r * 0.999) * 0.8 <= 1 END,
       'import:bench', g.s::text
FROM g JOIN types ON types.i = g.t
"""

EVENTS = """
INSERT INTO case_events (case_id, at, actor, kind, origin, changes)
SELECT id, opened_at, 'bench', 'created', 'import:bench', '{{}}' FROM cases WHERE id BETWEEN {lo} AND {hi}
"""


LOADED = ("cases", "case_events")
"""The tables the fill writes: their secondary indexes and constraints are built after it."""


def drop_for_load(conn) -> list[str]:
    """Drop the secondary indexes and the unique and foreign-key constraints of the loaded tables and
    switch their triggers and autovacuum off; returns the statements that put all of it back."""
    restore = []
    for table in LOADED:
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC", (table,)).fetchall()
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass"
            " AND NOT indisprimary AND indexrelid NOT IN (SELECT conindid FROM pg_constraint)", (table,)).fetchall()
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for name, definition in indexes:
            conn.execute(f"DROP INDEX {name}")
            restore.append(definition)
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        restore += [f"ALTER TABLE {table} ENABLE TRIGGER USER", f"ALTER TABLE {table} RESET (autovacuum_enabled)"]
    # Unique constraints and indexes first, foreign keys (checked against them) last.
    return sorted(restore, key=lambda sql: "FOREIGN KEY" in sql)


def keep_pending(conn, restore: list[str]) -> None:
    """Write the statements that put the indexes back into ``bench_scale_pending``, where ``rebuild`` finds them."""
    conn.execute("CREATE TABLE bench_scale_pending (seq int PRIMARY KEY, sql text NOT NULL)")
    for seq, sql in enumerate(restore):
        conn.execute("INSERT INTO bench_scale_pending VALUES (%s, %s)", (seq, sql))


def rebuild(conn, restore: list[str] | None = None) -> None:
    """Put back what ``drop_for_load`` took away, then VACUUM ANALYZE. The statements wait in the
    ``bench_scale_pending`` table and each leaves it once done, so a run stopped midway through the
    rebuild (hours at tens of millions) is finished by the next run (``restore=None``: the ones left)."""
    if restore is not None:
        keep_pending(conn, restore)
    began = time.perf_counter()
    for seq, sql in conn.execute("SELECT seq, sql FROM bench_scale_pending ORDER BY seq").fetchall():
        step = time.perf_counter()
        conn.execute(sql)
        conn.execute("DELETE FROM bench_scale_pending WHERE seq = %s", (seq,))
        print(f"  {time.perf_counter() - step:6.1f} s  {sql[:110]}", flush=True)
    print(f"  indexes and constraints: {time.perf_counter() - began:.0f} s", flush=True)
    # Intake numbers past every generated one; a year whose counter went further (earlier runs' intake) keeps it.
    conn.execute("INSERT INTO tracking_counters (year, last) SELECT extract(year FROM opened_at)::int, 999999999 "
                 "FROM cases GROUP BY 1 ON CONFLICT (year) DO UPDATE SET "
                 "last = GREATEST(tracking_counters.last, 999999999)")
    began = time.perf_counter()
    conn.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE: {time.perf_counter() - began:.0f} s", flush=True)
    conn.execute("DROP TABLE bench_scale_pending")


def fill(url: str, cases: int, now: datetime) -> datetime:
    """Generate the history inside PostgreSQL; returns the first instant."""
    import psycopg

    span = cases / PER_YEAR * 365.25 * 86400
    start = now - timedelta(seconds=span)
    step = span / cases
    open_from = f"timestamptz '{(now - timedelta(days=21)).isoformat()}'"
    from sqlalchemy.engine import make_url

    from civiccrm.store.backup import libpq_url

    with psycopg.connect(libpq_url(make_url(url)), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        restore = drop_for_load(conn)
        conn.execute("SELECT setseed(0.2026)")
        for lo in range(1, cases + 1, CHUNK):
            hi = min(cases, lo + CHUNK - 1)
            began = time.perf_counter()
            # The ids this statement took: those past the newest before it (the primary key stays, nothing else writes).
            first = conn.execute("SELECT COALESCE(max(id), 0) + 1 FROM cases").fetchone()[0]
            conn.execute(FILL.format(start=start.isoformat(), step=step, lo=lo, hi=hi, open_from=open_from))
            last = conn.execute("SELECT max(id) FROM cases").fetchone()[0]
            conn.execute(EVENTS.format(lo=first, hi=last))
            print(f"  filled {hi:>11,} cases ({time.perf_counter() - began:5.1f} s for this million)", flush=True)
        # Recorded before the rebuild, so a run stopped during it finishes the rebuild rather than reloading.
        conn.execute("CREATE TABLE bench_scale_load (cases bigint NOT NULL, loaded_at timestamptz NOT NULL,"
                     " fill_seconds double precision NOT NULL)")
        conn.execute("INSERT INTO bench_scale_load VALUES (%s, %s, 0)", (cases, now))
        rebuild(conn, restore)
    return start


CLUSTER_SETTINGS = ("shared_buffers=2GB", "effective_cache_size=8GB", "maintenance_work_mem=1GB",
                    "max_wal_size=1GB", "checkpoint_timeout=30min", "wal_level=minimal", "max_wal_senders=0")
"""A server sized for a history of tens of millions (the default 128 MB of shared buffers is not
one); fsync is off (``-F``) as in ``scripts/with-postgres``."""


def _owner_command(command: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root: run them as the user ``scripts/with-postgres`` would."""
    if os.geteuid() != 0:
        return command
    import pwd

    for name in (os.environ.get("CIVICCRM_PG_OS_USER"), "postgres", "nobody"):
        try:
            if name:
                pwd.getpwnam(name)
                return ["runuser", "-u", name, "--", *command]
        except KeyError:
            continue
    raise SystemExit("bench/scale: running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


def start_cluster(data_dir: Path):
    """Start the PostgreSQL cluster kept in ``data_dir`` (initdb first if it holds none); returns the
    server's URL and a function that stops it (the data stay)."""
    found = subprocess.run(["bash", str(ROOT / "scripts" / "with-postgres"), "--bindir"], capture_output=True, text=True)
    if found.returncode:
        raise SystemExit(f"bench/scale: --data-dir: {found.stderr.strip()}")
    bindir = Path(found.stdout.strip())
    data_dir = data_dir.resolve()
    if not (data_dir / "PG_VERSION").exists():
        if data_dir.exists() and any(data_dir.iterdir()):
            raise SystemExit(f"bench/scale: --data-dir {data_dir}: not empty and not a PostgreSQL cluster")
        data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data_dir, user=_owner_command(["x"])[2])
        subprocess.run(_owner_command([str(bindir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", "civiccrm",
                                       "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True, cwd="/")
        print(f"bench/scale: new cluster in {data_dir}")
    if (data_dir / "postmaster.pid").exists():
        raise SystemExit(f"bench/scale: --data-dir {data_dir}: its server is running already (a load still going? see"
                         f" {data_dir / 'server.log'}); wait for it to stop, or stop it with pg_ctl -D {data_dir} stop")
    port = free_port()
    options = " ".join(["-F", "-k", str(data_dir), "-h", "127.0.0.1", "-p", str(port),
                        *(f"-c {setting}" for setting in CLUSTER_SETTINGS)])
    subprocess.run(_owner_command([str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"),
                                   "-w", "-t", "600", "-o", options, "start"]), check=True, cwd="/", stdout=subprocess.DEVNULL)

    def stop():
        subprocess.run(_owner_command([str(bindir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "600",
                                       "stop"]), cwd="/", stdout=subprocess.DEVNULL)

    return f"postgresql+psycopg://civiccrm@127.0.0.1:{port}/postgres", stop


def kept_database(base_url: str, cases: int, extend: bool = False) -> tuple[str, int]:
    """The ``scale`` database of a kept cluster and how many loaded cases it keeps: ``cases`` when it
    holds exactly that many; with ``extend``, a smaller history is kept to be grown (the number it
    holds is returned); a load stopped during its index builds has them finished first. Anything else
    (another number, a fill that did not finish) is dropped and made again (0)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from civiccrm.store.backup import libpq_url

    url = make_url(base_url)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'scale'").fetchone()
    scale = url.set(database="scale")
    if exists:
        with psycopg.connect(libpq_url(scale), autocommit=True) as conn:
            loaded = conn.execute("SELECT to_regclass('bench_scale_load') IS NOT NULL").fetchone()[0] and \
                conn.execute("SELECT cases FROM bench_scale_load").fetchone()
            if loaded and conn.execute("SELECT to_regclass('bench_scale_pending') IS NOT NULL").fetchone()[0]:
                print(f"bench/scale: the kept load of {loaded[0]:,} cases stopped before its indexes were all "
                      "built; building the rest", flush=True)
                conn.execute("SET maintenance_work_mem = '1GB'")
                rebuild(conn)
        if loaded and (loaded[0] == cases or (extend and loaded[0] < cases)):
            return scale.render_as_string(hide_password=False), loaded[0]
        print(f"bench/scale: the kept database holds {f'{loaded[0]:,} cases' if loaded else 'an unfinished load'};"
              f" loading {cases:,} afresh")
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("DROP DATABASE scale WITH (FORCE)")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE DATABASE scale")
    return scale.render_as_string(hide_password=False), 0


def extend(url: str, have: int, cases: int) -> None:
    """Grow a kept history of ``have`` cases to ``cases``: the new ones are older history (opened
    before the oldest kept case, at the same rate, all closed), filled a million per transaction with
    the indexes dropped as ``fill`` does; each transaction records the new count in
    ``bench_scale_load``, so a run stopped midway keeps whole millions and the next ``--extend`` run
    goes on from there (a run stopped during the rebuild finishes it)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from civiccrm.store.backup import libpq_url

    step = 365.25 * 86400 / PER_YEAR
    with psycopg.connect(libpq_url(make_url(url)), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        oldest = conn.execute("SELECT min(opened_at) FROM cases WHERE origin = 'import:bench'").fetchone()[0]
        # Case s opens (s - have) steps before the oldest kept case: start + s * step, the step negative.
        start = oldest + timedelta(seconds=have * step)
        never_open = f"timestamptz '{oldest.isoformat()}'"
        keep_pending(conn, drop_for_load(conn))
        for lo in range(have + 1, cases + 1, CHUNK):
            hi = min(cases, lo + CHUNK - 1)
            began = time.perf_counter()
            with conn.transaction():
                first = conn.execute("SELECT COALESCE(max(id), 0) + 1 FROM cases").fetchone()[0]
                conn.execute(FILL.format(start=start.isoformat(), step=-step, lo=lo, hi=hi, open_from=never_open))
                last = conn.execute("SELECT max(id) FROM cases").fetchone()[0]
                conn.execute(EVENTS.format(lo=first, hi=last))
                conn.execute("UPDATE bench_scale_load SET cases = %s", (hi,))
            print(f"  extended to {hi:>11,} cases ({time.perf_counter() - began:5.1f} s for these {hi - lo + 1:,})",
                  flush=True)
        rebuild(conn)


BYTES_PER_CASE = 810
"""The database per case with its event and every index (measured at 1,000,000: 0.81 GB)."""


def check_room(url: str, cases: int) -> None:
    """Refuse a load the server's disk cannot hold: the database, a fifth more for WAL and the index
    builds' sort files, and 2 GB to spare."""
    import psycopg
    from sqlalchemy.engine import make_url

    from civiccrm.store.backup import libpq_url

    with psycopg.connect(libpq_url(make_url(url))) as conn:
        folder = conn.execute("SHOW data_directory").fetchone()[0]
    free = shutil.disk_usage(folder).free
    needed = cases * BYTES_PER_CASE * 1.2 + 2e9
    if needed > free:
        fit = max(0, int((free - 2e9) / (BYTES_PER_CASE * 1.2)))
        raise SystemExit(f"bench/scale: --cases {cases:,}: the load needs about {needed / 1e9:.0f} GB and {folder} has "
                         f"{free / 1e9:.0f} GB free; about {fit:,} cases fit")


def database_size(url: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    from civiccrm.store.backup import libpq_url

    with psycopg.connect(libpq_url(make_url(url))) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:civiccrm.web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", "/dev/null", "civiccrm.web.wsgi:app"],
        # One key makes all the load by design: its requests are counted (that write is measured), never refused.
        cwd=ROOT, env={**os.environ, "CIVICCRM_DATABASE_URL": url,
                       "CIVICCRM_OPEN311_POST_LIMIT": "1000000000", "CIVICCRM_OPEN311_GET_LIMIT": "1000000000"})
    # Three workers each import the app: on a loaded 2-core machine that took over a minute.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def drive(port: int, connections: int, next_due, make_request) -> tuple[list[float], int]:
    """Milliseconds of each request sent by ``connections`` threads, one connection each. ``next_due()`` gives
    when the next request is due (``time.perf_counter``), or None to stop: a request is timed from then."""
    times, errors = [], []
    run = next(_DRIVES)

    def client(seed):
        rng = random.Random(run * 1000 + seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (when := next_due()) is not None:
            method, path, body = make_request(rng)
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            if (wait := when - time.perf_counter()) > 0:
                time.sleep(wait)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            times.append((time.perf_counter() - when) * 1000)
            if response.status != 200:
                errors.append(f"{response.status} {answer[:200].decode(errors='replace')}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"  {len(errors)} answers were not 200 (first {errors[0]})")
    return times, len(errors)


def load(port: int, clients: int, duration: float, make_request) -> tuple[list[float], int]:
    """Milliseconds of each request made by ``clients`` threads sending back to back for ``duration`` seconds."""
    stop = time.perf_counter() + duration

    def next_due():
        now = time.perf_counter()
        return now if now < stop else None

    return drive(port, clients, next_due, make_request)


def paced(port: int, rate: float, duration: float, make_request, connections: int = 8) -> tuple[list[float], int]:
    """Milliseconds of each request sent at ``rate`` a second (Poisson arrivals) for ``duration`` seconds.

    An open load, as residents and apps make it: a request's time runs from when it was due to be sent, so one
    waiting for a free connection (the service fell behind) counts its wait; closed-loop clients would instead
    slow down with the service and hide it (coordinated omission)."""
    rng = random.Random(7)
    due, at = [], 0.0
    while (at := at + rng.expovariate(rate)) < duration:
        due.append(at)
    start, lock, taken = time.perf_counter() + 0.05, threading.Lock(), iter(due)

    def next_due():
        with lock:
            at = next(taken, None)
        return None if at is None else start + at

    return drive(port, connections, next_due, make_request)


def pgbench(url: str, duration: float, clients: int) -> dict:
    from sqlalchemy.engine import make_url

    exe = shutil.which("pgbench") or next(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), None)
    if exe is None:
        return {}
    u = make_url(url)
    name = f"pgbench_{uuid.uuid4().hex[:8]}"
    common = ["-h", u.host, "-p", str(u.port), "-U", u.username]
    subprocess.run([str(Path(exe).with_name("createdb")), *common, name], check=True)
    subprocess.run([str(exe), *common, "-i", "-q", "-s", "50", name], check=True, capture_output=True)
    figures = {}
    for label, extra in (("select-only", ["-S"]), ("tpc-b-like", [])):
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run([str(exe), *common, *extra, "-c", str(clients), "-j", str(clients), "-T", str(int(duration)),
                            "-l", "--log-prefix", f"{folder}/log", name], check=True, capture_output=True)
            latencies = [int(line.split()[2]) / 1000 for log in Path(folder).glob("log*")
                         for line in log.read_text().splitlines()]
        figures[label] = (percentile(latencies, 50), percentile(latencies, 99), len(latencies) / duration)
    subprocess.run([str(Path(exe).with_name("dropdb")), *common, name], check=True)
    return figures


def analytics_folder(args, reused: bool) -> tuple[Path, bool]:
    """Where the analytics copy lives, and whether it is a temporary one: ``--analytics-dir``, else beside a
    kept cluster (``DIR.analytics``, so a re-run syncs only what changed), else a temporary folder. A copy of
    an earlier load (the history loaded afresh) is emptied first."""
    folder = args.analytics_dir or (args.data_dir.resolve().with_name(args.data_dir.resolve().name + ".analytics")
                                    if args.data_dir else None)
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="bench-scale-analytics-")), True
    if not reused and folder.exists():
        shutil.rmtree(folder)
    return folder, False


def month_summary_on_the_engine(deployment, args, reused: bool, start, end, now, on_sql) -> float:
    """The month's summary through the analytics engine, as reports above CIVICCRM_ANALYTICS_ABOVE cases read
    it: the sync (the first one copies the whole history), loading the copy into DuckDB, then the summary
    cold and warm; checked against the SQL path's figures. Returns the warm milliseconds (the target's; infinite
    when the figures differ)."""
    from civiccrm.metrics.summary import summary
    from civiccrm.store.analytics import AnalyticsCopy

    folder, temporary = analytics_folder(args, reused)
    try:
        copy = AnalyticsCopy(deployment.engine, folder)
        first = copy.state()["cases"]["base"] is None
        began = time.perf_counter()
        copied = copy.sync()
        print(f"analytics: {'first sync (the whole history)' if first else 'sync (what changed)'} "
              f"{time.perf_counter() - began:.1f} s, {copied['cases']:,} cases copied into {folder}", flush=True)
        began = time.perf_counter()
        with copy.connect() as duck:
            print(f"analytics: copy loaded into DuckDB in {time.perf_counter() - began:.1f} s", flush=True)
            runs = []
            for _ in range(4):
                began = time.perf_counter()
                on_engine = summary(duck, start=start, end=end, now=now)
                runs.append((time.perf_counter() - began) * 1000)
        same = on_engine.to_dict() == on_sql.to_dict()
        warm = statistics.median(runs[1:])
        print(f"  summary: {warm:.0f} ms warm (median of 3; cold {runs[0]:.0f} ms) on the analytics engine, "
              f"{'the same figures as' if same else 'FIGURES DIFFER from'} the SQL path", flush=True)
        return warm if same else float("inf")  # a wrong figure misses the target, however fast
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


def intake_statements(deployment, rounds: int) -> dict:
    """Intake's numbered insert in process, against its baseline in the same run: the year's number, the case
    and its event as three statements (the SQLite path, and PostgreSQL's before issue 16's change) and as the
    one statement PostgreSQL runs (``repo.insert_case``), alternated ``rounds`` times on one connection, each
    with its commit. The cases are numbered in a year of their own (``SQL-0001-``), so the city's are not
    moved. Returns {label: (p10, median)} in milliseconds."""
    from civiccrm.domain.cases import CaseEvent
    from civiccrm.store import repo

    now = deployment.clock()
    values = dict(service_code="trash-missed-by-city", request_type="Trash Missed", category="Trash",
                  department="public-works", work_group="public-works-solid-waste", channel="app",
                  description="bench intake statements", status="new", opened_at=now, updated_at=now, due_at=now,
                  origin="intake", address=None, latitude=39.0997, longitude=-94.5786, zip_code=None,
                  council_district="4", neighborhood=None, response_due_at=None)
    event = CaseEvent(kind="created", at=now, actor="bench", origin="intake", changes={"status": [None, "new"]})

    def three(conn):
        number = repo.tracking_number("SQL-0001-", repo.next_tracking_sequence(session=conn, year=1))
        case_id = conn.execute(repo._INSERT_CASE, {**values, "customer_id": None, "tracking_number": number}
                               ).scalar_one()
        conn.execute(repo._INSERT_FIRST_EVENT, repo.event_values(case_id, event)).scalar_one()

    def one(conn):
        repo.insert_case(conn, values=values, tracking_prefix="SQL-0001-", year=1, event=event)

    ways = {"three statements (baseline)": three, "one statement (insert_case)": one}
    times = {label: [] for label in ways}
    with deployment.engine.connect() as conn:
        for n in range(rounds + 5):  # the first five: psycopg prepares a statement on its fifth run
            for label, way in ways.items():
                began = time.perf_counter()
                way(conn)
                conn.commit()
                if n >= 5:
                    times[label].append((time.perf_counter() - began) * 1000)
    return {label: (percentile(ms, 10), statistics.median(ms)) for label, ms in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40_000_000, help="cases of history (default 40,000,000)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of each capacity measurement (default 10)")
    parser.add_argument("--paced-duration", type=float, default=30, help="seconds of each measurement at an offered "
                        "rate, whose p99 is the target's (default 30: about 750 POSTs, where 10 s rested the p99 of "
                        "intake on its 2-3 slowest requests)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    # New York's 3.5 million cases a year arrive at 0.11 a second on average; the rates below are hundreds of
    # times that, well past any busy hour's.
    parser.add_argument("--intake-rate", type=float, default=25, help="Open311 POSTs a second offered while intake's "
                        "latency is measured (default 25, about 200 times New York's average rate)")
    parser.add_argument("--get-rate", type=float, default=100, help="GET one requests a second offered (default 100)")
    parser.add_argument("--list-rate", type=float, default=10, help="GET list requests a second offered (default 10)")
    parser.add_argument("--db", help="PostgreSQL server URL (default $CIVICCRM_TEST_POSTGRES_URL)")
    parser.add_argument("--data-dir", type=Path, help="keep a PostgreSQL cluster of its own in DIR and reuse the "
                        "history loaded there when it holds --cases cases (made by initdb when DIR is new or empty)")
    parser.add_argument("--load-only", action="store_true", help="stop once the history is loaded")
    parser.add_argument("--extend", action="store_true", help="with --data-dir: grow a kept history of fewer than "
                        "--cases cases to --cases (older cases, a million per transaction, resumable) instead of "
                        "loading afresh")
    parser.add_argument("--analytics-dir", type=Path, help="keep the analytics engine's copy in DIR (default: "
                        "beside --data-dir as DIR.analytics, else a temporary folder)")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error(f"--cases: {args.cases}; expected a positive number of cases")
    if not (args.duration > 0 and args.paced_duration > 0):
        parser.error(f"--duration {args.duration:g}, --paced-duration {args.paced_duration:g}: expected seconds above 0")
    for name in ("intake_rate", "get_rate", "list_rate"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')}: {getattr(args, name)}; expected requests a second above 0")
    if args.extend and not args.data_dir:
        parser.error("--extend: grows the history kept by --data-dir DIR; give --data-dir")
    stop_cluster = None
    if args.data_dir:
        base, stop_cluster = start_cluster(args.data_dir)
    else:
        base = args.db or os.environ.get("CIVICCRM_TEST_POSTGRES_URL")
    if not base:
        raise SystemExit("bench/scale: give --db or --data-dir, or run under scripts/with-postgres")
    try:
        return measure(args, base)
    finally:
        if stop_cluster:
            stop_cluster()


def measure(args, base: str) -> int:
    from civiccrm.services import apikeys
    from civiccrm.services.deployment import init_deployment

    url, have = kept_database(base, args.cases, args.extend) if args.data_dir else (create_database(base), 0)
    deployment = init_deployment(url, "kansas-city")
    now = deployment.clock()
    print(f"bench/scale: {args.cases:,} cases on PostgreSQL, {os.cpu_count()} CPUs")
    if have == args.cases:
        print(f"fill: reused the {args.cases:,} cases kept in {args.data_dir}")
    elif have:
        check_room(url, args.cases - have)
        began = time.perf_counter()
        extend(url, have, args.cases)
        seconds = time.perf_counter() - began
        print(f"extend: {have:,} -> {args.cases:,} cases in {seconds:.0f} s ({(args.cases - have) / seconds:,.0f} "
              "cases/s)")
    else:
        check_room(url, args.cases)
        began = time.perf_counter()
        fill(url, args.cases, now)
        fill_seconds = time.perf_counter() - began
        print(f"fill: {fill_seconds:.0f} s ({args.cases / fill_seconds:,.0f} cases/s)")
        with deployment.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("UPDATE bench_scale_load SET fill_seconds = :s"), {"s": fill_seconds})
    size = database_size(url)
    print(f"size: {size / 1e9:.2f} GB ({size / args.cases * 1e6 / 1e9:.3f} GB per million cases)")
    if args.load_only:
        deployment.engine.dispose()
        return 0
    _, key = apikeys.add(deployment, name="bench", channel="app")
    for label, (p10, median) in intake_statements(deployment, 200).items():
        print(f"intake SQL, number + case + event + commit, {label}: p10 {p10:.2f} ms  median {median:.2f} ms "
              "(in process, 200 each, alternated)", flush=True)

    codes = [t.code for t in deployment.profile.taxonomy.service_types.values()]
    # Intake comes from all over the city (points of the history's box inside the city's limits), not one spot: one
    # spot piles every run's open cases into one duplicate check.
    draw, city_map, points = random.Random(3), deployment.profile.city_map, []
    while len(points) < 2000:
        lat, long = 38.95 + draw.random() * 0.25, -94.65 + draw.random() * 0.2
        if city_map.contains(lat, long):
            points.append((f"{lat:.6f}", f"{long:.6f}"))

    with deployment.engine.connect() as conn:
        from sqlalchemy import text

        numbers = [r[0] for r in conn.execute(text(
            "SELECT tracking_number FROM cases TABLESAMPLE SYSTEM (0.1) LIMIT 20000"))] or [r[0] for r in conn.execute(
            text("SELECT tracking_number FROM cases ORDER BY random() LIMIT 20000"))]  # a sample of few pages can miss
        busy_group = conn.execute(text("SELECT work_group FROM cases WHERE status = 'open' AND work_group IS NOT NULL"
                                       " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar()
    plain = [c for c in codes if not deployment.profile.service_attributes.get(c)]

    process, port = serve(url)
    results = {}
    try:
        post = lambda rng: ("POST", "/open311/v2/requests.json", urllib.parse.urlencode({  # noqa: E731
            "api_key": key, "service_code": rng.choice(plain), "description": "bench intake",
            **dict(zip(("lat", "long"), rng.choice(points)))}))
        one = lambda rng: ("GET", f"/open311/v2/requests/{rng.choice(numbers)}.json", None)  # noqa: E731
        many = lambda rng: ("GET", f"/open311/v2/requests.json?service_code={rng.choice(codes)}&status=open", None)  # noqa: E731
        failed = {}
        rates = {"intake": args.intake_rate, "GET one": args.get_rate, "GET list": args.list_rate}
        for label, maker in (("intake", post), ("GET one", one), ("GET list", many)):
            # The latency targets are read at a stated offered load (an open one); the capacity beside it is what
            # --clients clients sending back to back get, where each p99 is the queue of a saturated 2-core box.
            # The capacity first: it also warms every worker (first requests import and build what they use).
            times, failed[label + " capacity"] = load(port, args.clients, args.duration, maker)
            capacity = (f"capacity {len(times) / args.duration:,.0f}/s with {args.clients} clients back to back: "
                        f"p50 {percentile(times, 50):.1f} ms  p99 {percentile(times, 99):.1f} ms")
            times, failed[label] = paced(port, rates[label], args.paced_duration, maker)
            results[f"{label} p50"], results[f"{label} p99"] = percentile(times, 50), percentile(times, 99)
            print(f"{label:>9}: p50 {results[label + ' p50']:7.1f} ms  p99 {results[label + ' p99']:7.1f} ms  "
                  f"({len(times) / args.paced_duration:,.0f}/s offered, Poisson arrivals; p90 {percentile(times, 90):.1f}, "
                  f"max {max(times):.1f})\n{'':>11}{capacity}", flush=True)
    finally:
        process.terminate()
        process.wait()

    from civiccrm.metrics.summary import summary
    from civiccrm.services import sla
    from civiccrm.store.queries import CaseFilter, list_cases

    queue = []
    for _ in range(30):
        began = time.perf_counter()
        with deployment.session() as s:
            list_cases(session=s, filters=CaseFilter(work_group=busy_group, due_before=now + timedelta(days=3650), limit=50))
        queue.append((time.perf_counter() - began) * 1000)
    results["work queue p99"] = percentile(queue, 99)
    print(f"work queue ({busy_group}): p50 {percentile(queue, 50):.1f} ms  p99 {results['work queue p99']:.1f} ms")

    began = time.perf_counter()
    scanned = sla.scan(deployment)
    results["sla scan"] = (time.perf_counter() - began) * 1000
    print(f" sla scan: {results['sla scan'] / 1000:.1f} s ({len(scanned.warned):,} warned, "
          f"{len(scanned.breached):,} breached, {len(scanned.response_breached):,} past first response)")

    month_end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_start = (month_end - timedelta(days=1)).replace(day=1)
    began = time.perf_counter()
    on_sql = summary(deployment.engine, start=month_start, end=month_end, now=now)
    results["month summary (SQL path)"] = (time.perf_counter() - began) * 1000
    print(f"  summary: {results['month summary (SQL path)']:.0f} ms for {month_start:%B %Y} on the SQL path "
          "(the baseline: PostgreSQL itself)")
    results["month summary"] = month_summary_on_the_engine(deployment, args, have == args.cases, month_start,
                                                           month_end, now, on_sql)

    baseline = pgbench(base, args.duration, args.clients)
    for label, (p50, p99, rate) in baseline.items():
        print(f" pgbench {label}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  ({rate:,.0f} tx/s, {args.clients} clients)")

    missed = [f"{name} {results[name]:.1f} ms (target {target:g})" for name, target in TARGETS.items()
              if results[name] >= target]
    # A latency of failed answers measures nothing: any answer but 200 misses the run's targets.
    missed += [f"{label}: {count:,} answers not 200" for label, count in failed.items() if count]
    print("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    deployment.engine.dispose()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
