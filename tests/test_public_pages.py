"""The residents' pages through the Flask test client: report a problem, follow it, every bad input."""

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from civiccrm.services import cases, public_reports
from civiccrm.store.tables import cases_table, customers_table, outbox_table, public_photos_table
from tests.web_helpers import DOWNTOWN, POTHOLE, csrf_token, make_app, new_case

OUTSIDE = (38.6270, -90.1994)  # St. Louis


@pytest.fixture
def client(deployment):
    public_reports.forget_popular(deployment)
    return make_app(deployment).test_client()


@pytest.fixture
def sqlite_client(sqlite_deployment):
    public_reports.forget_popular(sqlite_deployment)
    return make_app(sqlite_deployment).test_client()


def report_form(client, code=POTHOLE):
    page = client.get(f"/?service_code={code}")
    assert page.status_code == 200
    return csrf_token(page.text)


def good_report(**changes):
    data = {"service_code": POTHOLE, "description": "A hole that swallows bikes", "lat": str(DOWNTOWN[0]),
            "long": str(DOWNTOWN[1]), "attribute[SIZE]": "large", "first_name": "Rosa", "last_name": "Quintero",
            "email": "rosa@example.org", "phone": "816-555-0199"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def send(client, data, **kwargs):
    token = report_form(client, data.get("service_code") or POTHOLE)
    return client.post("/", data={"csrf_token": token, **data}, **kwargs)


def count(deployment, table=cases_table) -> int:
    with deployment.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def png(width=40, height=30, color=(200, 30, 30), exif=None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG" if exif is None else "JPEG",
                                                  **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


# --- finding the service type ------------------------------------------------------------


def test_choose_page_lists_the_most_requested_types_first(client, deployment):
    for _ in range(3):
        new_case(deployment, "street-light-out")
    new_case(deployment)
    public_reports.forget_popular(deployment)
    page = client.get("/")
    assert page.status_code == 200
    names = re.findall(r'<a href="/\?service_code=([^"]+)">', page.text)
    assert names[:2] == ["street-light-out", POTHOLE]
    assert 'href="/help/"' in page.text  # the knowledge base's public pages


def test_type_search_works_without_javascript_and_as_an_htmx_fragment(sqlite_client):
    page = sqlite_client.get("/?q=pothole")
    assert page.status_code == 200 and "Matching problems" in page.text
    assert f'href="/?service_code={POTHOLE}"' in page.text
    fragment = sqlite_client.get("/?q=pothole", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="type-results"') and "<html" not in fragment.text
    nothing = sqlite_client.get("/?q=zzzqqq")
    assert "Nothing matches" in nothing.text


def test_emergency_list_from_the_profile_comes_first(sqlite_client, sqlite_deployment):
    plugins = sqlite_deployment.profile.settings.setdefault("plugins", {})
    plugins["public_pages"] = {"emergency_types": ["street-light-out"], "emergency_message": "Storm: report lights out"}
    try:
        page = sqlite_client.get("/").text
    finally:
        del plugins["public_pages"]
    assert "During the emergency" in page and "Storm: report lights out" in page
    assert page.index("service_code=street-light-out") < page.index("Most requested")


def test_an_emergency_type_the_taxonomy_lacks_is_a_clear_error(sqlite_deployment):
    sqlite_deployment.profile.settings.setdefault("plugins", {})["public_pages"] = {"emergency_types": ["nope"]}
    try:
        with pytest.raises(Exception, match="emergency_types: 'nope' is not a service code"):
            public_reports.emergency_types(sqlite_deployment)
    finally:
        del sqlite_deployment.profile.settings["plugins"]["public_pages"]


def test_the_form_asks_the_types_required_attributes(sqlite_client):
    page = sqlite_client.get(f"/?service_code={POTHOLE}").text
    assert 'name="attribute[SIZE]"' in page and "How big is the pothole?" in page and "(required)" in page
    assert '<label for="attr-SIZE">' in page
    assert "never published" in page and "are public" in page  # what is public, said plainly
    assert 'enctype="multipart/form-data"' in page


def test_unknown_type_is_404_on_the_form_and_400_when_posted(sqlite_client, sqlite_deployment):
    assert sqlite_client.get("/?service_code=no-such-type").status_code == 404
    token = report_form(sqlite_client)
    response = sqlite_client.post("/", data={"csrf_token": token, **good_report(service_code="no-such-type")})
    assert response.status_code == 400 and "no such kind of problem" in response.text
    assert count(sqlite_deployment) == 0


# --- a report end to end -----------------------------------------------------------------


def test_a_report_becomes_a_case_through_the_intake_service(client, deployment):
    response = send(client, good_report())
    assert response.status_code == 303
    number = response.headers["Location"].rsplit("/", 1)[1]
    case = cases.get(deployment, number)
    assert (case.service_code, case.channel, case.location.council_district) == (POTHOLE, "web", "4")
    assert case.due_at is not None and case.work_group
    history = cases.history(deployment, number)
    assert [(e.kind, e.actor) for e in history] == [("created", "public")]
    with deployment.engine.connect() as connection:
        customer = connection.execute(select(customers_table)).one()
    assert (customer.name, customer.email) == ("Rosa Quintero", "rosa@example.org")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert f"Thank you: your request is {number}" in page.text
    assert "6 business days" in page.text and "Expected by" in page.text  # the pothole type's refit time-frame
    assert "Rosa" not in page.text and "rosa@example.org" not in page.text and "555-0199" not in page.text


def test_a_report_by_address_only_is_taken(sqlite_client, sqlite_deployment):
    response = send(sqlite_client, good_report(lat=None, long=None, address_string="414 E 12th St"))
    assert response.status_code == 303
    case = cases.get(sqlite_deployment, response.headers["Location"].rsplit("/", 1)[1])
    assert case.location.address == "414 E 12th St" and case.location.latitude is None


def test_possible_duplicates_nearby_are_shown_with_the_new_number(sqlite_client, sqlite_deployment):
    first = new_case(sqlite_deployment, description="Same hole, reported by phone")
    response = send(sqlite_client, good_report())
    page = sqlite_client.get(response.headers["Location"]).text
    assert "may be the same problem" in page and first.tracking_number in page


# --- bad input: a clear message, the form kept, nothing stored -------------------------------


@pytest.mark.parametrize("changes, status, field, words", [
    ({"attribute[SIZE]": None}, 400, "attr-SIZE", "attribute[SIZE]: required"),
    ({"lat": str(OUTSIDE[0]), "long": str(OUTSIDE[1])}, 400, "lat", "outside the city limits"),
    ({"lat": "39.1", "long": None}, 400, "long", "long: lat was given without long"),
    ({"lat": "north", "long": "-94.5"}, 400, "lat", "is not a number of degrees"),
    ({"lat": None, "long": None}, 400, "address_string", "give the address or a point"),
    ({"description": "  "}, 400, "description", "description: missing"),
    ({"description": "<script>alert(1)</script>"}, 400, "description", "contains HTML"),
    ({"email": "rosa-at-example"}, 400, "email", "not an e-mail address"),
    ({"attribute[SIZE]": "enormous"}, 400, "attr-SIZE", "not one of the allowed values"),
])
def test_bad_input_is_refused_with_the_field_named(sqlite_client, sqlite_deployment, changes, status, field, words):
    response = send(sqlite_client, good_report(**changes))
    assert response.status_code == status
    assert words in response.text
    assert f'href="#{field}"' in response.text  # the summary links to the field
    assert count(sqlite_deployment) == 0
    assert count(sqlite_deployment, customers_table) == 0


def test_the_form_keeps_what_was_typed_after_an_error(sqlite_client):
    response = send(sqlite_client, good_report(email="nope"))
    assert ">A hole that swallows bikes</textarea>" in response.text and 'value="Rosa"' in response.text


def test_missing_or_wrong_csrf_token_is_400_and_nothing_is_stored(sqlite_client, sqlite_deployment):
    assert sqlite_client.post("/", data=good_report()).status_code == 400
    report_form(sqlite_client)
    wrong = sqlite_client.post("/", data={"csrf_token": "forged", **good_report()})
    assert wrong.status_code == 400 and "csrf_token" in wrong.text
    assert count(sqlite_deployment) == 0


def test_a_flood_from_one_address_is_answered_429(sqlite_deployment):
    client = make_app(sqlite_deployment, PUBLIC_POST_LIMIT=2).test_client()
    statuses = [send(client, good_report(description=f"Report {n}")).status_code for n in range(3)]
    assert statuses == [303, 303, 429]
    limited = send(client, good_report(description="Once more"))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many requests" in limited.text
    assert count(sqlite_deployment) == 2
    other = make_app(sqlite_deployment, PUBLIC_POST_LIMIT=2).test_client()
    token = report_form(other)
    elsewhere = other.post("/", data={"csrf_token": token, **good_report()}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 303  # the limit is per address


# --- photos ------------------------------------------------------------------------------


def test_a_photo_is_reencoded_without_its_exif_and_served(sqlite_client, sqlite_deployment):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (39.0, 5.0, 59.0)}  # GPSInfo: latitude
    photo = png(exif=exif.tobytes())
    assert b"PhoneMaker" in photo
    response = send(sqlite_client, good_report(photo=(io.BytesIO(photo), "hole.jpg", "image/jpeg")),
                    content_type="multipart/form-data")
    assert response.status_code == 303
    case = cases.get(sqlite_deployment, response.headers["Location"].rsplit("/", 1)[1])
    with sqlite_deployment.engine.connect() as connection:
        row = connection.execute(select(public_photos_table)).one()
        media = connection.execute(select(func.count()).select_from(public_photos_table)
                                   .where(public_photos_table.c.case_id == case.id)).scalar()
    assert media == 1
    assert f'src="/photos/{row.token}.jpg"' in sqlite_client.get(response.headers["Location"]).text
    served = sqlite_client.get(f"/photos/{row.token}.jpg")
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.data[:3] == b"\xff\xd8\xff" and b"PhoneMaker" not in served.data
    assert not Image.open(io.BytesIO(served.data)).getexif()
    assert sqlite_client.get("/photos/" + "x" * 32 + ".jpg").status_code == 404


@pytest.mark.parametrize("upload, words", [
    ((b"GIF89a" + b"\x00" * 64, "hole.gif", "image/gif"), "not a readable JPEG, PNG or WebP picture"),
    ((b"#!/bin/sh\nrm -rf /\n", "hole.png", "image/png"), "not a readable JPEG, PNG or WebP picture"),
    ((b"", "empty.png", "image/png"), "photo: the file is empty"),
])
def test_a_photo_of_the_wrong_type_is_refused(sqlite_client, sqlite_deployment, upload, words):
    data, name, kind = upload
    response = send(sqlite_client, good_report(photo=(io.BytesIO(data), name, kind)),
                    content_type="multipart/form-data")
    assert response.status_code == 400 and words in response.text and 'href="#photo"' in response.text
    assert count(sqlite_deployment) == 0 and count(sqlite_deployment, public_photos_table) == 0


def test_an_oversized_photo_is_refused(sqlite_deployment):
    sqlite_deployment.profile.settings.setdefault("plugins", {})["public_pages"] = {"photo_max_bytes": 20_000}
    try:
        client = make_app(sqlite_deployment).test_client()
        big = _noise(180, 180)
        assert len(big) > 20_000
        response = send(client, good_report(photo=(io.BytesIO(big), "big.png", "image/png")),
                        content_type="multipart/form-data")
        assert response.status_code == 400 and "at most 20,000 are accepted" in response.text
        far_too_big = send(client, good_report(photo=(io.BytesIO(b"0" * 2_000_000), "huge.png", "image/png")),
                           content_type="multipart/form-data")
        assert far_too_big.status_code == 413 and "too large" in far_too_big.text
    finally:
        del sqlite_deployment.profile.settings["plugins"]["public_pages"]
    assert count(sqlite_deployment) == 0 and count(sqlite_deployment, public_photos_table) == 0


def _noise(width, height) -> bytes:
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


# --- the status page ---------------------------------------------------------------------


def test_status_page_shows_public_notes_and_never_anything_private(client, deployment):
    from civiccrm.domain.cases import Customer, Resolution

    case = new_case(deployment, customer=Customer(name="Zed Private", email="zed@example.org", phone="816-555-0123"))
    cases.add_note(deployment, case.tracking_number, "Caller is the landlord, difficult", actor="cal")
    cases.add_note(deployment, case.tracking_number, "A crew is scheduled for Tuesday", actor="cal", public=True)
    cases.close(deployment, case.tracking_number, Resolution.FIXED, actor="cal", note="internal close note")
    page = client.get(f"/status/{case.tracking_number}")
    assert page.status_code == 200
    assert "A crew is scheduled for Tuesday" in page.text and "Fixed" in page.text
    assert "Yes: closed within the time-frame" in page.text
    for private in ("Zed", "zed@example.org", "555-0123", "landlord", "internal close note", ">cal<"):
        assert private not in page.text


def test_unknown_tracking_number_is_a_404_page(sqlite_client):
    page = sqlite_client.get("/status/KC-1999-999999")
    assert page.status_code == 404 and "There is no request KC-1999-999999" in page.text and "<html" in page.text
    assert sqlite_client.get("/status/" + "9" * 80).status_code == 404


def test_lookup_form_goes_to_the_status_page(sqlite_client, sqlite_deployment):
    case = new_case(sqlite_deployment)
    response = sqlite_client.get(f"/status?tracking_number={case.tracking_number.lower()}")
    assert response.status_code == 303
    assert sqlite_client.get(response.headers["Location"]).status_code == 200


# --- languages ---------------------------------------------------------------------------


def test_spanish_by_query_string_and_by_accept_language(sqlite_client, sqlite_deployment):
    page = sqlite_client.get("/?lang=es")
    assert '<html lang="es">' in page.text and "Reportar un problema" in page.text
    assert "Reportar un problema" in sqlite_client.get("/status").text  # kept for the visit
    browser = make_app(sqlite_deployment).test_client()
    assert "Reportar un problema" in browser.get("/", headers={"Accept-Language": "es-MX,es;q=0.9"}).text
    assert "Report a problem" in browser.get("/?lang=en").text


def test_the_acknowledgement_goes_through_the_outbox_in_the_residents_language(sqlite_deployment):
    from civiccrm.services import outbox

    client = make_app(sqlite_deployment).test_client()
    client.get("/?lang=es")
    response = send(client, good_report())
    number = response.headers["Location"].rsplit("/", 1)[1]
    queued = [e for e in outbox.entries(sqlite_deployment) if e.destination == "rosa@example.org"]
    assert queued and queued[0].kind == "message:email"
    with sqlite_deployment.engine.connect() as connection:
        payload = connection.execute(select(outbox_table.c.payload).where(outbox_table.c.id == queued[0].id)).scalar()
    assert '"language": "es"' in payload and number in payload


def test_page_views_are_limited_per_address_too(sqlite_deployment):
    case = new_case(sqlite_deployment)
    client = make_app(sqlite_deployment, PUBLIC_GET_LIMIT=2).test_client()
    statuses = [client.get(f"/status/{case.tracking_number}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/public/static/public.css").status_code == 200  # static files are not counted


# --- invisible characters ------------------------------------------------------------------------

HIDDEN = "\u202e\u2066\u200b\u200d\ufeff\u2060"


def test_bidi_and_zero_width_characters_never_reach_the_status_page(sqlite_client, sqlite_deployment):
    response = send(sqlite_client, good_report(description="Hole \u202eselbats\u202c on\u200b Main\ufeff",
                                               first_name="Ro\u200dsa\u2069"))
    assert response.status_code == 303
    case = cases.get(sqlite_deployment, response.headers["Location"].rsplit("/", 1)[1])
    assert case.description == "Hole selbats on Main"
    with sqlite_deployment.engine.connect() as connection:
        assert connection.execute(select(customers_table.c.name)).scalar() == "Rosa Quintero"
    cases.add_note(sqlite_deployment, case.tracking_number, "Crew\u2067 booked\u200c", actor="cal", public=True)
    page = sqlite_client.get(f"/status/{case.tracking_number}").text
    assert "Crew booked" in page  # the page shows public notes (the description is not published here)
    assert not any(c in page for c in HIDDEN)
