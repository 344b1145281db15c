"""Notifications to requesters: written to the outbox with the change, in their channel and language,
from the city's templates (autoescaped HTML), with opt-out, bounces, quiet hours and no imported history."""

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from civiccrm.domain.cases import CaseDraft, Customer, Location, Resolution, Status
from civiccrm.errors import CivicError
from civiccrm.services import cases, inbound, outbox
from civiccrm.services.deployment import init_deployment
from civiccrm.store.tables import outbox_table
from mail_helpers import SmtpServer, SmtpSink, use_smtp
from profile_helpers import copy_kansas_city, edit


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _new(deployment, **customer):
    draft = CaseDraft(service_code="abandoned-vehicle", description="A car left on the street for weeks",
                      channel="phone", customer=Customer(name="Pat", **customer) if customer else None)
    return cases.intake(deployment, draft)


def _payloads(deployment):
    with deployment.engine.connect() as conn:
        return [(r.kind, r.destination, r.next_attempt_at, json.loads(r.payload))
                for r in conn.execute(select(outbox_table).order_by(outbox_table.c.id))]


def test_created_status_and_closed_are_queued_with_the_change(deployment):
    case = _new(deployment, email="pat@example.org")
    cases.change_status(deployment, case.tracking_number, Status.OPEN)  # not a status the city notifies
    cases.change_status(deployment, case.tracking_number, Status.IN_PROGRESS)
    cases.add_note(deployment, case.tracking_number, "crew booked")  # a note tells nobody
    cases.close(deployment, case.tracking_number, Resolution.FIXED)
    sent = _payloads(deployment)
    # the survey invitation is a notification too, queued by the survey dispatcher after the close
    assert [p["notification"] for _, _, _, p in sent] == ["created", "status_changed", "closed", "survey_invitation"]
    assert {(kind, to) for kind, to, _, _ in sent} == {("message:email", "pat@example.org")}
    assert "/survey/" in sent[3][3]["body"]
    created = sent[0][3]
    assert created["subject"] == f"We received your request {case.tracking_number}"
    assert f"/status/{case.tracking_number}" in created["body"] and "Abandoned Vehicle" in created["body"]
    assert f"<strong>{case.tracking_number}</strong>" in created["html"]
    assert "is now: In progress." in sent[1][3]["body"]
    assert "the problem is fixed" in sent[2][3]["body"]
    rows = outbox.entries(deployment, subject=f"case:{case.tracking_number}")
    assert len(rows) == 4 and len({r.idempotency_key for r in rows}) == 4


def test_spanish_requester_gets_spanish_and_the_message_goes_out_over_smtp(deployment, monkeypatch):
    case = _new(deployment, email="ana@example.net", language="es")
    with SmtpServer(SmtpSink()) as server:
        use_smtp(monkeypatch, server.port)
        assert outbox.run(deployment, once=True).sent == 1
    [mail] = server.handler.messages
    assert mail["Subject"] == f"Recibimos su solicitud {case.tracking_number}"
    assert mail["Content-Language"] == "es"
    assert "Gracias por comunicarse" in mail.get_body(("plain",)).get_content()
    assert "?lang=es" in mail.get_body(("html",)).get_content()


def test_city_templates_are_autoescaped_and_a_broken_one_falls_back(tmp_path):
    folder = copy_kansas_city(tmp_path)
    (folder / "notifications" / "created.en.html").write_text("<p>Where: {{ address }}</p>", encoding="utf-8")
    (folder / "notifications" / "closed.en.txt").write_text("Subject: {{ no_such_value }}\n\nx", encoding="utf-8")
    deployment = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", str(folder))
    try:
        draft = CaseDraft(service_code="abandoned-vehicle", description="car", channel="phone",
                          customer=Customer(email="pat@example.org"),
                          location=Location(address='<script>alert("x")</script> 414 E 12th St'))
        case = cases.intake(deployment, draft)
        cases.close(deployment, case.tracking_number, Resolution.FIXED)
        created, closed, _invitation = [p for _, _, _, p in _payloads(deployment)]
        assert created["html"] == "<p>Where: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; 414 E 12th St</p>"
        assert closed["subject"] == f"Kansas City, Missouri: request {case.tracking_number}"  # the core's default
    finally:
        deployment.engine.dispose()


def test_no_notification_for_imports_anonymous_opted_out_or_bouncing(deployment):
    imported = cases.intake(deployment, CaseDraft(service_code="abandoned-vehicle", description="old", channel="phone",
                                                  customer=Customer(email="old@example.org"), origin="import:test"))
    anonymous = _new(deployment)
    inbound.set_opt_out(deployment, address="Stop@Example.org", channel="email", opted_out=True, reason="test")
    inbound.mark_bouncing(deployment, address="gone@example.org", channel="email", reason="5.1.1 user unknown")
    _new(deployment, email="stop@example.org")
    _new(deployment, email="gone@example.org")
    assert imported.is_import and anonymous.customer_id is None
    assert _payloads(deployment) == []
    inbound.set_opt_out(deployment, address="stop@example.org", channel="email", opted_out=False, reason="back")
    _new(deployment, email="stop@example.org")
    assert [to for _, to, _, _ in _payloads(deployment)] == ["stop@example.org"]


def test_no_text_where_the_city_set_no_sms_provider_up(deployment):
    _new(deployment, phone="816-555-0100", contact_by="sms")  # Kansas City's profile has no [plugins.sms]
    _new(deployment, phone="816-555-0101", email="lee@example.org", contact_by="sms")
    assert [(kind, to) for kind, to, _, _ in _payloads(deployment)] == [("message:email", "lee@example.org")]


def test_texts_wait_for_the_end_of_quiet_hours(deployment):
    deployment.profile.settings["plugins"]["sms"] = {"provider": "loopback"}
    deployment.clock = Clock(datetime(2026, 3, 3, 4, 30, tzinfo=timezone.utc))  # 22:30 in Kansas City
    _new(deployment, phone="816-555-0100", contact_by="sms")
    _new(deployment, email="pat@example.org")
    (sms_kind, number, sms_at, sms), (_, _, mail_at, _) = _payloads(deployment)
    assert sms_kind == "message:sms" and number == "816-555-0100"
    assert sms_at == datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc)  # 08:00 the next morning, city time
    assert mail_at == deployment.clock.now  # e-mail is not held back
    assert sms["subject"] == "" and "Reply STOP" in sms["body"] and len(sms["body"]) < 300


def test_bad_notification_settings_name_the_key(tmp_path):
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", 'quiet_hours = "21:00-08:00"', 'quiet_hours = "late"')
    edit(folder / "profile.toml", "[plugins.inbound]", '[plugins.sms]\nprovider = "loopback"\n\n[plugins.inbound]')
    deployment = init_deployment(f"sqlite:///{tmp_path / 'c.db'}", str(folder))
    try:
        deployment.clock = Clock(datetime(2026, 3, 3, 4, 30, tzinfo=timezone.utc))
        with pytest.raises(CivicError, match=r"quiet_hours: 'late'; expected HH:MM-HH:MM"):
            _new(deployment, phone="816-555-0100", contact_by="sms")
        assert _payloads(deployment) == []
        with deployment.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == 0  # nothing half-written
    finally:
        deployment.engine.dispose()


def test_followers_hear_of_the_main_case_and_not_of_its_creation(deployment):
    main = _new(deployment, email="main@example.org")
    duplicate = _new(deployment, email="dup@example.org")
    cases.merge(deployment, duplicate.tracking_number, main.tracking_number)
    cases.change_status(deployment, main.tracking_number, Status.IN_PROGRESS)
    cases.close(deployment, main.tracking_number, Resolution.FIXED)
    about_main = [(json.loads(r.payload)["notification"], r.destination)
                  for r in _rows(deployment, f"case:{main.tracking_number}")]
    assert about_main == [("created", "main@example.org"),
                          ("status_changed", "main@example.org"), ("status_changed", "dup@example.org"),
                          ("closed", "main@example.org"), ("closed", "dup@example.org"),
                          ("survey_invitation", "main@example.org")]
    about_duplicate = [json.loads(r.payload)["notification"]
                       for r in _rows(deployment, f"case:{duplicate.tracking_number}")]
    assert about_duplicate[:2] == ["created", "closed"]  # closed as a duplicate of the main case


def _rows(deployment, subject):
    with deployment.engine.connect() as conn:
        return conn.execute(select(outbox_table).where(outbox_table.c.subject == subject)
                            .order_by(outbox_table.c.id)).all()


def test_notifications_survive_a_worker_killed_mid_batch(deployment):
    """The acknowledgements of 30 new cases, sent by a real `civiccrm deliver` SIGKILLed mid-batch, then by
    another: every one arrives, none twice except at most those in flight (4, the worker's default
    --concurrency), each with the same Message-ID."""
    import time

    from mail_helpers import SmtpServer, SmtpSink, kill_after
    from test_outbox import _worker

    for n in range(30):
        _new(deployment, email=f"resident{n}@example.org")
    url = deployment.engine.url.render_as_string(hide_password=False)
    sink = SmtpSink(delay=0.05)
    with SmtpServer(sink) as server:
        kill_after(_worker(url, server.port, "--batch", "10", "--lease", "1", "--interval", "0.1"), sink, 8,
                   seconds=120)
        first = sink.message_ids()
        states = {e.state.value for e in outbox.entries(deployment) if e.state.value != "sent"}
        assert 8 <= len(first) < 30 and len(set(first)) == len(first) and states <= {"pending", "delivering"}
        time.sleep(1.2)  # the dead worker's lease runs out
        again = _worker(url, server.port, "--once")
        assert again.wait(timeout=180) == 0
    entries = outbox.entries(deployment)
    assert len(entries) == 30 and {e.state.value for e in entries} == {"sent"}
    received = sink.message_ids()
    assert set(received) == {e.receipt for e in entries}
    assert len(received) - len(set(received)) <= 4
    assert {m["To"] for m in sink.messages} == {f"resident{n}@example.org" for n in range(30)}
