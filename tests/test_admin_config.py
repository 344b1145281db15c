"""Configuration screens: the taxonomy and SLA policies in force, a new SLA version recorded with who and
when (never an edit), on SQLite and PostgreSQL."""

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
import pytest

from civiccrm.services import config_changes
from tests.web_helpers import POTHOLE, client_for, post


def test_everyone_reads_the_configuration(staffed):
    for name in ("rob", "pat", "sam"):
        client = client_for(staffed, name)
        page = client.get("/admin/config?q=pothole")
        assert page.status_code == 200 and f"/admin/config/sla/{POTHOLE}" in page.text, name
        detail = client.get(f"/admin/config/sla/{POTHOLE}")
        assert detail.status_code == 200 and "Add a version" not in detail.text
    assert client_for(staffed, "sam").get("/admin/config/sla/no-such-type").status_code == 400


def test_an_administrator_adds_an_sla_version_recorded_with_who_and_when(staffed):
    client = client_for(staffed, "ada")
    path = f"/admin/config/sla/{POTHOLE}"
    today = staffed.clock().astimezone(staffed.profile.tz).date()
    response = post(client, path, {"target": "3", "basis": "business_days", "effective_from": today.isoformat(),
                                   "note": "council resolution 42"}, page=path)
    assert response.status_code == 302
    policy = staffed.profile.sla_policy(staffed.profile.service_type(POTHOLE), staffed.clock())
    assert (policy.target, policy.basis) == (3.0, "business_days")
    [change] = config_changes.recent(staffed)
    assert (change.actor, change.kind, change.subject, change.after["target"]) == ("ada", "sla_policy", POTHOLE, 3.0)
    assert change.before["target"] != 3.0
    page = client.get(path).text
    assert "council resolution 42" in page and "ada" in page
    again = post(client, path, {"target": "4", "effective_from": today.isoformat()}, page=path)
    assert again.status_code == 400 and "never edited" in again.text  # the same date twice: no overwrite
    assert len(config_changes.recent(staffed)) == 1


def test_bad_versions_are_refused(staffed):
    client = client_for(staffed, "ada")
    path = f"/admin/config/sla/{POTHOLE}"
    yesterday = (staffed.clock().astimezone(staffed.profile.tz).date() - timedelta(days=1)).isoformat()
    for data, message in (({"target": ""}, "target: required"),
                          ({"target": "soon"}, "target: 'soon' is not a number"),
                          ({"target": "-2"}, "--target"),
                          ({"target": "2", "basis": "fortnights"}, "basis"),
                          ({"target": "2", "calendar": "mars"}, "--calendar"),
                          ({"target": "2", "effective_from": "tomorrow"}, "effective_from: 'tomorrow'"),
                          ({"target": "2", "effective_from": yesterday}, "is in the past")):
        response = post(client, path, data, page=path)
        assert response.status_code == 400 and message in response.text.replace("&#39;", "'"), data
    assert config_changes.recent(staffed) == []


def test_only_administrators_change_policies(staffed):
    path = f"/admin/config/sla/{POTHOLE}"
    for name in ("sam", "pat", "cal", "ana"):
        assert post(client_for(staffed, name), path, {"target": "1"}, page=path).status_code == 403, name
    assert client_for(staffed, "ada").post(path, data={"target": "1"}).status_code == 400  # no CSRF token
    assert config_changes.recent(staffed) == []


def test_the_change_log_is_append_only(staffed):
    today = staffed.clock().astimezone(staffed.profile.tz).date()
    config_changes.add_sla_version(staffed, POTHOLE, actor="ada", target=2, effective_from=today)
    for statement in ("UPDATE config_changes SET actor = 'x'", "DELETE FROM config_changes"):
        with pytest.raises(DBAPIError, match="append-only"):
            with staffed.engine.begin() as connection:
                connection.execute(text(statement))


def test_closures_added_and_removed_in_the_admin(staffed, database_url):
    from civiccrm.services.deployment import open_deployment

    code = staffed.profile.default_calendar
    today = staffed.clock().astimezone(staffed.profile.tz).date()
    day = today + timedelta(days=30)
    while staffed.profile.calendars[code].is_holiday(day):
        day += timedelta(days=1)
    client = client_for(staffed, "ada")
    added = post(client, f"/admin/config/calendars/{code}/closures", {"date": day.isoformat(), "reason": "Ice storm"},
                 page="/admin/config")
    assert added.status_code == 302 and day in staffed.profile.calendars[code].closures
    reopened = open_deployment(database_url)  # another process reads it when it opens
    assert day in reopened.profile.calendars[code].closures
    reopened.engine.dispose()
    page = client.get("/admin/config").text
    assert "Ice storm" in page and f"Open again on {day.isoformat()}" in page
    for data, message in (({"date": day.isoformat(), "reason": "again"}, "already closed"),
                          ({"date": (today - timedelta(days=1)).isoformat(), "reason": "x"}, "in the past"),
                          ({"date": "", "reason": "x"}, "date: choose"),
                          ({"date": (day + timedelta(days=1)).isoformat(), "reason": ""}, "reason")):
        bad = post(client, f"/admin/config/calendars/{code}/closures", data, page="/admin/config")
        assert bad.status_code == 400 and message in bad.text, data
    assert post(client, "/admin/config/calendars/mars/closures", {"date": day.isoformat(), "reason": "x"},
                page="/admin/config").status_code == 404
    assert post(client_for(staffed, "sam"), f"/admin/config/calendars/{code}/closures",
                {"date": day.isoformat(), "reason": "x"}, page="/admin/config").status_code == 403
    removed = post(client, f"/admin/config/calendars/{code}/closures/{day.isoformat()}/remove", page="/admin/config")
    assert removed.status_code == 302 and day not in staffed.profile.calendars[code].closures
    again = post(client, f"/admin/config/calendars/{code}/closures/{day.isoformat()}/remove", page="/admin/config")
    assert again.status_code == 400 and "not a closure added in the admin" in again.text
    kinds = [c.kind for c in config_changes.recent(staffed)]
    assert kinds == ["closure_removed", "closure_added"]
    reopened = open_deployment(database_url)
    assert day not in reopened.profile.calendars[code].closures
    reopened.engine.dispose()
