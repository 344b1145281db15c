"""Cases without a type: what nobody can classify waits in the admin's triage queue with no service type,
department or due time; a staff member types it from the case page (routed, SLA started, an event);
every reader of cases (Open311, the public status page, reports, exports, the SLA scan, kcstat) copes."""

import csv
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain.messages import InboundMessage
from civiccrm.errors import CivicError
from civiccrm.services import cases, inbound
from web_helpers import POTHOLE, add_staff, client_for, csrf_token, make_app, new_case

UNCLASSIFIABLE = "Something odd happened near my house and I do not know whom to ask."


def _url(deployment) -> str:
    return deployment.engine.url.render_as_string(hide_password=False)


def _untyped(deployment, sender="pat@example.org"):
    received = inbound.receive(deployment, InboundMessage(
        channel="email", sender=sender, subject="A question", body=UNCLASSIFIABLE, received_at=deployment.clock(),
        message_id=f"<odd-{sender.partition('@')[0]}@example.org>"))
    assert received.outcome == "triage", received
    return cases.get(deployment, received.tracking_number)


@pytest.fixture
def untyped(deployment):
    """An untyped case from an e-mail beside a typed one."""
    return deployment, _untyped(deployment), new_case(deployment)


@pytest.fixture
def triaged(untyped):
    """The same with a supervisor (sam) and a public-works department worker (pat), for the admin."""
    add_staff(untyped[0], ["sam", "pat"])
    return untyped


def test_an_unclassified_message_is_a_case_without_a_type_and_is_acknowledged(untyped):
    deployment, case, _ = untyped
    assert (case.service_code, case.request_type, case.department, case.work_group) == (None, None, None, None)
    assert case.due_at is None and case.is_untyped and case.channel == "email"
    [created] = cases.history(deployment, case.tracking_number)
    assert created.changes["service_code"] == [None, None] and created.changes["due_at"] == [None, None]
    with deployment.engine.connect() as conn:
        [payload] = conn.exec_driver_sql("SELECT payload FROM outbox WHERE subject = %s" % (
            "'case:" + case.tracking_number + "'")).scalars().all()
    ack = json.loads(payload)
    text = json.dumps(ack, ensure_ascii=False)
    assert case.tracking_number in text and "None" not in text, text


def test_a_city_may_still_file_the_unclassifiable_under_a_real_type(sqlite_deployment):
    deployment = sqlite_deployment
    deployment.profile.settings["plugins"]["inbound"]["triage_type"] = "action-center-escalation"
    case = _untyped(deployment)
    assert case.service_code == "action-center-escalation" and case.due_at is not None
    deployment.profile.settings["plugins"]["inbound"]["triage_type"] = "no-such-type"
    with pytest.raises(CivicError, match="plugins.inbound.triage_type: type: no service type 'no-such-type'"):
        _untyped(deployment, sender="lee@example.org")


def test_typing_it_routes_it_starts_its_sla_and_is_recorded(untyped):
    deployment, case, _ = untyped
    typed = cases.update(deployment, case.tracking_number, service_type=POTHOLE, actor="sam")
    now = deployment.clock()
    assert typed.service_code == POTHOLE and typed.request_type and typed.department == "public-works"
    assert typed.work_group is not None and typed.due_at is not None and typed.due_at > now
    assert typed.sla_clock_from is not None and abs(typed.sla_clock_from - now) < timedelta(minutes=1)
    event = cases.history(deployment, case.tracking_number)[-1]
    assert event.kind == "updated" and event.actor == "sam"
    assert event.changes["service_code"] == [None, POTHOLE] and event.changes["department"] == [None, "public-works"]
    assert event.changes["due_at"][0] is None and event.changes["due_at"][1]


def test_the_admin_triage_queue_and_typing_from_the_case_page(triaged):
    deployment, case, typed_case = triaged
    sam = client_for(deployment, "sam")
    queue = sam.get("/admin/queue").text
    assert 'href="/admin/queue?triage=1"' in queue and "Triage (no type)" in queue
    triage = sam.get("/admin/queue?triage=1").text
    assert f'/admin/cases/{case.tracking_number}"' in triage
    assert f'/admin/cases/{typed_case.tracking_number}"' not in triage
    page = sam.get(f"/admin/cases/{case.tracking_number}")
    assert page.status_code == 200 and "No type yet" in page.text and 'name="service_type"' in page.text
    bad = sam.post(f"/admin/cases/{case.tracking_number}/type",
                   data={"service_type": "no-such-type", "csrf_token": csrf_token(page.text)})
    assert bad.status_code == 400 and "no-such-type" in bad.text
    assert cases.get(deployment, case.tracking_number).is_untyped  # nothing half-written
    done = sam.post(f"/admin/cases/{case.tracking_number}/type",
                    data={"service_type": POTHOLE, "csrf_token": csrf_token(page.text)})
    assert done.status_code == 302
    assert cases.get(deployment, case.tracking_number).department == "public-works"
    assert f'/admin/cases/{case.tracking_number}"' not in sam.get("/admin/queue?triage=1").text
    # a department worker never saw it untyped; once typed to their department, they do
    pat = client_for(deployment, "pat")
    assert pat.get(f"/admin/cases/{case.tracking_number}").status_code == 200


def test_a_department_worker_does_not_see_the_triage_queue(triaged):
    deployment, case, _ = triaged
    pat = client_for(deployment, "pat")
    assert f'/admin/cases/{case.tracking_number}"' not in pat.get("/admin/queue?triage=1").text
    assert pat.get(f"/admin/cases/{case.tracking_number}").status_code == 404


def test_open311_public_status_and_cli_show_an_untyped_case(untyped):
    deployment, case, typed_case = untyped
    client = make_app(deployment).test_client()
    one = client.get(f"/open311/v2/requests/{case.tracking_number}.json")
    assert one.status_code == 200, one.text
    [data] = one.json
    assert data["service_code"] == "" and data["service_name"] == "" and data["expected_datetime"] is None
    listed = client.get("/open311/v2/requests.json").json
    assert {r["service_request_id"] for r in listed} >= {case.tracking_number, typed_case.tracking_number}
    only = client.get(f"/open311/v2/requests.json?service_code={POTHOLE}").json
    assert [r["service_request_id"] for r in only] == [typed_case.tracking_number]
    xml = client.get(f"/open311/v2/requests/{case.tracking_number}.xml")
    assert xml.status_code == 200 and "<service_code></service_code>" in xml.text.replace("<service_code />",
                                                                                         "<service_code></service_code>")
    status = client.get(f"/status/{case.tracking_number}")
    assert status.status_code == 200 and "None" not in status.text
    runner = CliRunner()
    shown = runner.invoke(cli, ["--db", _url(deployment), "case", "show", case.tracking_number])
    assert shown.exit_code == 0 and "no type" in shown.output, shown.output
    listed = runner.invoke(cli, ["--db", _url(deployment), "case", "list"])
    assert listed.exit_code == 0 and case.tracking_number in listed.output


def test_reports_exports_the_sla_scan_and_kcstat_with_an_untyped_case(untyped, tmp_path):
    deployment, case, _ = untyped
    runner, url = CliRunner(), _url(deployment)
    day = deployment.clock().astimezone(deployment.profile.tz).date().isoformat()
    scan = runner.invoke(cli, ["--db", url, "sla", "scan"])
    assert scan.exit_code == 0, scan.output
    recompute = runner.invoke(cli, ["--db", url, "sla", "recompute"])
    assert recompute.exit_code == 0, recompute.output
    assert cases.get(deployment, case.tracking_number).due_at is None
    for by in ("type", "department"):
        summary = runner.invoke(cli, ["--db", url, "report", "summary", "--from", day, "--to", day, "--by", by])
        assert summary.exit_code == 0, summary.output
        assert "\nunknown " in summary.output and "\ntotal " in summary.output
    out = tmp_path / "cases.csv"
    exported = runner.invoke(cli, ["--db", url, "export", "cases", "--format", "csv", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = {r["case_id"]: r for r in csv.DictReader(out.open())}
    assert rows[case.tracking_number]["service_code"] == "" and rows[case.tracking_number]["service_name"] == ""
    for pack in ("kcstat", "council-monthly"):
        rendered = runner.invoke(cli, ["--db", url, "report", "render", pack, "--from", day, "--to", day,
                                       "--format", "json"])
        assert rendered.exit_code == 0, rendered.output


def test_migration_0026_keeps_rows_and_guards_and_downgrades_only_without_untyped_cases(deployment):
    """0026 on a populated database: down to the revision before (NOT NULL back) and up again keep every
    case and the append-only triggers; with an untyped case stored the downgrade is refused, nothing changes."""
    from alembic import command
    from sqlalchemy import text

    from civiccrm.store import migrate

    typed = new_case(deployment)
    engine = deployment.engine
    head = migrate.history().get_current_head()
    before = migrate.history().get_revision("0026").down_revision

    def downgrade(revision):
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), revision)

    downgrade("0026")  # the revisions after it first, each in its own step
    downgrade(before)
    assert migrate.current(engine) == before
    with pytest.raises(Exception, match="(?i)not null|null value"):
        with engine.begin() as conn:
            conn.execute(text("UPDATE cases SET service_code = NULL"))
    migrate.upgrade(engine)
    assert migrate.current(engine) == head
    assert cases.get(deployment, typed.tracking_number).service_code == POTHOLE
    with pytest.raises(Exception, match="cases are never deleted"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cases"))
    case = _untyped(deployment)
    downgrade("0026")
    with pytest.raises(RuntimeError, match="1 case\\(s\\) have no service type"):
        downgrade(before)
    assert migrate.current(engine) == "0026" and cases.get(deployment, case.tracking_number).is_untyped
    migrate.upgrade(engine)
    assert migrate.current(engine) == head
