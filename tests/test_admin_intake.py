"""Call-taker intake (/admin/intake) through the Flask test client, on SQLite and PostgreSQL."""

import html

from civiccrm.domain.cases import Customer, Resolution
from civiccrm.services import cases, knowledge
from tests.web_helpers import DOWNTOWN, POTHOLE, client_for, csrf_token, make_app, new_case


def intake_post(client, data, service_code=POTHOLE):
    page = client.get(f"/admin/intake?type={service_code}").text
    return client.post("/admin/intake", data={"csrf_token": csrf_token(page), "type": service_code, **data})


def stored_numbers(deployment) -> int:
    from sqlalchemy import func, select

    from civiccrm.store.tables import cases_table

    with deployment.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(cases_table)).scalar_one()


A_CALL = {"description": "Pothole in the right lane", "attribute[SIZE]": "large", "address": "414 E 12th St",
          "latitude": str(DOWNTOWN[0]), "longitude": str(DOWNTOWN[1]), "channel": "phone", "action": "create"}


def test_type_search_finds_the_citys_words(staffed):
    client = client_for(staffed, "cal")
    page = client.get("/admin/intake?q=pothole north").text
    assert f"type={POTHOLE}" in page
    assert "No service type matches" in client.get("/admin/intake?q=zzzqqq").text
    chosen = client.get(f"/admin/intake?type={POTHOLE}").text
    assert 'name="attribute[SIZE]"' in chosen and "(required)" in chosen


def test_take_a_call_end_to_end(staffed):
    knowledge.save(staffed, author="sam", service_code=POTHOLE, title="Potholes north of the river",
                   answer="Crews fill potholes within a week.", questions="How big is it? Is it in a traffic lane?",
                   timeframe="5 business days")
    client = client_for(staffed, "cal")
    page = client.get(f"/admin/intake?type={POTHOLE}").text
    assert "Crews fill potholes within a week." in page and "How big is it?" in page
    response = intake_post(client, {**A_CALL, "name": "Rosa Resident", "email": "rosa@example.org",
                                    "phone": "816-555-0100", "channel": "walk_in", "on_behalf_of": "her neighbour"})
    assert response.status_code == 302
    number = response.headers["Location"].rsplit("/", 1)[1]
    done = client.get(response.headers["Location"]).text
    assert f"Your tracking number is {number}." in done and "5 business days" in done
    case = cases.get(staffed, number)
    assert case.channel == "walk_in" and case.location.council_district and case.customer_id is not None
    history = cases.history(staffed, number)
    assert [e.kind for e in history] == ["created", "note"] and "her neighbour" in history[1].note
    assert history[0].actor == "cal"


def test_without_an_article_the_timeframe_is_the_sla_policys(staffed):
    client = client_for(staffed, "cal")
    policy = staffed.profile.sla_policy(staffed.profile.service_type(POTHOLE), staffed.clock())
    response = intake_post(client, A_CALL)
    done = client.get(response.headers["Location"]).text
    assert f"The time-frame is {policy.target:g} " in done


def test_anonymous_call_records_no_caller(staffed):
    client = client_for(staffed, "cal")
    response = intake_post(client, {**A_CALL, "name": "Secret Person", "anonymous": "1"})
    number = response.headers["Location"].rsplit("/", 1)[1]
    assert cases.get(staffed, number).customer_id is None


def test_caller_lookup_shows_their_cases(staffed):
    earlier = new_case(staffed, customer=Customer(name="Rosa", email="rosa@example.org", phone="816-555-0100"))
    other = new_case(staffed, customer=Customer(name="Other", email="other@example.org"))
    client = client_for(staffed, "cal")
    page = intake_post(client, {"email": "rosa@example.org", "action": "lookup", "description": "kept"}).text
    assert "1 caller found." in page and earlier.tracking_number in page and other.tracking_number not in page
    assert ">kept</textarea>" in page  # what was typed stays in the form
    assert earlier.tracking_number in intake_post(client, {"phone": "816-555-0100", "action": "lookup"}).text
    assert "No caller with that" in intake_post(client, {"phone": "000", "action": "lookup"}).text
    empty = intake_post(client, {"action": "lookup"})
    assert empty.status_code == 400 and "email: give the caller" in empty.text


def test_duplicates_are_offered_before_saving(staffed):
    existing = new_case(staffed)  # same type, same point
    client = client_for(staffed, "cal")
    before = stored_numbers(staffed)
    offered = intake_post(client, A_CALL)
    assert offered.status_code == 200 and "Possible duplicates" in offered.text
    assert existing.tracking_number in offered.text and "Create a new case anyway" in offered.text
    assert stored_numbers(staffed) == before  # nothing stored yet
    checked = intake_post(client, {**A_CALL, "action": "check"})
    assert existing.tracking_number in checked.text and "Inside the city limits." in checked.text
    anyway = intake_post(client, {**A_CALL, "action": "create_anyway"})
    assert anyway.status_code == 302 and stored_numbers(staffed) == before + 1
    far = intake_post(client, {**A_CALL, "latitude": "39.05", "longitude": "-94.55"})
    assert far.status_code == 302  # no open pothole near there: created at once


def test_bad_input_is_refused_and_nothing_is_stored(staffed):
    client = client_for(staffed, "cal")
    before = stored_numbers(staffed)
    outside = intake_post(client, {**A_CALL, "latitude": "40.7128", "longitude": "-74.0060", "action": "check"})
    assert outside.status_code == 400 and "outside the city limits" in outside.text
    for data, field in (({"latitude": "north"}, "latitude: 'north' is not a number"),
                        ({"longitude": ""}, "longitude: give both"),
                        ({"description": ""}, "description"),
                        ({"attribute[SIZE]": ""}, "attribute[SIZE]: required"),
                        ({"attribute[SIZE]": "enormous"}, "attribute[SIZE]"),
                        ({"channel": "pigeon"}, "channel: 'pigeon'"),
                        ({"email": "not-an-address"}, "email"),
                        ({"action": "delete"}, "action")):
        response = intake_post(client, {**A_CALL, **data})
        assert response.status_code == 400 and field in html.unescape(response.text), data
    assert client.get("/admin/intake?type=no-such-type").status_code == 400
    no_type = client.post("/admin/intake", data={"csrf_token": csrf_token(client.get("/admin/intake").text),
                                                 **A_CALL})
    assert no_type.status_code == 400 and "type: choose the service type" in no_type.text
    assert stored_numbers(staffed) == before


def test_csrf_is_required(staffed):
    client = client_for(staffed, "cal")
    missing = client.post("/admin/intake", data={"type": POTHOLE, **A_CALL})
    wrong = client.post("/admin/intake", data={"type": POTHOLE, "csrf_token": "forged", **A_CALL})
    assert missing.status_code == 400 and wrong.status_code == 400
    assert stored_numbers(staffed) == 0


def test_only_call_takers_supervisors_and_administrators_take_calls(staffed):
    for name, status in (("cal", 200), ("sam", 200), ("ada", 200), ("pat", 403), ("ana", 403), ("rob", 403)):
        assert client_for(staffed, name).get("/admin/intake").status_code == status, name
    assert make_app(staffed).test_client().get("/admin/intake").status_code == 302  # to the login page


def test_the_read_back_page_hides_a_case_the_user_may_not_see(staffed):
    case = new_case(staffed)
    assert client_for(staffed, "cal").get(f"/admin/intake/done/{case.tracking_number}").status_code == 200
    assert client_for(staffed, "cal").get("/admin/intake/done/KC-1999-000001").status_code == 404


def test_the_caller_follows_a_duplicate_instead_of_a_new_case(staffed):
    from sqlalchemy import select

    from civiccrm.store.tables import case_followers_table

    existing = new_case(staffed)
    client = client_for(staffed, "cal")
    before = stored_numbers(staffed)
    response = intake_post(client, {**A_CALL, "follow": existing.tracking_number, "name": "Second Caller",
                                    "phone": "816-555-0102"})
    assert response.status_code == 302 and response.headers["Location"].endswith(existing.tracking_number)
    assert stored_numbers(staffed) == before  # no new case
    done = client.get(response.headers["Location"]).text
    assert f"Your tracking number is {existing.tracking_number}." in done and "no new case" in done
    assert cases.history(staffed, existing.tracking_number)[-1].note == "Reported again (phone)"
    with staffed.engine.connect() as connection:
        assert len(connection.execute(select(case_followers_table)).all()) == 1
    anonymous = intake_post(client, {**A_CALL, "follow": existing.tracking_number, "anonymous": "1"})
    assert anonymous.status_code == 302
    assert cases.history(staffed, existing.tracking_number)[-1].note == "Reported again (phone), anonymously"
    missing = intake_post(client, {**A_CALL, "follow": "KC-1999-000001"})
    assert missing.status_code == 404 and stored_numbers(staffed) == before
    cases.close(staffed, existing.tracking_number, Resolution.FIXED, actor="test")
    closed = intake_post(client, {**A_CALL, "follow": existing.tracking_number})
    assert closed.status_code == 400 and "closed; create a new case instead" in closed.text
