"""Post-case survey: invitation on close through a real SMTP server, answers through the web page."""

import re
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from civiccrm.domain.cases import CaseDraft, Customer, Resolution
from civiccrm.metrics import surveys as survey_metrics
from civiccrm.services import cases, surveys
from civiccrm.store.tables import SurveyAnswerRow, SurveyInvitationRow, SurveyResponseRow
from civiccrm.web import create_app

LINK = re.compile(r"http://survey\.test/survey/([A-Za-z0-9_-]+)")


class Inbox:
    def __init__(self):
        self.messages = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        self.arrived.set()
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox(monkeypatch):
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("CIVICCRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CIVICCRM_SMTP_PORT", str(port))
    monkeypatch.setenv("CIVICCRM_SMTP_FROM", "311@kcmo.test")
    monkeypatch.setenv("CIVICCRM_SURVEY_BASE_URL", "http://survey.test")
    yield handler
    controller.stop()


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(deployment):
    clock = Clock()
    deployment.clock = clock
    return clock


def _code(deployment):
    return next(iter(deployment.profile.taxonomy.service_types))


def _case(deployment, email=None, origin="intake", name="Pat Resident"):
    customer = Customer(name=name, email=email) if email or name else None
    draft = CaseDraft(service_code=_code(deployment), description="Pothole on Main", channel="phone",
                      customer=customer, origin=origin)
    return cases.intake(deployment, draft)


def _close(deployment, case):
    return cases.close(deployment, case.tracking_number, Resolution.FIXED)


def _counts(deployment):
    with deployment.session() as s:
        return (s.scalar(select(func.count()).select_from(SurveyInvitationRow)),
                s.scalar(select(func.count()).select_from(SurveyResponseRow)),
                s.scalar(select(func.count()).select_from(SurveyAnswerRow)))


def test_close_invites_by_email_and_the_page_takes_one_answer(deployment, inbox, clock):
    case = _case(deployment, email="Pat@Example.org")
    _close(deployment, case)
    assert inbox.arrived.wait(10)
    [(recipients, content)] = inbox.messages
    assert recipients == ["Pat@Example.org"]
    assert case.tracking_number in content
    token = LINK.search(content).group(1)

    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    page = client.get(f"/survey/{token}")
    assert page.status_code == 200
    assert "How satisfied were you with the service the department provided?" in page.text
    assert "Very satisfied" in page.text

    before = _counts(deployment)
    missing = client.post(f"/survey/{token}", data={"timeliness": "4"})
    assert missing.status_code == 400 and "department_service: an answer is required" in missing.text
    out_of_range = client.post(f"/survey/{token}", data={"department_service": "6"})
    assert out_of_range.status_code == 400 and "department_service: 6 is out of range; expected 1 to 5" in out_of_range.text
    as_json = client.post(f"/survey/{token}", json={"department_service": 3, "bogus": 1})
    assert as_json.status_code == 400 and as_json.json["field"] == "bogus"
    assert _counts(deployment) == before

    ok = client.post(f"/survey/{token}", data={"department_service": "5", "timeliness": "2", "customer_service_311": ""})
    assert ok.status_code == 201
    again = client.post(f"/survey/{token}", data={"department_service": "1"})
    assert again.status_code == 409 and "already been answered" in again.text
    assert client.get(f"/survey/{token}").status_code == 409
    assert _counts(deployment) == (1, 1, 2)

    unknown = client.post("/survey/not-a-real-token", json={"department_service": 5})
    assert unknown.status_code == 404 and "not valid" in unknown.json["error"]

    figures = survey_metrics.results(deployment, "post-case")
    by_item = {r["item"]: r for r in figures["rows"]}
    assert by_item["department_service"]["answered"] == 1 and by_item["department_service"]["share"] == 1.0
    assert by_item["timeliness"]["share"] == 0.0 and by_item["timeliness"]["under_target"]
    assert figures["invited"] == 1 and figures["response_rate"] == 1.0
    assert survey_metrics.coverage(deployment, "post-case")[0]["answered"] == 1


def test_who_is_never_invited(deployment, inbox, clock):
    first = _case(deployment, email="sam@example.org")
    assert surveys.dispatch_on_close(deployment, _close(deployment, first)) == "recently_invited"  # the hook sent it
    assert inbox.arrived.wait(10)
    inbox.arrived.clear()

    # the same address within repeat_days (90 by default): not again
    clock.now += timedelta(days=30)
    second = _close(deployment, _case(deployment, email="SAM@example.org"))
    # anonymous, no e-mail address, imported history
    anonymous = _close(deployment, _case(deployment, name=None))
    phone_only = _close(deployment, _case(deployment, email=None, name="Phone Only"))
    imported = _close(deployment, _case(deployment, email="old@example.org", origin="import:test"))
    assert surveys.invite_case(deployment, second, plan=None, instrument_code="post-case") == "recently_invited"
    assert surveys.invite_case(deployment, anonymous, plan=None, instrument_code="post-case") == "anonymous"
    assert surveys.invite_case(deployment, phone_only, plan=None, instrument_code="post-case") == "no_contact"
    assert surveys.invite_case(deployment, imported, plan=None, instrument_code="post-case") == "imported"
    assert surveys.dispatch_on_close(deployment, imported) == "imported"
    assert _counts(deployment)[0] == 1
    assert len(inbox.messages) == 1

    # past the window the address is invited again, unless it opted out
    clock.now += timedelta(days=91)
    token = LINK.search(inbox.messages[0][1]).group(1)
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    assert client.post(f"/survey/{token}/opt-out").status_code == 200
    third = _close(deployment, _case(deployment, email="sam@example.org"))
    assert surveys.invite_case(deployment, third, plan=None, instrument_code="post-case") == "opted_out"
    assert _counts(deployment)[0] == 1


def test_expired_link_and_plan_sampling(deployment, inbox, clock):
    case = _close(deployment, _case(deployment, email="lee@example.org"))
    assert inbox.arrived.wait(10)
    token = LINK.search(inbox.messages[0][1]).group(1)
    clock.now += timedelta(days=31)
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    expired = client.post(f"/survey/{token}", data={"department_service": "5"})
    assert expired.status_code == 410 and "expired" in expired.text
    assert _counts(deployment)[1:] == (0, 0)

    # a plan that samples nobody at close (rate tiny, fixed seed) invites nobody
    surveys.create_plan(deployment, code="tiny", instrument_code="post-case", method="simple_random",
                        rate=1e-9, seed=1)
    other = _close(deployment, _case(deployment, email="kim@example.org"))
    assert surveys.dispatch_on_close(deployment, other) == "not_sampled"
    assert _counts(deployment)[0] == 1
    assert case.tracking_number


def test_failed_smtp_keeps_the_case_closed(deployment, clock, monkeypatch):
    monkeypatch.setenv("CIVICCRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CIVICCRM_SMTP_PORT", str(_free_port()))  # nobody listens
    closed = _close(deployment, _case(deployment, email="ash@example.org"))
    assert not closed.is_open
    with deployment.session() as s:
        row = s.scalars(select(SurveyInvitationRow)).one()
    assert row.status == "failed" and "Connection" in row.error
