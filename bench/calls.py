"""Benchmark: import and report over 10,000,000 call records beside DuckDB; staffing for 336 half-hours.

Usage: .venv/bin/python bench/calls.py [--calls N] [--db URL] [--keep]

1. Synthetic calls: one year of Kansas City-sized calls from the generator
   (civiccrm/domain/callgen.py, a real first-come-first-served queue with abandonment),
   repeated year after year (shifted by 52 weeks, so weekdays stay) up to N records, written
   once to a generic-format CSV under var/bench/ (reused by later runs of the same N).
2. Import: `civiccrm.services.calls.import_calls` into a fresh SQLite database, beside DuckDB
   loading the same CSV (read_csv into a table) in the same run.
3. Report: `civiccrm.metrics.calls.call_report` by weekday over every year, beside DuckDB
   computing the same figures from the same file; the figures must be identical.
4. Staffing: the 336 half-hours of a week with Erlang C and with Erlang A
   (`civiccrm.domain.staffing.plan`, vectorised bisection), beside a per-half-hour loop of
   the textbook method (Erlang B recursion, adding one agent at a time) for Erlang C.
   Target: under one second.
"""

import argparse
import csv
import math
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from civiccrm.domain import staffing
from civiccrm.domain.callgen import GENERIC_HEADER, CallPattern, generate_calls
from civiccrm.metrics.calls import call_report, week_totals
from civiccrm.services.calls import import_calls
from civiccrm.services.deployment import init_deployment

ROOT = Path(__file__).resolve().parents[1]
SHORT, WITHIN = 5.0, 20.0
START = date(2001, 1, 1)  # a Monday


def write_calls(path: Path, n: int) -> None:
    """N calls: the first year simulated, later years the same calls 52 weeks on."""
    year = list(generate_calls(CallPattern(), start=START, days=364, timezone="America/Chicago", seed=1))
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(GENERIC_HEADER)
        shift = 0
        while written < n:
            for row in year:
                if written >= n:
                    break
                started = datetime.fromisoformat(row["started_at"]) + timedelta(weeks=52 * shift)
                out.writerow((f"{row['call_id']}-{shift}", row["queue"], started.isoformat(), row["outcome"],
                              row["wait_seconds"], row["talk_seconds"], row["hold_seconds"], row["acw_seconds"],
                              row["wrap_up"], row["agent"], row["caller"], row["case_number"]))
                written += 1
            shift += 1


def duckdb_figures(con) -> dict:
    """By weekday: offered, handled, abandoned, answered within T, total wait and handle time."""
    rows = con.execute(f"""
        SELECT isodow(timezone('America/Chicago', started_at)) - 1 AS d,
               SUM(CASE WHEN outcome = 'abandoned' AND wait_seconds < {SHORT} THEN 0 ELSE 1 END),
               SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END),
               SUM(CASE WHEN outcome = 'abandoned' AND wait_seconds >= {SHORT} THEN 1 ELSE 0 END),
               SUM(CASE WHEN outcome = 'answered' AND wait_seconds <= {WITHIN} THEN 1 ELSE 0 END),
               SUM(CASE WHEN outcome = 'answered' THEN wait_seconds ELSE 0 END),
               SUM(CASE WHEN outcome = 'answered' THEN talk_seconds + hold_seconds + acw_seconds ELSE 0 END)
        FROM calls GROUP BY d ORDER BY d""").fetchall()
    return {int(d): (int(o), int(h), int(a), int(w), float(ws), float(hs)) for d, o, h, a, w, ws, hs in rows}


PERCENTILES = {"p10": (1, 10), "p25": (1, 4), "median": (1, 2), "p75": (3, 4), "p90": (9, 10)}


def duckdb_wrap_ups(con) -> dict:
    """Per wrap-up code of handled calls: count, with a case, mean talk, nearest-rank percentiles."""
    picks = ", ".join(f"talks[({num} * n + {den - 1}) // {den}]" for num, den in PERCENTILES.values())
    rows = con.execute(f"""
        SELECT code, n, with_case, mean, {picks} FROM (
            SELECT coalesce(wrap_up, '(no code)') AS code, count(*) AS n, count(case_number) AS with_case,
                   avg(coalesce(talk_seconds, 0)) AS mean, list_sort(list(coalesce(talk_seconds, 0))) AS talks
            FROM calls WHERE outcome = 'answered' GROUP BY 1)""").fetchall()
    return {r[0]: (int(r[1]), int(r[2]), float(r[3]), tuple(float(v) for v in r[4:])) for r in rows}


def duckdb_first_contact(con, days: float) -> tuple[int, int]:
    """(resolved, eligible): handled calls with a number and a code not followed within DAYS by
    another call from the same number (last ten digits) about the same code."""
    row = con.execute(f"""
        SELECT sum(CASE WHEN next IS NULL OR next - epoch > {days * 86400} THEN 1 ELSE 0 END), count(*) FROM (
            SELECT outcome, epoch, lead(epoch) OVER (PARTITION BY number, wrap_up ORDER BY epoch) AS next FROM (
                SELECT outcome, wrap_up, floor(epoch(started_at))::BIGINT AS epoch,
                       right(regexp_replace(caller, '[^0-9]', '', 'g'), 10) AS number FROM calls)
            WHERE number <> '' AND wrap_up IS NOT NULL)
        WHERE outcome = 'answered'""").fetchone()
    return int(row[0] or 0), int(row[1])


def duckdb_case_calls(con) -> tuple[int, int]:
    return tuple(int(v) for v in con.execute("SELECT count(case_number), count(DISTINCT case_number) FROM calls").fetchone())


def civic_figures(report) -> dict:
    return {int(g.key): (g.offered, g.handled, g.abandoned, g.answered_within_t, g.wait_seconds, g.handle_seconds)
            for g in report.groups}


def civic_wrap_ups(report) -> dict:
    return {w.code: (w.handled, w.with_case, w.talk_mean, tuple(float(w.talk_percentiles[k]) for k in PERCENTILES))
            for w in report.wrap_ups}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        x[:4] == y[:4] and all(math.isclose(u, v, rel_tol=1e-9) for u, v in zip(x[4:], y[4:]))
        for x, y in ((a[k], b[k]) for k in a))


def same_wrap_ups(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        x[:2] == y[:2] and math.isclose(x[2], y[2], rel_tol=1e-9) and x[3] == y[3] for x, y in ((a[k], b[k]) for k in a))


def differences(label: str, ours, theirs) -> None:
    """Print both sides of figures that disagree, loudly."""
    print(f"FIGURES DIFFER ({label}):", file=sys.stderr)
    print(f"  civiccrm: {ours}", file=sys.stderr)
    print(f"  DuckDB:   {theirs}", file=sys.stderr)


def textbook_agents(rate_per_hour: float, aht: float, level: float, within: float) -> int:
    """One interval the way a spreadsheet does it: add an agent until Erlang C meets the goal."""
    load = rate_per_hour * aht / 3600.0
    if load <= 0:
        return 0
    n = max(1, math.floor(load) + 1)
    while True:
        inverse_b = 1.0
        for k in range(1, n + 1):
            inverse_b = 1.0 + inverse_b * k / load
        b = 1.0 / inverse_b
        c = n * b / (n - load * (1 - b))
        if 1 - c * math.exp(-(n - load) * within / aht) >= level:
            return n
        n += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary folder)")
    parser.add_argument("--batch-size", type=int, default=20_000)
    args = parser.parse_args(argv)
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"calls-{args.calls}.csv"
    if not path.exists():
        started = time.perf_counter()
        write_calls(path, args.calls)
        print(f"wrote {args.calls:,} synthetic calls to {path} in {time.perf_counter() - started:.0f} s")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        deployment = init_deployment(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}", "kansas-city")
        errors = []
        started = time.perf_counter()
        summary = import_calls(deployment, [str(path)], "generic", batch_size=args.batch_size, on_error=errors.append)
        civic_import = time.perf_counter() - started
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        started = time.perf_counter()
        con.execute(f"CREATE TABLE calls AS SELECT * FROM read_csv('{path}', header=true, "
                    "types={'started_at': 'TIMESTAMPTZ', 'wait_seconds': 'DOUBLE', 'talk_seconds': 'DOUBLE', "
                    "'hold_seconds': 'DOUBLE', 'acw_seconds': 'DOUBLE', 'caller': 'VARCHAR', 'case_number': 'VARCHAR', "
                    "'wrap_up': 'VARCHAR', 'call_id': 'VARCHAR'})")
        duck_import = time.perf_counter() - started
        print(f"import   civiccrm (SQLite): {civic_import:8.1f} s  {summary.new / civic_import:10,.0f} calls/s  "
              f"({summary.new:,} stored, {len(errors)} rejected)")
        print(f"         DuckDB read_csv:   {duck_import:8.1f} s  {args.calls / duck_import:10,.0f} calls/s  (baseline)")

        # the report's period is every stored call: up to the last local date in the file
        last = con.execute("SELECT max(timezone('America/Chicago', started_at))::DATE FROM calls").fetchone()[0]
        started = time.perf_counter()
        report = call_report(deployment.engine, start=START, end=last, by="weekday", short_abandon_seconds=SHORT,
                             service_level_seconds=WITHIN, first_contact_days=7)
        civic_report = time.perf_counter() - started
        started = time.perf_counter()
        duck = duckdb_figures(con)
        duck_wraps = duckdb_wrap_ups(con)
        duck_fcr = duckdb_first_contact(con, 7)
        duck_cases = duckdb_case_calls(con)
        duck_report = time.perf_counter() - started
        checks = (
            ("by weekday", civic_figures(report), duck, same),
            ("wrap-up codes", civic_wrap_ups(report), duck_wraps, same_wrap_ups),
            ("first-contact resolution", (report.fcr_resolved, report.fcr_eligible), duck_fcr, tuple.__eq__),
            ("calls per case", (report.case_calls, report.cases), duck_cases, tuple.__eq__),
        )
        identical = True
        for label, ours, theirs, equal in checks:
            if not equal(ours, theirs):
                identical = False
                differences(label, ours, theirs)
        ok &= identical
        print(f"report   civiccrm by weekday, wrap-ups, FCR, calls per case: {civic_report:8.1f} s")
        print(f"         DuckDB, the same figures from the CSV:           {duck_report:8.1f} s (baseline)")
        print(f"         figures identical: {identical}")
        t = report.total
        print(f"         civiccrm: offered {t.offered:,}, handled {t.handled:,}, abandoned {t.abandoned:,} "
              f"({100 * t.abandonment_rate:.2f}%), SL {100 * t.service_level:.2f}%, ASA {t.asa_seconds:.2f} s, "
              f"AHT {t.aht_seconds:.2f} s (T = {WITHIN:g} s, short abandon < {SHORT:g} s); FCR "
              f"{report.fcr_resolved:,}/{report.fcr_eligible:,}; {len(report.wrap_ups)} wrap-up codes; "
              f"calls per case {report.case_calls:,}/{report.cases:,}")
        d = [sum(v[i] for v in duck.values()) for i in range(6)]
        print(f"         DuckDB:   offered {d[0]:,}, handled {d[1]:,}, abandoned {d[2]:,} "
              f"({100 * d[2] / d[0]:.2f}%), SL {100 * d[3] / d[0]:.2f}%, ASA {d[4] / d[1]:.2f} s, "
              f"AHT {d[5] / d[1]:.2f} s; FCR {duck_fcr[0]:,}/{duck_fcr[1]:,}; {len(duck_wraps)} wrap-up codes; "
              f"calls per case {duck_cases[0]:,}/{duck_cases[1]:,}")

        totals = week_totals(deployment.engine, start=START, end=last, short_abandon_seconds=SHORT)
        patience = staffing.estimate_patience(abandoned=totals.abandoned, offered_wait_seconds=totals.offered_wait_seconds)
        times = {}
        for label, model_patience in (("Erlang C", None), ("Erlang A", patience)):
            started = time.perf_counter()
            plan = staffing.plan(offered=totals.offered, handled=totals.handled, handle_seconds=totals.handle_seconds,
                                 days_of_weekday=totals.days_of_weekday, level=0.8, within_seconds=WITHIN,
                                 shrinkage=0.3, calls_per_agent_hour=12, patience_seconds=model_patience)
            times[label] = time.perf_counter() - started
            if label == "Erlang C":
                erlang_c_agents = plan.agents
        started = time.perf_counter()
        loop = np.array([[textbook_agents(plan.arrivals_per_hour[d][s], plan.aht_seconds[d][s] or 1, 0.8, WITHIN)
                          for s in range(48)] for d in range(7)])
        loop_time = time.perf_counter() - started
        agree = bool(np.array_equal(loop, erlang_c_agents))
        ok &= agree and max(times.values()) < 1.0
        for label, seconds in times.items():
            print(f"staffing 336 half-hours, {label}: {seconds * 1000:7.1f} ms (target < 1000 ms)")
        print(f"         per-half-hour textbook loop (Erlang C): {loop_time * 1000:7.1f} ms (baseline); same agents: {agree}")
        print(f"         estimated patience {patience:.0f} s (generator: 150 s)")
        con.close()
        deployment.engine.dispose()
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB "
          "(civiccrm and DuckDB together)")
    if not ok:
        print("bench/calls: FAILED (figures differ, staffing over one second, or agents differ: see above)",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
