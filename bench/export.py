"""Benchmark: open-data export and mapped import, each beside a baseline measured in the same run.

Export: 3,500,000 synthetic cases (``bench/synthetic.py``, the same as bench/reports.py's) in
a SQLite Kansas City deployment (loaded with the indexes built after the rows; with ``--cache
DIR`` kept there as ``cases-N.db`` and reused, as bench/reports.py does) are written by ``civiccrm export cases`` to each format, and by DuckDB ``COPY`` of the same
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

Usage: python bench/export.py [--cases N] [--rows N] [--formats csv,parquet,...] [--cache DIR] [--json]
(``make bench-export``).
"""

import argparse
import csv
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import synthetic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
VAR = ROOT / "var"
KC_DATA = ROOT.parent / "shared" / "data" / "kc311"
CITY = synthetic.CITY
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
    parser.add_argument("--cache", type=Path, help="keep the cases' database and the import CSV here; reuse them")
    parser.add_argument("--keep", action="store_true", help="the same as --cache var")
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

    from civiccrm.profiles import load_profile
    from civiccrm.services.deployment import find_city

    cache = args.cache or (VAR if args.keep else None)
    work = Path(tempfile.mkdtemp(prefix="civiccrm-bench-export-"))
    db, how = synthetic.sqlite_deployment(load_profile(find_city(CITY)), args.cases, cache, work)
    print(f"{args.cases:,} synthetic cases on SQLite: {how} (not timed)", file=sys.stderr)
    results = {"export": {}, "import": {}}
    ok = True
    lines = [f"export of {args.cases:,} cases (SQLite), each format beside DuckDB COPY of the same rows",
             f"{'format':<14}{'civiccrm/s':>12}{'peak MB':>9}{'duckdb/s':>12}{'peak MB':>9}{'ratio':>7}  target"]
    try:
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
            data = (cache or work) / f"kc-import-{args.rows}.csv"
            if not data.is_file():
                partial = data.with_suffix(".csv.part")
                make_import_csv(partial, args.rows)
                partial.replace(data)
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
    finally:
        shutil.rmtree(work)
    results["load_average"] = os.getloadavg()
    lines.append(f"load average at the end {results['load_average'][0]:.1f} (1 min), "
                 f"{results['load_average'][1]:.1f} (5 min) on {os.cpu_count()} cores")
    print(json.dumps(results, indent=2, default=str) if args.json else "\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
