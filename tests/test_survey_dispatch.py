"""Post-case survey: the invitation on close is a notification sent from the delivery outbox through a real
SMTP server; answers through the web page."""

import json
import re
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import func, select

from civiccrm import hookimpl
from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Resolution
from civiccrm.errors import CivicError
from civiccrm.metrics import surveys as survey_metrics
from civiccrm.registries import Channel
from civiccrm.services import cases, outbox
from civiccrm.services.surveys import invitations as survey_invitations, plans as survey_plans
from civiccrm.store import repo
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


@pytest.fixture(autouse=True)
def only_invitations(deployment):
    """The other notifications (created, closed) are tested in test_notifications; here the inbox holds invitations."""
    deployment.profile.settings.setdefault("plugins", {})["notifications"] = {"kinds": ["survey_invitation"]}


def _deliver(deployment):
    """What `civiccrm deliver --once` does: send what the outbox holds."""
    return outbox.run(deployment, once=True)


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


def csrf_of(client, token):
    """The csrf_token of the survey page the link opens (a form POST must carry it)."""
    page = client.get(f"/survey/{token}")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _counts(deployment):
    with deployment.session() as s:
        return (s.scalar(select(func.count()).select_from(SurveyInvitationRow)),
                s.scalar(select(func.count()).select_from(SurveyResponseRow)),
                s.scalar(select(func.count()).select_from(SurveyAnswerRow)))


def test_close_invites_by_email_and_the_page_takes_one_answer(deployment, inbox, clock):
    case = _case(deployment, email="Pat@Example.org")
    _close(deployment, case)
    assert inbox.messages == []  # written to the outbox with the close, sent by the worker
    assert _deliver(deployment).sent == 1
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
    csrf = csrf_of(client, token)
    missing = client.post(f"/survey/{token}", data={"timeliness": "4", "csrf_token": csrf})
    assert missing.status_code == 400 and "department_service: an answer is required" in missing.text
    out_of_range = client.post(f"/survey/{token}", data={"department_service": "6", "csrf_token": csrf})
    assert out_of_range.status_code == 400 and "department_service: 6 is out of range; expected 1 to 5" in out_of_range.text
    as_json = client.post(f"/survey/{token}", json={"department_service": 3, "bogus": 1})
    assert as_json.status_code == 400 and as_json.json["field"] == "bogus"
    assert _counts(deployment) == before

    ok = client.post(f"/survey/{token}", data={"department_service": "5", "timeliness": "2", "customer_service_311": "",
                                               "csrf_token": csrf})
    assert ok.status_code == 201
    again = client.post(f"/survey/{token}", data={"department_service": "1", "csrf_token": csrf})
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
    assert survey_invitations.dispatch_on_close(deployment, _close(deployment, first)) == "recently_invited"  # the hook sent it
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    inbox.arrived.clear()

    # the same address within repeat_days (90 by default): not again
    clock.now += timedelta(days=30)
    second = _close(deployment, _case(deployment, email="SAM@example.org"))
    # anonymous, no e-mail address, imported history
    anonymous = _close(deployment, _case(deployment, name=None))
    phone_only = _close(deployment, _case(deployment, email=None, name="Phone Only"))
    imported = _close(deployment, _case(deployment, email="old@example.org", origin="import:test"))
    assert survey_invitations.invite_case(deployment, second, plan=None, instrument_code="post-case") == "recently_invited"
    assert survey_invitations.invite_case(deployment, anonymous, plan=None, instrument_code="post-case") == "anonymous"
    assert survey_invitations.invite_case(deployment, phone_only, plan=None, instrument_code="post-case") == "no_contact"
    assert survey_invitations.invite_case(deployment, imported, plan=None, instrument_code="post-case") == "imported"
    assert survey_invitations.dispatch_on_close(deployment, imported) == "imported"
    assert _counts(deployment)[0] == 1
    assert _deliver(deployment).claimed == 0 and len(inbox.messages) == 1

    # past the window the address is invited again, unless it opted out
    clock.now += timedelta(days=91)
    token = LINK.search(inbox.messages[0][1]).group(1)
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    later = clock.now
    clock.now -= timedelta(days=121)  # the person opted out from the link while it was alive
    assert client.post(f"/survey/{token}/opt-out", data={"csrf_token": csrf_of(client, token)}).status_code == 200
    clock.now = later
    third = _close(deployment, _case(deployment, email="sam@example.org"))
    assert survey_invitations.invite_case(deployment, third, plan=None, instrument_code="post-case") == "opted_out"
    assert _counts(deployment)[0] == 1


def test_expired_link_and_plan_sampling(deployment, inbox, clock):
    case = _close(deployment, _case(deployment, email="lee@example.org"))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    token = LINK.search(inbox.messages[0][1]).group(1)
    clock.now += timedelta(days=31)
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    expired = client.post(f"/survey/{token}", json={"department_service": 5})
    assert expired.status_code == 410 and "expired" in expired.text
    assert _counts(deployment)[1:] == (0, 0)

    # a plan that samples nobody at close (rate tiny, fixed seed) invites nobody
    survey_plans.create_plan(deployment, code="tiny", instrument_code="post-case", method="simple_random",
                        rate=1e-9, seed=1)
    other = _close(deployment, _case(deployment, email="kim@example.org"))
    assert survey_invitations.dispatch_on_close(deployment, other) == "not_sampled"
    assert _counts(deployment)[0] == 1
    assert case.tracking_number


def test_failed_smtp_keeps_the_case_closed_and_the_invitation_waits(deployment, clock, monkeypatch):
    monkeypatch.setenv("CIVICCRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CIVICCRM_SMTP_PORT", str(_free_port()))  # nobody listens
    closed = _close(deployment, _case(deployment, email="ash@example.org"))
    assert not closed.is_open
    assert _deliver(deployment).failed == 1
    [entry] = outbox.entries(deployment)
    assert entry.state.value == "pending" and "ConnectionRefusedError" in entry.last_error
    assert survey_invitations.invitation_counts(deployment, "post-case") == {"queued": 1}
    assert survey_metrics.results(deployment, "post-case")["invited"] == 0  # not reached anyone yet


def test_a_failed_send_is_visible_and_retried_from_the_command_line(deployment, database_url, clock, monkeypatch):
    """Issue 9 defect: closing a case with no SMTP server printed a 33-line traceback. The close now only
    writes the invitation to the outbox; `civiccrm deliver` records the failure with its reason, `outbox
    list` shows it, and once the server is back the same message is sent (FixMyStreet's issue 2091: no
    silent drop)."""
    from civiccrm.services import deployment as deployment_module

    monkeypatch.setattr(deployment_module, "open_deployment", lambda url=None: deployment)
    monkeypatch.setenv("CIVICCRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CIVICCRM_SMTP_PORT", str(_free_port()))  # nobody listens
    case = _case(deployment, email="ash@example.org")
    runner = CliRunner()
    closed = runner.invoke(cli, ["--db", database_url, "case", "close", case.tracking_number, "--resolution", "fixed"])
    assert closed.exit_code == 0, closed.output
    assert closed.stdout == f"{case.tracking_number}: closed (fixed)\n" and closed.stderr == ""

    failed = runner.invoke(cli, ["--db", database_url, "deliver", "--once"])
    assert failed.exit_code == 0 and "Traceback" not in failed.output, failed.output
    [row] = json.loads(runner.invoke(cli, ["--db", database_url, "outbox", "list", "--json"]).stdout)
    assert row["subject"] == f"case:{case.tracking_number}" and "ConnectionRefusedError" in row["last_error"]

    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("CIVICCRM_SMTP_PORT", str(port))
        retried = runner.invoke(cli, ["--db", database_url, "outbox", "retry", str(row["id"])])
        assert retried.exit_code == 0, retried.output
        sent = runner.invoke(cli, ["--db", database_url, "deliver", "--once"])
        assert sent.exit_code == 0, sent.output
        assert handler.arrived.wait(10)
    finally:
        controller.stop()
    [(recipients, content)] = handler.messages
    assert recipients == ["ash@example.org"] and case.tracking_number in content
    assert survey_invitations.invitation_counts(deployment, "post-case") == {"sent": 1}


# --- the requester's preferred channel ---------------------------------------------------


class TextMessages:
    """An outbound SMS channel plugin, as a city would install one."""

    def __init__(self):
        self.sent = []

    def send(self, deployment, address, subject, body):
        self.sent.append((address, body))
        return f"sms-{len(self.sent)}"

    @hookimpl
    def register_channels(self, register):
        register(Channel("sms", "Text message (SMS)", outbound=True, send=self.send))


@pytest.fixture
def sms(deployment):
    plugin = TextMessages()
    deployment.pm.register(plugin, name="test-sms")
    yield plugin
    deployment.pm.unregister(plugin)


def _invitation(deployment, case):
    with deployment.session() as s:
        return s.scalars(select(SurveyInvitationRow).where(SurveyInvitationRow.case_id == case.id)).one()


def _case_for(deployment, **customer):
    draft = CaseDraft(service_code=_code(deployment), description="Pothole on Main", channel="phone",
                      customer=Customer(name="Pat", **customer))
    return cases.intake(deployment, draft)


def test_preferred_channel_without_an_sms_plugin(deployment, inbox, clock):
    # e-mail preferred (a phone number too): e-mail
    by_email = _close(deployment, _case_for(deployment, email="a@example.org", phone="918-555-0101", contact_by="email"))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    assert (_invitation(deployment, by_email).channel, _invitation(deployment, by_email).status) == ("email", "queued")
    # SMS preferred but nobody sends text messages: falls back to the e-mail address
    inbox.arrived.clear()
    fallback = _close(deployment, _case_for(deployment, email="b@example.org", phone="918-555-0102", contact_by="sms"))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    row = _invitation(deployment, fallback)
    assert (row.channel, row.address, row.status) == ("email", "b@example.org", "queued")
    assert inbox.messages[-1][0] == ["b@example.org"]
    # a phone call preferred: no outbound phone channel, so e-mail
    inbox.arrived.clear()
    called = _close(deployment, _case_for(deployment, email="c@example.org", phone="918-555-0103", contact_by="phone"))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    assert _invitation(deployment, called).channel == "email"
    # SMS preferred, only a phone number: skipped, and the reason recorded
    phone_only = _close(deployment, _case_for(deployment, phone="918-555-0104", contact_by="sms"))
    row = _invitation(deployment, phone_only)
    assert (row.channel, row.address, row.status) == ("sms", "918-555-0104", "skipped")
    assert "prefers sms" in row.error and "no e-mail address" in row.error
    assert survey_invitations.invitation_counts(deployment, "post-case") == {"sent": 3, "skipped": 1}
    assert len(inbox.messages) == 3
    # a skipped invitation does not count as one for the repeat window, nor for the response rate
    assert survey_invitations.invite_case(deployment, phone_only, plan=None, instrument_code="post-case") == "no_channel"
    assert survey_metrics.results(deployment, "post-case")["invited"] == 3


def test_preferred_sms_goes_through_the_sms_plugin(deployment, inbox, clock, sms):
    texted = _close(deployment, _case_for(deployment, email="d@example.org", phone="918-555-0105", contact_by="sms"))
    assert sms.sent == [] and _deliver(deployment).sent == 1
    [(address, body)] = sms.sent
    assert address == "918-555-0105" and texted.tracking_number in body and len(body) < 320
    row = _invitation(deployment, texted)
    assert (row.channel, row.address, row.status) == ("sms", "918-555-0105", "queued")
    assert survey_invitations.invitation_counts(deployment, "post-case") == {"sent": 1}
    assert inbox.messages == []
    # the link in the text message answers the survey like the e-mail one
    token = LINK.search(body).group(1)
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    assert client.post(f"/survey/{token}", data={"department_service": "4", "csrf_token": csrf_of(client, token)}
                       ).status_code == 201
    # no preference and an e-mail address: e-mail, not a text
    mailed = _close(deployment, _case_for(deployment, email="e@example.org", phone="918-555-0106"))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    assert _invitation(deployment, mailed).channel == "email" and len(sms.sent) == 1
    # no preference and only a phone number: nobody is texted unasked
    assert survey_invitations.invite_case(deployment, _close(deployment, _case_for(deployment, phone="918-555-0107")),
                               plan=None, instrument_code="post-case") == "no_contact"
    # the same person is not invited again at another of their addresses within the window
    again = _close(deployment, _case_for(deployment, email="other@example.org", phone="918-555-0105", contact_by="sms"))
    assert survey_invitations.invite_case(deployment, again, plan=None, instrument_code="post-case") == "recently_invited"
    assert len(sms.sent) == 1
    # an opt-out by the texted number covers that person's e-mail too
    clock.now += timedelta(days=200)
    survey_invitations.opt_out(deployment, "918-555-0105")
    assert survey_invitations.invite_case(deployment, again, plan=None, instrument_code="post-case") == "opted_out"


def test_contact_by_on_intake(deployment):
    with pytest.raises(CivicError, match="contact_by: sms needs the customer's phone"):
        Customer(name="x", email="x@example.org", contact_by="sms")
    with pytest.raises(CivicError, match="contact_by: 'fax'; expected one of email, sms, phone"):
        Customer(name="x", email="x@example.org", contact_by="fax")
    assert Customer(phone="1", contact_by=" Text ").contact_by == "sms"
    assert Customer(name="x").contact_by is None  # unchanged for callers that do not say

    url = deployment.engine.url.render_as_string(hide_password=False)
    out = CliRunner().invoke(cli, ["--db", url, "case", "new", "--type", _code(deployment), "--description", "x",
                                   "--name", "Lee", "--phone", "816-555-0100", "--contact-by", "sms"])
    assert out.exit_code == 0, out.output
    case = cases.get(deployment, out.output.strip())
    with deployment.session() as s:
        stored = repo.get_customer(session=s, customer_id=case.customer_id)
    assert (stored.phone, stored.contact_by) == ("816-555-0100", "sms")
    bad = CliRunner().invoke(cli, ["--db", url, "case", "new", "--type", _code(deployment), "--description", "x",
                                   "--email", "a@example.org", "--contact-by", "sms"])
    assert bad.exit_code != 0 and "needs the customer's phone" in bad.output and "Traceback" not in bad.output


def test_invitation_links_default_to_where_civiccrm_serve_listens(deployment, inbox, clock, monkeypatch):
    """Without a configured base URL the link points at `civiccrm serve`'s own default address
    (what `make run` starts), not at a port nothing listens on."""
    from civiccrm.cli.serve import serve

    monkeypatch.delenv("CIVICCRM_SURVEY_BASE_URL")
    _close(deployment, _case(deployment, email="pat@example.org"))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    [(_, content)] = inbox.messages
    defaults = {p.name: p.default for p in serve.params}
    link = re.search(r"(http://\S+)/survey/[A-Za-z0-9_-]+", content).group(1)
    assert link == f"http://{defaults['host']}:{defaults['port']}" == "http://127.0.0.1:8311"


# --- the survey page's trust: live links only, same-origin posts, rate limits ----------------------


def _invited(deployment, inbox, email):
    """A closed case's invitation, delivered; its token."""
    inbox.arrived.clear()
    _close(deployment, _case(deployment, email=email))
    _deliver(deployment)
    assert inbox.arrived.wait(10)
    return LINK.search(inbox.messages[-1][1]).group(1)


def _opted_out(deployment, address):
    from civiccrm.store.tables import SurveyOptOutRow

    with deployment.session() as s:
        return s.get(SurveyOptOutRow, address) is not None


def test_opt_out_refuses_an_answered_or_expired_link_as_the_answer_page_does(deployment, inbox, clock):
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    answered = _invited(deployment, inbox, "ann@example.org")
    csrf = csrf_of(client, answered)  # one per session, good for every form of it
    assert client.post(f"/survey/{answered}", json={"department_service": 4}).status_code == 201
    refused = client.post(f"/survey/{answered}/opt-out", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "already been answered" in refused.text
    assert not _opted_out(deployment, "ann@example.org")

    expired = _invited(deployment, inbox, "eve@example.org")
    clock.now += timedelta(days=31)
    refused = client.post(f"/survey/{expired}/opt-out", data={"csrf_token": csrf})
    assert refused.status_code == 410 and "expired" in refused.text
    assert not _opted_out(deployment, "eve@example.org")
    assert client.post("/survey/not-a-token/opt-out", data={"csrf_token": csrf}).status_code == 404

    alive = _invited(deployment, inbox, "liv@example.org")
    assert client.post(f"/survey/{alive}/opt-out", data={"csrf_token": csrf}).status_code == 200
    assert _opted_out(deployment, "liv@example.org")


def test_a_survey_post_needs_this_sites_origin_and_its_csrf_token(deployment, inbox, clock):
    client = create_app({"TESTING": True, "PUBLIC_URL": "https://311.kcmo.example"}, deployment=deployment).test_client()
    token = _invited(deployment, inbox, "pat@example.org")
    csrf = csrf_of(client, token)
    before = _counts(deployment)
    answer = {"department_service": "5"}
    for data, headers, field in [
        (answer, {}, "csrf_token"),
        ({**answer, "csrf_token": "forged"}, {}, "csrf_token"),
        ({**answer, "csrf_token": csrf}, {"Origin": "https://evil.example"}, "Origin"),
    ]:
        refused = client.post(f"/survey/{token}", data=data, headers=headers)
        assert refused.status_code == 400 and f"{field}:" in refused.text, refused.text
    cross_json = client.post(f"/survey/{token}", json={"department_service": 5}, headers={"Origin": "null"})
    assert cross_json.status_code == 400 and cross_json.json["field"] == "Origin"
    no_token = client.post(f"/survey/{token}/opt-out")
    assert no_token.status_code == 400 and "csrf_token:" in no_token.text
    assert _counts(deployment) == before and not _opted_out(deployment, "pat@example.org")
    for origin in ("https://311.kcmo.example", "http://localhost"):  # the public address, or the host served
        assert client.post(f"/survey/{token}", data={**answer, "csrf_token": csrf}, headers={"Origin": origin}
                           ).status_code in (201, 409)
    assert _counts(deployment)[1] == before[1] + 1


def test_survey_pages_are_rate_limited_per_address(deployment, inbox, clock):
    token = _invited(deployment, inbox, "sam@example.org")
    first, second = (create_app({"TESTING": True, "SURVEY_LIMIT": 2}, deployment=deployment).test_client()
                     for _ in range(2))  # two workers: the count is in the database
    assert first.get(f"/survey/{token}").status_code == 200
    assert second.get(f"/survey/{token}").status_code == 200
    limited = first.post(f"/survey/{token}", json={"department_service": 5})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many requests" in limited.json["error"] and _counts(deployment)[1] == 0
    elsewhere = first.get(f"/survey/{token}", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 200
