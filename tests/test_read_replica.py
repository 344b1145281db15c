"""Reports and exports read a streaming replica with --read-db (or CIVICCRM_READ_DATABASE_URL): a real
PostgreSQL standby on loopback, made with pg_basebackup -R from the suite's server (scripts/with-postgres).

With the standby's replay paused, a case added on the primary is in a report read from --db and not in one
read from --read-db; once replay resumes, both say the same. Writes never go to the replica."""

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Location
from civiccrm.services import cases as case_service
from open311_helpers import ROOT, free_port

pytestmark = pytest.mark.postgresql


def bindir() -> str:
    found = subprocess.run(["bash", str(ROOT / "scripts" / "with-postgres"), "--bindir"], capture_output=True,
                           text=True)
    if found.returncode != 0:
        pytest.fail(f"PostgreSQL binaries not found: {found.stderr}")
    return found.stdout.strip()


def as_owner(command: list[str], owner: str | None) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run the server as the cluster owner."""
    return ["runuser", "-u", owner, "--", *command] if owner else command


@pytest.fixture
def replica(database_url):
    """(primary URL, replica URL) of the test's database: a hot standby streaming from the suite's server."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a streaming replica is PostgreSQL's")
    primary = make_url(database_url)
    bin_dir = bindir()
    owner = "postgres" if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="civiccrm-standby.", dir="/tmp"))
    data = home / "data"
    port = free_port()
    subprocess.run([f"{bin_dir}/pg_basebackup", "-h", primary.host, "-p", str(primary.port), "-U", primary.username,
                    "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast"], check=True, capture_output=True)
    if owner:
        shutil.chown(home, owner)
        subprocess.run(["chown", "-R", owner, str(home)], check=True)
    data.chmod(0o700)
    log = home / "standby.log"
    started = subprocess.run(as_owner([f"{bin_dir}/pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                       "-o", f"-k {home} -h 127.0.0.1 -p {port} -F -c hot_standby=on", "start"],
                                      owner), capture_output=True, text=True, cwd=home)
    try:
        assert started.returncode == 0, started.stderr + (log.read_text() if log.exists() else "")
        yield database_url, primary.set(port=port).render_as_string(hide_password=False)
    finally:
        subprocess.run(as_owner([f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                       capture_output=True, cwd=home)
        shutil.rmtree(home, ignore_errors=True)


def new_case(deployment):
    return case_service.intake(deployment, CaseDraft(
        service_code="abandoned-vehicle", description="Car on blocks", channel="phone",
        location=Location(latitude=39.0997, longitude=-94.5786)))


def opened(runner, *db_args) -> int:
    result = runner.invoke(cli, [*db_args, "report", "summary", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["total"]["opened"]


def wait_for(predicate, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"the standby did not {what} in {seconds} s"
        time.sleep(0.1)


def test_reports_and_exports_read_the_replica(replica, tmp_path):
    from civiccrm.services.deployment import init_deployment

    primary_url, replica_url = replica
    deployment = init_deployment(primary_url, "kansas-city")
    standby = create_engine(replica_url)
    try:
        first = new_case(deployment)
        with standby.connect() as conn:
            def caught_up(number=first.tracking_number):
                conn.rollback()
                try:
                    found = conn.scalar(text("SELECT count(*) FROM cases WHERE tracking_number = :n"), {"n": number})
                except ProgrammingError:  # the standby has not replayed the schema yet: "cases" does not exist there
                    return False
                return found == 1
            wait_for(caught_up, "receive the first case")
            assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
            conn.execute(text("SELECT pg_wal_replay_pause()"))
            conn.commit()
        second = new_case(deployment)  # on the primary only, while the standby's replay is paused

        runner = CliRunner()
        assert opened(runner, "--db", primary_url) == 2
        assert opened(runner, "--db", primary_url, "--read-db", replica_url) == 1
        runner_env = CliRunner(env={"CIVICCRM_READ_DATABASE_URL": replica_url})
        assert opened(runner_env, "--db", primary_url) == 1

        out = tmp_path / "cases.csv"
        exported = runner.invoke(cli, ["--db", primary_url, "--read-db", replica_url, "export", "cases",
                                       "--format", "csv", "--out", str(out), "--json"])
        assert exported.exit_code == 0, exported.output
        body = out.read_text(encoding="utf-8")
        assert first.tracking_number in body and second.tracking_number not in body

        # A write named alongside --read-db still goes to the primary.
        noted = runner.invoke(cli, ["--db", primary_url, "--read-db", replica_url, "case", "update",
                                    second.tracking_number, "--note", "Crew sent"])
        assert noted.exit_code == 0, noted.output
        assert case_service.history(deployment, second.tracking_number)[-1].note == "Crew sent"

        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()
            wait_for(lambda: caught_up(second.tracking_number), "replay the second case")
        assert opened(runner, "--db", primary_url, "--read-db", replica_url) == 2
    finally:
        standby.dispose()
        deployment.engine.dispose()
