"""Benchmark the SLA engine: business-hours due dates for many cases, beside pandas.

    .venv/bin/python bench/sla.py [--cases 1000000] [--pandas-sample 20000] [--stored 1000000] [--db URL] [--json]

1. Due dates: ``--cases`` synthetic cases (opened at random instants 2015-2025,
   targets of 4, 8, 16, 24, 40 or 80 business hours) on a crew calendar, Monday to
   Friday 08:00-17:00 in America/Chicago less US federal holidays: the calendar
   pandas' ``CustomBusinessHour`` can express. CivicCRM's engine
   (``civiccrm.domain.sla.due_epochs``, one ``searchsorted`` per case) is timed on all
   of them, cold (calendar timeline built inside the timing) and warm.
2. pandas: the same arithmetic with ``Timestamp + CustomBusinessHour(n)`` on local wall
   times, measured in the same run on the first ``--pandas-sample`` cases (pandas does
   this one timestamp at a time, so the full million would take minutes); its rate is
   per case and the time for all cases is scaled from the sample, and said so. The
   two engines' answers are compared on the sample.
3. Stored recompute: ``--stored`` open cases inserted into a Kansas City deployment
   (SQLite in a temporary folder, or ``--db``), held to a business-hours policy, then
   ``civiccrm.services.sla.recompute`` (what ``civiccrm sla recompute`` runs) times a
   full recompute that moves every due date (the worst case: every row is written).
4. Breach scan: ``--scan`` open cases stored (half past due, a quarter due within the
   warning window, a quarter later), then ``civiccrm.services.sla.scan`` (what ``civiccrm
   sla scan`` runs) escalates them. Baseline in the same run, on the same rows: the
   database's own floor for that work, every event written by one ``INSERT ... SELECT``
   and every level by one ``UPDATE``, in a transaction rolled back before the scan.
"""

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from civiccrm.domain.calendar import BusinessCalendar, HolidaySet, tz_offsets  # noqa: E402
from civiccrm.domain.sla import SlaPolicy, due_epochs  # noqa: E402

TARGETS = (4, 8, 16, 24, 40, 80)
START = datetime(2015, 1, 1, tzinfo=timezone.utc).timestamp()
END = datetime(2025, 12, 31, tzinfo=timezone.utc).timestamp()


def crew_calendar() -> BusinessCalendar:
    from datetime import time as t

    day = ((t(8), t(17)),)
    return BusinessCalendar(code="crew", name="Crew", timezone="America/Chicago", hours=(day,) * 5 + ((), ()),
                            holidays=HolidaySet(country="US"))


def synthetic(n: int, seed: int = 2026):
    rng = np.random.default_rng(seed)
    opened = np.floor(rng.uniform(START, END, n))
    targets = rng.choice(np.array(TARGETS), n)
    return opened, targets


def civiccrm_due(calendar, opened, targets):
    due = np.empty_like(opened)
    for target in TARGETS:
        mask = targets == target
        policy = SlaPolicy(service_code="x", target=float(target), basis="business_hours", calendar=calendar.code)
        due[mask] = due_epochs(policy, calendar, opened[mask])
    return due


def pandas_due(calendar, opened, targets):
    """Local wall-clock due times from pandas' CustomBusinessHour, one timestamp at a time."""
    import pandas as pd

    years = range(2014, 2028)
    holidays = sorted(d for d in calendar.holidays.for_years(list(years)).keys())
    offsets = {n: pd.offsets.CustomBusinessHour(n=int(n), start="08:00", end="17:00", weekmask="Mon Tue Wed Thu Fri",
                                                holidays=holidays) for n in TARGETS}
    walls = pd.to_datetime(opened, unit="s", utc=True).tz_convert("America/Chicago").tz_localize(None)
    return [ts + offsets[int(n)] for ts, n in zip(walls, targets)]


def bench_due(n: int, sample: int) -> dict:
    opened, targets = synthetic(n)
    calendar = crew_calendar()
    t0 = time.perf_counter()
    civiccrm_due(calendar, opened, targets)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = civiccrm_due(calendar, opened, targets)
    warm = time.perf_counter() - t0

    k = min(sample, n)
    t0 = time.perf_counter()
    theirs = pandas_due(calendar, opened[:k], targets[:k])
    pandas_s = time.perf_counter() - t0
    offsets = tz_offsets(calendar.tz)
    ours_wall = offsets.local(ours[:k])
    theirs_wall = np.array([ts.value / 1e9 for ts in theirs])
    agree = int(np.sum(np.abs(ours_wall - theirs_wall) < 1e-3))
    return {
        "cases": n, "civiccrm_cold_s": cold, "civiccrm_warm_s": warm,
        "civiccrm_cold_rate": n / cold, "civiccrm_warm_rate": n / warm,
        "pandas_sample": k, "pandas_sample_s": pandas_s, "pandas_rate": k / pandas_s,
        "pandas_scaled_s_for_all": pandas_s * n / k,
        "speedup_cold": (n / cold) / (k / pandas_s), "speedup_warm": (n / warm) / (k / pandas_s),
        "agreement_on_sample": agree / k,
    }


def bench_stored(n: int, url: str | None) -> dict:
    from sqlalchemy import insert

    from civiccrm.services import sla
    from civiccrm.services.deployment import init_deployment
    from civiccrm.store.tables import cases_table

    with tempfile.TemporaryDirectory() as folder:
        dep = init_deployment(url or f"sqlite:///{Path(folder) / 'bench.db'}", "kansas-city")
        codes = sorted(dep.profile.taxonomy.service_types)[:50]
        dep.clock = lambda: datetime(2015, 1, 1, 12, tzinfo=timezone.utc)
        for code in codes:
            sla.set_policy(dep, code, target=float(TARGETS[hash(code) % len(TARGETS)]), basis="business_hours",
                           actor="bench")
        opened, _ = synthetic(n, seed=7)
        now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        t0 = time.perf_counter()
        batch = 50_000
        with dep.engine.begin() as conn:
            for lo in range(0, n, batch):
                conn.execute(insert(cases_table), [
                    {"tracking_number": f"B-{i:08d}", "service_code": codes[i % len(codes)],
                     "request_type": "bench", "channel": "phone", "description": "", "status": "open",
                     "opened_at": datetime.fromtimestamp(opened[i], timezone.utc), "updated_at": now,
                     "origin": "bench"}
                    for i in range(lo, min(n, lo + batch))
                ])
        insert_s = time.perf_counter() - t0
        dep.clock = lambda: now
        t0 = time.perf_counter()
        result = sla.recompute(dep)
        recompute_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = sla.recompute(dep)
        unchanged_s = time.perf_counter() - t0
        backend = dep.engine.dialect.name
        dep.engine.dispose()
    return {"stored_cases": n, "backend": backend, "insert_s": insert_s, "recompute_s": recompute_s,
            "moved": result.moved, "recompute_rate": n / recompute_s,
            "recompute_again_s": unchanged_s, "moved_again": again.moved}


FLOOR_EVENTS = ("INSERT INTO case_events (case_id, at, actor, kind, origin, changes, note) "
                "SELECT id, :now, 'bench', 'sla_escalated', 'intake', '{}', 'floor' FROM cases "
                "WHERE status <> 'closed' AND due_at <= :warn AND sla_level < 2")
FLOOR_LEVELS = ("UPDATE cases SET sla_level = CASE WHEN due_at <= :now THEN 2 ELSE 1 END "
                "WHERE status <> 'closed' AND due_at <= :warn AND sla_level < 2")


def bench_scan(n: int, url: str | None) -> dict:
    from sqlalchemy import insert, text

    from civiccrm.services import sla
    from civiccrm.services.deployment import init_deployment
    from civiccrm.store.tables import cases_table

    with tempfile.TemporaryDirectory() as folder:
        dep = init_deployment(url or f"sqlite:///{Path(folder) / 'scan.db'}", "kansas-city")
        now = datetime(2026, 1, 5, 15, tzinfo=timezone.utc)
        day = timedelta(days=1)
        # in order of i: past due (half), due within the 24-hour warning window (a quarter), later (a quarter)
        due = [now - day * (1 + i % 30) if i % 4 < 2 else now + day / 2 if i % 4 == 2 else now + day * 5
               for i in range(n)]
        with dep.engine.begin() as conn:
            for lo in range(0, n, 50_000):
                conn.execute(insert(cases_table), [
                    {"tracking_number": f"S-{i:08d}", "service_code": "abandoned-vehicle", "request_type": "bench",
                     "channel": "phone", "description": "", "status": "open", "opened_at": due[i] - day * 5,
                     "updated_at": due[i] - day * 5, "due_at": due[i], "origin": "bench"}
                    for i in range(lo, min(n, lo + 50_000))])
        dep.clock = lambda: now
        bind = {"now": now, "warn": now + dep.profile.sla.warning}
        with dep.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ANALYZE cases"))
                conn.commit()
            t0 = time.perf_counter()
            floor_events = conn.execute(text(FLOOR_EVENTS), bind).rowcount
            conn.execute(text(FLOOR_LEVELS), bind)
            floor_s = time.perf_counter() - t0
            conn.rollback()
        t0 = time.perf_counter()
        result = sla.scan(dep)
        scan_s = time.perf_counter() - t0
        backend = dep.engine.dialect.name
        dep.engine.dispose()
    escalated = len(result.warned) + len(result.breached)
    assert escalated == floor_events, (escalated, floor_events)
    return {"scan_cases": n, "scan_backend": backend, "scan_s": scan_s, "scan_warned": len(result.warned),
            "scan_breached": len(result.breached), "scan_rate": escalated / scan_s, "scan_floor_s": floor_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--pandas-sample", type=int, default=20_000)
    parser.add_argument("--stored", type=int, default=1_000_000, help="0 to skip the stored recompute")
    parser.add_argument("--scan", type=int, default=100_000, help="open cases for the breach scan (0 to skip)")
    parser.add_argument("--db", help="database URL for the stored recompute and the scan (default: SQLite in a temp"
                        " folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = bench_due(args.cases, args.pandas_sample)
    if args.stored:
        results |= bench_stored(args.stored, args.db)
    if args.scan:
        results |= bench_scan(args.scan, args.db)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    r = results
    print(f"business-hours due dates, {r['cases']:,} cases (crew calendar, Mon-Fri 08-17 America/Chicago, US holidays)")
    print(f"  civiccrm  cold {r['civiccrm_cold_s']:.2f} s = {r['civiccrm_cold_rate']:,.0f} due dates/s"
          f"   warm {r['civiccrm_warm_s']:.2f} s = {r['civiccrm_warm_rate']:,.0f} due dates/s")
    print(f"  pandas    {r['pandas_sample']:,}-case sample {r['pandas_sample_s']:.2f} s = {r['pandas_rate']:,.0f} due dates/s"
          f"  (all {r['cases']:,} scaled from the sample: {r['pandas_scaled_s_for_all']:.0f} s)")
    print(f"  speed-up  {r['speedup_cold']:.0f}x cold, {r['speedup_warm']:.0f}x warm;"
          f" same answer as pandas on {r['agreement_on_sample']:.2%} of the sample")
    if "stored_cases" in r:
        print(f"stored recompute, {r['stored_cases']:,} open cases on {r['backend']} (insert {r['insert_s']:.1f} s, not timed)")
        print(f"  full recompute {r['recompute_s']:.1f} s, {r['moved']:,} due dates moved ({r['recompute_rate']:,.0f} cases/s);"
              f" again {r['recompute_again_s']:.1f} s, {r['moved_again']:,} moved")
    if "scan_cases" in r:
        print(f"breach scan, {r['scan_cases']:,} open cases on {r['scan_backend']}: {r['scan_breached']:,} breached,"
              f" {r['scan_warned']:,} warned")
        print(f"  sla scan {r['scan_s']:.1f} s ({r['scan_rate']:,.0f} escalations/s)   baseline, the same events and"
              f" levels in one INSERT ... SELECT and one UPDATE: {r['scan_floor_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
