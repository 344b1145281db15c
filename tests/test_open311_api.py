"""The Open311 API over HTTP under gunicorn: every endpoint, both formats, the published
schemas, the fixtures' XML structure, filters, extensions, updates and refused input."""

import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
import requests

from civiccrm.domain.cases import Resolution
from civiccrm.services import apikeys
from civiccrm.services import cases as case_service
from open311_helpers import count_cases, load_schemas, start

IN_CITY = {"lat": "39.0997", "long": "-94.5786"}  # downtown Kansas City, council district 4
PII = {"first_name": "Zelda", "last_name": "Quenby", "email": "zelda.quenby@example.org", "phone": "816-555-0199"}


KEY_CACHE_SECONDS = 1.0
"""How long the server's workers believe a key they found active (test_revoked_key_is_refused waits it out)."""


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open311")
    deployment, server, key = start(f"sqlite:///{tmp / 'civiccrm.db'}", tmp,
                                    env={"CIVICCRM_API_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS)})
    try:
        yield Api(deployment, server, key)
    finally:
        server.stop()
        deployment.engine.dispose()


class Api:
    def __init__(self, deployment, server, key):
        self.deployment, self.server, self.key = deployment, server, key
        self.url = server.api
        self.http = requests.Session()

    def get(self, path, **params):
        return self.http.get(f"{self.url}/{path}", params=params, timeout=30)

    def post(self, path, data):
        return self.http.post(f"{self.url}/{path}", data=data, timeout=30)

    def create(self, fmt="json", **fields):
        data = {"api_key": self.key, "service_code": "trash-missed-by-city", "description": "Cart not emptied",
                "attribute[CONTAINER]": "cart", **IN_CITY, **fields}
        return self.post(f"requests.{fmt}", data)


@pytest.fixture(scope="module")
def made(api):
    """Three requests: an open trash one with PII and media, a closed pothole, a merged graffiti one."""
    trash = api.create(**PII, media_url="https://example.org/photo.jpg",
                       **{"attribute[SETOUT]": "2026-01-05T06:30:00-06:00"})
    assert trash.status_code == 200, trash.text
    pothole = api.post("requests.json", {
        "api_key": api.key, "service_code": "pothole-north-of-river", "description": "Deep hole",
        "address_string": "1200 Main St, Kansas City, MO", "attribute[SIZE]": "large", "attribute[DEPTH]": "4.5",
    })
    assert pothole.status_code == 200, pothole.text
    graffiti = api.post("requests.xml", {
        "api_key": api.key, "service_code": "graffiti-on-private-property", "description": "Tags on wall",
        "attribute[SURFACE][]": ["wall", "fence"], **IN_CITY,
    })
    assert graffiti.status_code == 200, graffiti.text
    ids = {
        "trash": trash.json()[0]["service_request_id"],
        "pothole": pothole.json()[0]["service_request_id"],
        "graffiti": ET.fromstring(graffiti.content).findtext("request/service_request_id"),
    }
    case_service.close(api.deployment, ids["pothole"], Resolution.FIXED, note="internal: crew 7")
    case_service.merge(api.deployment, ids["graffiti"], ids["trash"])
    return ids


@pytest.fixture(scope="module")
def schemas(shared_data):
    registry, resources = load_schemas(shared_data)

    def validate(name, instance):
        jsonschema.Draft7Validator(resources[name].contents, registry=registry,
                                   format_checker=jsonschema.FormatChecker()).validate(instance)

    return validate


def xml(response):
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def fixture_xml(shared_data, name):
    text = (shared_data / "open311" / "fixtures" / name).read_text()
    return ET.fromstring(text[text.index("<?xml"):].encode())


def children(element):
    return {child.tag for child in element}


# --- JSON against the published schemas -------------------------------------------


def test_service_list_json_matches_schema_and_taxonomy(api, schemas):
    response = api.get("services.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    services = response.json()
    schemas("services.json", services)
    taxonomy = api.deployment.profile.taxonomy.service_types
    assert len(services) == len(taxonomy)
    trash = next(s for s in services if s["service_code"] == "trash-missed-by-city")
    assert trash == {"service_code": "trash-missed-by-city", "service_name": "Trash - Missed by City",
                     "description": None, "metadata": True, "type": "realtime", "keywords": None,
                     "group": taxonomy["trash-missed-by-city"].category}
    assert next(s for s in services if s["service_code"] == "abandoned-vehicle")["metadata"] is False


def test_service_definition_json_has_every_datatype(api, schemas):
    datatypes = set()
    for code in api.deployment.profile.service_attributes:
        definition = api.get(f"services/{code}.json").json()
        schemas("service-definition.json", definition)
        assert [a["order"] for a in definition["attributes"]] == sorted(a["order"] for a in definition["attributes"])
        datatypes.update(a["datatype"] for a in definition["attributes"])
    assert datatypes == {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
    container = api.get("services/trash-missed-by-city.json").json()["attributes"][0]
    assert container["required"] is True and container["variable"] is True
    assert {"key": "cart", "name": "City trash cart"} in container["values"]
    assert api.get("services/abandoned-vehicle.json").json() == {"service_code": "abandoned-vehicle", "attributes": []}


def test_post_then_get_round_trip(api, made, schemas):
    body = api.get(f"requests/{made['trash']}.json").json()
    schemas("requests.json", body)
    assert len(body) == 1
    request = body[0]
    case = case_service.get(api.deployment, made["trash"])
    assert request["service_request_id"] == case.tracking_number
    assert request["status"] == "open"
    assert request["service_code"] == "trash-missed-by-city"
    assert request["description"] == "Cart not emptied"
    assert request["lat"] == 39.0997 and request["long"] == -94.5786
    assert request["media_url"] == "https://example.org/photo.jpg"
    assert request["agency_responsible"] == "Public Works"
    expected = datetime.fromisoformat(request["expected_datetime"])
    assert expected == case.due_at.replace(microsecond=0) and expected.utcoffset() == timedelta(hours=-6)
    assert datetime.fromisoformat(request["requested_datetime"]) == case.opened_at.replace(microsecond=0)
    assert case.channel == "app" and case.location.council_district == "4"
    history = case_service.history(api.deployment, made["trash"])
    assert history[0].kind == "created" and history[0].actor.startswith("open311 api key")


def test_closed_and_merged_requests(api, made, schemas):
    pothole = api.get(f"requests/{made['pothole']}.json").json()[0]
    assert pothole["status"] == "closed" and pothole["status_notes"] == "Closed: fixed"
    assert pothole["address"] == "1200 Main St, Kansas City, MO" and pothole["lat"] is None
    graffiti = api.get(f"requests/{made['graffiti']}.json", extensions="true").json()
    schemas("requests.json", graffiti)
    extended = graffiti[0]["extended_attributes"]
    assert extended["duplicate_of"] == made["trash"] == extended["parent_service_request_id"]
    assert extended["channel"] == "app" and extended["council_district"] == "4"
    assert extended["attributes"] == [{"code": "SURFACE", "value": "wall"}, {"code": "SURFACE", "value": "fence"}]
    assert [n["type"] for n in graffiti[0]["notes"]] == ["opened", "closed"]


def test_extensions_notes_are_public_history_only(api, made):
    pothole = api.get(f"requests/{made['pothole']}.json", extensions="true").json()[0]
    assert [n["type"] for n in pothole["notes"]] == ["opened", "closed"]
    assert "crew 7" not in str(pothole)
    assert {"code": "SIZE", "value": "large"} in pothole["extended_attributes"]["attributes"]
    assert "extended_attributes" not in api.get(f"requests/{made['pothole']}.json").json()[0]


def test_personal_data_never_in_any_get(api, made):
    bodies = [api.get(p, **q).text for p, q in [
        ("requests.json", {"extensions": "true"}), ("requests.xml", {"extensions": "true"}),
        (f"requests/{made['trash']}.json", {"extensions": "true"}), (f"requests/{made['trash']}.xml", {}),
        ("servicerequestupdates.json", {}), ("servicerequestupdates.xml", {}), (f"tokens/{made['trash']}.json", {}),
    ]]
    for body in bodies:
        for value in PII.values():
            assert value not in body
    from civiccrm.store import repo

    case = case_service.get(api.deployment, made["trash"])
    with api.deployment.session() as s:
        customer = repo.get_customer(session=s, customer_id=case.customer_id)
    assert (customer.name, customer.email, customer.phone) == ("Zelda Quenby", PII["email"], PII["phone"])


# --- GET requests filters -----------------------------------------------------------


def ids_of(response):
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


def test_filters(api, made, schemas):
    everything = ids_of(api.get("requests.json"))
    assert everything[:3] == [made["graffiti"], made["pothole"], made["trash"]]  # newest first
    schemas("requests.json", api.get("requests.json").json())
    assert ids_of(api.get("requests.json", service_code="pothole-north-of-river")) == [made["pothole"]]
    assert set(ids_of(api.get("requests.json", service_code="pothole-north-of-river,trash-missed-by-city"))) == {
        made["pothole"], made["trash"]}
    assert ids_of(api.get("requests.json", status="open")) == [made["trash"]]
    assert set(ids_of(api.get("requests.json", status="closed"))) == {made["pothole"], made["graffiti"]}
    assert len(ids_of(api.get("requests.json", status="open,closed"))) == 3
    # service_request_id overrides every other filter
    assert set(ids_of(api.get("requests.json", service_request_id=f"{made['trash']},{made['pothole']}",
                              status="closed", service_code="none"))) == {made["trash"], made["pothole"]}
    now = datetime.now(timezone.utc)
    old = {"start_date": (now - timedelta(days=400)).isoformat(), "end_date": (now - timedelta(days=320)).isoformat()}
    assert ids_of(api.get("requests.json", **old)) == []
    window = {"start_date": (now - timedelta(days=1)).isoformat(), "end_date": (now + timedelta(days=1)).isoformat()}
    assert len(ids_of(api.get("requests.json", **window))) == 3
    assert len(ids_of(api.get("requests.json", start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")))) == 3


def test_paging_and_updated_filters(api, made):
    first = ids_of(api.get("requests.json", page_size="2"))
    second = ids_of(api.get("requests.json", page_size="2", page="2"))
    assert len(first) == 2 and not set(first) & set(second)
    assert set(first + second) >= set(made.values())
    now = datetime.now(timezone.utc)
    assert set(ids_of(api.get("requests.json", updated_after=(now - timedelta(minutes=10)).isoformat()))) >= set(made.values())
    assert ids_of(api.get("requests.json", updated_before=(now - timedelta(days=1)).isoformat())) == []


def test_tokens(api, made):
    assert api.get(f"tokens/{made['trash']}.json").json() == [{"service_request_id": made["trash"], "token": made["trash"]}]
    assert api.get("tokens/nope.json").status_code == 404


# --- XML has the fixtures' structure --------------------------------------------------


def test_xml_structure_matches_fixtures(api, made, shared_data):
    services = xml(api.get("services.xml"))
    reference = fixture_xml(shared_data, "services.xml")
    assert services.tag == reference.tag == "services"
    assert children(services[0]) == children(reference[0])

    requests_xml = xml(api.get("requests.xml"))
    reference = fixture_xml(shared_data, "service_requests.xml")
    assert requests_xml.tag == reference.tag and {e.tag for e in requests_xml} == {"request"}
    assert children(requests_xml[0]) == children(reference[0])

    one = xml(api.get(f"requests/{made['trash']}.xml"))
    reference = fixture_xml(shared_data, "get_service_request.xml")
    assert len(one) == 1 and children(one[0]) == children(reference[0])
    assert one[0].findtext("service_request_id") == made["trash"]

    empty = xml(api.get("requests.xml", service_request_id="none"))
    assert empty.tag == fixture_xml(shared_data, "service_requests_empty.xml").tag and len(empty) == 0

    definition = xml(api.get("services/trash-missed-by-city.xml"))
    reference = fixture_xml(shared_data, "service_definition.xml")
    # The spec wraps attributes in <attributes>; the Ruby client's fixture leaves the wrapper out.
    ours = definition.find("attributes/attribute")
    assert definition.tag == reference.tag and children(ours) == children(reference.find("attribute"))
    assert children(ours.find("values/value")) == children(reference.find("attribute/values/value"))

    created = xml(api.create(fmt="xml"))
    reference = fixture_xml(shared_data, "post_service_request.xml")
    assert created.tag == reference.tag and children(created[0]) == children(reference[0])

    token = xml(api.get(f"tokens/{made['trash']}.xml"))
    assert children(token[0]) == children(fixture_xml(shared_data, "request_id_from_token.xml")[0])

    missing = api.get("requests/not-an-id.xml")
    assert missing.status_code == 404
    body, reference = xml(missing), fixture_xml(shared_data, "get_service_request_not_found.xml")
    assert body.tag == reference.tag and children(body[0]) == children(reference[0]) == {"code", "description"}
    assert body.findtext("error/description") == "Service request not found with id not-an-id"


def test_forbidden_in_xml(api):
    response = api.post("requests.xml", {"service_code": "trash-missed-by-city", "api_key": "nope"})
    assert response.status_code == 403
    assert xml(response).findtext("error/code") == "403"
    assert "api_key" in xml(response).findtext("error/description")


def test_description_is_optional_as_the_spec_says(api):
    created = api.post("requests.json", {"api_key": api.key, "service_code": "graffiti-on-private-property",
                                         "attribute[SURFACE][]": ["wall"], **IN_CITY})
    assert created.status_code == 200, created.text
    tracking = created.json()[0]["service_request_id"]
    request = api.get(f"requests/{tracking}.json").json()[0]
    assert request["description"] == request["service_name"] == "Graffiti on Private Property"


def test_utf8_round_trip(api):
    created = api.create(description="Poubelle oubliée — 垃圾 ✓")
    tracking = created.json()[0]["service_request_id"]
    assert api.get(f"requests/{tracking}.json").json()[0]["description"] == "Poubelle oubliée — 垃圾 ✓"
    assert xml(api.get(f"requests/{tracking}.xml")).findtext("request/description") == "Poubelle oubliée — 垃圾 ✓"


# --- servicerequestupdates ----------------------------------------------------------


def test_service_request_updates(api, made):
    posted = api.post("servicerequestupdates.json", {
        "api_key": api.key, "service_request_id": made["trash"], "status": "OPEN",
        "description": "Still not collected", "updated_datetime": datetime.now(timezone.utc).isoformat(),
        "update_id": "fms-1", **PII,
    })
    assert posted.status_code == 200, posted.text
    update_id = posted.json()[0]["update_id"]
    updates = api.get("servicerequestupdates.json").json()
    mine = next(u for u in updates if u["update_id"] == update_id)
    assert mine["service_request_id"] == made["trash"] and mine["description"] == "Still not collected"
    assert mine["status"] == "open"
    assert any(u["service_request_id"] == made["pothole"] and u["status"] == "fixed" for u in updates)
    assert not any("crew 7" in u["description"] for u in updates)
    notes = api.get(f"requests/{made['trash']}.json", extensions="true").json()[0]["notes"]
    assert {"comment"} <= {n["type"] for n in notes}

    reopened = api.post("servicerequestupdates.xml", {
        "api_key": api.key, "service_request_id": made["pothole"], "status": "OPEN", "description": "Hole is back"})
    assert reopened.status_code == 200 and xml(reopened).findtext("request_update/update_id")
    assert api.get(f"requests/{made['pothole']}.json").json()[0]["status"] == "open"
    assert api.post("servicerequestupdates.json", {"api_key": "bad", "service_request_id": made["trash"],
                                                   "description": "x"}).status_code == 403
    assert api.post("servicerequestupdates.json", {"api_key": api.key, "service_request_id": "KC-0-0",
                                                   "description": "x"}).status_code == 404


# --- refused input: a clear error and nothing stored ---------------------------------

BAD_POSTS = [
    ("unknown service_code", {"service_code": "no-such-service"}, 404, "service_code"),
    ("lat without long", {"long": ""}, 400, "long"),
    ("long without lat", {"lat": ""}, 400, "lat"),
    ("no location", {"lat": "", "long": ""}, 400, "location"),
    ("outside the city", {"lat": "38.6270", "long": "-90.1994"}, 400, "outside the city limits"),
    ("description over 4000", {"description": "x" * 4001}, 400, "4,000"),
    ("html in description", {"description": "<script>alert(1)</script>"}, 400, "HTML"),
    ("html in a name", {"first_name": "<b>Bob</b>"}, 400, "first_name"),
    ("control character", {"description": "bad\x07bell"}, 400, "control character"),
    ("control character in address", {"address_string": "12 Main\x00St"}, 400, "address_string"),
    ("bad api key", {"api_key": "c311_wrong"}, 403, "api_key"),
    ("no api key", {"api_key": ""}, 403, "api_key"),
    ("missing required attribute", {"attribute[CONTAINER]": ""}, 400, "attribute[CONTAINER]"),
    ("value not in list", {"attribute[CONTAINER]": "box"}, 400, "not one of the allowed values"),
    ("unknown attribute", {"attribute[COLOUR]": "red"}, 400, "attribute[COLOUR]"),
    ("malformed attribute datetime", {"attribute[SETOUT]": "yesterday"}, 400, "attribute[SETOUT]"),
    ("unknown jurisdiction", {"jurisdiction_id": "tulsa.gov"}, 404, "jurisdiction_id"),
    ("bad latitude", {"lat": "north"}, 400, "lat"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("label,fields,status,words", BAD_POSTS, ids=[b[0] for b in BAD_POSTS])
def test_bad_post_is_refused_and_nothing_stored(api, made, label, fields, status, words, fmt):
    before = count_cases(api.deployment)
    response = api.create(fmt=fmt, **fields)
    assert response.status_code == status, response.text
    if fmt == "json":
        errors = response.json()
        assert errors[0]["code"] == status
        description = errors[0]["description"]
    else:
        description = xml(response).findtext("error/description")
    assert words in description
    assert count_cases(api.deployment) == before


def test_revoked_key_is_refused(api):
    key, secret = apikeys.add(api.deployment, name="soon revoked", channel="web")
    assert api.create(api_key=secret).status_code == 200
    apikeys.revoke(api.deployment, key.id)  # in this process: the server's workers see it within their cache time
    time.sleep(KEY_CACHE_SECONDS + 0.1)
    before = count_cases(api.deployment)
    response = api.create(api_key=secret)
    assert response.status_code == 403 and "revoked" in response.json()[0]["description"]
    assert count_cases(api.deployment) == before


BAD_GETS = [
    ("malformed start_date", {"start_date": "last tuesday"}, "start_date"),
    ("date without timezone", {"start_date": "2026-01-01T00:00:00"}, "timezone"),
    ("range over 90 days", {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
    ("end before start", {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "before"),
    ("unknown status", {"status": "pending"}, "status"),
    ("bad page_size", {"page_size": "5000"}, "page_size"),
    ("bad page", {"page": "0"}, "page"),
    ("bad extensions", {"extensions": "maybe"}, "extensions"),
    ("bad updated_after", {"updated_after": "soon"}, "updated_after"),
]


@pytest.mark.parametrize("label,query,words", BAD_GETS, ids=[b[0] for b in BAD_GETS])
def test_bad_get_requests_query(api, label, query, words):
    response = api.get("requests.json", **query)
    assert response.status_code == 400
    assert words in response.json()[0]["description"]


def test_unknown_jurisdiction_and_resources(api):
    for path in ("services.json", "requests.json", "services/trash-missed-by-city.json"):
        response = api.get(path, jurisdiction_id="sfgov.org")
        assert response.status_code == 404 and "jurisdiction_id" in response.json()[0]["description"]
    assert api.get("services.json", jurisdiction_id="kcmo.gov").status_code == 200
    assert api.get("services.json", jurisdiction_id="kansas-city").status_code == 200
    assert api.get("services/nope.json").status_code == 404
    assert api.get("services.html").status_code == 404
    assert api.get("discovery.json").json()["endpoints"][0]["url"] == api.url
