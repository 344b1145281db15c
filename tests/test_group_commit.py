"""Intakes of one process that wait for SQLite's writer turn share it and its commit (``repo.grouped_write``)."""

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import func, select

from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.errors import CivicError
from civiccrm.services import cases
from civiccrm.store import db, repo
from civiccrm.store.tables import cases_table, customers_table

POINT = (39.0997, -94.5786)


def draft(n: int) -> CaseDraft:
    return CaseDraft(service_code="Trash - Missed by City", description=f"Cart not emptied ({n})", channel="phone",
                     location=Location(address="414 E 12th St", latitude=POINT[0], longitude=POINT[1]),
                     customer=Customer(name=f"Resident {n}", phone=f"816-555-01{n:02d}"))


def stored(deployment) -> list[str]:
    with deployment.engine.connect() as connection:
        return sorted(connection.execute(select(cases_table.c.description)).scalars())


def customers(deployment) -> int:
    with deployment.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(customers_table)).scalar_one()


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def run_while_the_turn_is_held(deployment, monkeypatch, jobs) -> tuple[dict, list]:
    """Start ``jobs`` (n -> callable) in threads while the test holds the writer's turn, let them all join one
    group, then release it; (results or errors by n, the writer turns taken)."""
    queue = db._queue(deployment.engine)
    turns, turn = [], repo.writer_turn
    monkeypatch.setattr(repo, "writer_turn", lambda engine: turns.append(engine) or turn(engine))
    outcome = {}

    def run(n, job):
        try:
            outcome[n] = job()
        except Exception as exc:  # the test reads each writer's error
            outcome[n] = exc

    threads = []
    with db.writer_turn(deployment.engine):
        for n, job in jobs.items():
            threads.append(threading.Thread(target=run, args=(n, job), daemon=True))
            threads[-1].start()
            wait_for(lambda: queue.forming is not None and queue.forming.members == len(threads))
    for thread in threads:
        thread.join(30)
    return outcome, turns


def test_intakes_waiting_for_the_turn_share_one_turn_and_one_commit(sqlite_deployment, monkeypatch):
    deployment = sqlite_deployment
    outcome, turns = run_while_the_turn_is_held(
        deployment, monkeypatch, {n: (lambda n=n: cases.intake(deployment, draft(n))) for n in range(5)})
    assert len(turns) == 1, "five intakes took one writer's turn"
    numbers = {case.tracking_number for case in outcome.values()}
    assert len(numbers) == 5
    assert stored(deployment) == sorted(f"Cart not emptied ({n})" for n in range(5))
    for case in outcome.values():
        assert cases.get(deployment, case.tracking_number).description == case.description
    assert customers(deployment) == 5


@pytest.mark.parametrize("failing", [0, 2])
def test_a_part_that_fails_is_rolled_back_alone(sqlite_deployment, monkeypatch, failing):
    """The group's leader (0, the first to arrive) or a member (2) fails inside the transaction, after its
    customer's row is written: its case and customer are not stored, and it gets its error; the others are."""
    deployment = sqlite_deployment

    def refuse(connection):
        raise CivicError("api_key: too many requests")

    def job(n):
        return cases.intake(deployment, draft(n), in_transaction=refuse if n == failing else None)

    outcome, turns = run_while_the_turn_is_held(deployment, monkeypatch, {n: (lambda n=n: job(n)) for n in range(4)})
    assert len(turns) == 1
    assert isinstance(outcome[failing], CivicError) and "too many requests" in str(outcome[failing])
    assert stored(deployment) == sorted(f"Cart not emptied ({n})" for n in range(4) if n != failing)
    assert customers(deployment) == 3


def test_a_failed_commit_is_every_parts_error(sqlite_deployment, monkeypatch):
    """Nothing is acknowledged that was not committed: when the group's commit fails, every member raises."""
    from sqlalchemy.engine import Connection

    deployment = sqlite_deployment
    commit = Connection.commit

    def failing_commit(self):
        if self.in_transaction() and threading.current_thread() is not threading.main_thread():
            raise RuntimeError("disk I/O error")
        return commit(self)

    monkeypatch.setattr(Connection, "commit", failing_commit)
    outcome, _ = run_while_the_turn_is_held(
        deployment, monkeypatch, {n: (lambda n=n: cases.intake(deployment, draft(n))) for n in range(3)})
    monkeypatch.setattr(Connection, "commit", commit)
    assert all(isinstance(error, RuntimeError) for error in outcome.values()), outcome
    assert stored(deployment) == []


def test_a_writer_waiting_for_another_process_lets_its_worker_serve_others(tmp_path):
    """Under gevent, a writer waiting for another process's turn waits in gevent's thread pool: the worker's
    other greenlets go on (a blocking flock in the worker's thread would stop all of them)."""
    path = tmp_path / "civiccrm.db-writers.lock"
    path.touch()
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        import os, sys, time
        import gevent
        from civiccrm.store.db import _lock_file
        fd = os.open({str(path)!r}, os.O_RDWR)
        ticks, done = [], []
        def tick():
            while not done:
                ticks.append(1)
                gevent.sleep(0.01)
        other = gevent.spawn(tick)
        gevent.sleep(0)
        print("ready", flush=True)
        started = time.monotonic()
        _lock_file(fd)
        waited = time.monotonic() - started
        done.append(1)
        other.join()
        print(f"{{waited:.3f}} {{len(ticks)}}")
    """)
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    waited, ticks = out.split()
    assert float(waited) > 0.3, "the child waited for the lock the test held"
    assert int(ticks) >= 10, f"the other greenlet ran {ticks} times while the writer waited"


class Stopped(BaseException):
    """What stops a greenlet or a thread from outside (GreenletExit, KeyboardInterrupt)."""


def test_a_member_stopped_while_it_waits_does_not_hold_up_its_group(sqlite_deployment):
    deployment = sqlite_deployment
    queue = db._queue(deployment.engine)
    outcome = {}
    leader = threading.Thread(target=lambda: outcome.setdefault("case", cases.intake(deployment, draft(1))), daemon=True)
    with db.writer_turn(deployment.engine):
        leader.start()
        wait_for(lambda: queue.forming is not None and queue.forming.members == 1)
        group = queue.forming

        def stopped(timeout=None):
            raise Stopped()

        group.opened.wait = stopped
        with pytest.raises(Stopped):
            with repo.grouped_write(deployment.engine):
                pass  # never reached: the member is stopped while it waits for the group's transaction
    leader.join(15)
    assert not leader.is_alive(), "the leader waited for a member that had stopped"
    assert stored(deployment) == ["Cart not emptied (1)"]
