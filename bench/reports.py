"""Benchmark the report packs at New York's size: the KCStat figures and the 311 matrix over synthetic cases.

    .venv/bin/python bench/reports.py [--cases 3500000] [--postgres URL] [--no-sql] [--sql-limit S] [--cache DIR]
                                      [--keep DIR] [--json]

1. Data: ``--cases`` synthetic cases (``bench/synthetic.py``, shared with bench/export.py)
   over two years to June 2020 with Kansas City's types (and their departments, work groups
   and time-frames), a Zipf mix of types, Kansas City's channel mix, log-normal days to
   close (5% still open), 200,000 addresses so that repeats occur, six districts; loaded
   into a Kansas City deployment on SQLite (and PostgreSQL with ``--postgres``, default
   ``$CIVICCRM_TEST_POSTGRES_URL``) by the drivers' bulk paths with the indexes built after
   the rows (not timed). ``--cache DIR`` keeps the rows (``cases-N.parquet``) and the SQLite
   deployment (``cases-N.db``) there and reuses them when they hold N cases; PostgreSQL is
   loaded from the cached rows by ``COPY``.
2. The analytics engine: the Parquet copy is made (timed: first sync, then a sync with
   nothing new), then the KCStat figures for June 2020 (``kcstat_figures``: every section,
   this month, a year before, fiscal year to date, 13-month trend) and both 311 matrices
   are computed through it: the copy is loaded into DuckDB's memory once per connection
   (timed apart), then on that connection (warm) four times: without the figure cache (every
   figure computed: the baseline), with the cache empty (every figure computed and kept), with
   every figure from the cache, and with June 2020 fresh: the cached figures a sync would drop
   for two changed cases of June dropped (one still open, one closed in June; ``FigureCache.forget``),
   the past months read from the cache. That last is the monthly pack as it runs while its month's
   cases change: the target.
3. Baseline, in the same run: DuckDB with the same Parquet copy loaded into memory (sorted by
   opened_at, as the engine's connection holds it; the load is not timed) and hand-written SQL
   computing the same figures (one statement per section, GROUPING SETS where it helps);
   the engine's figures are checked against the baseline's where both compute them.
4. The SQL path on SQLite (and PostgreSQL), unless ``--no-sql``: the same figures straight
   from the database, to show what the engine is for, each in a child process stopped after
   ``--sql-limit`` seconds (default 1800; the bench prints that it was stopped).

Targets: the engine under 1 s per pack (June fresh; the KCStat pack and the 311 matrix each, timed apart, wall
and CPU seconds, DuckDB on 2 threads) and no more than 3x the hand-written DuckDB (the same in-memory
table, loaded before its clock starts).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402

from civiccrm.cli.params import inclusive_range  # noqa: E402

def engine_figures(deployment, source, start, end, now, clock=None):
    """The KCStat figures and both 311 matrices; ``clock`` (a dict) gets each pack's (wall, CPU) seconds."""
    from civiccrm.metrics.kcstat import kcstat_figures
    from civiccrm.metrics.matrix import matrix

    profile = deployment.profile
    question = profile.surveys["post-case"].question("department_service")
    began, cpu = time.perf_counter(), time.process_time()
    figures = kcstat_figures(source, start=start, end=end, now=now, tz=profile.tz,
                             fiscal_year_start=profile.fiscal_year_start,
                             survey=("post-case", {q.code: q.text for q in profile.surveys["post-case"].questions}))
    split, split_cpu = time.perf_counter(), time.process_time()
    before = figures.period.year_before()
    grids = [matrix(source, start=s, end=e, instrument="post-case", question=question.code,
                    acceptable_from=question.acceptable, timeliness_target=0.85, satisfaction_target=0.85)
             for s, e in ((start, end), (before.start, before.end))]
    if clock is not None:
        clock["kcstat"] = (split - began, split_cpu - cpu)
        clock["matrix"] = (time.perf_counter() - split, time.process_time() - split_cpu)
    return figures, grids


def handwritten(folder: Path, start, end, before, fiscal, trend_from, as_of, as_of_before) -> dict:
    """The same sections as kcstat_figures with hand-written DuckDB SQL over the Parquet copy."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 2")
    # The same in-memory table the engine's connection holds (sorted by opened_at), loaded before the clock
    # starts, so the baseline and the engine are timed over the same data in the same place.
    con.execute(f"CREATE TABLE cases AS SELECT * FROM read_parquet('{folder / 'cases' / 'base.parquet'}') "
                "ORDER BY opened_at, id")
    began, cpu = time.perf_counter(), time.process_time()
    out = {}
    for label, (lo, hi), backlog_at in (("month", (start, end), as_of), ("before", before, as_of_before)):
        out[f"groups_{label}"] = con.execute("""
            SELECT department, work_group, service_code, channel,
                   count(*) FILTER (WHERE opened_at >= $1 AND opened_at < $2) AS opened,
                   count(*) FILTER (WHERE closed_at >= $1 AND closed_at < $2) AS closed,
                   count(*) FILTER (WHERE closed_at >= $1 AND closed_at < $2 AND on_time) AS on_time,
                   count(*) FILTER (WHERE closed_at >= $1 AND closed_at < $2 AND NOT city_exceeded_timeframe) AS city,
                   quantile_disc(days_to_close, 0.5) FILTER (WHERE closed_at >= $1 AND closed_at < $2) AS median,
                   quantile_disc(days_to_close, 0.9) FILTER (WHERE closed_at >= $1 AND closed_at < $2) AS p90,
                   count(*) FILTER (WHERE opened_at < $3 AND (status <> 'closed' OR closed_at >= $3)) AS backlog
            FROM cases WHERE (opened_at >= $1 AND opened_at < $2) OR (closed_at >= $1 AND closed_at < $2)
                          OR (opened_at < $3 AND (status <> 'closed' OR closed_at >= $3))
            GROUP BY GROUPING SETS ((department), (work_group), (service_code), (channel), ())""",
                                           [lo, hi, backlog_at]).fetchall()
        out[f"age_{label}"] = con.execute("""
            SELECT department, count(*) FILTER (WHERE $1 - opened_at <= INTERVAL 30 DAY),
                   count(*) FILTER (WHERE $1 - opened_at > INTERVAL 30 DAY AND $1 - opened_at <= INTERVAL 60 DAY),
                   count(*) FILTER (WHERE $1 - opened_at > INTERVAL 60 DAY AND $1 - opened_at <= INTERVAL 90 DAY),
                   count(*) FILTER (WHERE $1 - opened_at > INTERVAL 90 DAY)
            FROM cases WHERE opened_at < $1 AND (status <> 'closed' OR closed_at >= $1) GROUP BY department""",
                                        [backlog_at]).fetchall()
        out[f"repeats_{label}"] = con.execute("""
            SELECT council_district, count(*), count(*) FILTER (WHERE opened_at - previous <= INTERVAL 30 DAY)
            FROM (SELECT council_district, opened_at, lag(opened_at) OVER (PARTITION BY service_code, address
                                                                          ORDER BY opened_at, id) AS previous
                  FROM cases WHERE address IS NOT NULL AND opened_at >= $1 - INTERVAL 30 DAY AND opened_at < $2)
            WHERE opened_at >= $1 GROUP BY council_district""", [lo, hi]).fetchall()
    for label, (lo, hi) in (("fytd", fiscal[0]), ("fytd_before", fiscal[1])):
        out[label] = con.execute("""
            SELECT department, count(*) FILTER (WHERE opened_at >= $1 AND opened_at < $2),
                   count(*) FILTER (WHERE closed_at >= $1 AND closed_at < $2),
                   count(*) FILTER (WHERE closed_at >= $1 AND closed_at < $2 AND on_time)
            FROM cases WHERE (opened_at >= $1 AND opened_at < $2) OR (closed_at >= $1 AND closed_at < $2)
            GROUP BY ROLLUP (department)""", [lo, hi]).fetchall()
    out["trend"] = con.execute("""
        SELECT date_trunc('month', opened_at AT TIME ZONE 'America/Chicago') AS month, count(*)
        FROM cases WHERE opened_at >= $1 AND opened_at < $2 GROUP BY month ORDER BY month""",
                               [trend_from, end]).fetchall()
    out["trend_closed"] = con.execute("""
        SELECT date_trunc('month', closed_at AT TIME ZONE 'America/Chicago') AS month, count(*),
               count(*) FILTER (WHERE on_time), quantile_disc(days_to_close, 0.5)
        FROM cases WHERE closed_at >= $1 AND closed_at < $2 GROUP BY month ORDER BY month""",
                                      [trend_from, end]).fetchall()
    out["matrix"] = con.execute("""
        SELECT work_group, count(*), count(*) FILTER (WHERE on_time) FROM cases
        WHERE (closed_at >= $1 AND closed_at < $2) OR (closed_at >= $3 AND closed_at < $4) GROUP BY work_group""",
                                [start, end, before[0], before[1]]).fetchall()
    out["_seconds"] = (time.perf_counter() - began, time.process_time() - cpu)
    con.close()
    return out


def sql_path(name, deployment, start, end, now, expected, limit: float):
    """The figures straight from the database (``engine_figures`` on its engine), in a child process stopped
    after ``limit`` seconds; printed and returned: its seconds, or None when it was stopped."""
    import multiprocessing

    def child(answer):
        deployment.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
        seconds, found = timed(engine_figures, deployment, deployment.engine, start, end, now)
        answer.put((seconds, found == expected))

    context = multiprocessing.get_context("fork")
    answer = context.Queue()
    process = context.Process(target=child, args=(answer,))
    began = time.perf_counter()
    process.start()
    process.join(limit)
    if process.is_alive():
        process.kill()
        process.join()
        print(f"  SQL path, {name:<12} stopped at the bound, over {limit:.0f} s (--sql-limit)")
        return None
    seconds, same = answer.get(timeout=10) if process.exitcode == 0 else (time.perf_counter() - began, None)
    assert same, f"{name} and the analytics engine differ" if same is False else f"{name}: the SQL path failed"
    print(f"  SQL path, {name:<12} {seconds:.2f} s (same figures as the engine)")
    return seconds


def timed(function, *args):
    began = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - began, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3_500_000)
    parser.add_argument("--postgres", default=os.environ.get("CIVICCRM_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sql", action="store_true", help="Skip the SQL path on SQLite and PostgreSQL.")
    parser.add_argument("--sql-limit", type=float, default=1800.0,
                        help="Stop each SQL path after this many seconds and print that it was stopped (default 1800).")
    parser.add_argument("--cache", type=Path, help="Keep the synthetic rows and SQLite database here; reuse them.")
    parser.add_argument("--keep", type=Path, help="Keep the analytics copy (and the database without --cache) here.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from civiccrm.services.deployment import init_deployment
    from civiccrm.store.analytics import AnalyticsCopy

    folder = args.keep or Path(tempfile.mkdtemp(prefix="civiccrm-bench-reports-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict = {"cases": args.cases}
    from civiccrm.profiles import load_profile
    from civiccrm.services.deployment import find_city

    began = time.perf_counter()
    db, how = synthetic.sqlite_deployment(load_profile(find_city(synthetic.CITY)), args.cases, args.cache, folder)
    results["sqlite_load_s"] = time.perf_counter() - began
    print(f"{args.cases:,} synthetic cases on SQLite: {how} (not timed)")
    deployment = init_deployment(f"sqlite:///{db}", synthetic.CITY)
    profile, tz = deployment.profile, deployment.profile.tz

    start, end = inclusive_range("2020-06-01", "2020-06-30", tz)
    now = datetime(2020, 7, 1, 12, tzinfo=timezone.utc)
    copy = AnalyticsCopy(deployment.engine, folder / "analytics")
    results["sync_first_s"], _ = timed(copy.sync)
    results["sync_again_s"], _ = timed(copy.sync)
    print(f"analytics copy: first sync {results['sync_first_s']:.1f} s, again with nothing new "
          f"{results['sync_again_s']:.2f} s")
    (folder / "analytics" / "figures.json").unlink(missing_ok=True)  # this run's cache starts empty
    began = time.perf_counter()
    runs: dict = {}
    with copy.connect() as conn:
        results["engine_load_s"] = time.perf_counter() - began
        raw = conn.connection.driver_connection
        raw.execute("SET threads = 2")  # the baseline's, said explicitly
        cache = conn.info["figure_cache"]
        conn.info["figure_cache"] = None
        results["engine_uncached_s"], uncached = timed(engine_figures, deployment, conn, start, end, now,
                                                         runs.setdefault("uncached", {}))
        conn.info["figure_cache"] = cache
        results["engine_cold_s"], (figures, grids) = timed(engine_figures, deployment, conn, start, end, now,
                                                           runs.setdefault("cold", {}))
        results["cached_entries"] = len(cache.entries)
        results["engine_cached_s"], again = timed(engine_figures, deployment, conn, start, end, now,
                                                  runs.setdefault("cached", {}))
        # What a sync does when cases of the period's own month changed (here one opened on 10 June 2020 and
        # still open, so in the month's backlog too, and one opened and closed in June, so in the figures of the
        # cases closed in it, the fiscal year's percentiles among them): the cached figures whose scope holds
        # one of them are dropped.
        changed = ("SELECT TIMESTAMPTZ '2020-06-10 15:00:00+00' AS opened_at, "
                   "CAST(NULL AS TIMESTAMPTZ) AS closed_at, 'open' AS status UNION ALL "
                   "SELECT TIMESTAMPTZ '2020-06-03 15:00:00+00', TIMESTAMPTZ '2020-06-12 15:00:00+00', 'closed'")
        results["dropped_entries"] = len(cache.forget(raw, changed))
        results["engine_fresh_s"], fresh = timed(engine_figures, deployment, conn, start, end, now,
                                                 runs.setdefault("fresh", {}))
    assert uncached == again == fresh == (figures, grids), "cached figures differ from the computed ones"
    for label, clock in runs.items():
        for pack, (wall, cpu) in clock.items():
            results[f"engine_{pack}_{label}_s"], results[f"engine_{pack}_{label}_cpu_s"] = wall, cpu
    period = figures.period
    before = period.year_before()
    fiscal = ((figures.fiscal_ytd.start, figures.fiscal_ytd.end),
              (figures.fiscal_ytd.year_before().start, figures.fiscal_ytd.year_before().end))
    trend_from = datetime(2018, 6, 1, tzinfo=tz)
    base = handwritten(folder / "analytics", start, end, (before.start, before.end), fiscal, trend_from,
                       min(end, now), min(before.end, now))
    results["duckdb_handwritten_s"], results["duckdb_handwritten_cpu_s"] = base.pop("_seconds")
    opened = {row[0]: row[4] for row in base["groups_month"] if row[0] is not None}
    engine_opened = {g.key: g.opened for g in figures.volume["department"].current.groups if g.opened}
    assert {k: v for k, v in opened.items() if v} == engine_opened, "opened by department differs"
    assert [n for _, n in base["trend"]][-13:] == [m.opened for m in figures.trend], "trend differs"
    ages = {row[0]: tuple(row[1:]) for row in base["age_month"]}
    assert ages == {a.key: a.counts for a in figures.backlog_age.current}, "backlog age differs"
    repeats = {row[0]: (row[1], row[2]) for row in base["repeats_month"]}
    assert repeats == {r.area: (r.opened, r.repeats) for r in figures.repeats.current}, "repeats differ"
    ratio = results["engine_fresh_s"] / results["duckdb_handwritten_s"]
    results["engine_vs_handwritten"] = ratio
    print(f"KCStat figures + both 311 matrices, June 2020 over {args.cases:,} cases (DuckDB on 2 threads); "
          f"loading the copy into DuckDB's memory {results['engine_load_s']:.2f} s, once per connection:")
    names = {"uncached": "without the figure cache (baseline: every figure computed; warm, same connection)",
             "cold": f"figure cache empty (every figure computed and {results['cached_entries']} kept)",
             "cached": "every figure from the cache (nothing changed since)",
             "fresh": f"June 2020 fresh ({results['dropped_entries']} figures dropped as a sync does for "
                      "cases of June, open and closed; the past months from the cache): the target"}
    for label, name in names.items():
        print(f"  analytics engine, {name}:")
        for pack, title in (("kcstat", "KCStat pack"), ("matrix", "311 matrix (this month and a year before)")):
            print(f"    {title}: {results[f'engine_{pack}_{label}_s']:.2f} s "
                  f"({results[f'engine_{pack}_{label}_cpu_s']:.2f} CPU s)")
    print(f"  hand-written DuckDB     {results['duckdb_handwritten_s']:.2f} s "
          f"({results['duckdb_handwritten_cpu_s']:.2f} CPU s; baseline, same run, over the same in-memory table); "
          f"engine with June fresh = {ratio:.2f}x (target <= 3x); figures checked equal: opened by department, "
          "trend, backlog age, repeats; cached and computed figures equal")
    print(f"  KCStat pack with June fresh {results['engine_kcstat_fresh_s']:.2f} s against "
          f"{results['engine_kcstat_uncached_s']:.2f} s without the cache (target < 1 s)")

    if not args.no_sql:
        results["sqlite_s"] = sql_path("SQLite", deployment, start, end, now, (figures, grids), args.sql_limit)
        if args.postgres:
            import psycopg
            from psycopg import sql as psql

            name = f"bench_reports_{os.getpid()}"
            base_url = args.postgres.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(base_url, autocommit=True) as admin:
                admin.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(name)))
            try:
                from sqlalchemy.engine import make_url

                url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
                pg = init_deployment(url, synthetic.CITY)
                rows = synthetic.cases(profile, args.cases, args.cache)
                seconds = synthetic.load_postgres(
                    make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), rows)
                del rows
                print(f"  ({args.cases:,} cases copied into PostgreSQL, indexes built after, in {seconds:.1f} s, "
                      "not timed)")
                results["postgresql_s"] = sql_path("PostgreSQL", pg, start, end, now, (figures, grids),
                                                   args.sql_limit)
                pg.engine.dispose()
            finally:
                with psycopg.connect(base_url, autocommit=True) as admin:
                    admin.execute(psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psql.Identifier(name)))
    deployment.engine.dispose()
    if not args.keep:
        import shutil

        shutil.rmtree(folder)
    if args.json:
        print(json.dumps(results, indent=2))
    met = results["engine_kcstat_fresh_s"] < 1.0 and results["engine_matrix_fresh_s"] < 1.0 and ratio <= 3.0
    results["load_average"] = os.getloadavg()
    print(f"load average at the end {results['load_average'][0]:.1f} (1 min), {results['load_average'][1]:.1f} (5 min) "
          f"on {os.cpu_count()} cores: wall times on a busy machine are not an idle one's")
    print("targets met" if met else "target missed")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
