"""Benchmark: import all of Kansas City's open data (kc311) into a fresh SQLite database.

Compares `civiccrm import kcmo` (the project's import service) with a baseline
measured in the same run: the same rows, parsed by the same mapping reader
(``cities/kansas_city/mappings/kcmo.toml``; bench/mapped_baseline.py), inserted with
plain ``sqlite3`` ``executemany`` into the same ``cases`` table, one transaction per
batch, with the same pragmas (WAL, synchronous=FULL). The baseline is the floor: it
writes no history, computes no due time, does not look for cases already there and
maps no names to codes.

Each measurement runs in a subprocess of its own, so every process peak (maxrss) is
that measurement's alone. Python's peak (tracemalloc) is taken in separate runs,
because tracing slows the interpreter: the timed runs are not traced.

Usage: python bench/import.py [--data DIR] [--batch-size N] [--no-tracemalloc] [--json]
(``make bench`` runs it). Standard library and the project only.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "kc311"
TARGET_RATIO = 0.5
TARGET_PEAK_MB = 300
CITY = "kansas-city"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _files(data: Path) -> list[str]:
    files = sorted(str(p) for p in data.glob("*.csv"))
    if not files:
        sys.exit(f"bench: no CSV files in {data}")
    return files


# --- phases (each in its own process) -------------------------------------------


def phase_baseline(args) -> dict:
    """The same mapping reader, plain sqlite3 executemany (bench/mapped_baseline.py)."""
    from mapped_baseline import insert_parsed

    if args.tracemalloc:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = insert_parsed(args.db, args.files, batch_size=args.batch_size)
    result.update(seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu)
    if args.tracemalloc:
        result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def phase_civiccrm(args) -> dict:
    """`civiccrm import kcmo` through the import service, then the summary report over the result."""
    from civiccrm.services.deployment import open_deployment

    deployment = open_deployment(f"sqlite:///{args.db}")
    importer = deployment.registry.importers["kcmo"]  # a city plugin: Kansas City's deployment has it
    if args.tracemalloc:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = importer.run(deployment, args.files, batch_size=args.batch_size)
    result = {"rows": summary.read, "written": summary.imported + summary.updated + summary.unchanged,
              "rejected": summary.rejected, "seconds": time.perf_counter() - wall,
              "cpu_seconds": time.process_time() - cpu, "summary": summary.as_dict()}
    if args.tracemalloc:
        result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return result
    # A second pass over the same files: every case is found unchanged.
    wall = time.perf_counter()
    again = importer.run(deployment, args.files, batch_size=args.batch_size)
    result["reimport_seconds"] = time.perf_counter() - wall
    result["reimport_unchanged"] = again.unchanged
    result["report"] = _time_summary_report(deployment)
    return result


def _time_summary_report(deployment) -> dict:
    """Time civiccrm.metrics.summary over all the imported data (or say it is not there)."""
    try:
        from civiccrm.metrics.summary import summary
    except ImportError as exc:
        return {"available": False, "why": f"civiccrm.metrics.summary not importable ({exc})"}
    tz = deployment.profile.tz
    start, end = datetime(2007, 1, 1, tzinfo=tz), datetime(2021, 1, 1, tzinfo=tz)
    now = datetime.now(timezone.utc)
    timings = {}
    for by in (None, "department"):
        wall = time.perf_counter()
        summary(deployment.engine, start=start, end=end, by=by, now=now)
        timings["all" if by is None else f"by {by}"] = time.perf_counter() - wall
    return {"available": True, "seconds": timings, "period": "2007-01-01 to 2021-01-01"}


PHASES = {"baseline": phase_baseline, "civiccrm": phase_civiccrm}


# --- orchestration ------------------------------------------------------------------


def _init_db(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "civiccrm.cli", "--db", f"sqlite:///{path}", "init", "--city", CITY],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def _run_phase(name: str, db: Path, args, *, traced: bool) -> dict:
    command = [sys.executable, __file__, "--phase", name, "--db", str(db), "--batch-size", str(args.batch_size),
               "--data", str(args.data)]
    if traced:
        command.append("--tracemalloc")
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(name: str, workdir: Path, args) -> dict:
    db = workdir / f"{name}.db"
    _init_db(db)
    result = _run_phase(name, db, args, traced=False)
    result["db_mb"] = sum(p.stat().st_size for p in workdir.glob(f"{name}.db*")) / 2**20
    if args.measure_peak:
        traced_db = workdir / f"{name}-traced.db"
        _init_db(traced_db)
        result["python_peak_mb"] = _run_phase(name, traced_db, args, traced=True)["python_peak_mb"]
    return result


def _table(base: dict, ours: dict, args) -> str:
    def rate(r, key="seconds"):
        return r["written"] / r[key] if r[key] else float("nan")

    def mb(value):
        return "-" if value is None else f"{value:,.0f} MB"

    lines = [
        f"KC 311 import: {ours['rows']:,} rows from {len(_files(args.data))} files, SQLite, batches of {args.batch_size}",
        "",
        f"{'':22} {'cases/s':>9} {'seconds':>8} {'cpu s':>7} {'cases/cpu s':>12} {'peak Python':>12} {'peak process':>13}",
    ]
    for label, r in (("baseline (sqlite3)", base), ("civiccrm import kcmo", ours)):
        lines.append(f"{label:22} {rate(r):>9,.0f} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} "
                     f"{rate(r, 'cpu_seconds'):>12,.0f} {mb(r.get('python_peak_mb')):>12} {mb(r['maxrss_mb']):>13}")
    ratio = rate(ours) / rate(base)
    cpu_ratio = rate(ours, "cpu_seconds") / rate(base, "cpu_seconds")
    lines += [
        "",
        f"rate: {ratio:.2f} of the baseline (cpu time: {cpu_ratio:.2f}); target >= {TARGET_RATIO:.2f}: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}",
        f"peak process memory: {ours['maxrss_mb']:,.0f} MB; target < {TARGET_PEAK_MB} MB: "
        f"{'met' if ours['maxrss_mb'] < TARGET_PEAK_MB else 'NOT met'}",
        f"rejected rows: {ours['rejected']}; database: {ours['db_mb']:,.0f} MB (baseline {base['db_mb']:,.0f} MB, "
        "no history)",
    ]
    if "reimport_seconds" in ours:
        lines.append(f"re-import (all {ours['reimport_unchanged']:,} unchanged): {ours['reimport_seconds']:.2f} s")
    report = ours.get("report") or {}
    if report.get("available"):
        parts = ", ".join(f"{k} {v:.3f} s" for k, v in report["seconds"].items())
        lines.append(f"summary report over {ours['written']:,} cases ({report['period']}): {parts}")
    else:
        lines.append("summary: not available" + (f" ({report['why']})" if report.get("why") else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of KC 311 CSV files")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--no-tracemalloc", dest="measure_peak", action="store_false",
                        help="skip the traced runs that measure Python's peak")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.files = _files(args.data)

    if args.phase:  # inside a measuring subprocess
        result = PHASES[args.phase](args)
        result["maxrss_mb"] = _maxrss_mb()
        print(json.dumps(result))
        return 0

    print(f"bench: importing {len(args.files)} files from {args.data} (about a minute)...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="civiccrm-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for old in workdir.glob("*.db*"):
            old.unlink()
        base = _measure("baseline", workdir, args)
        ours = _measure("civiccrm", workdir, args)
    if args.json:
        print(json.dumps({"baseline": base, "civiccrm": ours}, indent=2, default=str))
    else:
        print(_table(base, ours, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
