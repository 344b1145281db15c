"""Inbound e-mail: real SMTP both ways on loopback, a Maildir fixture, threading, robots, bounces, limits."""

import os
import shutil
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from civiccrm.cli import cli
from civiccrm.services import cases, outbox
from civiccrm.store.tables import case_attachments_table, contact_addresses_table, inbound_messages_table
from civiccrm_plugins.email_inbound import make_controller
from mail_helpers import free_port, sink  # noqa: F401  (sink: the loopback SMTP fixture)
from profile_helpers import copy_kansas_city, edit

MAILDIR = Path(__file__).parent / "data" / "maildir"


@pytest.fixture
def listener(deployment, sink):
    """`civiccrm email serve`'s SMTP listener on a loopback port, filing into ``deployment``."""
    port = free_port()
    controller = make_controller(deployment, "127.0.0.1", port)
    controller.start()
    yield port
    controller.stop()


def _mail(subject, body, *, sender="pat@example.org", **headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Pat Resident <{sender}>"
    message["To"] = "311@kcmo.test"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def _send(port, message) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        try:
            smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, exc.smtp_error.decode()
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error.decode()
    return 250, ""


def _log(deployment):
    with deployment.engine.connect() as conn:
        return conn.execute(select(inbound_messages_table).order_by(inbound_messages_table.c.id)).all()


def test_a_mail_becomes_a_case_is_acknowledged_and_the_reply_is_a_note(deployment, sink, listener):
    first = _mail("Graffiti on City Property", "Someone sprayed the library wall on 12th St.",
                  Message_ID="<first@example.org>")
    assert _send(listener, first)[0] == 250
    [logged] = _log(deployment)
    assert logged.outcome == "case" and logged.message_id == "<first@example.org>"
    number = next(iter(outbox.entries(deployment))).subject.split(":", 1)[1]
    case = cases.get(deployment, number)
    assert case.channel == "email" and case.service_code == "graffiti-on-city-property"
    assert "library wall" in case.description

    assert outbox.run(deployment, once=True).sent == 1
    [ack] = sink.messages
    assert ack["To"] == "pat@example.org" and number in ack["Subject"]
    assert ack["In-Reply-To"] == "<first@example.org>" and ack["Auto-Submitted"] == "auto-generated"

    reply = _mail(f"Re: {ack['Subject']}", "It is bigger now.\n\nOn Mon, Pat wrote:\n> old text",
                  Message_ID="<reply@example.org>", In_Reply_To=ack["Message-ID"])
    reply.replace_header("Subject", "Re: about my message")  # threaded by In-Reply-To alone
    assert _send(listener, reply)[0] == 250
    history = cases.history(deployment, number)
    assert history[-1].kind == "note" and history[-1].note == "It is bigger now."
    assert _log(deployment)[-1].outcome == "note"

    again = _send(listener, reply)  # the same Message-ID again: nothing twice
    assert again[0] == 250 and len(cases.history(deployment, number)) == len(history)


def test_robots_loops_and_lists_get_no_case_and_no_reply(deployment, sink, listener):
    robots = [
        _mail("Out of office", "away", Auto_Submitted="auto-replied"),
        _mail("Newsletter", "news", Precedence="bulk"),
        _mail("Re: x", "suppress", X_Auto_Response_Suppress="All"),
        _mail("Deals", "list", List_Unsubscribe="<mailto:leave@example.com>"),
        _mail("Looped", "ours", X_Loop="311@kcmo.test"),
    ]
    for message in robots:
        assert _send(listener, message)[0] == 250
    assert [r.outcome for r in _log(deployment)] == ["ignored"] * 5
    assert [r.reason.split(":")[0] for r in _log(deployment)] == [
        "Auto-Submitted", "Precedence", "X-Auto-Response-Suppress", "a mailing list (List-Unsubscribe / List-Id)",
        "X-Loop"]
    assert outbox.entries(deployment) == []


def test_a_delivery_report_marks_the_address_bouncing(deployment, sink, listener):
    raw = (MAILDIR / "new" / "1701000005.M5P1.fixture").read_bytes()
    with smtplib.SMTP("127.0.0.1", listener, timeout=30) as smtp:
        smtp.sendmail("", ["311@kcmo.test"], raw)
    assert [r.outcome for r in _log(deployment)] == ["bounce"]
    with deployment.engine.connect() as conn:
        [row] = conn.execute(select(contact_addresses_table)).all()
    assert row.address == "gone@example.com" and row.bouncing_since is not None and "5.1.1" in row.reason
    assert outbox.entries(deployment) == []


def test_bad_mime_never_stops_the_listener(deployment, sink, listener):
    broken = [
        b"From: x@example.org\r\nSubject: \xff\xfe bad bytes\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\n",
        b"From: nobody\r\n\r\n",
        b"\x00\x01\x02 not a mail at all",
        (MAILDIR / "new" / "1701000007.M7P1.fixture").read_bytes(),
    ]
    codes = []
    with smtplib.SMTP("127.0.0.1", listener, timeout=30) as smtp:
        for raw in broken:
            try:
                smtp.sendmail("x@example.org", ["311@kcmo.test"], raw)
                codes.append(250)
            except smtplib.SMTPDataError as exc:
                codes.append(exc.smtp_code)
    assert all(code in (250, 550) for code in codes)
    outcomes = [r.outcome for r in _log(deployment)]
    assert len(outcomes) == 4 and "refused" in outcomes
    refused = [r for r in _log(deployment) if r.outcome == "refused"]
    assert all(r.reason for r in refused)
    kept = [r for r in _log(deployment) if r.outcome in ("case", "triage")]
    assert any("unreadable" in (r.reason or "") for r in kept)  # the lying charset is said, not hidden
    assert _send(listener, _mail("Graffiti on City Property", "still listening"))[0] == 250


def test_a_flooding_sender_is_limited(tmp_path, monkeypatch, sink):
    from civiccrm.services.deployment import init_deployment

    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", "rate_limit = 20 ", "rate_limit = 3 ")
    deployment = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", str(folder))
    port = free_port()
    controller = make_controller(deployment, "127.0.0.1", port)
    controller.start()
    try:
        codes = [_send(port, _mail("Graffiti on City Property", f"wall {n}", Message_ID=f"<f{n}@example.org>"))[0]
                 for n in range(5)]
        assert codes == [250, 250, 250, 450, 450]
        assert [r.outcome for r in _log(deployment)] == ["case"] * 3 + ["limited"] * 2
        other = _send(port, _mail("Graffiti on City Property", "mine", sender="other@example.org"))
        assert other[0] == 250
    finally:
        controller.stop()
        deployment.engine.dispose()


def test_poll_a_maildir(deployment, tmp_path, database_url):
    folder = tmp_path / "Maildir"
    shutil.copytree(MAILDIR, folder)
    deployment.profile.settings["plugins"]["email_inbound"] = {"max_attachment_bytes": 100 * 1024}
    from civiccrm_plugins.email_inbound import poll_maildir

    results = poll_maildir(deployment, folder)
    assert [r.outcome for r in results] == ["triage", "triage", "case", "ignored", "bounce", "note", "triage"]
    pothole, basura, graffiti = (results[0].tracking_number, results[1].tracking_number, results[2].tracking_number)
    assert results[5].tracking_number == pothole
    assert cases.history(deployment, pothole)[-1].note == "It is getting bigger; a car lost a tire this morning."
    assert cases.get(deployment, graffiti).service_code == "graffiti-on-city-property"
    assert "No recogieron mi basura" in cases.get(deployment, basura).description
    with deployment.engine.connect() as conn:
        attachments = conn.execute(select(case_attachments_table)).all()
        customer_language = conn.exec_driver_sql(
            "SELECT language FROM customers WHERE email = 'ana@example.net'").scalar()
    assert [(a.filename, a.content_type) for a in attachments] == [("bridge.png", "image/png")]
    assert "huge.bin" in results[2].reason and "over the limit" in results[2].reason
    assert customer_language == "es"
    assert sorted(p.name for p in (folder / "new").iterdir()) == []
    assert all(p.name.endswith(":2,S") for p in (folder / "cur").iterdir() if p.name != ".keep")
    again = CliRunner().invoke(cli, ["--db", database_url, "email", "poll", "--maildir", str(folder)])
    assert again.exit_code == 0 and "0 message(s): nothing new" in again.output
    bad = CliRunner().invoke(cli, ["--db", database_url, "email", "poll", "--maildir", str(tmp_path)])
    assert bad.exit_code == 1 and "is not a Maildir" in bad.output


def _wait_for_port(port: int, process, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the listener exited: {process.communicate()}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def test_civiccrm_email_serve_and_deliver_as_processes(deployment, sink):
    """The commands a city runs: `civiccrm email serve` takes the mail over SMTP, `civiccrm deliver --once`
    sends the acknowledgement to the (loopback) mail server, where the test reads it back."""
    url = deployment.engine.url.render_as_string(hide_password=False)
    port = free_port()
    env = os.environ | {"CIVICCRM_SMTP_HOST": "127.0.0.1", "CIVICCRM_SMTP_PORT": os.environ["CIVICCRM_SMTP_PORT"],
                        "CIVICCRM_SMTP_FROM": "311@kcmo.test"}
    listener = subprocess.Popen([sys.executable, "-m", "civiccrm.cli", "--db", url, "email", "serve",
                                 "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, listener)
        code, _ = _send(port, _mail("Graffiti on City Property", "Paint on the wall of 414 E 12th St.",
                                    Message_ID="<process-1@example.org>"))
        assert code == 250
    finally:
        listener.terminate()
        out, err = listener.communicate(timeout=30)
    assert f"E-mail listener: smtp://127.0.0.1:{port}" in out and "Traceback" not in err
    delivered = subprocess.run([sys.executable, "-m", "civiccrm.cli", "--db", url, "deliver", "--once"], env=env,
                               capture_output=True, text=True, timeout=120)
    assert delivered.returncode == 0, delivered.stderr
    [ack] = sink.messages
    [case] = [cases.get(deployment, e.subject.split(":", 1)[1]) for e in outbox.entries(deployment)]
    assert ack["To"] == "pat@example.org" and case.tracking_number in ack["Subject"]
    assert ack["In-Reply-To"] == "<process-1@example.org>"
    text = ack.get_body(("plain",)).get_content()
    assert case.tracking_number in text and case.due_at.astimezone(deployment.profile.tz).date().isoformat() in text


def test_a_mail_with_no_text_is_refused_with_its_reason(deployment, sink, listener):
    empty = EmailMessage()
    empty["From"] = "pat@example.org"
    empty["To"] = "311@kcmo.test"
    empty.set_content("   \n")
    code, reason = _send(listener, empty)
    assert code == 550 and "no subject and no text" in reason
    [logged] = _log(deployment)
    assert (logged.outcome, logged.reason) == ("refused", "no subject and no text")
    assert outbox.entries(deployment) == []


def test_a_message_over_the_size_limit_is_refused_and_the_listener_goes_on(deployment, sink):
    deployment.profile.settings["plugins"]["email_inbound"] = {"max_message_bytes": 64 * 1024}
    port = free_port()
    controller = make_controller(deployment, "127.0.0.1", port)
    controller.start()
    try:
        huge = _mail("Graffiti on City Property", "photos attached", Message_ID="<huge@example.org>")
        huge.add_attachment(b"x" * (256 * 1024), maintype="application", subtype="octet-stream", filename="big.bin")
        code, reason = _send(port, huge)
        assert code == 552 and "message size exceeds" in reason
        assert _log(deployment) == []  # refused at the door: nothing stored
        assert _send(port, _mail("Graffiti on City Property", "a small one"))[0] == 250
        assert [r.outcome for r in _log(deployment)] == ["case"]
    finally:
        controller.stop()
