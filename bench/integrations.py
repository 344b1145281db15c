"""Benchmark the duplicate lookup at intake over many open cases, beside plain sqlite3.

    .venv/bin/python bench/integrations.py [--open-cases 1000000] [--lookups 2000] [--unboxed 10]

Duplicate lookup: a Kansas City deployment in a temporary SQLite file is filled with
``--open-cases`` open cases (bulk executemany, not intake) spread over the city's extent and
40 service types (the profile's ruled and grouped types first), all opened inside the window. Then ``--lookups``
drafts at random points are checked with ``services.duplicates.for_draft`` (what the call
taker's screen and every intake call), beside, in the same run, the same bounding-box query
on plain ``sqlite3`` (the floor: no Python above the driver) and the lookup without the
box (every open case of the type read and measured: what the index saves). p50 and p99 in
milliseconds; the target is p99 under 10 ms.
"""

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOUTH, NORTH, WEST, EAST = 38.85, 39.35, -94.75, -94.38  # Kansas City's extent


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def build(path: Path, count: int):
    """A Kansas City deployment with ``count`` open cases; returns (deployment, codes)."""
    from civiccrm.services.deployment import init_deployment

    deployment = init_deployment(f"sqlite:///{path}", "kansas-city")
    taxonomy = deployment.profile.taxonomy.service_types
    ruled = list(deployment.profile.duplicates.rules)  # the types with rules (and groups) of the profile
    types = [taxonomy[c] for c in ruled] + [t for c, t in taxonomy.items() if c not in ruled][: 40 - len(ruled)]
    rng = random.Random(15)
    now = datetime.now(timezone.utc)
    columns = ("tracking_number", "service_code", "request_type", "category", "department", "channel",
               "description", "latitude", "longitude", "status", "opened_at", "updated_at", "origin")
    sql = f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    started = time.perf_counter()
    with deployment.engine.begin() as connection:
        batch = []
        for n in range(count):
            st = types[rng.randrange(len(types))]
            opened = (now - timedelta(seconds=rng.randrange(20 * 86400))).strftime(fmt)
            batch.append((f"KC-D-{n:07d}", st.code, st.name, st.category, st.department, "phone", "generated",
                          rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST), "open", opened, opened, "import:bench"))
            if len(batch) == 50_000:
                connection.exec_driver_sql(sql, batch)
                batch.clear()
        if batch:
            connection.exec_driver_sql(sql, batch)
        connection.exec_driver_sql("ANALYZE")
    print(f"generated {count:,} open cases over {len(types)} types in {time.perf_counter() - started:.1f} s",
          flush=True)
    return deployment, [t.code for t in types]


def bench_lookup(args) -> bool:
    from civiccrm.domain.cases import CaseDraft, Location
    from civiccrm.domain.duplicates import bounding_box, rank
    from civiccrm.services import duplicates

    with tempfile.TemporaryDirectory(prefix="civiccrm-bench-dup-") as folder:
        path = Path(folder) / "bench.db"
        deployment, codes = build(path, args.open_cases)
        policy = deployment.profile.duplicates
        rng = random.Random(7)
        drafts = [CaseDraft(service_code=rng.choice(codes), description="x", channel="phone",
                            location=Location(latitude=rng.uniform(SOUTH, NORTH), longitude=rng.uniform(WEST, EAST)))
                  for _ in range(args.lookups)]
        ours, found = [], 0
        for draft in drafts:
            started = time.perf_counter()
            found += len(duplicates.for_draft(deployment, draft))
            ours.append((time.perf_counter() - started) * 1000)

        raw = sqlite3.connect(path)
        floor = []
        now = datetime.now(timezone.utc)
        for draft in drafts:
            rule = policy.rule_for(draft.service_code)
            south, north, west, east = bounding_box(draft.location.latitude, draft.location.longitude, rule.radius_m)
            codes_in = policy.related_codes(draft.service_code)
            started = time.perf_counter()
            raw.execute(
                "SELECT id, tracking_number, service_code, request_type, status, opened_at, latitude, longitude, address "
                "FROM cases WHERE status <> 'closed' AND latitude IS NOT NULL "
                f"AND service_code IN ({', '.join('?' * len(codes_in))}) AND latitude BETWEEN ? AND ? "
                "AND longitude BETWEEN ? AND ? AND opened_at BETWEEN ? AND ?",
                (*codes_in, south, north, west, east,
                 (now - rule.window).strftime("%Y-%m-%d %H:%M:%S.%f"), now.strftime("%Y-%m-%d %H:%M:%S.%f"))).fetchall()
            floor.append((time.perf_counter() - started) * 1000)

        class Row:
            __slots__ = ("tracking_number", "service_code", "request_type", "status", "opened_at", "latitude",
                         "longitude", "address")

        unboxed = []
        for draft in drafts[: args.unboxed]:
            rule = policy.rule_for(draft.service_code)
            codes_in = policy.related_codes(draft.service_code)
            started = time.perf_counter()
            rows = []
            for values in raw.execute(
                    "SELECT tracking_number, service_code, request_type, status, opened_at, latitude, longitude, "
                    f"address FROM cases WHERE status <> 'closed' AND service_code IN ({', '.join('?' * len(codes_in))})",
                    codes_in):
                row = Row()
                (row.tracking_number, row.service_code, row.request_type, row.status, opened, row.latitude,
                 row.longitude, row.address) = values
                row.opened_at = datetime.fromisoformat(opened).replace(tzinfo=timezone.utc)
                rows.append(row)
            rank((draft.location.latitude, draft.location.longitude), now, rule, rows, limit=policy.limit)
            unboxed.append((time.perf_counter() - started) * 1000)
        raw.close()
        deployment.engine.dispose()

    print(f"\nduplicate lookup over {args.open_cases:,} open cases, {args.lookups:,} drafts "
          f"({found / len(drafts):.2f} candidates per draft on average)")
    print(f"{'':<44} {'p50 ms':>8} {'p99 ms':>8}")
    for label, samples in (("civiccrm services.duplicates.for_draft", ours),
                           ("baseline: same box query, plain sqlite3", floor),
                           (f"baseline: no box, every open case of the type ({len(unboxed)})", unboxed)):
        p50, p99 = percentiles(samples)
        print(f"{label:<44} {p50:>8.2f} {p99:>8.2f}")
    p99 = percentiles(ours)[1]
    print(f"target p99 < 10 ms: {'met' if p99 < 10 else 'MISSED'} ({p99:.2f} ms)")
    return p99 < 10


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open-cases", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--unboxed", type=int, default=10, help="drafts looked up without the box (slow)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    ok = bench_lookup(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
