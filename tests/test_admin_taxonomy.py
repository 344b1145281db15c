"""Taxonomy and business-calendar editing in the admin (/admin/taxonomy, /admin/config/calendars/...):
recorded with who and when, refused by field on bad input, used by intake, routing and the SLA clock from
then on, and seen by another app on the same database without a restart; on SQLite and PostgreSQL."""

from datetime import timedelta

from sqlalchemy import select

from civiccrm.domain.calendar import WEEKDAYS
from civiccrm.services import config_changes
from civiccrm.store.tables import ServiceTypeRow
from tests.web_helpers import POTHOLE, client_for, new_case, post

NEW_TYPE = {"code": "e-scooter-blocking", "name": "E-Scooter Blocking Sidewalk", "category": "Streets",
            "department": "street-services", "work_group": "street-services-scooters", "keywords": "scooter, bird, lime",
            "active": "on", "sla_target": "3", "sla_basis": "business_days"}


def add_new_type(client):
    assert post(client, "/admin/taxonomy/departments", {"code": "street-services", "name": "Street Services"},
                page="/admin/taxonomy").status_code == 302
    assert post(client, "/admin/taxonomy/work-groups", {"code": "street-services-scooters", "name": "Scooters",
                                                        "department": "street-services"},
                page="/admin/taxonomy").status_code == 302
    return post(client, "/admin/taxonomy/types/new", NEW_TYPE, page="/admin/taxonomy/types/new")


def test_a_new_type_is_offered_at_intake_and_routed_to_its_work_group(staffed, database_url):
    from civiccrm.services.deployment import open_deployment

    ada = client_for(staffed, "ada")
    response = add_new_type(ada)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/taxonomy/types/e-scooter-blocking")
    assert "type=e-scooter-blocking" in client_for(staffed, "cal").get("/admin/intake?q=scooter").text
    case = new_case(staffed, "e-scooter-blocking")
    assert (case.department, case.work_group) == ("street-services", "street-services-scooters")
    assert case.due_at is not None
    kinds = [(c.actor, c.kind, c.subject) for c in config_changes.recent(staffed)]
    assert kinds == [("ada", "service_type", "e-scooter-blocking"), ("ada", "work_group", "street-services-scooters"),
                     ("ada", "department", "street-services")]
    with staffed.engine.connect() as connection:  # reports join on the mirrored table
        assert connection.execute(select(ServiceTypeRow.department).where(
            ServiceTypeRow.code == "e-scooter-blocking")).scalar_one() == "street-services"
    reopened = open_deployment(database_url)
    assert reopened.profile.taxonomy.service_types["e-scooter-blocking"].keywords == ("scooter", "bird", "lime")
    reopened.engine.dispose()
    edited = post(ada, "/admin/taxonomy/types/e-scooter-blocking", {**NEW_TYPE, "department": "public-works",
                                                                    "work_group": "", "keywords": "scooter"},
                  page="/admin/taxonomy/types/e-scooter-blocking")
    assert edited.status_code == 302
    assert new_case(staffed, "e-scooter-blocking").department == "public-works"
    [change] = config_changes.recent(staffed, limit=1)
    assert change.before["department"] == "street-services" and change.after["department"] == "public-works"


def test_bad_taxonomy_input_is_refused_by_field(staffed):
    ada = client_for(staffed, "ada")
    add_new_type(ada)
    before = len(config_changes.recent(staffed))
    for path, data, message in (
            ("/admin/taxonomy/types/new", {**NEW_TYPE, "code": "x-1", "name": "X", "department": "mars"},
             "department: no department 'mars'"),
            ("/admin/taxonomy/types/new", {**NEW_TYPE, "code": "x-1", "name": "X", "work_group": "nhs-solid-waste"},
             "work_group: 'nhs-solid-waste' is not a work group of street-services"),
            ("/admin/taxonomy/types/new", NEW_TYPE, "code: a service type 'e-scooter-blocking' already exists"),
            ("/admin/taxonomy/types/new", {**NEW_TYPE, "code": "x-1"}, "name: the service type 'e-scooter-blocking'"),
            ("/admin/taxonomy/types/new", {**NEW_TYPE, "code": "x-1", "name": "X", "sla_target": "soon"},
             "sla_target: 'soon' is not a number"),
            ("/admin/taxonomy/types/new", {**NEW_TYPE, "code": "Not A Code", "name": "X"}, "code: 'Not A Code'"),
            ("/admin/taxonomy/departments", {"code": "street-services", "name": "Again"},
             "code: a department 'street-services' already exists"),
            ("/admin/taxonomy/departments", {"code": "new-dept", "name": ""}, "name: required"),
            ("/admin/taxonomy/work-groups", {"code": "wg", "name": "WG", "department": "mars"},
             "department: no department 'mars'")):
        response = post(ada, path, data, page="/admin/taxonomy")
        assert response.status_code == 400 and message in response.text.replace("&#39;", "'"), (data, response.text[-600:])
    assert post(ada, "/admin/taxonomy/departments/no-such", {"name": "X"}, page="/admin/taxonomy").status_code == 404
    assert len(config_changes.recent(staffed)) == before
    for name in ("sam", "pat"):  # the CONFIG_EDIT rule of every role: tests/test_admin_config.py
        refused = post(client_for(staffed, name), "/admin/taxonomy/departments", {"code": "d2", "name": "D2"},
                       page="/admin/queue")
        assert refused.status_code == 403, name
    assert ada.post("/admin/taxonomy/departments", data={"code": "d2", "name": "D2"}).status_code == 400  # no CSRF
    assert len(config_changes.recent(staffed)) == before


def test_a_type_no_longer_taken_is_not_offered_nor_accepted(staffed):
    ada = client_for(staffed, "ada")
    service_type = staffed.profile.service_type(POTHOLE)
    page = f"/admin/taxonomy/types/{POTHOLE}"
    response = post(ada, page, {"name": service_type.name, "department": service_type.department,
                                "work_group": service_type.work_group or ""}, page=page)  # "active" unchecked
    assert response.status_code == 302
    assert f"type={POTHOLE}" not in client_for(staffed, "cal").get("/admin/intake?q=pothole north").text
    services = ada.get("/open311/v2/services.json").json
    assert POTHOLE not in {s["service_code"] for s in services}
    try:
        new_case(staffed, POTHOLE)
    except Exception as exc:  # noqa: BLE001  (the CivicError's message is what matters)
        assert "is no longer taken" in str(exc) and exc.field == "service_code"
    else:
        raise AssertionError("a case of an inactive type was taken")


def next_working_day(calendar, day):
    day += timedelta(days=1)
    while not calendar.intervals_on(day):
        day += timedelta(days=1)
    return day


def test_a_holiday_added_moves_due_times_computed_after_it_not_before(staffed):
    ada = client_for(staffed, "ada")
    add_new_type(ada)
    code = staffed.profile.default_calendar
    calendar = staffed.profile.calendars[code]
    today = staffed.clock().astimezone(staffed.profile.tz).date()
    before = new_case(staffed, "e-scooter-blocking")
    day = next_working_day(calendar, today)
    assert post(ada, f"/admin/config/calendars/{code}/closures", {"date": day.isoformat(), "reason": "City holiday"},
                page="/admin/config").status_code == 302
    after = new_case(staffed, "e-scooter-blocking")
    assert after.due_at > before.due_at
    from civiccrm.services import cases

    assert cases.get(staffed, before.tracking_number).due_at == before.due_at  # kept as computed


def test_new_weekly_hours_from_a_date_and_bad_hours(staffed):
    ada = client_for(staffed, "ada")
    code = staffed.profile.default_calendar
    path = f"/admin/config/calendars/{code}"
    page = ada.get(path)
    assert page.status_code == 200 and 'name="hours_monday"' in page.text
    today = staffed.clock().astimezone(staffed.profile.tz).date()
    first = today + timedelta(days=10)
    week = {f"hours_{day}": "09:00-12:00, 13:00-16:00" for day in WEEKDAYS[:5]}
    for data, message in (({**week, "hours_monday": "17:00-08:00"}, "hours_monday: '17:00-08:00' ends before it starts"),
                          ({**week, "hours_tuesday": "9 to 5"}, "hours_tuesday: '9 to 5' is not an interval"),
                          ({**week, "hours_friday": "08:00-12:00, 11:00-14:00"}, "hours_friday: intervals"),
                          ({}, "hours: give the opening hours"),
                          ({**week, "effective_from": (today - timedelta(days=1)).isoformat()}, "is in the past")):
        bad = post(ada, f"{path}/hours", {"effective_from": first.isoformat(), **data}, page=path)
        assert bad.status_code == 400 and message in bad.text.replace("&#39;", "'"), data
    assert config_changes.recent(staffed) == []
    assert post(ada, f"{path}/hours", {"effective_from": first.isoformat(), **week}, page=path).status_code == 302
    again = post(ada, f"{path}/hours", {"effective_from": first.isoformat(), **week}, page=path)
    assert again.status_code == 400 and "never edited" in again.text
    calendar = staffed.profile.calendars[code]
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    assert [f"{s:%H:%M}" for s, _ in calendar.hours_on(monday)[0]] == ["09:00", "13:00"]
    assert calendar.hours_on(today) == calendar.hours  # today keeps the hours in force
    [change] = config_changes.recent(staffed)
    assert (change.actor, change.kind, change.after["hours"]["monday"]) == ("ada", "hours", "09:00-12:00, 13:00-16:00")
    assert post(client_for(staffed, "sam"), f"{path}/hours", week, page=path).status_code == 403


def test_a_worked_public_holiday_counts_from_then_on(staffed):
    ada = client_for(staffed, "ada")
    code = staffed.profile.default_calendar
    calendar = staffed.profile.calendars[code]
    today = staffed.clock().astimezone(staffed.profile.tz).date()
    ahead = config_changes.holidays_ahead(calendar, today + timedelta(days=1))
    assert len(ahead) >= 10  # a year of US federal holidays, whichever years the next 400 days span
    day, _name = ahead[0]
    path = f"/admin/config/calendars/{code}"
    assert post(ada, f"{path}/worked", {"date": day.isoformat(), "reason": "Storm backlog"}, page=path).status_code == 302
    assert staffed.profile.calendars[code].intervals_on(day)
    not_holiday = next_working_day(calendar, today)
    bad = post(ada, f"{path}/worked", {"date": not_holiday.isoformat(), "reason": "x"}, page=path)
    assert bad.status_code == 400 and "is not a public holiday" in bad.text


def test_a_change_through_one_app_is_used_by_another_on_the_same_database(staffed, database_url):
    """Two app instances, as two gunicorn workers: each its own deployment opened from the database."""
    from civiccrm.services.deployment import open_deployment

    other = open_deployment(database_url)
    try:
        ada = client_for(staffed, "ada")
        cal_elsewhere = client_for(other, "cal")
        assert "type=e-scooter-blocking" not in cal_elsewhere.get("/admin/intake?q=scooter").text
        add_new_type(ada)
        today = staffed.clock().astimezone(staffed.profile.tz).date()
        assert post(ada, f"/admin/config/sla/{POTHOLE}", {"target": "11", "effective_from": today.isoformat()},
                    page=f"/admin/config/sla/{POTHOLE}").status_code == 302
        assert "type=e-scooter-blocking" in cal_elsewhere.get("/admin/intake?q=scooter").text
        assert other.profile.sla_policy(other.profile.service_type(POTHOLE), other.clock()).target == 11
        assert not config_changes.refresh(other)  # nothing moved since: no reload
    finally:
        other.engine.dispose()


def test_the_calendar_page_names_the_weekdays_in_the_staff_members_language(staffed):
    from civiccrm.services import users

    path = f"/admin/config/calendars/{staffed.profile.default_calendar}"
    english = client_for(staffed, "ada").get(path).text
    assert "Monday" in english and "Sunday" in english
    users.set_language(staffed, "ada", "es")
    spanish = client_for(staffed, "ada").get(path).text
    assert '<html lang="es">' in spanish and "Lunes" in spanish and "Domingo" in spanish
    assert "Monday" not in spanish and 'name="hours_monday"' in spanish  # the field names stay the form's
