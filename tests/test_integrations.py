"""Integrations: cases sent through the outbox to a second CivicCRM served for real on loopback (the
department's Open311 system) and to a signed webhook receiver; closing only when the work is done;
updates fetched (bad ones recorded) and pushed (signed); alerts, dead letters and retry; the CLI."""

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from civiccrm.cli import cli
from civiccrm.domain.actors import Actor
from civiccrm.domain.cases import CaseDraft, Customer, Location, Resolution, Status
from civiccrm.domain.outbox import DeliveryState
from civiccrm.errors import CivicError
from civiccrm.services import cases as case_service
from civiccrm.services import integrations, outbox
from civiccrm.services.deployment import init_deployment
from civiccrm.web import create_app
from civiccrm_plugins.webhooks import SIGNATURE, TIMESTAMP, sign, verify
from open311_helpers import start
from profile_helpers import copy_kansas_city, edit, load_error

POINT = (39.102738, -94.600134)
SECRET = "test-webhook-secret"
FIXTURES = Path(__file__).parent / "data" / "mysociety"


class Receiver:
    """A webhook endpoint on loopback that checks signatures; ``fail`` makes it answer 503."""

    def __init__(self):
        self.received, self.fail = [], False
        self.server = make_server("127.0.0.1", 0, self.app)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        verify(SECRET.encode(), request.headers, body, tolerance=60)
        if self.fail:
            return Response("down for maintenance", status=503)(environ, start_response)
        self.received.append((request.headers.get("Idempotency-Key"), json.loads(body)))
        reply = {"id": f"WO-{len(self.received)}"} if json.loads(body)["event"] == "created" else {}
        return Response(json.dumps(reply), content_type="application/json")(environ, start_response)

    def stop(self):
        self.server.shutdown()


class Files:
    """Serves one XML file for every GET (mySociety-format fixtures)."""

    def __init__(self, path: Path):
        self.path = path
        self.server = make_server("127.0.0.1", 0, self.app)
        self.url = f"http://127.0.0.1:{self.server.server_port}/open311/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        return Response(self.path.read_bytes(), content_type="text/xml")(environ, start_response)

    def stop(self):
        self.server.shutdown()


def profile_with(tmp_path, tables: str) -> Path:
    """A copy of Kansas City under its own slug (so the CLI opens this folder, not the shipped one)."""
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", 'slug = "kansas-city"', 'slug = "kansas-city-test"')
    with (folder / "profile.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n" + tables)
    return folder


@pytest.fixture
def department(tmp_path_factory, monkeypatch):
    """A second CivicCRM, served by gunicorn on loopback: the police department's Open311 system."""
    tmp = tmp_path_factory.mktemp("department")
    dept, server, key = start(f"sqlite:///{tmp / 'department.db'}", tmp)
    monkeypatch.setenv("TEST_DEPARTMENT_KEY", key)
    yield dept, server
    server.stop()
    dept.engine.dispose()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    found = Receiver()
    yield found
    found.stop()


def city(database_url, tmp_path, department, receiver):
    _, server = department
    folder = profile_with(tmp_path, f"""
[integrations.police]
integration = "open311"
service_codes = ["abandoned-vehicle"]
alert_after_failures = 3
alert_after_hours = 12
[integrations.police.settings]
url = "{server.api}"
api_key_env = "TEST_DEPARTMENT_KEY"
format = "json"

[integrations.towing]
integration = "webhook"
service_codes = ["abandoned-vehicle"]
departments = ["water-services"]
alert_after_failures = 3
[integrations.towing.settings]
url = "{receiver.url}"
secret_env = "TEST_WEBHOOK_SECRET"
""")
    return init_deployment(database_url, str(folder))


def intake(deployment, code="abandoned-vehicle"):
    return case_service.intake(deployment, CaseDraft(
        service_code=code, description="Car on blocks for a month", channel="phone",
        location=Location(address="414 E 12th St", latitude=POINT[0], longitude=POINT[1]),
        customer=Customer(name="Pat Doe", email="pat@example.org")))


def deliver(deployment):
    return outbox.deliver_batch(deployment, worker="test", limit=50, kinds=("integration",))  # not the e-mails


def signed(body: dict, *, secret=SECRET, at=None):
    raw = json.dumps(body).encode()
    stamp = str(int(at if at is not None else time.time()))
    return raw, {"Content-Type": "application/json", TIMESTAMP: stamp, SIGNATURE: sign(secret.encode(), stamp, raw)}


def test_case_is_worked_in_two_systems_and_closes_when_both_are_done(database_url, tmp_path, department, receiver):
    dept, _ = department
    deployment = city(database_url, tmp_path, department, receiver)
    case = intake(deployment)
    state = integrations.case_state(deployment, case.tracking_number)
    assert state["sent"] is False and {d["delivery"] for d in state["destinations"].values()} == {DeliveryState.PENDING}
    assert set(state["destinations"]) == {"police", "towing"}
    other = intake(deployment, code="dead-animal-pick-up")  # routed nowhere
    assert integrations.case_state(deployment, other.tracking_number)["destinations"] == {}

    result = deliver(deployment)
    assert (result.sent, result.failed, result.dead) == (2, 0, 0)
    state = integrations.case_state(deployment, case.tracking_number)
    assert state["sent"] is True
    police_ref = state["destinations"]["police"]["external_id"]
    assert state["destinations"]["towing"]["external_id"] == "WO-1"
    sent = case_service.get(dept, police_ref)  # the department's own case, from our POST
    assert sent.service_code == "abandoned-vehicle" and case.tracking_number in sent.description
    assert sent.channel == "app"
    key, body = receiver.received[0]
    assert key == f"send_case:towing:{case.tracking_number}" and body["case"]["tracking_number"] == case.tracking_number
    assert "pat@example.org" not in json.dumps(body)

    # delivering again sends nothing twice
    assert deliver(deployment).claimed == 0 and len(receiver.received) == 1

    with pytest.raises(CivicError, match="cannot close as fixed: the work order in police .* is not complete"):
        case_service.close(deployment, case.tracking_number, Resolution.FIXED)
    with pytest.raises(CivicError, match="may not override an open work order"):
        case_service.close(deployment, case.tracking_number, Resolution.FIXED, override_reason="looks done",
                           override_by=Actor(name="cal", kind="user", role="call_taker"))
    assert case_service.get(deployment, case.tracking_number).is_open

    # the department tows the car and closes its case; our fetch takes it
    case_service.close(dept, police_ref, Resolution.FIXED, note="Towed")
    fetched = integrations.fetch(deployment, "police")
    assert fetched[0].ok and fetched[0].refused == () and fetched[0].applied >= 1
    still = case_service.get(deployment, case.tracking_number)
    assert still.is_open  # the towing work order is still open
    assert integrations.fetch(deployment, "police")[0].applied == 0  # the same updates are not applied twice

    # the contractor pushes its signed update: the last work order is done, the case closes
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    raw, headers = signed({"updates": [{"id": "WO-1", "status": "fixed", "at": "2026-12-01T10:00:00-06:00",
                                        "update_id": "tow-1", "description": "Vehicle removed"}]})
    answer = client.post("/integrations/towing/updates", data=raw, headers=headers)
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["results"] == [{"outcome": "applied", "reason": None,
                                             "service_request_id": case.tracking_number}]
    closed = case_service.get(deployment, case.tracking_number)
    assert closed.status is Status.CLOSED and closed.resolution is Resolution.FIXED
    last = [e for e in case_service.history(deployment, case.tracking_number) if e.kind == "closed"][-1]
    assert last.actor == "integration:towing" and last.note == "Vehicle removed"


def test_supervisor_override_is_recorded_and_the_work_orders_cancelled(database_url, tmp_path, department, receiver):
    deployment = city(database_url, tmp_path, department, receiver)
    case = intake(deployment)
    deliver(deployment)
    closed = case_service.close(deployment, case.tracking_number, Resolution.FIXED, actor="sam",
                                override_reason="Crew confirmed by phone",
                                override_by=Actor(name="sam", kind="user", role="supervisor"))
    assert closed.resolution is Resolution.FIXED
    event = [e for e in case_service.history(deployment, case.tracking_number) if e.kind == "closed"][-1]
    assert "while the work order in police" in event.note and "Crew confirmed by phone" in event.note
    state = integrations.case_state(deployment, case.tracking_number)
    assert {d["work_order"] for d in state["destinations"].values()} == {"cancelled"}
    # the close itself is sent on to both systems
    assert deliver(deployment).sent == 2
    assert receiver.received[-1][1]["event"] == "closed"
    dept, _ = department
    told = case_service.history(dept, state["destinations"]["police"]["external_id"])[-1]
    assert told.kind == "public_note" and "Closed: fixed" in told.note


def test_failing_destination_alerts_goes_dead_and_is_retried(tmp_path, department, receiver):
    deployment = city(f"sqlite:///{tmp_path / 'city.db'}", tmp_path, department, receiver)
    receiver.fail = True
    case = intake(deployment)
    now = deployment.clock()
    clock = [now]
    deployment.clock = lambda: clock[0]
    first = deliver(deployment)
    assert (first.sent, first.failed) == (1, 1)  # police took it, towing did not
    assert integrations.case_state(deployment, case.tracking_number)["sent"] is False
    for _ in range(7):
        clock[0] += timedelta(hours=7)
        deliver(deployment)
    towing = next(s for s in integrations.status(deployment) if s.name == "towing")
    assert towing.deliveries["dead"] == 1 and towing.failures_in_a_row == 8
    assert any("8 deliveries in a row failed" in a and "503" in a for a in towing.alerts)
    assert any("1 dead deliveries" in a for a in towing.alerts)
    police = next(s for s in integrations.status(deployment) if s.name == "police")
    assert police.failures_in_a_row == 0 and police.deliveries["sent"] == 1
    assert any("no update from police for 49 hours while 1 work orders are open" in a for a in police.alerts)

    url = deployment.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    shown = runner.invoke(cli, ["--db", url, "integrations", "status"])
    assert shown.exit_code == 2 and "ALERT: 8 deliveries in a row failed" in shown.output
    as_json = json.loads(runner.invoke(cli, ["--db", url, "integrations", "status", "--json"]).output)
    assert {s["name"]: s["deliveries"]["dead"] for s in as_json} == {"police": 0, "towing": 1}
    one = runner.invoke(cli, ["--db", url, "integrations", "status", case.tracking_number])
    assert "not sent to every destination" in one.output and "towing" in one.output and "dead" in one.output

    receiver.fail = False
    retried = runner.invoke(cli, ["--db", url, "integrations", "retry", "towing"])
    assert retried.exit_code == 0 and "1 dead deliveries made due again" in retried.output
    assert deliver(deployment).sent == 1
    assert integrations.case_state(deployment, case.tracking_number)["sent"] is True
    listed = runner.invoke(cli, ["--db", url, "integrations", "list"])
    assert "open311" in listed.output and "police" in listed.output and "towing" in listed.output


def test_fetch_records_bad_updates_and_goes_on(tmp_path):
    fixture = tmp_path / "updates.xml"
    files = Files(fixture)
    try:
        folder = profile_with(tmp_path, f"""
[integrations.streets]
integration = "open311"
departments = ["kcpd"]
[integrations.streets.settings]
url = "{files.url}"
format = "xml"
""")
        deployment = init_deployment(f"sqlite:///{tmp_path / 'city.db'}", str(folder))
        case = intake(deployment)
        with deployment.engine.begin() as connection:
            from civiccrm.store import integrations as store

            order = store.work_orders_of(connection, case.id)[0]
            store.set_external_id(connection, work_order_id=order.id, external_id="638344", at=deployment.clock())
        fixture.write_text((FIXTURES / "servicerequestupdates.xml").read_text())
        result = integrations.fetch(deployment, "streets")[0]
        assert result.ok and result.applied == 2
        assert len(result.refused) == 3
        assert any("updated_datetime 'yesterday'" in r for r in result.refused)
        assert any("no work order '999999'" in r for r in result.refused)
        assert any("'burnt_down' is not in the status map" in r for r in result.refused)
        found = case_service.get(deployment, case.tracking_number)
        assert found.status is Status.CLOSED and found.resolution is Resolution.NOT_CITY
        notes = [e.note for e in case_service.history(deployment, case.tracking_number)]
        assert "Work is scheduled. Crew booked for Tuesday" in notes
        status = next(s for s in integrations.status(deployment) if s.name == "streets")
        assert len(status.recent_refused) == 3

        fixture.write_text("<html>Gateway timeout</html")
        broken = integrations.fetch(deployment, "streets")[0]
        assert not broken.ok and "ParseError" in broken.error
        assert CliRunner().invoke(cli, ["--db", deployment.engine.url.render_as_string(hide_password=False),
                                        "integrations", "fetch", "streets"]).exit_code == 1
    finally:
        files.stop()


def test_pushed_updates_need_a_good_signature(tmp_path, department, receiver):
    deployment = city(f"sqlite:///{tmp_path / 'city.db'}", tmp_path, department, receiver)
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    update = {"updates": [{"id": "WO-1", "status": "fixed", "at": "2026-12-01T10:00:00-06:00"}]}
    raw, headers = signed(update, secret="wrong")
    assert client.post("/integrations/towing/updates", data=raw, headers=headers).status_code == 401
    raw, headers = signed(update, at=time.time() - 3600)
    answer = client.post("/integrations/towing/updates", data=raw, headers=headers)
    assert answer.status_code == 401 and "at most 300 s" in answer.get_json()["error"]
    raw, headers = signed(update)
    assert client.post("/integrations/towing/updates", data=raw + b" ", headers=headers).status_code == 401
    assert client.post("/integrations/nowhere/updates", data=raw, headers=headers).status_code == 404
    assert client.post("/integrations/police/updates", data=raw, headers=headers).status_code == 404
    raw, headers = signed({"updates": [{"id": "WO-404", "status": "fixed", "at": "2026-12-01T10:00:00-06:00"},
                                       {"status": "fixed"}]})
    results = client.post("/integrations/towing/updates", data=raw, headers=headers).get_json()["results"]
    assert [r["outcome"] for r in results] == ["refused", "refused"]
    assert "no work order 'WO-404'" in results[0]["reason"] and "KeyError" in results[1]["reason"]


@pytest.mark.parametrize("tables, words", [
    ('[integrations.x]\nintegration = "open311"\n', "give departments or service_codes"),
    ('[integrations.x]\ndepartments = ["kcpd"]\n', "missing key integrations.x.integration"),
    ('[integrations.x]\nintegration = "open311"\ndepartments = ["nope"]\n', "'nope' is not a department"),
    ('[integrations.x]\nintegration = "open311"\ndepartments = ["kcpd"]\nretries = 3\n',
     "unknown key integrations.x.'retries'"),
    ('[integrations.x]\nintegration = "open311"\ndepartments = ["kcpd"]\nstatus_map = "map.csv"\n',
     "map.csv: cannot read"),
])
def test_bad_integration_tables_are_named(tmp_path, tables, words):
    assert words in load_error(profile_with(tmp_path, tables))


def test_bad_status_map_row_is_named_with_its_line(tmp_path):
    folder = profile_with(tmp_path, '[integrations.x]\nintegration = "open311"\ndepartments = ["kcpd"]\n'
                                    'status_map = "map.csv"\n')
    (folder / "map.csv").write_text("external_status,status,resolution,note\nDONE,closed,fixed,\nHALF,closed,,\n")
    message = load_error(folder)
    assert "map.csv: line 3" in message and "a resolution goes with the closed status" in message
