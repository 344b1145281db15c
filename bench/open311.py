"""Benchmark the Open311 API over HTTP against a bare Flask + sqlite3 endpoint, both under gunicorn.

    .venv/bin/python bench/open311.py [--cases 1000000] [--duration 10] [--rounds 4] [--workers 4] [--clients 8] [--cache FILE]

Builds a Kansas City deployment in a temporary SQLite file, fills it with ``--cases``
generated cases (bulk executemany, not intake), then serves it twice on loopback with the
same gunicorn settings (``civiccrm.web.gunicorn_conf``, as deployed): CivicCRM's app (``civiccrm.web.wsgi:app``) and a bare Flask app
that answers the same three things with plain ``sqlite3`` (``bench/open311.py`` itself,
``BareApp``). For each of GET one request, GET a filtered list and POST, ``--clients``
threads call each server for ``--duration`` seconds (or ``--requests`` calls) in all, the two
servers taking turns in ``--rounds`` short rounds so that a shift in the machine's load falls on
both alike, and the figures are printed side by side: requests/s, p50 and p99 latency. Those p99s are of
a saturated 2-core machine (a queue: the bare endpoint's is 20-60 ms too), so GET one's latency target is read
at an offered rate instead: ``--get-rate`` requests a second with Poisson arrivals for ``--paced-duration``
seconds, each timed from when it was due (``bench/scale.py``'s ``paced``), on both servers. Afterwards every
acknowledged POST is looked up in the database.
"""

import argparse
import http.client
import itertools
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IN_CITY = (39.0997, -94.5786)
_LOADS = itertools.count()
"""Numbers each ``load`` call: its clients' random streams are its own, so a round never replays an earlier one."""
LIST_COLUMNS = ("tracking_number", "service_code", "request_type", "status", "description", "address",
                "latitude", "longitude", "zip_code", "opened_at", "updated_at", "due_at", "closed_at")


# --- the bare endpoint: Flask and sqlite3, nothing else ---------------------------------


def bare_app():
    """A Flask app doing the same read or insert on plain sqlite3 (one connection per worker)."""
    import uuid

    from flask import Flask, jsonify, request

    app = Flask("bare")
    path = os.environ["BENCH_DATABASE"]
    local = threading.local()

    def db():
        if not hasattr(local, "connection"):
            local.connection = sqlite3.connect(path, timeout=30)
            local.connection.execute("PRAGMA journal_mode=WAL")
            local.connection.execute("PRAGMA synchronous=FULL")
            local.connection.row_factory = sqlite3.Row
        return local.connection

    @app.get("/one/<tracking_number>")
    def one(tracking_number):
        row = db().execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM cases WHERE tracking_number = ?",
                           (tracking_number,)).fetchone()
        return (jsonify([dict(row)]), 200) if row else (jsonify([{"code": 404}]), 404)

    @app.get("/list")
    def listing():
        rows = db().execute(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM cases WHERE service_code = ? AND opened_at >= ? AND opened_at <= ? "
            "ORDER BY opened_at DESC, id DESC LIMIT 1000",
            (request.args["service_code"], request.args["start"], request.args["end"]),
        ).fetchall()
        return jsonify([dict(r) for r in rows])

    @app.post("/create")
    def create():
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        connection = db()
        with connection:
            cursor = connection.execute(
                "INSERT INTO cases (tracking_number, service_code, request_type, channel, description, latitude, "
                "longitude, status, opened_at, updated_at, origin) VALUES (?, ?, ?, 'app', ?, ?, ?, 'new', ?, ?, 'intake')",
                (f"BARE-{uuid.uuid4().hex[:16]}", request.form["service_code"], "bench", request.form["description"],
                 float(request.form["lat"]), float(request.form["long"]), now, now),
            )
        return jsonify([{"service_request_id": str(cursor.lastrowid)}])

    return app


# --- building the database ----------------------------------------------------------------


def build_database(path: Path, count: int, cache: Path | None = None) -> tuple[object, str, list[str], list[str]]:
    """A Kansas City deployment with ``count`` generated cases; returns (deployment, key, numbers, codes).

    With ``cache``, the generated database is copied there, and a later run copies it back instead of
    generating it again (the same cases: the generator is seeded), migrated to the current head; delete the file
    after a change of the cases table's columns."""
    from civiccrm.services import apikeys
    from civiccrm.services.deployment import init_deployment, open_deployment
    from civiccrm.store import migrate
    from civiccrm.store.db import make_engine

    if cache is not None and cache.exists():
        shutil.copyfile(cache, path)
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)  # the copy of a cache made before a later migration (an index) catches up
        engine.dispose()
        deployment = open_deployment(f"sqlite:///{path}")
        with deployment.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT COUNT(*) FROM cases WHERE origin = 'import:bench'").scalar()
        if stored != count:
            raise SystemExit(f"--cache {cache}: holds {stored:,} generated cases, not {count:,}; delete it or "
                             "give the --cases it was made with")
        _, key = apikeys.add(deployment, name="bench", channel="app")
        types = list(deployment.profile.taxonomy.service_types.values())
        print(f"copied {count:,} generated cases from {cache}", flush=True)
        return deployment, key, [f"KC-B-{n:07d}" for n in range(0, count, 997)], [st.code for st in types[:20]]
    deployment = init_deployment(f"sqlite:///{path}", "kansas-city")
    types = list(deployment.profile.taxonomy.service_types.values())
    rng = random.Random(311)
    now = datetime.now(timezone.utc)
    span = 3 * 365 * 86400
    columns = ("tracking_number", "service_code", "request_type", "category", "department", "work_group", "channel",
               "description", "address", "latitude", "longitude", "zip_code", "council_district", "status",
               "resolution", "opened_at", "updated_at", "due_at", "closed_at", "origin")
    sql = f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    started = time.perf_counter()
    sample = []
    with deployment.engine.begin() as connection:
        batch = []
        for n in range(count):
            st = types[rng.randrange(len(types))]
            opened = now - timedelta(seconds=rng.randrange(span))
            closed = opened + timedelta(days=rng.random() * 20) if rng.random() < 0.85 else None
            if closed and closed > now:
                closed = None
            number = f"KC-B-{n:07d}"
            batch.append((
                number, st.code, st.name, st.category, st.department, st.work_group, "phone",
                f"Generated case {n}", f"{rng.randrange(100, 9999)} Main St", 39.0 + rng.random() * 0.2,
                -94.6 + rng.random() * 0.1, "64106", str(rng.randrange(1, 7)), "closed" if closed else "open",
                "fixed" if closed else None, opened.strftime(fmt), (closed or opened).strftime(fmt),
                (opened + timedelta(days=st.sla_target)).strftime(fmt), closed.strftime(fmt) if closed else None,
                "import:bench",
            ))
            if n % 997 == 0:
                sample.append(number)
            if len(batch) == 50_000:
                connection.exec_driver_sql(sql, batch)
                batch.clear()
        if batch:
            connection.exec_driver_sql(sql, batch)
    print(f"generated {count:,} cases in {time.perf_counter() - started:.1f} s", flush=True)
    if cache is not None:
        with deployment.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole database in the one file
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, cache)
    _, key = apikeys.add(deployment, name="bench", channel="app")
    busiest = [st.code for st in types[:20]]
    return deployment, key, sample, busiest


# --- serving and loading ------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(target: str, env: dict, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:civiccrm.web.gunicorn_conf",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--chdir", str(ROOT / "bench"), "--log-level", "warning", target],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT / "bench")},
    )
    deadline = time.monotonic() + 180  # a worker's first import takes a while on a busy machine
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/open311/v2/discovery.json" if "civiccrm" in target else "/one/x")
            connection.getresponse().read()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{target} did not start")


def load(port: int, make_request, *, clients: int, duration: float, max_requests: int) -> dict:
    """``clients`` threads calling ``make_request(rng) -> (method, path, body)`` until time or count runs out.

    Each client's ``rng`` is seeded by this call's number and the client's, so the streams are reproducible but
    no two calls share one: when every round's clients started from the same seeds, each POST from the second
    round on repeated an earlier one at the same point, and civiccrm's duplicate check (which the bare endpoint
    does not have) ranked all the earlier copies, a load no city sends."""
    run = next(_LOADS)
    latencies: list[float] = []
    bodies: list[bytes] = []
    errors = 0
    lock = threading.Lock()
    issued = 0
    stop_at = time.perf_counter() + duration

    def worker(seed: int):
        nonlocal errors, issued
        rng = random.Random(run * 1000 + seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        while time.perf_counter() < stop_at:
            with lock:
                if issued >= max_requests:
                    return
                issued += 1
            method, path, body = make_request(rng)
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers if body else {})
                response = connection.getresponse()
                data = response.read()
                ok = response.status == 200
            except OSError:
                connection.close()
                ok, data = False, b""
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                    bodies.append(data)
                else:
                    errors += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {**summary(latencies, wall), "errors": errors, "bodies": bodies}


def merge(total: dict | None, measured: dict) -> dict:
    """Rounds of one server summed: requests over the summed wall time, percentiles over every latency."""
    if total is None:
        return measured
    latencies = sorted(total["latencies"] + measured["latencies"])
    return {**summary(latencies, total["wall"] + measured["wall"]), "errors": total["errors"] + measured["errors"],
            "bodies": total["bodies"] + measured["bodies"]}


def summary(latencies: list[float], wall: float) -> dict:
    return {
        "ok": len(latencies), "rps": len(latencies) / wall if wall else 0.0, "wall": wall, "latencies": latencies,
        "p50": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="Stored cases to generate (default 1,000,000).")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measurement (default 10).")
    parser.add_argument("--requests", type=int, default=20_000, help="Most requests per measurement.")
    parser.add_argument("--rounds", type=int, default=4,
                        help="Turns each server takes per scenario, alternating (default 4): load drift hits both.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent client threads (default 8).")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers for both servers (default 4).")
    parser.add_argument("--get-rate", type=float, default=100,
                        help="GET one requests a second offered while its latency target is read (default 100).")
    parser.add_argument("--paced-duration", type=float, default=10,
                        help="Seconds of that paced measurement on each server (default 10).")
    parser.add_argument("--one-point", action="store_true",
                        help="POST every report at the same point (the duplicate check's worst case).")
    parser.add_argument("--keep", action="store_true", help="Keep the generated database (deleted otherwise).")
    parser.add_argument("--cache", type=Path, help="Copy the generated cases from this file, or save them there.")
    args = parser.parse_args(argv)
    if not (args.get_rate > 0 and args.paced_duration > 0):
        parser.error(f"--get-rate {args.get_rate:g}, --paced-duration {args.paced_duration:g}: expected numbers above 0")

    sys.path.insert(0, str(ROOT))
    folder = Path(tempfile.mkdtemp(prefix="civiccrm-bench-"))
    path = folder / "bench.db"
    deployment, key, numbers, codes = build_database(path, args.cases, args.cache)
    now = datetime.now(timezone.utc)
    window = (now - timedelta(days=60), now - timedelta(days=30))
    # One key makes all the load by design: its requests are counted (that write is measured), never refused.
    env = {"CIVICCRM_DATABASE_URL": f"sqlite:///{path}", "BENCH_DATABASE": str(path),
           "CIVICCRM_OPEN311_POST_LIMIT": "1000000000", "CIVICCRM_OPEN311_GET_LIMIT": "1000000000"}
    civic, civic_port = serve("civiccrm.web.wsgi:app", env, args.workers)
    bare, bare_port = serve("open311:bare_app()", env, args.workers)

    def iso(value):
        return value.isoformat(timespec="seconds")

    def sql_time(value):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    post_form = {"api_key": key, "service_code": "trash-missed-by-city", "description": "Cart not emptied",
                 "lat": str(IN_CITY[0]), "long": str(IN_CITY[1]), "attribute[CONTAINER]": "cart"}

    def post_at(rng):
        """The form at a point drawn within about 2 km of downtown, as reports from across the city come
        in: each one is checked for duplicates among the open cases near it (``--one-point`` sends every
        report from the same spot, the worst case of that check)."""
        if args.one_point:
            return post_form
        return {**post_form, "lat": f"{IN_CITY[0] + rng.uniform(-0.02, 0.02):.6f}",
                "long": f"{IN_CITY[1] + rng.uniform(-0.02, 0.02):.6f}"}
    scenarios = {
        "GET one request": (
            lambda rng: ("GET", f"/open311/v2/requests/{rng.choice(numbers)}.json", None),
            lambda rng: ("GET", f"/one/{rng.choice(numbers)}", None),
        ),
        "GET filtered list": (
            lambda rng: ("GET", "/open311/v2/requests.json?" + urllib.parse.urlencode(
                {"service_code": rng.choice(codes), "start_date": iso(window[0]), "end_date": iso(window[1])}), None),
            lambda rng: ("GET", "/list?" + urllib.parse.urlencode(
                {"service_code": rng.choice(codes), "start": sql_time(window[0]), "end": sql_time(window[1])}), None),
        ),
        "POST request": (
            lambda rng: ("POST", "/open311/v2/requests.json", urllib.parse.urlencode(post_at(rng))),
            lambda rng: ("POST", "/create", urllib.parse.urlencode(post_at(rng))),
        ),
    }
    results = {}
    try:
        for name, (civic_request, bare_request) in scenarios.items():
            servers = (("civiccrm", civic_port, civic_request), ("bare", bare_port, bare_request))
            for label, port, make in servers:
                load(port, make, clients=args.clients, duration=1.0, max_requests=200)  # warm up
            # Both servers take turns in short rounds, so a change in the machine's load falls on both alike.
            for _ in range(args.rounds):
                for label, port, make in servers:
                    measured = load(port, make, clients=args.clients, duration=args.duration / args.rounds,
                                    max_requests=args.requests // args.rounds)
                    results[(name, label)] = merge(results.get((name, label)), measured)
        from scale import paced, percentile  # bench/scale's open load (timed from when each request was due)

        civic_one, bare_one = scenarios["GET one request"]
        for label, port, make in (("civiccrm", civic_port, civic_one), ("bare", bare_port, bare_one)):
            times, failed = paced(port, args.get_rate, args.paced_duration, make)
            results[("GET one paced", label)] = {"p50": percentile(times, 50), "p99": percentile(times, 99),
                                                 "rate": len(times) / args.paced_duration, "errors": failed}
    finally:
        for process in (civic, bare):
            process.terminate()
            process.wait(timeout=30)

    acknowledged = [json.loads(b)[0]["service_request_id"] for b in results[("POST request", "civiccrm")]["bodies"]]
    connection = sqlite3.connect(path)
    stored = 0
    for start in range(0, len(acknowledged), 500):
        chunk = acknowledged[start:start + 500]
        stored += connection.execute(
            f"SELECT COUNT(*) FROM cases WHERE tracking_number IN ({', '.join('?' * len(chunk))})", chunk).fetchone()[0]
    total = connection.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    connection.close()
    deployment.engine.dispose()

    print(f"\n{args.cases:,} stored cases ({total:,} after the run); {args.clients} clients; "
          f"gunicorn --workers {args.workers} for both; {args.duration:g} s per measurement in {args.rounds} alternating rounds; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'scenario':<20}{'server':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs bare':>9}")
    verdicts = []
    for name in scenarios:
        bare_rps = results[(name, "bare")]["rps"]
        for label in ("civiccrm", "bare"):
            r = results[(name, label)]
            ratio = f"{r['rps'] / bare_rps:.2f}" if label == "civiccrm" and bare_rps else ""
            print(f"{name:<20}{label:<10}{r['rps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}{ratio:>9}")
        civic_rps = results[(name, "civiccrm")]["rps"]
        verdicts.append((f"{name}: at least half the bare throughput", civic_rps >= bare_rps / 2))
    for label in ("civiccrm", "bare"):
        r = results[("GET one paced", label)]
        print(f"{'GET one, paced':<20}{label:<10}{r['rate']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}"
              f"   ({args.get_rate:g}/s offered, Poisson arrivals, {args.paced_duration:g} s)")
    paced_one = results[("GET one paced", "civiccrm")]
    verdicts.append((f"GET one request: p99 under 20 ms at {args.get_rate:g}/s offered",
                     paced_one["p99"] < 20 and not paced_one["errors"]))
    verdicts.append((f"POST: {len(acknowledged):,} acknowledged, {stored:,} found in the database",
                     stored == len(acknowledged)))
    print()
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'MISS'}  {text}")
    if args.keep:
        print(f"\n(database kept at {path}; delete {folder} when done)")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
