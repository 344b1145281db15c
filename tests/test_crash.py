"""Crashes lose nothing acknowledged and leave nothing half-written.

- gunicorn (the shipped configuration) on loopback takes concurrent Open311 POSTs and is SIGKILLed,
  master and workers at once: every POST answered 200 with a tracking number is stored with its
  creation event, and no case lacks one (SQLite and PostgreSQL).
- `civiccrm import kcmo` in a subprocess is SIGKILLed mid-file: each case written has its imported
  event, and running the same import again completes it with one case and one creation per row
  (SQLite and PostgreSQL)."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from click.testing import CliRunner
from sqlalchemy import text

from civiccrm.cli import cli
from civiccrm.services.deployment import init_deployment
from open311_helpers import ROOT, start

DATA = Path(__file__).parent / "data"
FORM = {"service_code": "trash-missed-by-city", "description": "Cart not emptied", "lat": "39.0997",
        "long": "-94.5786", "attribute[CONTAINER]": "cart"}


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc), so one SIGKILL each takes down a master and its workers."""
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:  # already gone
        children = []
    for child in children:
        found += process_tree(int(child))
    return found


def kill_tree(process: subprocess.Popen) -> None:
    for pid in process_tree(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def orphans(engine) -> list[str]:
    """Tracking numbers of cases whose first event is not their creation (or that have none)."""
    with engine.connect() as conn:
        return list(conn.scalars(text(
            "SELECT c.tracking_number FROM cases c LEFT JOIN case_events e ON e.id = "
            "(SELECT min(id) FROM case_events WHERE case_id = c.id) "
            "WHERE e.kind IS NULL OR e.kind NOT IN ('created', 'imported')")))


def stored(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(text("SELECT tracking_number FROM cases")))


def test_sigkill_under_concurrent_posts_loses_no_acknowledged_write(database_url, tmp_path):
    """On SQLite (WAL, the writer queue of intake) and PostgreSQL (the killed workers' connections drop
    mid-transaction: the server rolls those back, and every answered POST had committed)."""
    deployment, server, key = start(database_url, tmp_path)
    acknowledged, failures, stop = [], [], threading.Event()

    def client():
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    response = session.post(f"{server.api}/requests.json", data={"api_key": key, **FORM}, timeout=10)
                except requests.RequestException:
                    return  # the server is gone: this POST was never acknowledged
                if response.status_code == 200:
                    acknowledged.append(response.json()[0]["service_request_id"])
                else:
                    failures.append((response.status_code, response.text))

    try:
        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline and not failures:
            time.sleep(0.02)
        kill_tree(server.process)  # mid-flight: the clients are still posting
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        server.stop()
    assert not failures, failures[:3]
    assert len(acknowledged) >= 40
    deployment.engine.dispose()  # new connections see what the database kept
    try:
        missing = set(acknowledged) - stored(deployment.engine)
        assert not missing, f"{len(missing)} acknowledged cases lost: {sorted(missing)[:5]}"
        assert orphans(deployment.engine) == []
    finally:
        deployment.engine.dispose()


def big_file(path: Path, rows: int) -> Path:
    """``rows`` distinct Kansas City cases, made from the good sample's rows with new case ids."""
    with (DATA / "kcmo_good.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, sample = reader.fieldnames, list(reader)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for n in range(rows):
            row = dict(sample[n % len(sample)])
            row["CASE ID"] = str(3_000_000_000 + n)
            row["CASE URL"] = row["CASE URL"].rsplit("=", 1)[0] + "=" + row["CASE ID"]
            writer.writerow(row)
    return path


def import_command(database_url, path):
    return [sys.executable, "-m", "civiccrm.cli", "--db", database_url, "import", "kcmo", "--quiet", "--json",
            "--batch-size", "20", str(path)]


def test_import_killed_mid_file_leaves_whole_cases_and_completes_on_rerun(database_url, tmp_path):
    deployment = init_deployment(database_url, "kansas-city")
    try:
        rows = 400
        path = big_file(tmp_path / "kcmo_big.csv", rows)
        with deployment.engine.connect() as conn:
            counted = lambda: conn.scalar(text("SELECT count(*) FROM cases"))  # noqa: E731
            importing = subprocess.Popen(import_command(database_url, path), cwd=ROOT,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120
            while counted() < 60 and importing.poll() is None and time.monotonic() < deadline:
                conn.rollback()  # a fresh snapshot each look (PostgreSQL)
                time.sleep(0.02)
            kill_tree(importing)
            conn.rollback()
            written = counted()
        assert 0 < written < rows, f"the kill did not land mid-file ({written} of {rows} written)"
        assert orphans(deployment.engine) == []
        with deployment.engine.connect() as conn:
            # Whole batches only: a batch of 20 is one transaction.
            assert written % 20 == 0
            assert conn.scalar(text("SELECT count(*) FROM case_events")) == written

        again = CliRunner().invoke(cli, import_command(database_url, path)[3:])  # the same command, in process
        assert again.exit_code == 0, again.output
        summary = json.loads(again.stdout)
        assert (summary["read"], summary["imported"], summary["unchanged"], summary["rejected"]) == (
            rows, rows - written, written, 0)
        with deployment.engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM cases")) == rows
            assert conn.scalar(text("SELECT count(DISTINCT external_id) FROM cases")) == rows
            assert conn.scalar(text("SELECT count(*) FROM case_events")) == rows
        assert orphans(deployment.engine) == []
    finally:
        deployment.engine.dispose()
