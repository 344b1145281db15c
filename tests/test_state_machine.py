"""A hypothesis state machine over the life of cases on SQLite: intake and bad input through the Open311
app, notes, status changes, close, reopen and merge through the services layer, with refused moves and
unknown tracking numbers among them.

Invariants after every step: the cases are exactly the acknowledged creations (a 200 answer with a
tracking number, nothing for a 4xx), each case's history only grows (no event count falls, earlier
events never change), a refused move writes nothing, and no answer is a 5xx nor any exception other
than the CivicError a user can cause."""

import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import text

from civiccrm.domain.cases import Resolution, Status
from civiccrm.errors import CivicError
from civiccrm.services import apikeys
from civiccrm.services import cases as case_service
from civiccrm.web import create_app

API = "/open311/v2"
IN_CITY = {"lat": "39.0997", "long": "-94.5786"}
GOOD_TYPES = {"abandoned-vehicle": {}, "pothole-north-of-river": {"attribute[SIZE]": "small"},
              "trash-missed-by-city": {"attribute[CONTAINER]": "cart"}}
# Words a resident might type, with the characters that break naive code: quotes, NUL, scripts, emoji.
WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from civiccrm.services.deployment import init_deployment

    deployment = init_deployment(f"sqlite:///{tmp_path_factory.mktemp('machine') / 'civiccrm.db'}", "kansas-city")
    _, key = apikeys.add(deployment, name="machine app", channel="app")
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    yield deployment, client, key
    deployment.engine.dispose()


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every case's history as stored: tracking number -> [(id, kind, at, actor, changes, note), ...]."""
    with engine.connect() as conn:
        cases = {row[0]: [] for row in conn.execute(text("SELECT tracking_number FROM cases"))}
        for row in conn.execute(text(
                "SELECT c.tracking_number, e.id, e.kind, e.at, e.actor, e.changes, e.note "
                "FROM case_events e JOIN cases c ON c.id = e.case_id ORDER BY e.id")):
            cases[row[0]].append(tuple(row[1:]))
    return cases


def make_machine(deployment, client, key):
    class CaseLife(RuleBasedStateMachine):
        """The model: the tracking numbers this run was given, and the history last seen."""

        @initialize()
        def start(self):
            self.before = snapshot(deployment.engine)  # what earlier examples left (the database is shared)
            self.acknowledged: list[str] = []
            self.seen = self.before
            self.expect_growth: dict[str, int] = {}

        # --- intake and bad input through the Open311 app -------------------------------------------

        def _post(self, form):
            response = client.post(f"{API}/requests.json", data=form)
            assert response.status_code < 500, response.data
            if response.status_code == 200:
                tracking = response.get_json()[0]["service_request_id"]
                assert tracking not in self.seen and tracking not in self.acknowledged
                self.acknowledged.append(tracking)
                self.expect_growth[tracking] = 1  # exactly its creation event
            else:
                assert 400 <= response.status_code < 500
            return response

        @rule(code=st.sampled_from(sorted(GOOD_TYPES)), description=st.just("Cart not emptied") | WORDS.filter(str.strip))
        def intake(self, code, description):
            response = self._post({"api_key": key, "service_code": code, "description": description,
                                   **IN_CITY, **GOOD_TYPES[code]})
            # Hypothesis may write a description the API refuses (a control character); then nothing is stored.
            if response.status_code != 200:
                assert "description" in response.get_data(as_text=True)

        @rule(form=st.fixed_dictionaries({}, optional={
            "api_key": st.sampled_from([key, "", "not-a-key"]),
            "service_code": st.sampled_from([*GOOD_TYPES, "", "no-such-type", "' OR 1=1 --"]) | WORDS,
            "description": WORDS, "lat": st.sampled_from(["39.0997", "91", "", "x", "٣٩.١", "3_9"]) | WORDS,
            "long": st.sampled_from(["-94.5786", "-181", "", "NaN", "inf"]) | WORDS,
            "attribute[SIZE]": WORDS, "email": WORDS, "media_url": WORDS,
        }))
        def bad_post(self, form):
            self._post(form)

        @rule(query=st.fixed_dictionaries({}, optional={
            "page": WORDS, "page_size": WORDS, "status": WORDS, "service_code": WORDS,
            "start_date": st.sampled_from(["9999-12-31T00:00:00Z", "2026-13-01", ""]) | WORDS,
            "end_date": st.sampled_from(["0001-01-01T12:00:00Z", "2000-01-01T00:00:00Z"]) | WORDS,
            "service_request_id": WORDS,
        }))
        def bad_list(self, query):
            response = client.get(f"{API}/requests.json", query_string=query)
            assert response.status_code < 500, response.data

        # --- changes through the services layer -----------------------------------------------------

        def _tracking(self, data):
            """Mostly a case this run created, now and then one that does not exist."""
            unknown = st.sampled_from(["KC-1900-000000", "", "nonsense", "KC-2026-999999"])
            known = st.sampled_from(self.acknowledged)
            return data.draw(st.integers(0, 7).flatmap(lambda n: unknown if n == 0 else known), label="tracking")

        def _apply(self, grows: dict[str, int], change):
            """Run ``change``; if it is refused with a CivicError nothing may be written."""
            try:
                change()
            except CivicError as refused:
                assert str(refused)  # the message says what went wrong
                return False
            self.expect_growth.update(grows)
            return True

        @precondition(lambda self: self.acknowledged)
        @rule(data=st.data(), note=WORDS | st.just("Crew on site"), public=st.booleans())
        def note(self, data, note, public):
            tracking = self._tracking(data)
            self._apply({tracking: 1}, lambda: case_service.add_note(
                deployment, tracking, note, actor="machine", public=public))

        @precondition(lambda self: self.acknowledged)
        @rule(data=st.data(), status=st.sampled_from(list(Status)))
        def change_status(self, data, status):
            tracking = self._tracking(data)
            self._apply({tracking: 1}, lambda: case_service.change_status(deployment, tracking, status, actor="machine"))

        @precondition(lambda self: self.acknowledged)
        @rule(data=st.data(), resolution=st.none() | st.sampled_from(list(Resolution)))
        def close(self, data, resolution):
            tracking = self._tracking(data)
            self._apply({tracking: 1}, lambda: case_service.close(deployment, tracking, resolution, actor="machine"))

        @precondition(lambda self: self.acknowledged)
        @rule(data=st.data())
        def reopen(self, data):
            tracking = self._tracking(data)
            self._apply({tracking: 1}, lambda: case_service.reopen(deployment, tracking, actor="machine"))

        @precondition(lambda self: self.acknowledged)
        @rule(data=st.data())
        def merge(self, data):
            duplicate, into = self._tracking(data), self._tracking(data)
            self._apply({duplicate: 1, into: 1}, lambda: case_service.merge(deployment, duplicate, into, actor="machine"))

        # --- invariants -----------------------------------------------------------------------------

        @invariant()
        def history_only_grows_and_cases_are_the_acknowledged(self):
            now = snapshot(deployment.engine)
            assert set(now) == set(self.before) | set(self.acknowledged), "cases are not the acknowledged creations"
            for tracking, events in now.items():
                earlier = self.seen.get(tracking, [])
                assert events[:len(earlier)] == earlier, f"{tracking}: an earlier event changed or vanished"
                grown = len(events) - len(earlier)
                assert grown == self.expect_growth.get(tracking, 0), (
                    f"{tracking}: {grown} new events, expected {self.expect_growth.get(tracking, 0)}")
                assert events and events[0][1] in ("created", "imported"), f"{tracking}: no creation event"
            for tracking in self.acknowledged:
                assert json.loads(now[tracking][0][4])["status"] == [None, "new"]
            self.seen, self.expect_growth = now, {}

    return CaseLife


def test_case_life_state_machine(world):
    deployment, client, key = world
    run_state_machine_as_test(make_machine(deployment, client, key), settings=settings(
        max_examples=10, stateful_step_count=20, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
