"""Backup while writes continue, restore into an empty database, and compare."""

import threading
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.services import cases as case_service
from civiccrm.services.deployment import init_deployment, open_deployment


def new_case(deployment, n):
    return case_service.intake(deployment, CaseDraft(
        service_code="Trash - Missed by City", description=f"Cart not emptied #{n}", channel="phone",
        location=Location(address="938 Mulberry St"), customer=Customer(name=f"Resident {n}")), actor="tester")


def content(engine, *, up_to_case=None):
    where = "" if up_to_case is None else f" WHERE id <= {up_to_case}"
    event_where = "" if up_to_case is None else f" WHERE case_id <= {up_to_case}"
    with engine.connect() as conn:
        return (conn.execute(text(f"SELECT * FROM cases{where} ORDER BY id")).all(),
                conn.execute(text(f"SELECT * FROM case_events{event_where} ORDER BY id")).all())


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A second, empty database on the same backend, to restore into."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"r_{uuid.uuid4().hex}"
    admin = dict(host=url.host, port=url.port, user=url.username, dbname=url.database)
    with psycopg.connect(autocommit=True, **admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(autocommit=True, **admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_while_writing_then_restore_and_compare(database_url, empty_database_url, tmp_path):
    deployment = init_deployment(database_url, "kansas-city")
    for n in range(20):
        new_case(deployment, n)
    stop, written = threading.Event(), []

    def keep_writing():
        n = 100
        while not stop.is_set():
            written.append(new_case(deployment, n).id)
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        runner = CliRunner()
        out = tmp_path / "civiccrm.backup"
        made = runner.invoke(cli, ["--db", database_url, "db", "backup", "--out", str(out)])
        assert made.exit_code == 0, made.output
    finally:
        stop.set()
        writer.join()
    assert written, "the writer wrote nothing during the backup"

    restored = runner.invoke(cli, ["--db", empty_database_url, "db", "restore", str(out)])
    assert restored.exit_code == 0, restored.output
    copy = open_deployment(empty_database_url)
    cases, events = content(copy.engine)
    assert len(cases) >= 20
    # a consistent snapshot: every case has its created event, and it equals the source up to there
    assert {e.case_id for e in events if e.kind == "created"} == {c.id for c in cases}
    assert content(deployment.engine, up_to_case=cases[-1].id) == (cases, events)
    # the restored database works: a new case gets the next tracking number (ids may skip on PostgreSQL)
    fresh = new_case(copy, 999)
    assert fresh.id > cases[-1].id
    assert int(fresh.tracking_number.rsplit("-", 1)[1]) == int(cases[-1].tracking_number.rsplit("-", 1)[1]) + 1
    copy.engine.dispose()
    deployment.engine.dispose()


def test_backup_and_restore_refuse_what_would_lose_data(database_url, empty_database_url, tmp_path):
    deployment = init_deployment(database_url, "kansas-city")
    runner = CliRunner()
    out = tmp_path / "taken"
    out.write_text("keep me")
    again = runner.invoke(cli, ["--db", database_url, "db", "backup", "--out", str(out)])
    assert again.exit_code == 1 and "never overwrites" in again.output and out.read_text() == "keep me"
    into_full = runner.invoke(cli, ["--db", database_url, "db", "restore", str(out)])
    assert into_full.exit_code == 1 and "restore into a new, empty database" in into_full.output
    if make_url(database_url).get_backend_name() == "sqlite":
        not_a_backup = runner.invoke(cli, ["--db", empty_database_url, "db", "restore", str(out)])
        assert not_a_backup.exit_code == 1 and "not an SQLite backup" in not_a_backup.output
    assert "Traceback" not in again.output + into_full.output
    deployment.engine.dispose()
