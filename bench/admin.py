"""Benchmark the staff admin's work queue and case page over HTTP, beside a bare Flask endpoint and the
Open311 GET of the same case, all measured in the same run.

    .venv/bin/python bench/admin.py [--cases 1000000] [--open 3000] [--duration 8] [--workers 2] [--clients 4] [--cache FILE]

Builds a Kansas City deployment in a temporary SQLite file with ``--cases`` generated cases
(bench/open311.py's generator), then closes all but ``--open`` of them (a Monday morning: 3,000
waiting), serves the real app under gunicorn (the shipped gevent settings) on loopback, logs
``--clients`` browsers in through the login form, and measures for ``--duration`` seconds each:
the queue's first page (a supervisor: every open case), a page deep in the queue (keyset cursor),
a department worker's queue, the queue filtered by district, the case page of a random stored case;
and as baselines the app's bare Flask endpoint ``/healthz`` (no template, one ``SELECT 1``) and the
Open311 GET of the same cases. Prints requests/s, p50, p95 and p99 and each page's p95 beside the
baselines'; exits 1 when a page's p95 misses the target (150 ms) or a request failed.
"""

import argparse
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 150.0
BARE = "bare Flask /healthz (baseline)"
OPEN311 = "Open311 GET (baseline)"
PASSWORD = "bench-password-for-staff-41"
SECRET_KEY = "bench-" + "7" * 40


def serve(env: dict, workers: int) -> tuple[subprocess.Popen, int]:
    from open311 import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:civiccrm.web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--access-logfile", "/dev/null", "civiccrm.web.server:build()"],
        cwd=ROOT, env={**os.environ, **env},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the app did not start under gunicorn")


class Browser:
    """One logged-in staff browser: a keep-alive connection and its session cookie."""

    def __init__(self, port: int, username: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        page = self.get("/admin/login")[1].decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        status, _ = self.request("POST", "/admin/login", urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrf_token": token}))
        if status != 302:
            raise SystemExit(f"login of {username} answered {status}")

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):  # the server closed an idle keep-alive
            self.connection.close()
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        data = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)


def measure(browsers: list[Browser], make_path, *, duration: float) -> dict:
    latencies, errors, lock = [], 0, threading.Lock()
    stop_at = time.perf_counter() + duration

    def work(browser: Browser, seed: int):
        nonlocal errors
        rng = random.Random(seed)
        while time.perf_counter() < stop_at:
            path = make_path(rng)
            started = time.perf_counter()
            status, _ = browser.get(path)
            elapsed = time.perf_counter() - started
            with lock:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors += 1

    threads = [threading.Thread(target=work, args=(b, n)) for n, b in enumerate(browsers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")

    return {"ok": len(latencies), "errors": errors, "rps": len(latencies) / wall if wall else 0.0,
            "p50": 1000 * statistics.median(latencies) if latencies else float("nan"), "p95": pct(0.95),
            "p99": pct(0.99)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="Stored cases to generate (default 1,000,000).")
    parser.add_argument("--open", type=int, default=3_000, help="Of those, left open in the queue (default 3,000).")
    parser.add_argument("--duration", type=float, default=8.0, help="Seconds per measurement (default 8).")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent logged-in browsers (default 4).")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2).")
    parser.add_argument("--keep", action="store_true", help="Keep the generated database (deleted otherwise).")
    parser.add_argument("--cache", type=Path, help="Copy the generated cases from this file, or save them there "
                                                   "(bench/open311.py --cache makes the same file).")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from open311 import build_database
    from sqlalchemy import text

    from civiccrm.domain.cases import CaseEvent
    from civiccrm.domain.queue import Cursor
    from civiccrm.domain.users import Role
    from civiccrm.services import users
    from civiccrm.store import repo
    from civiccrm.store.tables import cases_table

    folder = Path(tempfile.mkdtemp(prefix="civiccrm-bench-admin-"))
    path = folder / "bench.db"
    try:
        deployment, _key, numbers, _codes = build_database(path, args.cases, args.cache)
        users.add_user(deployment, "boss", PASSWORD, Role.SUPERVISOR)
        users.add_user(deployment, "crew", PASSWORD, Role.DEPARTMENT_WORKER, departments=("public-works",))
        with deployment.engine.begin() as connection:
            closing = connection.execute(text(
                "SELECT id FROM cases WHERE status <> 'closed' AND id NOT IN "
                "(SELECT id FROM cases WHERE status <> 'closed' ORDER BY id DESC LIMIT :keep)"), {"keep": args.open}
            ).scalars().all()
            now = deployment.clock()
            repo.set_outcome(connection, case_ids=closing, values={"status": "closed", "resolution": "fixed",
                                                                    "closed_at": cases_table.c.updated_at},
                             event=CaseEvent(kind="closed", at=now, actor="bench", changes={"resolution": [None, "fixed"]}))
            connection.execute(text("ANALYZE"))
        with deployment.engine.connect() as connection:
            open_cases = connection.execute(text("SELECT COUNT(*) FROM cases WHERE status <> 'closed'")).scalar()
            deep = connection.execute(text(
                "SELECT due_at, id FROM cases WHERE status <> 'closed' AND due_at IS NOT NULL "
                "ORDER BY due_at, id LIMIT 1 OFFSET :deep"), {"deep": max(0, min(open_cases - 1, open_cases * 2 // 3))}
            ).one()
        from civiccrm.store.types import UTCDateTime

        cursor = Cursor(due_at=UTCDateTime().process_result_value(deep[0], deployment.engine.dialect), id=deep[1])
        deployment.engine.dispose()
        # The Open311 baseline is one address by design: counted, never refused.
        env = {"CIVICCRM_DATABASE_URL": f"sqlite:///{path}", "CIVICCRM_SECRET_KEY": SECRET_KEY,
               "CIVICCRM_OPEN311_GET_LIMIT": "1000000000"}
        process, port = serve(env, args.workers)
        try:
            boss = [Browser(port, "boss") for _ in range(args.clients)]
            crew = [Browser(port, "crew") for _ in range(args.clients)]
            scenarios = {
                "queue, first page": (boss, lambda rng: "/admin/queue"),
                "queue, deep page (keyset)": (boss, lambda rng: "/admin/queue?" + urllib.parse.urlencode(
                    {"after": cursor.token()})),
                "queue, department worker": (crew, lambda rng: "/admin/queue"),
                "queue, filtered by district": (boss, lambda rng: f"/admin/queue?district={rng.randrange(1, 7)}"),
                "case page": (boss, lambda rng: f"/admin/cases/{rng.choice(numbers)}"),
                BARE: (boss, lambda rng: "/healthz"),
                OPEN311: (boss, lambda rng: f"/open311/v2/requests/{rng.choice(numbers)}.json"),
            }
            results = {}
            for name, (browsers, make_path) in scenarios.items():
                measure(browsers, make_path, duration=1.0)  # warm up
                results[name] = measure(browsers, make_path, duration=args.duration)
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"database kept at {path}")

    print(f"\n{args.cases:,} stored cases ({open_cases:,} open); {args.clients} browsers; gunicorn (gevent) --workers "
          f"{args.workers}; {args.duration:g} s per measurement; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; target p95 < {TARGET_P95_MS:g} ms")
    print(f"{'page':<34}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'p95 vs bare':>13}{'p95 vs Open311':>16}")
    bare, baseline = results[BARE]["p95"], results[OPEN311]["p95"]
    missed = []
    for name, r in results.items():
        page = name not in (BARE, OPEN311)
        versus_bare = f"{r['p95'] / bare:.1f}x" if page and bare else ""
        versus_open311 = f"{r['p95'] / baseline:.1f}x" if page and baseline else ""
        print(f"{name:<34}{r['rps']:>8.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}"
              f"{versus_bare:>13}{versus_open311:>16}")
        if page and not r["p95"] < TARGET_P95_MS:
            missed.append(name)
        if r["errors"]:
            missed.append(f"{name} (errors)")
    if missed:
        print("missed: " + ", ".join(missed))
        return 1
    print(f"every page's p95 is under {TARGET_P95_MS:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
