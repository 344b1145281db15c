"""Open311 bad input and leaks: 400 with the field named, keys only in the body, no Host echo, no secrets logged."""

import json

import pytest
import requests

from civiccrm.services import apikeys
from civiccrm.web import create_app
from civiccrm.web.access_log import redact_path
from open311_helpers import start

GOOD = {"service_code": "trash-missed-by-city", "description": "Cart not emptied", "lat": "39.0997",
        "long": "-94.5786", "attribute[CONTAINER]": "cart"}


@pytest.fixture
def api(sqlite_deployment):
    _, key = apikeys.add(sqlite_deployment, name="test app", channel="app")
    client = create_app({"TESTING": True}, deployment=sqlite_deployment).test_client()
    return client, key


def field_of(response):
    body = response.get_json()
    return body[0]["description"] if isinstance(body, list) else body


@pytest.mark.parametrize("query, field", [
    ({"page": "²"}, "page"), ({"page": "١"}, "page"), ({"page_size": "1_0"}, "page_size"),
    ({"page": "99999999999999999999"}, "page"),
    ({"start_date": "9999-12-31T00:00:00Z"}, "start_date"), ({"end_date": "0001-01-01T12:00:00Z"}, "end_date"),
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "9999-12-31T00:00:00Z"}, "end_date"),
])
def test_bad_list_parameters_are_400_naming_the_field(api, query, field):
    client, _ = api
    response = client.get("/open311/v2/requests.json", query_string=query)
    assert response.status_code == 400, response.data
    assert field_of(response).startswith(field)


@pytest.mark.parametrize("lat, long", [("٣٩.١", "-94.5786"), ("3_9.1", "-94.5786"), ("39.0997", "-9_4.5"),
                                       ("nan", "-94.5"), ("39.0997", "inf")])
def test_coordinates_are_ascii_decimals(api, lat, long):
    client, key = api
    response = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "lat": lat, "long": long})
    assert response.status_code == 400
    assert field_of(response).split(":")[0] in ("lat", "long")


def test_a_body_that_is_not_utf8_is_refused_naming_the_encoding(api):
    client, key = api
    body = f"api_key={key}&service_code=trash-missed-by-city&description=Caf\xe9&lat=39.0997&long=-94.5786"
    response = client.post("/open311/v2/requests.json", data=body.encode("latin-1"),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "UTF-8" in field_of(response)
    declared = client.post("/open311/v2/requests.json", data=body.encode("latin-1"),
                           content_type="application/x-www-form-urlencoded; charset=ISO-8859-1")
    assert declared.status_code == 400 and "charset" in field_of(declared)
    fine = client.post("/open311/v2/requests.json", data=body.encode("utf-8") + b"&attribute[CONTAINER]=cart",
                       content_type="application/x-www-form-urlencoded; charset=utf-8")
    assert fine.status_code == 200, fine.data


def test_api_key_in_the_url_is_refused(api):
    client, key = api
    response = client.post(f"/open311/v2/requests.json?api_key={key}", data=GOOD)
    assert response.status_code == 400 and "POST body" in field_of(response)


def test_discovery_does_not_echo_the_host_header(sqlite_deployment):
    app = create_app({"TESTING": True, "PUBLIC_URL": "https://311.kcmo.example"}, deployment=sqlite_deployment)
    response = app.test_client().get("/open311/v2/discovery.json", headers={"Host": "evil.example"})
    [endpoint] = response.get_json()["endpoints"]
    assert endpoint["url"] == "https://311.kcmo.example/open311/v2"
    assert b"evil.example" not in response.data


def test_redact_path_masks_tokens_not_tracking_numbers():
    assert redact_path("/survey/3q2-_Zx9aKe7Rm5TtY0bW1cLp4/opt-out") == "/survey/[token]/opt-out"
    assert redact_path("/open311/v2/requests/KC-2026-000001.json") == "/open311/v2/requests/KC-2026-000001.json"


def test_access_log_holds_no_key_or_token(tmp_path):
    deployment, server, key = start(f"sqlite:///{tmp_path / 'civiccrm.db'}", tmp_path)
    try:
        requests.post(f"{server.api}/requests.json?api_key={key}", data=GOOD, timeout=10)
        requests.get(f"{server.base}/survey/AbCdEfGhIjKlMnOpQrStUvWxYz012345", timeout=10)
        requests.get(f"{server.api}/requests.json", params={"api_key": key, "email": "x@example.org"}, timeout=10)
    finally:
        server.stop()
        deployment.engine.dispose()
    log = server.log_path.read_text()
    assert "POST /open311/v2/requests.json" in log and "/survey/[token]" in log
    assert key not in log and "AbCdEfGhIjKl" not in log and "x@example.org" not in log


# --- who may change what -------------------------------------------------------------------


def test_a_key_updates_only_its_own_cases_and_never_imported_history(sqlite_deployment):
    from datetime import datetime, timezone

    from civiccrm.domain.cases import CaseDraft, Location, Resolution
    from civiccrm.services import cases as case_service

    deployment = sqlite_deployment
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    _, mine = apikeys.add(deployment, name="web form", channel="web")
    _, other = apikeys.add(deployment, name="other app", channel="app")
    _, partner = apikeys.add(deployment, name="partner system", channel="app", scope="all")
    created = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": mine}).get_json()[0]
    number = created["service_request_id"]

    def update(key, case, status="open"):
        return client.post("/open311/v2/servicerequestupdates.json", data={
            "api_key": key, "service_request_id": case, "status": status, "description": "any news?"})

    assert update(mine, number).status_code == 200
    refused = update(other, number)
    assert refused.status_code == 403 and "only the requests it created" in refused.get_json()[0]["description"]
    assert update(partner, number).status_code == 200

    old = case_service.intake(deployment, CaseDraft(
        service_code="trash-missed-by-city", description="2007 case", channel="phone", origin="import:kcmo",
        opened_at=datetime(2007, 3, 1, 15, tzinfo=timezone.utc), location=Location(address="1 Main St")))
    case_service.close(deployment, old.tracking_number, Resolution.FIXED)
    before = case_service.get(deployment, old.tracking_number)
    for key in (mine, partner):
        answer = update(key, old.tracking_number)
        assert answer.status_code == 403 and "imported history" in answer.get_json()[0]["description"]
    after = case_service.get(deployment, old.tracking_number)
    assert (after.status, after.resolution, after.closed_at, after.on_time) == (
        before.status, before.resolution, before.closed_at, before.on_time)


def test_apikey_add_scope_on_the_command_line(sqlite_deployment):
    from click.testing import CliRunner

    from civiccrm.cli import cli

    url = sqlite_deployment.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    made = runner.invoke(cli, ["--db", url, "apikey", "add", "--name", "Partner", "--channel", "app", "--scope", "all"])
    assert made.exit_code == 0 and "updates to all cases" in made.output
    listed = runner.invoke(cli, ["--db", url, "apikey", "list", "--json"])
    assert '"scope": "all"' in listed.output
    bad = runner.invoke(cli, ["--db", url, "apikey", "add", "--name", "X", "--channel", "app", "--scope", "every"])
    assert bad.exit_code == 2 and "--scope" in bad.output


# --- a retried POST ----------------------------------------------------------------------------


def count(deployment):
    from sqlalchemy import text

    with deployment.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM cases")).scalar()


def test_a_post_retried_with_its_idempotency_key_returns_the_first_answer(deployment):
    _, key = apikeys.add(deployment, name="app", channel="app")
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    first = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key},
                        headers={"Idempotency-Key": "retry-7f3a"})
    again = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key},
                        headers={"Idempotency-Key": "retry-7f3a"})
    as_field = client.post("/open311/v2/requests.xml", data={**GOOD, "api_key": key, "idempotency_key": "retry-7f3a"})
    assert first.status_code == again.status_code == as_field.status_code == 200
    assert again.get_json() == first.get_json()
    assert first.get_json()[0]["service_request_id"].encode() in as_field.data
    assert count(deployment) == 1
    other = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "description": "Another cart"},
                        headers={"Idempotency-Key": "retry-7f3a"})
    assert other.status_code == 400 and "different request" in other.get_json()[0]["description"]
    without = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key})
    assert without.status_code == 200 and count(deployment) == 2


def test_a_refused_post_does_not_burn_its_idempotency_key(sqlite_deployment):
    _, key = apikeys.add(sqlite_deployment, name="app", channel="app")
    client = create_app({"TESTING": True}, deployment=sqlite_deployment).test_client()
    bad = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "lat": "91"},
                      headers={"Idempotency-Key": "k1"})
    assert bad.status_code == 400 and count(sqlite_deployment) == 0
    good = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}, headers={"Idempotency-Key": "k1"})
    assert good.status_code == 200 and count(sqlite_deployment) == 1
    too_long = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key},
                           headers={"Idempotency-Key": "x" * 201})
    assert too_long.status_code == 400 and "idempotency_key" in too_long.get_json()[0]["description"]


# --- an update's answer is its own row -------------------------------------------------------


def update_form(key, number, text, status="open"):
    return {"api_key": key, "service_request_id": number, "status": status, "description": text}


def test_an_update_answers_the_row_it_wrote_when_another_lands_first(deployment):
    """Another client's note committed between this write and its reply (the race, made certain by a
    plugin that writes one in case_updated, which fires after the commit) is not this reply's."""
    from civiccrm import hookimpl
    from civiccrm.services import cases as case_service

    _, key = apikeys.add(deployment, name="app", channel="app")
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    number = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).get_json()[0]["service_request_id"]

    class OtherClient:
        @hookimpl
        def case_updated(self, deployment, case, event):
            if event.note == "mine":
                case_service.add_note(deployment, case.tracking_number, "theirs", actor="other", public=True)

    deployment.pm.register(OtherClient(), name="other-client")
    try:
        reply = client.post("/open311/v2/servicerequestupdates.json", data=update_form(key, number, "mine"))
    finally:
        deployment.pm.unregister(name="other-client")
    assert reply.status_code == 200, reply.data
    notes = {e.id: e.note for e in case_service.history(deployment, number)}
    assert notes[int(reply.get_json()[0]["update_id"])] == "mine"
    assert "theirs" in notes.values()


def test_eight_concurrent_clients_on_one_case_each_get_their_own_row(deployment):
    from concurrent.futures import ThreadPoolExecutor

    from civiccrm.services import cases as case_service

    _, key = apikeys.add(deployment, name="app", channel="app")
    app = create_app({"TESTING": True}, deployment=deployment)
    number = app.test_client().post("/open311/v2/requests.json",
                                    data={**GOOD, "api_key": key}).get_json()[0]["service_request_id"]

    def client_posts(n):
        client = app.test_client()
        replies = []
        for i in range(6):
            text = f"client {n} update {i}"
            reply = client.post("/open311/v2/servicerequestupdates.json", data=update_form(key, number, text))
            assert reply.status_code == 200, reply.data
            replies.append((text, int(reply.get_json()[0]["update_id"])))
        return replies

    with ThreadPoolExecutor(8) as pool:
        replies = [r for rs in pool.map(client_posts, range(8)) for r in rs]
    notes = {e.id: e.note for e in case_service.history(deployment, number)}
    assert len(replies) == 48 and len({i for _, i in replies}) == 48
    assert [notes[i] for _, i in replies] == [text for text, _ in replies]


class RowsRead:
    """What the database did for the statements run while counting: on SQLite the virtual machine's
    steps (a progress handler every 10 instructions), on PostgreSQL the rows SELECTs returned."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.engine, self.event, self.count = engine, event, 0
        self.sqlite = engine.dialect.name == "sqlite"

    def _step(self):
        self.count += 1
        return 0

    def _checkout(self, dbapi_connection, record, proxy):
        dbapi_connection.set_progress_handler(self._step, 10)

    def _checkin(self, dbapi_connection, record):
        dbapi_connection.set_progress_handler(None, 0)

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") or " RETURNING " in statement.upper():
            self.count += max(cursor.rowcount, 0)

    def __enter__(self):
        self.engine.dispose()  # every connection is checked out afresh, with the handler
        if self.sqlite:
            self.event.listen(self.engine, "checkout", self._checkout)
            self.event.listen(self.engine, "checkin", self._checkin)
        else:
            self.event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        if self.sqlite:
            self.event.remove(self.engine, "checkout", self._checkout)
            self.event.remove(self.engine, "checkin", self._checkin)
        else:
            self.event.remove(self.engine, "after_cursor_execute", self._after)


def test_an_update_does_not_read_the_case_history(deployment):
    """A case with 3,000 events is updated with the work of a case with one (the old code read them all)."""
    from civiccrm.domain.cases import CaseEvent
    from civiccrm.store import repo
    from civiccrm.store.tables import events_table

    _, key = apikeys.add(deployment, name="app", channel="app")
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    short, long = (client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).get_json()[0]
                   ["service_request_id"] for _ in range(2))
    from civiccrm.services import cases as case_service

    long_id = case_service.get(deployment, long).id
    at = deployment.clock()
    with deployment.engine.begin() as conn:
        repo.bulk_insert(conn, events_table, [repo.event_values(long_id, CaseEvent(
            kind="public_note", at=at, actor="crew", note=f"visit {i}")) for i in range(3000)])

    def work(number):
        client.post("/open311/v2/servicerequestupdates.json", data=update_form(key, number, "warm-up"))
        with RowsRead(deployment.engine) as rows:
            reply = client.post("/open311/v2/servicerequestupdates.json", data=update_form(key, number, "any news?"))
        assert reply.status_code == 200, reply.data
        return rows.count

    few, many = work(short), work(long)
    assert many <= few * 1.25 + 20, (few, many)


# --- rate limits per API key -------------------------------------------------------------------------


def test_open311_is_rate_limited_per_api_key_across_workers(sqlite_deployment):
    deployment = sqlite_deployment
    _, mine = apikeys.add(deployment, name="busy app", channel="app")
    _, other = apikeys.add(deployment, name="other app", channel="app")
    workers = [create_app({"TESTING": True, "OPEN311_POST_LIMIT": 3, "OPEN311_GET_LIMIT": 2},
                          deployment=deployment).test_client() for _ in range(2)]  # the count is in the database
    statuses = [workers[n % 2].post("/open311/v2/requests.json", data={**GOOD, "api_key": mine}).status_code
                for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = workers[0].post("/open311/v2/requests.xml", data={**GOOD, "api_key": mine})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert b"too many requests from this api_key" in limited.data
    assert count(deployment) == 3
    assert workers[1].post("/open311/v2/requests.json", data={**GOOD, "api_key": other}).status_code == 200
    gets = [workers[n % 2].get("/open311/v2/services.json", query_string={"api_key": other}).status_code
            for n in range(3)]
    assert gets == [200, 200, 429]
    assert workers[0].get("/open311/v2/services.json", query_string={"api_key": mine}).status_code == 200
    assert all(workers[0].get("/open311/v2/services.json").status_code == 200 for _ in range(3))  # the proxy's
    counted = create_app({"TESTING": True, "OPEN311_ANONYMOUS_GET_LIMIT": 2}, deployment=deployment).test_client()
    assert [counted.get("/open311/v2/services.json").status_code for _ in range(3)] == [200, 200, 429]


def test_a_new_request_is_counted_in_intakes_own_write_transaction(deployment, monkeypatch):
    """One writer turn per POST (the hit and the case commit together); a POST refused before intake (bad data,
    a bad key) still counts, and past the limit it is 429, not its 400 or 403, with nothing stored."""
    from sqlalchemy import func, select

    from civiccrm.store import repo
    from civiccrm.store.tables import events_table, rate_limits_table
    from civiccrm.web import limits

    _, key = apikeys.add(deployment, name="busy app", channel="app")
    client = create_app({"TESTING": True, "OPEN311_POST_LIMIT": 3}, deployment=deployment).test_client()
    turns, turn = [], repo.writer_turn
    monkeypatch.setattr(repo, "writer_turn", lambda engine: turns.append(engine) or turn(engine))
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).status_code == 200
    monkeypatch.setattr(repo, "writer_turn", turn)
    assert len(turns) == 1
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "lat": "x"}).status_code == 400
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key + "x"}).status_code == 403
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).status_code == 200
    with deployment.engine.connect() as connection:
        stored = [connection.execute(select(func.count()).select_from(events_table)).scalar_one(), count(deployment)]
    for form in ({**GOOD, "api_key": key}, {**GOOD, "api_key": key, "lat": "x"}):
        refused = client.post("/open311/v2/requests.json", data=form)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0, refused.data
    with deployment.engine.connect() as connection:
        assert [connection.execute(select(func.count()).select_from(events_table)).scalar_one(),
                count(deployment)] == stored
        hits = dict(connection.execute(select(rate_limits_table.c.key, rate_limits_table.c.hits)
                                       .where(rate_limits_table.c.scope == "open311:post")).all())
    # Under the key: two good POSTs, a bad one, and the refused bad one (counted on its own; the refused good
    # one's hit went back with intake's transaction); the bad key under its own.
    assert hits == {limits.api_key_id(key): 4, limits.api_key_id(key + "x"): 1}


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_time(sqlite_deployment, monkeypatch):
    """A worker believes a key it found active for API_KEY_CACHE_SECONDS; revoked through another process (here
    another deployment on the same file, as the CLI is), it is refused once that time has passed."""
    from civiccrm.services.deployment import open_deployment

    now = [1000.0]
    monkeypatch.setattr(apikeys, "monotonic", lambda: now[0])
    found, key = apikeys.add(sqlite_deployment, name="soon revoked", channel="app")
    client = create_app({"TESTING": True, "API_KEY_CACHE_SECONDS": 5}, deployment=sqlite_deployment).test_client()
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).status_code == 200
    other = open_deployment(str(sqlite_deployment.engine.url))
    try:
        apikeys.revoke(other, found.id)
    finally:
        other.engine.dispose()
    now[0] += 4.9
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key}).status_code == 200
    now[0] += 0.2
    refused = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key})
    assert refused.status_code == 403 and "revoked" in field_of(refused)
    assert client.post("/open311/v2/requests.json", data={**GOOD, "api_key": "c311_unknown"}).status_code == 403
    assert list(sqlite_deployment.api_keys_seen) == []  # neither the revoked key nor an unknown one is kept


def test_the_default_limits_hold_a_3000_call_monday(sqlite_deployment):
    """Kansas City's busiest days bring about 3,000 calls; were every one a request through one app's key,
    with a fifth of them in the peak hour and its busiest minute at twice the hour's rate, no POST
    (nor the GETs an app makes around each, five per POST) is refused by the defaults."""
    from datetime import datetime, timedelta, timezone

    from civiccrm.store import ratelimit
    from civiccrm.web import create_app as make
    from civiccrm_plugins.open311.api import LIMITS, WINDOW

    app = make({"TESTING": True}, deployment=sqlite_deployment)
    window = app.config.get(WINDOW[0], WINDOW[1])
    peak_hour = 3000 // 5
    busiest_minute = peak_hour * 2 // 60
    start = datetime(2026, 11, 30, 15, tzinfo=timezone.utc)
    refused = []
    with sqlite_deployment.engine.begin() as connection:
        for method, per_post in (("POST", 1), ("GET", 5)):
            scope, key, default = LIMITS[method]
            hits = busiest_minute * per_post
            for n in range(hits):
                at = start + timedelta(seconds=60 * n / hits)
                if ratelimit.hit(connection=connection, scope=scope, key="key:monday", limit=default,
                                 window_seconds=window, now=at) is not None:
                    refused.append((method, n))
    assert refused == []


# --- invisible characters ------------------------------------------------------------------------


def test_bidi_and_zero_width_characters_are_removed_at_intake_through_open311(api):
    from sqlalchemy import text as sql

    client, key = api
    hidden = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\ufeff\u2060"
    posted = client.post("/open311/v2/requests.json", data={
        **GOOD, "api_key": key, "description": f"Cart{hidden} not \u202eemptied\u202c", "first_name": "Zo\u200be"})
    assert posted.status_code == 200, posted.data
    number = posted.get_json()[0]["service_request_id"]
    update = client.post("/open311/v2/servicerequestupdates.json", data={
        "api_key": key, "service_request_id": number, "description": "Still\u2066 here\u200b"})
    assert update.status_code == 200, update.data
    shown = client.get(f"/open311/v2/requests/{number}.json", query_string={"extensions": "true"}).get_json()[0]
    assert shown["description"] == "Cart not emptied"
    assert [n.get("description") for n in shown["notes"] if n["type"] == "comment"] == ["Still here"]
    updates = client.get("/open311/v2/servicerequestupdates.json").get_json()
    assert "Still here" in [u["description"] for u in updates]
    for body in (client.get(f"/open311/v2/requests/{number}.xml").data.decode(), json.dumps(updates)):
        assert not any(c in body for c in hidden) and "\\u202" not in body and "\\u200" not in body
    with client.application.extensions["civiccrm"]["deployment"].engine.connect() as connection:
        assert connection.execute(sql("SELECT name FROM customers")).scalar() == "Zoe"
    only_hidden = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "description": "\u200b\u202e"})
    assert only_hidden.status_code == 400 and "description" in field_of(only_hidden)


def test_get_one_reads_the_same_row_as_find_request(deployment):
    """GET one request reads on a driver connection (``request_by_number``): the row ``find_request`` gives, with
    the same types (aware UTC datetimes, floats, the first media_url), and None for an unknown number."""
    from civiccrm.domain.cases import CaseDraft, Customer, Location
    from civiccrm.services import cases as case_service
    from civiccrm.store import open311 as queries

    with_media = case_service.intake(deployment, CaseDraft(
        service_code="trash-missed-by-city", description="Cart not emptied", channel="app",
        location=Location(latitude=39.0997, longitude=-94.5786), customer=Customer(name="Pat"),
        attributes={"CONTAINER": ["cart"]}, media_url="https://example.org/cart.jpg"))
    bare = case_service.intake(deployment, CaseDraft(service_code="trash-missed-by-city", description="No point",
                                                      channel="app", location=Location(address="1 Main St")))
    with deployment.engine.connect() as connection:
        for number in (with_media.tracking_number, bare.tracking_number, "KC-2026-999999"):
            expected = queries.find_request(connection, number)
            found = queries.request_by_number(deployment.engine, number)
            assert found == expected
            if expected is not None:
                assert {k: type(v) for k, v in found.items()} == {k: type(v) for k, v in expected.items()}
    assert found is None and expected is None
    first = queries.request_by_number(deployment.engine, with_media.tracking_number)
    assert first["media_url"] == "https://example.org/cart.jpg" and first["opened_at"].utcoffset().total_seconds() == 0
    assert first["latitude"] == 39.0997


def test_get_one_on_a_broken_database_raises_sqlalchemys_error(sqlite_deployment):
    """The driver's error comes out as SQLAlchemy's (OperationalError, which the web app answers as unavailable)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from civiccrm.store import open311 as queries

    with sqlite_deployment.engine.begin() as connection:
        connection.execute(text("DROP TABLE case_media"))
    with pytest.raises(OperationalError, match="case_media"):
        queries.request_by_number(sqlite_deployment.engine, "KC-2026-000001")
    client = create_app({"TESTING": True}, deployment=sqlite_deployment).test_client()
    answer = client.get("/open311/v2/requests/KC-2026-000001.json")
    assert answer.status_code >= 500 and b"case_media" not in answer.data  # nothing of the SQL leaks


def test_database_down_answers_503_in_the_paths_format(sqlite_deployment, tmp_path):
    """The database gone before any Open311 code ran (the app's own before_request reads it first): the answer
    is still in the format the path asks for, 503 like the rest of the app, and nothing of the SQL leaks."""
    import json as json_lib
    from pathlib import Path
    from xml.etree import ElementTree

    app = create_app({"TESTING": True, "CONFIG_CHECK_SECONDS": 0}, deployment=sqlite_deployment)
    client = app.test_client()
    assert client.get("/open311/v2/services.json").status_code == 200
    sqlite_deployment.engine.dispose()
    database = Path(sqlite_deployment.engine.url.database)
    database.rename(tmp_path / "moved-away.db")  # the next connection opens an empty file: no tables
    for path in ("/open311/v2/requests.json", "/open311/v2/requests/KC-2026-000001.json"):
        answer = client.get(path)
        assert answer.status_code == 503 and answer.mimetype == "application/json", (path, answer.data[:200])
        assert json_lib.loads(answer.data)[0]["description"].startswith("the database is unavailable")
    posted = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": "x" * 40})
    assert posted.status_code == 503 and posted.mimetype == "application/json"
    as_xml = client.get("/open311/v2/requests.xml")
    assert as_xml.status_code == 503 and ElementTree.fromstring(as_xml.data).tag == "errors"
    assert b"SELECT" not in as_xml.data and b"SELECT" not in posted.data


def test_get_list_reads_the_same_rows_as_find_requests(deployment):
    """GET a list of requests reads on a driver connection (``requests_matching``): for every filter, IN lists of
    one and several values, and paging, the rows ``find_requests`` gives, in the same order, with the same types."""
    from datetime import datetime, timedelta, timezone

    from civiccrm.store import open311 as queries
    from civiccrm.store import repo
    from civiccrm.store.queries import CaseFilter

    base = datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc)
    numbers = [f"T-LIST-{i}" for i in range(8)]
    with deployment.engine.begin() as connection:
        for i, number in enumerate(numbers):
            case_id = connection.execute(repo._INSERT_CASE, {
                "tracking_number": number, "service_code": ("trash-missed-by-city", "pothole", "graffiti")[i % 3],
                "request_type": "Trash", "description": f"Case {i}", "status": ("new", "open", "closed", "in_progress")[i % 4],
                "department": ("PW", "NHS")[i % 2], "work_group": ("east", "west")[i % 2], "council_district": str(1 + i % 3),
                "channel": ("app", "phone")[i % 2], "latitude": 39.0997 if i % 2 else None,
                "longitude": -94.5786 if i % 2 else None, "address": None if i % 2 else "1 Main St", "origin": "intake",
                "opened_at": base + timedelta(hours=i // 2),  # pairs opened at the same instant: ordered by id
                "updated_at": base + timedelta(hours=10 - i, microseconds=i), "due_at": base + timedelta(hours=2 * i),
            }).scalar_one()
            if i % 3 == 0:
                connection.execute(repo._INSERT_MEDIA, [{"case_id": case_id, "url": f"https://example.org/{i}.jpg"},
                                                        {"case_id": case_id, "url": "https://example.org/second.jpg"}])
    at = base + timedelta(hours=3)
    filters = [
        CaseFilter(), CaseFilter(limit=3), CaseFilter(limit=3, offset=3), CaseFilter(limit=3, offset=6),
        CaseFilter(offset=100), CaseFilter(tracking_numbers=(numbers[4],)),
        CaseFilter(tracking_numbers=(numbers[1], numbers[6], "KC-2026-999999"), limit=2, offset=1),
        CaseFilter(statuses=("closed",)), CaseFilter(statuses=("new", "open", "in_progress")),
        CaseFilter(service_codes=("pothole",)), CaseFilter(service_codes=("graffiti", "trash-missed-by-city", "none")),
        CaseFilter(department="PW"), CaseFilter(work_group="west"), CaseFilter(district="2"), CaseFilter(channel="phone"),
        CaseFilter(opened_from=at), CaseFilter(opened_before=at), CaseFilter(opened_to=at),
        CaseFilter(updated_after=at), CaseFilter(updated_before=at), CaseFilter(overdue_at=at), CaseFilter(due_before=at),
        CaseFilter(service_codes=("pothole", "graffiti"), statuses=("new", "closed"), opened_from=base, opened_to=at,
                   limit=1, offset=1),
    ]
    with deployment.engine.connect() as connection:
        for query in filters:
            expected = queries.find_requests(connection, query)
            found = queries.requests_matching(deployment.engine, query)
            assert found == expected, query
            assert [{k: type(v) for k, v in row.items()} for row in found] == [
                {k: type(v) for k, v in row.items()} for row in expected], query
    everything = queries.requests_matching(deployment.engine, CaseFilter())
    assert len(everything) == 8 and everything[0]["opened_at"].utcoffset().total_seconds() == 0
    assert [r["tracking_number"] for r in everything[:2]] == [numbers[7], numbers[6]]  # same instant: newest id first
    assert {r["media_url"] for r in everything} == {None, *(f"https://example.org/{i}.jpg" for i in (0, 3, 6))}
    assert len(queries.requests_matching(deployment.engine, filters[10])) == 5
    assert queries.requests_matching(deployment.engine, filters[-1]) != []


def test_a_post_takes_one_connection_and_checks_its_attributes_once(deployment, monkeypatch):
    """A POST writes its case and looks for possible duplicates on one pooled connection (it took two), and
    its attributes are checked once (the API's check, required ones included; intake does not check them again):
    the answer still names the duplicate, the stored attributes are the checked ones, and a bad one is 400."""
    from sqlalchemy import event, select

    from civiccrm.domain import attributes as attribute_checks
    from civiccrm.store.tables import case_attributes_table, cases_table
    from civiccrm_plugins.open311 import api as open311_api

    _, key = apikeys.add(deployment, name="one connection", channel="app")
    client = create_app({"TESTING": True, "CONFIG_CHECK_SECONDS": 3600, "API_KEY_CACHE_SECONDS": 3600},
                        deployment=deployment).test_client()
    first = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key})  # warms the key and config
    assert first.status_code == 200, first.data
    checkouts, checks = [], []
    event.listen(deployment.engine, "checkout", lambda *args: checkouts.append(1))
    checked = attribute_checks.validate_attributes
    monkeypatch.setattr(open311_api, "validate_attributes", lambda *a, **k: checks.append(1) or checked(*a, **k))
    monkeypatch.setattr("civiccrm.services.cases.validate_attributes", lambda *a, **k: checks.append(1) or checked(*a, **k))
    again = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "extensions": "true",
                                                           "attribute[CONTAINER]": " cart "})
    assert again.status_code == 200, again.data
    assert len(checkouts) == 1 and len(checks) == 1
    answer = again.get_json()[0]
    assert first.get_json()[0]["service_request_id"] in answer["service_notice"]
    assert [d["service_request_id"] for d in answer["possible_duplicates"]] == [first.get_json()[0]["service_request_id"]]
    with deployment.engine.connect() as connection:
        stored = connection.execute(select(case_attributes_table.c.code, case_attributes_table.c.value).join(
            cases_table, cases_table.c.id == case_attributes_table.c.case_id).where(
            cases_table.c.tracking_number == answer["service_request_id"])).all()
    assert [tuple(r) for r in stored] == [("CONTAINER", "cart")]
    bad = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "attribute[CONTAINER]": "barrel"})
    assert bad.status_code == 400 and "attribute[CONTAINER]" in field_of(bad)


def test_requests_keep_postgresql_s_prepared_statements(deployment):
    """psycopg prepares a query from its fifth run on a connection and forgets (deallocates) all it prepared at
    each ROLLBACK; reads ended by the pool's ROLLBACK were parsed and planned afresh every time. Reads now end
    with COMMIT, so after a few POSTs and GETs the connection holds the intake's insert, the rate-limit hit, the
    duplicate lookup and GET one as prepared statements."""
    if deployment.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are psycopg's and PostgreSQL's")
    _, key = apikeys.add(deployment, name="prepared", channel="app")
    client = create_app({"TESTING": True, "CONFIG_CHECK_SECONDS": 0, "API_KEY_CACHE_SECONDS": 0},
                        deployment=deployment).test_client()
    deployment.engine.dispose()  # one connection from here on: each request takes and returns the same one
    numbers = []
    for i in range(7):
        created = client.post("/open311/v2/requests.json", data={**GOOD, "api_key": key, "lat": f"39.{1000 + i}"})
        assert created.status_code == 200, created.data
        numbers.append(created.get_json()[0]["service_request_id"])
        assert client.get(f"/open311/v2/requests/{numbers[-1]}.json").status_code == 200
    assert deployment.engine.pool.checkedin() == 1
    with deployment.engine.connect() as connection:
        prepared = [r[0] for r in connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements")]
    def has(*words):
        return any(all(w in s for w in words) for s in prepared)
    assert has("INSERT INTO rate_limits"), prepared
    assert has("WITH taken AS", "INSERT INTO cases"), prepared
    assert has("FROM cases", "WHERE cases.tracking_number ="), prepared  # GET one
    assert has("SELECT api_keys."), prepared  # the key, read on every request with its cache off
