"""The served app: what it holds for the process's life is out of the garbage collector's sight."""

import os
import subprocess
import sys

import pytest


def test_the_wsgi_app_freezes_what_it_loaded(deployment, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the same import on either database; SQLite's is enough")
    probe = ("import gc; before = gc.get_freeze_count(); import civiccrm.web.wsgi; "
             "print(before, gc.get_freeze_count())")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CIVICCRM_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split())
    assert before == 0 and after > 50_000  # the profile, plugins and tables: about 160,000 objects


def test_the_served_app_builds_the_calendars_due_times_need_before_any_request(deployment, database_url, monkeypatch):
    """A timeline is built lazily and rebuilt whole when a due time falls past its last year: 30-300 ms of a
    worker's CPU with every request in it waiting (intake's p99 at 40 million cases). ``build()`` computes every
    active type's due times from now and a year on, so no request builds one."""
    if not database_url.startswith("sqlite"):
        pytest.skip("calendars are the same on either database; SQLite's is enough")
    from datetime import timedelta

    from civiccrm.domain import calendar
    from civiccrm.services import sla
    from civiccrm.web import get_deployment
    from civiccrm.web.server import build

    monkeypatch.setenv("CIVICCRM_DATABASE_URL", database_url)
    app = build()
    with app.app_context():
        served = get_deployment()
    builds = []
    real_build = calendar._Timeline._build
    monkeypatch.setattr(calendar._Timeline, "_build", lambda self, y0, y1: builds.append((y0, y1)) or real_build(
        self, y0, y1))
    now = served.clock()
    types = [t for t in served.profile.taxonomy.service_types.values() if t.active]
    assert len(types) > 100
    for when in (now, now + timedelta(days=200), now + timedelta(days=360)):
        for service_type in types:
            sla.compute_due(served, service_type, when)
            sla.first_response_due(served, service_type, when)
    assert builds == []
    # The fixture's own deployment (its profile loaded apart, not warmed) builds one: the check above could fail.
    sla.compute_due(deployment, deployment.profile.taxonomy.service_types[types[0].code], now)
    assert builds


def test_stopping_the_server_prints_no_traceback(tmp_path):
    """Each gevent worker printed "Exception ignored in _removeHandlerRef ... TypeError" as it stopped (its log
    handlers collected after gevent's thread module was gone): ``worker_exit`` closes them first."""
    import requests

    from open311_helpers import start

    _, server, _ = start(f"sqlite:///{tmp_path / 'civiccrm.db'}", tmp_path)
    try:
        assert requests.get(f"{server.api}/services.json", timeout=30).status_code == 200
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "GET /open311/v2/services.json" in log  # the workers' log is the one read here
    assert "Traceback" not in log and "Exception ignored" not in log, log


def test_ctrl_c_stops_civiccrm_serve_without_a_traceback(tmp_path):
    """Ctrl-C reaches every process of the terminal's group (make run's): each gevent worker printed a SystemExit
    traceback from gevent's hub as its quit handler's ``sys.exit`` raced its own exit. Workers now stop on
    SIGINT and SIGQUIT as on SIGTERM, and the command exits 0."""
    import signal

    import requests

    from civiccrm.services.deployment import init_deployment
    from open311_helpers import Server

    url = f"sqlite:///{tmp_path / 'civiccrm.db'}"
    init_deployment(url, "kansas-city").engine.dispose()
    server = Server(url, tmp_path / "serve.log", cli=True)
    try:
        assert requests.get(f"{server.api}/services.json", timeout=30).status_code == 200
        os.killpg(server.process.pid, signal.SIGINT)
        assert server.process.wait(timeout=60) == 0, server.log_path.read_text()
    finally:
        server.stop()
    text = server.log_path.read_text()
    assert "GET /open311/v2/services.json" in text
    assert "Traceback" not in text and "failed with SystemExit" not in text, text
