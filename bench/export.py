"""Benchmark: open-data export and mapped import, each beside a baseline measured in the same run.

Export: 3,500,000 cases in a SQLite database (made once, kept in var/ with --keep) are
written by ``civiccrm export cases`` to each format, and by DuckDB ``COPY`` of the same
rows (the same columns, read from the same database through DuckDB's sqlite extension)
to the same format: CSV, Parquet, GeoJSON (DuckDB: the spatial extension's GDAL writer)
and the Open311 bulk CSV (DuckDB: CSV of the same columns). Rate = cases per second;
peak = the process's maximum resident memory (each measurement is its own subprocess).
Targets: at least 0.5 of DuckDB's rate, peak under 300 MB.

Import: a 1,000,000-row Kansas City-format CSV (the kc311 rows repeated with fresh case
ids) imported by ``civiccrm import csv --mapping kcmo`` into a fresh database, beside plain
``sqlite3`` ``executemany`` of the same rows parsed by the same mapping reader into the same
``cases`` table (no history, no due times, no look-up of existing cases). Target: 0.5 of
the baseline's rate.

Usage: python bench/export.py [--cases N] [--rows N] [--formats csv,parquet,...] [--keep] [--json]
(``make bench-export``).
"""

import argparse
import csv
import glob
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
KC_DATA = ROOT.parent / "shared" / "data" / "kc311"
CITY = "kansas-city"
TARGET_RATIO = 0.5
TARGET_PEAK_MB = 300
FORMATS = ("csv", "parquet", "geojson", "open311-bulk")


def _maxrss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    over from the parent through fork and exec, so every phase would report the orchestrator's peak."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the stored cases --------------------------------------------------------------


def _init(db: Path) -> None:
    subprocess.run([sys.executable, "-m", "civiccrm.cli", "--db", f"sqlite:///{db}", "init", "--city", CITY],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def make_cases(db: Path, count: int) -> None:
    """``count`` synthetic cases of the Kansas City profile, written straight into ``cases`` by SQLite.

    The rows are made by one INSERT ... SELECT over a recursive counter per 500,000 cases (no
    Python per row: 3,500,000 cases take minutes, not the hour a Python loop took on a busy
    machine). Types and channels cycle through the profile's; opening times are spread over
    five years by a multiplicative hash of the row number, 9 in 10 cases are closed 1-720
    hours later. The secondary indexes and the no-replace trigger are dropped for the load
    and put back after it, as they were.
    """
    from civiccrm.profiles import load_profile
    from civiccrm.services.deployment import find_city

    _init(db)
    profile = load_profile(find_city(CITY))
    types = list(profile.taxonomy.service_types.values())
    channels = list(profile.channels)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    kept = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'cases' "
                        "AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()
    for kind, name, _ in kept:
        conn.execute(f'DROP {kind.upper()} "{name}"')
    conn.execute("CREATE TEMP TABLE t (n INTEGER PRIMARY KEY, code, name, category, department, work_group, days)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(n, st.code, st.name, st.category, st.department, st.work_group, float(st.sla_target))
                      for n, st in enumerate(types)])
    conn.execute("CREATE TEMP TABLE ch (n INTEGER PRIMARY KEY, channel)")
    conn.executemany("INSERT INTO ch VALUES (?, ?)", list(enumerate(channels)))
    stamp = "strftime('%Y-%m-%d %H:%M:%S', {}) || '.000000'"
    insert = f"""
        WITH RECURSIVE k(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?),
        g AS (SELECT i, julianday('2019-01-01') + ((i * 2654435761) % 157680000) / 86400.0 AS opened,
                     CASE WHEN i % 10 THEN (i * 40503) % 719 + 1 END AS hours FROM k)
        INSERT INTO cases (tracking_number, service_code, request_type, category, department, work_group, channel,
                           description, address, latitude, longitude, zip_code, council_district, status,
                           resolution, opened_at, updated_at, due_at, closed_at, days_to_close, on_time, origin,
                           sla_paused_seconds, sla_level, sla_response_level)
        SELECT 'KC-' || strftime('%Y', g.opened) || '-' || printf('%07d', g.i), t.code, t.name, t.category,
               t.department, t.work_group, ch.channel, 'Synthetic case ' || g.i, (g.i % 9000 + 100) || ' Main St',
               39.0 + ((g.i * 7919) % 10007) / 10007.0 * 0.3, -94.7 + ((g.i * 104729) % 10009) / 10009.0 * 0.3,
               '641' || printf('%02d', g.i % 100), CAST(g.i % 6 + 1 AS TEXT),
               CASE WHEN g.hours IS NULL THEN 'open' ELSE 'closed' END,
               CASE WHEN g.hours IS NULL THEN NULL ELSE 'fixed' END,
               {stamp.format('g.opened')}, {stamp.format('g.opened + coalesce(g.hours, 0) / 24.0')},
               {stamp.format('g.opened + t.days')},
               CASE WHEN g.hours IS NOT NULL THEN {stamp.format('g.opened + g.hours / 24.0')} END,
               g.hours / 24.0, CASE WHEN g.hours IS NOT NULL THEN g.hours / 24.0 <= t.days END, 'intake', 0.0, 0, 0
        FROM g JOIN t ON t.n = g.i % {len(types)} JOIN ch ON ch.n = g.i % {len(channels)}
        ORDER BY g.i"""
    for first in range(0, count, 500_000):
        conn.execute("BEGIN")
        conn.execute(insert, (first, min(first + 500_000, count)))
        conn.execute("COMMIT")
    for _, _, sql in kept:
        conn.execute(sql)
    conn.close()


def stored_cases(db: Path) -> int:
    if not db.exists():
        return -1
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


# --- export phases (each in its own process) ------------------------------------


def phase_civiccrm_export(args) -> dict:
    from civiccrm.services.deployment import open_deployment
    from civiccrm.services.export import export_cases

    deployment = open_deployment(f"sqlite:///{args.db}")
    wall, cpu = time.perf_counter(), time.process_time()
    summary = export_cases(deployment, fmt=args.format, out=args.out)
    return {"cases": summary.cases, "seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
            "peak_mb": _maxrss_mb(), "bytes": os.path.getsize(args.out)}


def _duckdb_extension(con, package: str, name: str) -> None:
    """Load a DuckDB extension shipped in a PyPI package (nothing is downloaded at run time)."""
    import importlib

    folder = Path(importlib.import_module(package).__file__).parent
    found = glob.glob(str(folder / "extensions" / "*" / "*.duckdb_extension"))
    if not found:
        raise SystemExit(f"bench: {package} holds no extension")
    link = Path(tempfile.mkdtemp()) / f"{name}.duckdb_extension"  # the entry point is named after the file
    link.symlink_to(found[0])
    con.execute(f"LOAD '{link}'")


def phase_duckdb_export(args) -> dict:
    import duckdb

    from civiccrm.services.export import COLUMNS, OPEN311_COLUMNS

    con = duckdb.connect()
    _duckdb_extension(con, "duckdb_extension_sqlite", "sqlite_scanner")
    if args.format == "geojson":
        _duckdb_extension(con, "duckdb_extension_spatial", "spatial")
    con.execute(f"ATTACH '{args.db}' AS s (TYPE sqlite, READ_ONLY)")
    columns = OPEN311_COLUMNS if args.format == "open311-bulk" else COLUMNS
    select = ", ".join(f'{c.source} AS "{c.name}"' for c in columns)
    query = f"SELECT {select} FROM s.cases ORDER BY id"
    target = {"csv": "(HEADER)", "open311-bulk": "(HEADER)", "parquet": "(FORMAT parquet, COMPRESSION zstd)",
              "geojson": "(FORMAT gdal, DRIVER 'GeoJSON')"}[args.format]
    if args.format == "geojson":
        query = f"SELECT *, ST_Point(longitude, latitude) AS geom FROM ({query})"
    wall, cpu = time.perf_counter(), time.process_time()
    con.execute(f"COPY ({query}) TO '{args.out}' {target}")
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    cases = con.execute("SELECT count(*) FROM s.cases").fetchone()[0]
    return {"cases": cases, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": _maxrss_mb(),
            "bytes": os.path.getsize(args.out)}


# --- import phases -----------------------------------------------------------------


def make_import_csv(path: Path, rows: int) -> None:
    """``rows`` rows of the Kansas City export: the kc311 rows over and over, with fresh case ids."""
    files = sorted(KC_DATA.glob("*.csv"))
    if not files:
        raise SystemExit(f"bench: no kc311 CSV files in {KC_DATA}")
    written = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = None
        while written < rows:
            for f in files:
                with f.open(newline="", encoding="utf-8", errors="replace") as fh:
                    reader = csv.reader(fh)
                    header = next(reader)
                    if writer is None:
                        writer = csv.writer(out)
                        writer.writerow(header[:30])
                    for row in reader:
                        if written >= rows:
                            return
                        row = row[:30]
                        row[0] = str(3_000_000_000 + written)
                        writer.writerow(row)
                        written += 1


def phase_civiccrm_import(args) -> dict:
    from civiccrm.services import csv_import
    from civiccrm.services.deployment import open_deployment

    deployment = open_deployment(f"sqlite:///{args.db}")
    wall = time.perf_counter()
    summary = csv_import.run(deployment, [args.csv], mapping="kcmo", batch_size=1000)
    return {"rows": summary.read, "written": summary.imported, "rejected": summary.rejected,
            "seconds": time.perf_counter() - wall, "peak_mb": _maxrss_mb()}


def phase_baseline_import(args) -> dict:
    """The same rows, parsed by the same mapping reader, inserted with plain sqlite3 executemany."""
    from mapped_baseline import insert_parsed

    wall = time.perf_counter()
    result = insert_parsed(args.db, [args.csv], batch_size=1000)
    return {**result, "seconds": time.perf_counter() - wall, "peak_mb": _maxrss_mb()}


PHASES = {"civiccrm-export": phase_civiccrm_export, "duckdb-export": phase_duckdb_export,
          "civiccrm-import": phase_civiccrm_import, "baseline-import": phase_baseline_import}


def _run(phase: str, **kwargs) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase]
    for key, value in kwargs.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3_500_000, help="cases stored for the export")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the mapped import")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--keep", action="store_true", help="keep var/bench-export.db for the next run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0

    VAR.mkdir(exist_ok=True)
    db = VAR / "bench-export.db"
    if stored_cases(db) != args.cases:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        print(f"making {args.cases:,} cases in {db} ...", file=sys.stderr)
        make_cases(db, args.cases)
    results = {"export": {}, "import": {}}
    ok = True
    lines = [f"export of {args.cases:,} cases (SQLite), each format beside DuckDB COPY of the same rows",
             f"{'format':<14}{'civiccrm/s':>12}{'peak MB':>9}{'duckdb/s':>12}{'peak MB':>9}{'ratio':>7}  target"]
    with tempfile.TemporaryDirectory() as work:
        for fmt in [f for f in args.formats.split(",") if f]:
            ours = _run("civiccrm-export", db=db, format=fmt, out=Path(work) / f"ours.{fmt}")
            theirs = _run("duckdb-export", db=db, format=fmt, out=Path(work) / f"duckdb.{fmt}")
            ratio = (ours["cases"] / ours["seconds"]) / (theirs["cases"] / theirs["seconds"])
            met = ratio >= TARGET_RATIO and ours["peak_mb"] < TARGET_PEAK_MB
            ok &= met
            results["export"][fmt] = {"civiccrm": ours, "duckdb": theirs, "ratio": ratio, "met": met}
            lines.append(f"{fmt:<14}{ours['cases'] / ours['seconds']:>12,.0f}{ours['peak_mb']:>9.0f}"
                         f"{theirs['cases'] / theirs['seconds']:>12,.0f}{theirs['peak_mb']:>9.0f}{ratio:>7.2f}  "
                         f"{'met' if met else 'MISSED'} (>= {TARGET_RATIO}, < {TARGET_PEAK_MB} MB)")
        if args.rows:
            data = Path(work) / "kc-1m.csv"
            make_import_csv(data, args.rows)
            ours_db, base_db = Path(work) / "ours.db", Path(work) / "base.db"
            _init(ours_db)
            _init(base_db)
            ours = _run("civiccrm-import", db=ours_db, csv=data)
            base = _run("baseline-import", db=base_db, csv=data)
            ratio = (ours["rows"] / ours["seconds"]) / (base["rows"] / base["seconds"])
            met = ratio >= TARGET_RATIO
            ok &= met
            results["import"] = {"civiccrm": ours, "baseline": base, "ratio": ratio, "met": met}
            lines += ["", f"mapped import of {args.rows:,} rows (import csv --mapping kcmo) beside sqlite3 executemany",
                      f"  civiccrm {ours['rows'] / ours['seconds']:,.0f} rows/s ({ours['seconds']:.1f} s, "
                      f"peak {ours['peak_mb']:.0f} MB; {ours['written']:,} written, {ours['rejected']} rejected)",
                      f"  baseline {base['rows'] / base['seconds']:,.0f} rows/s ({base['seconds']:.1f} s, "
                      f"peak {base['peak_mb']:.0f} MB)",
                      f"  ratio {ratio:.2f}  {'met' if met else 'MISSED'} (>= {TARGET_RATIO})"]
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    print(json.dumps(results, indent=2, default=str) if args.json else "\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
