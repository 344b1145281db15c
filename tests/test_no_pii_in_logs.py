"""No resident's name, e-mail address, phone or address in any log line when a case is taken in: through the
admin intake, the public form and Open311 POST (a real gunicorn with every logger at DEBUG and its access
log), and by e-mail (the real SMTP listener, every logger captured at DEBUG, the acknowledgement delivered)."""

import json
import logging
import re
import smtplib
from email.message import EmailMessage

import requests

from civiccrm.services import apikeys, outbox
from civiccrm.services.deployment import init_deployment
from civiccrm_plugins.email_inbound import make_controller
from mail_helpers import free_port, sink  # noqa: F401  (sink: the loopback SMTP fixture)
from open311_helpers import Server
from tests.web_helpers import DOWNTOWN, PASSWORD, POTHOLE, SECRET_KEY, add_staff

RESIDENT = {"name": "Philippa Quenby-Marsh", "first_name": "Philippa", "last_name": "Quenby-Marsh",
            "email": "philippa.qm@example.org", "phone": "816-555-0177", "address": "4417 Quenby Terrace"}
SECRETS = ("Quenby-Marsh", "philippa.qm@example.org", "philippa.qm", "816-555-0177", "8165550177",
           "4417 Quenby", PASSWORD)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

EVERY_LOGGER_AT_DEBUG = {
    "version": 1, "disable_existing_loggers": False,
    "root": {"level": "DEBUG", "handlers": ["console"]},
    "loggers": {"gunicorn.error": {"level": "DEBUG", "handlers": ["console"], "propagate": False},
                "gunicorn.access": {"level": "DEBUG", "handlers": ["console"], "propagate": False}},
    "formatters": {"named": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "named"},
                 "error_console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
}


def token(session, url) -> str:
    page = session.get(url, timeout=30)
    assert page.status_code == 200, page.text[-300:]
    return CSRF.search(page.text).group(1)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.casefold() in text.casefold()]


def test_no_resident_pii_in_the_logs_of_web_intake(tmp_path):
    url = f"sqlite:///{tmp_path / 'civiccrm.db'}"
    deployment = init_deployment(url, "kansas-city")
    add_staff(deployment, ["cal"])
    _, key = apikeys.add(deployment, name="test app", channel="app")
    config = tmp_path / "logging.json"
    config.write_text(json.dumps(EVERY_LOGGER_AT_DEBUG))
    server = Server(url, tmp_path / "gunicorn.log", workers=1, env={"CIVICCRM_SECRET_KEY": SECRET_KEY},
                    extra_args=("--log-level", "debug", "--log-config-json", str(config)))
    made = []
    try:
        staff = requests.Session()
        login = staff.post(f"{server.base}/admin/login", timeout=30, allow_redirects=False, data={
            "username": "cal", "password": PASSWORD, "csrf_token": token(staff, f"{server.base}/admin/login")})
        assert login.status_code == 302
        call = staff.post(f"{server.base}/admin/intake", timeout=30, allow_redirects=False, data={
            "csrf_token": token(staff, f"{server.base}/admin/intake?type={POTHOLE}"), "type": POTHOLE,
            "description": "Pothole by the school", "attribute[SIZE]": "large", "address": RESIDENT["address"],
            "latitude": str(DOWNTOWN[0]), "longitude": str(DOWNTOWN[1]), "channel": "phone", "action": "create",
            **{k: RESIDENT[k] for k in ("name", "email", "phone")}})
        assert call.status_code == 302, call.text[-500:]
        made.append(call.headers["Location"].rsplit("/", 1)[1])
        public = requests.Session()
        form = public.post(f"{server.base}/", timeout=30, allow_redirects=False, data={
            "csrf_token": token(public, f"{server.base}/?service_code={POTHOLE}"), "service_code": POTHOLE,
            "description": "A hole that swallows bikes", "lat": str(DOWNTOWN[0]), "long": str(DOWNTOWN[1]),
            "attribute[SIZE]": "large", "address_string": RESIDENT["address"],
            **{k: RESIDENT[k] for k in ("first_name", "last_name", "email", "phone")}})
        assert form.status_code == 303, form.text[-500:]
        made.append(form.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        api = requests.post(f"{server.api}/requests.json", timeout=30, data={
            "api_key": key, "service_code": POTHOLE, "description": "Deep hole", "lat": str(DOWNTOWN[0]),
            "long": str(DOWNTOWN[1]), "attribute[SIZE]": "large", "address_string": RESIDENT["address"],
            **{k: RESIDENT[k] for k in ("first_name", "last_name", "email", "phone")}})
        assert api.status_code == 200, api.text
        made.append(api.json()[0]["service_request_id"])
        bad = requests.post(f"{server.api}/requests.json", timeout=30, data={  # a refused one is logged too
            "api_key": key, "service_code": POTHOLE, "description": "", "email": "not-an-address " + RESIDENT["email"],
            **{k: RESIDENT[k] for k in ("first_name", "last_name", "phone")}})
        assert bad.status_code == 400
    finally:
        server.stop()
        deployment.engine.dispose()
    log = server.log_path.read_text()
    assert "POST /admin/intake" in log and "POST /open311/v2/requests.json" in log and '"POST / HTTP' in log
    assert "DEBUG gunicorn.error" in log and "INFO gunicorn.access" in log  # at DEBUG, with the access log
    assert len(made) == 3
    assert leaks(log) == [], log[-3000:]


def test_no_resident_pii_in_the_logs_of_email_intake(sqlite_deployment, sink, caplog):  # noqa: F811
    deployment = sqlite_deployment
    caplog.set_level(logging.DEBUG)
    sink.refuse.add(RESIDENT["email"])  # the acknowledgement is refused: the outbox logs the failure
    port = free_port()
    controller = make_controller(deployment, "127.0.0.1", port)
    controller.start()
    try:
        for headers in ({}, {"Auto-Submitted": "auto-replied"}):  # a case, then a robot's reply (ignored, logged)
            message = EmailMessage()
            message["From"] = f"{RESIDENT['name']} <{RESIDENT['email']}>"
            message["To"] = "311@kcmo.test"
            message["Subject"] = "Pothole on my street"
            for name, value in headers.items():
                message[name] = value
            message.set_content(f"A deep pothole outside {RESIDENT['address']}. Call me at {RESIDENT['phone']}.")
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.send_message(message)
    finally:
        controller.stop()
    outbox.run(deployment, once=True)
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert "inbound email from contact:" in logged and "auto" in logged
    assert re.search(r"outbox \d+ \(message:email to contact:\w+\) is dead: .*contact:", logged), logged
    assert not [r for r in caplog.records if r.name.startswith("mail.log") and r.levelno < logging.WARNING]
    assert leaks(logged) == [], logged[-3000:]
