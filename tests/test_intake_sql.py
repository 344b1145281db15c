"""Intake's SQL (issue 16, New York's size): the number, the case and its event in one statement on PostgreSQL,
the rate-limit hit counted right before the number is taken; on SQLite and PostgreSQL alike."""

import threading
from datetime import datetime, timezone

from sqlalchemy import text

from civiccrm.domain.cases import CaseDraft, Location
from civiccrm.services import apikeys
from civiccrm.services import cases as case_service
from civiccrm.web import create_app

NOW = datetime(2026, 6, 1, 15, 0, tzinfo=timezone.utc)
GOOD = {"service_code": "trash-missed-by-city", "description": "Cart not emptied", "lat": "39.0997",
        "long": "-94.5786", "attribute[CONTAINER]": "cart"}


def intake(deployment, n: int = 0):
    return case_service.intake(deployment, CaseDraft(
        service_code="trash-missed-by-city", description=f"hole {n}", channel="web",
        location=Location(latitude=39.0997, longitude=-94.5786)), actor="tester")


def stored(deployment) -> list[tuple]:
    """(id, tracking number, events of kind created, newest event's case) of every case, by id."""
    with deployment.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT c.id, c.tracking_number, (SELECT count(*) FROM case_events e WHERE e.case_id = c.id"
            " AND e.kind = 'created') FROM cases c ORDER BY c.id"))]


def run_threads(count: int, work) -> list:
    errors, start = [], threading.Barrier(count, timeout=30)

    def guarded(i):
        try:
            start.wait()
            work(i)
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    pool = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_concurrent_intake_numbers_are_unique_gap_free_and_in_the_order_the_cases_were_stored(deployment):
    deployment.clock = lambda: NOW
    before = len(stored(deployment))
    answered = []
    errors = run_threads(4, lambda i: answered.extend(intake(deployment, i * 10 + n).tracking_number
                                                      for n in range(5)))
    assert errors == []
    rows = stored(deployment)[before:]
    assert sorted(answered) == [number for _, number, _ in rows]  # what each intake answered is what is stored
    # In id order (the order the rows were written) the numbers count up from 1 without a gap.
    assert [number for _, number, _ in rows] == [f"KC-2026-{n:06d}" for n in range(1, 21)]
    assert {created for _, _, created in rows} == {1}  # each case with its one created event


def test_a_number_past_a_million_keeps_every_digit(deployment):
    deployment.clock = lambda: NOW
    with deployment.engine.begin() as conn:
        conn.execute(text("INSERT INTO tracking_counters (year, last) VALUES (2026, 999999)"))
    assert [intake(deployment, n).tracking_number for n in range(2)] == ["KC-2026-1000000", "KC-2026-1000001"]
    first = case_service.get(deployment, "KC-2026-1000000")
    assert [e.kind for e in case_service.history(deployment, first.tracking_number)] == ["created"]


def test_the_post_limit_is_exact_under_concurrent_posts_and_a_refused_post_takes_no_number(deployment):
    """Twelve POSTs of one key from four workers at once against a limit of five: five stored (numbers 1-5, none
    skipped by the refused seven), seven 429s; a refused POST's hit goes back with its transaction, so the key's
    counter holds the five."""
    deployment.clock = lambda: NOW
    _, key = apikeys.add(deployment, name="busy app", channel="app")
    workers = [create_app({"TESTING": True, "OPEN311_POST_LIMIT": 5}, deployment=deployment).test_client()
               for _ in range(4)]
    before = len(stored(deployment))
    statuses = []
    errors = run_threads(4, lambda i: statuses.extend(
        workers[i].post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).status_code for _ in range(3)))
    assert errors == []
    assert sorted(statuses) == [200] * 5 + [429] * 7
    rows = stored(deployment)[before:]
    assert [number for _, number, _ in rows] == [f"KC-2026-{n:06d}" for n in range(1, 6)]
    with deployment.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(hits) FROM rate_limits WHERE scope = 'open311:post'")).scalar() == 5
        assert conn.execute(text("SELECT last FROM tracking_counters WHERE year = 2026")).scalar() == 5
