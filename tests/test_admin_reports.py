"""The admin's report screen: it lists every pack the city may render (new packs appear by themselves),
renders one for a period in a format, and refuses bad input with 4xx; who may see it."""

import json

import pytest

from civiccrm import hookimpl
from civiccrm.registries import Rendered, ReportPack
from civiccrm.services.deployment import init_deployment
from tests.web_helpers import add_staff, client_for


class ExtraPack:
    @hookimpl
    def register_report_packs(self, register):
        register(ReportPack("extra-pack", lambda deployment, *, start, end, format: Rendered(
            json.dumps({"start": start.isoformat(), "end": end.isoformat()}).encode(), "application/json"),
            description="A pack a plugin adds", formats=("json",)))


@pytest.fixture
def staffed(sqlite_deployment):
    add_staff(sqlite_deployment, ["ada", "ana", "cal", "pat"])
    return sqlite_deployment


def test_the_screen_lists_the_city_packs_and_renders_one(staffed):
    client = client_for(staffed, "ana")
    page = client.get("/admin/reports")
    assert page.status_code == 200
    for name in ("kcstat", "council-monthly", "resident-survey", "employee-survey", "budget"):
        assert f"/admin/reports/{name}" in page.text
    assert "/admin/reports/tulsa-customer-service" not in page.text  # not in Kansas City's [city] report_packs
    response = client.get("/admin/reports/budget?from=2026-03-01&to=2026-03-31&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="budget-2026-03-01-2026-03-31.csv"'
    assert "# departments_" not in response.text and "# service_types:" in response.text
    html = client.get("/admin/reports/employee-survey?from=2026-03-01&to=2026-03-31")
    assert html.status_code == 200 and html.mimetype == "text/html" and "Content-Disposition" not in html.headers
    assert "No answers to survey" in html.text


def test_a_pack_a_plugin_adds_appears_by_itself(tmp_path):
    tulsa = init_deployment(f"sqlite:///{tmp_path / 't.db'}", "tulsa")  # no [city] report_packs: every pack
    add_staff(tulsa, ["ada"])
    tulsa.pm.register(ExtraPack(), name="extra-pack")
    try:
        page = client_for(tulsa, "ada").get("/admin/reports").text
        for name in ("extra-pack", "tulsa-customer-service", "resident-survey", "employee-survey", "budget"):
            assert f"/admin/reports/{name}" in page
        got = client_for(tulsa, "ada").get("/admin/reports/extra-pack?from=2026-03-08&to=2026-03-08")
        assert got.status_code == 200  # the day daylight saving time starts: 23 hours
        assert json.loads(got.data) == {"start": "2026-03-08T00:00:00-06:00", "end": "2026-03-09T00:00:00-05:00"}
    finally:
        tulsa.pm.unregister(name="extra-pack")
        tulsa.engine.dispose()


BAD = [
    ("/admin/reports/budget?from=2026-03-01&to=March", 400, "to: 'March' is not a date like"),
    ("/admin/reports/budget?to=2026-03-01", 400, "from: a date like 2026-03-31 is required"),
    ("/admin/reports/budget?from=2026-03-31&to=2026-03-01", 400, "to: 2026-03-01 is before from 2026-03-31"),
    ("/admin/reports/budget?from=2026-03-01&to=2026-03-31&format=docx", 400, "docx"),
    ("/admin/reports/nope?from=2026-03-01&to=2026-03-31", None, "no pack 'nope'"),
]


def test_bad_input_is_refused(staffed):
    client = client_for(staffed, "ana")
    for query, status, message in BAD:
        response = client.get(query, headers={"Accept": "application/json"})
        assert 400 <= response.status_code < 500 and (status is None or response.status_code == status), query
        assert message in response.get_json()["error"], query


def test_who_may_see_reports(staffed):
    for user, status in (("cal", 403), ("pat", 403), ("ada", 200)):
        assert client_for(staffed, user).get("/admin/reports").status_code == status, user
    assert "/admin/reports" not in client_for(staffed, "cal").get("/admin/queue").text
