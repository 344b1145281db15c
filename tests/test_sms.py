"""SMS channel: Twilio's webhook format and signature over a real gunicorn server, replies threaded onto
cases, a numbered choice, STOP / START / HELP, and outbound texts to a loopback stand-in for Twilio's API."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import pytest
import requests

from civiccrm.services import cases, outbox
from civiccrm.services.deployment import init_deployment
from civiccrm_plugins.sms_channel import Loopback, Twilio
from open311_helpers import Server
from profile_helpers import copy_kansas_city, edit

TOKEN = "test-auth-token"
PHONE = "+18165550100"


class TwilioApi(BaseHTTPRequestHandler):
    """Twilio's Messages endpoint on loopback: keeps each POST, answers with a message sid."""

    received: list = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        TwilioApi.received.append((self.path, self.headers["Authorization"], form))
        body = json.dumps({"sid": f"SM{len(TwilioApi.received):032d}"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio_api(monkeypatch):
    TwilioApi.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TwilioApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CIVICCRM_SMS_API_BASE", f"http://127.0.0.1:{server.server_port}")
    yield TwilioApi.received
    server.shutdown()


@pytest.fixture
def site(tmp_path, monkeypatch, database_url, twilio_api):
    """A city taking texts (Kansas City's profile with the sms channel) served by gunicorn."""
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", 'channels = ["phone", "email",', 'channels = ["phone", "sms", "email",')
    edit(folder / "profile.toml", 'slug = "kansas-city"', 'slug = "kc-texts"')  # served from this folder
    edit(folder / "profile.toml", 'quiet_channels = ["sms", "social"]', 'quiet_channels = []')  # texts at any hour
    (folder / "profile.toml").write_text((folder / "profile.toml").read_text(encoding="utf-8") + (
        '\n[plugins.sms]\nprovider = "twilio"\nnumber = "+18165550311"\naccount_sid = "AC123"\n'), encoding="utf-8")
    monkeypatch.setenv("CIVICCRM_SMS_AUTH_TOKEN", TOKEN)
    deployment = init_deployment(database_url, str(folder))
    server = Server(database_url, tmp_path / "gunicorn.log", workers=1)
    yield deployment, server
    server.stop()
    deployment.engine.dispose()


def _text(server, body, sender=PHONE, sid=None, token=TOKEN):
    url = f"{server.base}/sms/twilio"
    form = {"From": sender, "To": "+18165550311", "Body": body, "MessageSid": sid or f"SM{abs(hash(body))}"}
    signature = Twilio.signature(token, url, form)
    answer = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=30)
    reply = None
    if answer.status_code == 200:
        message = ElementTree.fromstring(answer.text).find("Message")
        reply = message.text if message is not None else None
    return answer, reply


def test_texts_open_cases_thread_replies_and_ask_which_case(site, twilio_api):
    deployment, server = site
    answer, reply = _text(server, "Graffiti on City Property: the wall at 12th and Main")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    assert reply is None  # the acknowledgement goes out through the outbox
    [row] = outbox.entries(deployment)
    number = row.subject.split(":", 1)[1]
    case = cases.get(deployment, number)
    assert case.channel == "sms" and case.service_code == "graffiti-on-city-property"

    assert outbox.run(deployment, once=True).sent == 1
    [(path, auth, form)] = twilio_api
    assert path == "/2010-04-01/Accounts/AC123/Messages.json" and auth.startswith("Basic ")
    assert form["To"] == PHONE and form["From"] == "+18165550311" and number in form["Body"]

    _, reply = _text(server, "It is on the north side")
    assert reply == f"Kansas City, Missouri 311: added to your request {number}."
    assert cases.history(deployment, number)[-1].note == "It is on the north side"

    _, reply = _text(server, "NEW Graffiti on City Property at the park")
    second = [r for r in outbox.entries(deployment) if r.subject != f"case:{number}"][0].subject.split(":")[1]
    _, reply = _text(server, "Which one is fixed first?")
    assert reply.startswith("Which request is this about?") and f"1) {second}" in reply and f"2) {number}" in reply
    _, reply = _text(server, "2")
    assert reply.endswith(f"added to your request {number}.")
    assert cases.history(deployment, number)[-1].note == "Which one is fixed first?"


def test_stop_start_and_help(site):
    deployment, server = site
    _, reply = _text(server, "HELP")
    assert "STOP" in reply and "911" in reply
    _, reply = _text(server, "Stop")
    assert "no more texts" in reply
    _text(server, "Graffiti on City Property on the bridge")
    assert outbox.entries(deployment) == []  # opted out: no acknowledgement
    _, reply = _text(server, "START")
    assert "texts are on again" in reply
    _text(server, "NEW Graffiti on City Property at the school")
    assert len(outbox.entries(deployment)) == 1


def test_a_bad_signature_is_refused_and_nothing_is_stored(site):
    deployment, server = site
    answer, _ = _text(server, "Graffiti on City Property", token="wrong")
    assert answer.status_code == 403
    assert requests.post(f"{server.base}/sms/loopback", json={"from": PHONE}, timeout=30).status_code == 404
    with deployment.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM inbound_messages").scalar() == 0


def test_loopback_provider_signs_the_body_and_writes_texts_to_a_file(tmp_path):
    body = b'{"from": "+18165550100", "body": "hi", "id": "1"}'
    assert Loopback.signature("k", body) == Loopback.signature("k", body) != Loopback.signature("j", body)
    config = {"loopback_file": str(tmp_path / "out.jsonl"), "number": "+1311"}
    sid = Loopback().send(config, PHONE, "hello", "key-1")
    assert Loopback().send(config, PHONE, "hello", "key-1") == sid  # the same key, the same id
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert lines[0] == {"sid": sid, "to": PHONE, "from": "+1311", "body": "hello"}
