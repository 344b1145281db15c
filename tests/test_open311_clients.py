"""Real clients against the API under gunicorn: the PyPI GeoReport client (JSON and XML),
schemathesis over docs/openapi.yaml, and a POST/GET round trip on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
import requests
import schemathesis
from georeport import GeoReport
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from civiccrm.services import cases as case_service
from open311_helpers import count_cases, start

OPENAPI = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
IN_CITY = {"lat": "39.0997", "long": "-94.5786"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open311-clients")
    deployment, server, key = start(f"sqlite:///{tmp / 'civiccrm.db'}", tmp)
    made = []
    for code, extra in (("trash-missed-by-city", {"attribute[CONTAINER]": "bags"}),
                        ("pothole-north-of-river", {"attribute[SIZE]": "small"}),
                        ("abandoned-vehicle", {})):
        response = requests.post(f"{server.api}/requests.json", data={
            "api_key": key, "service_code": code, "description": f"{code} report", **IN_CITY, **extra}, timeout=30)
        assert response.status_code == 200, response.text
        made.append(response.json()[0]["service_request_id"])
    try:
        yield deployment, server, key, made
    finally:
        server.stop()
        deployment.engine.dispose()


def as_list(value):
    """xmltodict gives a dict for one repeated element and a list for several."""
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_every_call(served, fmt):
    deployment, server, _, made = served
    client = GeoReport(server.api, jurisdiction="kansas-city", output_format=fmt)

    services = as_list(client.get_service_list())
    assert len(services) == len(deployment.profile.taxonomy.service_types)
    trash = next(s for s in services if s["service_code"] == "trash-missed-by-city")
    assert trash["metadata"] in (True, "true")

    definition = client.get_service_definition("trash-missed-by-city")
    assert definition["service_code"] == "trash-missed-by-city"
    attributes = definition["attributes"] if fmt == "json" else as_list(definition["attributes"]["attribute"])
    assert [a["code"] for a in attributes] == ["CONTAINER", "SETOUT"]

    listed = as_list(client.get_service_requests())
    assert {r["service_request_id"] for r in listed} >= set(made)
    by_code = as_list(client.get_service_requests(service_code="pothole-north-of-river,abandoned-vehicle"))
    assert {r["service_request_id"] for r in by_code} == {made[1], made[2]}
    by_id = as_list(client.get_service_requests(service_request_id=made[0], status="closed"))
    assert [r["service_request_id"] for r in by_id] == [made[0]]
    opened = as_list(client.get_service_requests(status="open", start_date="2000-01-01T00:00:00Z",
                                                 end_date="2000-02-01T00:00:00Z") if fmt == "json" else [])
    assert opened == []  # (XML: the client cannot read an empty list, see below)

    one = client.get_service_request(made[0])
    assert one["service_request_id"] == made[0]
    assert one["service_code"] == "trash-missed-by-city"
    assert one["status"] == "open"
    assert one["requested_datetime"].endswith("-06:00") or one["requested_datetime"].endswith("-05:00")


def test_georeport_client_xml_empty_list_is_a_client_limitation(served):
    """georeport 0.3.1 indexes ``['service_requests']['request']``, which xmltodict leaves as None
    for an empty <service_requests/>: the client raises TypeError. The server's answer is the spec's."""
    _, server, _, _ = served
    client = GeoReport(server.api, output_format="xml")
    with pytest.raises(TypeError):
        client.get_service_requests(service_request_id="none")
    response = requests.get(f"{server.api}/requests.xml", params={"service_request_id": "none"}, timeout=30)
    assert response.status_code == 200 and b"<service_requests />" in response.content


def test_georeport_client_raises_on_errors(served):
    _, server, _, _ = served
    with pytest.raises(requests.HTTPError) as info:
        GeoReport(server.api, jurisdiction="sfgov.org").get_service_list()
    assert info.value.response.status_code == 404
    with pytest.raises(requests.HTTPError):
        GeoReport(server.api).get_service_request("KC-1900-000000")


schema = schemathesis.openapi.from_path(OPENAPI)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_document_holds(case, served):
    """No 5xx, and every response has a documented status, content type and body."""
    _, server, key, _ = served
    if case.body and isinstance(case.body, dict) and "api_key" in case.body:
        case.body["api_key"] = key
    case.call_and_validate(
        base_url=server.api, timeout=30,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


def test_post_and_get_round_trip_on_each_backend(database_url, tmp_path):
    """The same round trip against SQLite and PostgreSQL."""
    deployment, server, key = start(database_url, tmp_path)
    try:
        before = count_cases(deployment)
        created = requests.post(f"{server.api}/requests.json", data={
            "api_key": key, "service_code": "graffiti-on-private-property", "description": "Tags",
            "attribute[SURFACE][]": ["garage", "wall"], "email": "someone@example.org", **IN_CITY}, timeout=30)
        assert created.status_code == 200, created.text
        tracking = created.json()[0]["service_request_id"]
        refused = requests.post(f"{server.api}/requests.json", data={
            "api_key": key, "service_code": "graffiti-on-private-property", "description": "Tags",
            "attribute[SURFACE][]": ["spaceship"], **IN_CITY}, timeout=30)
        assert refused.status_code == 400
        assert count_cases(deployment) == before + 1
        got = requests.get(f"{server.api}/requests/{tracking}.json", params={"extensions": "true"}, timeout=30).json()
        assert got[0]["service_request_id"] == tracking
        assert got[0]["extended_attributes"]["attributes"] == [
            {"code": "SURFACE", "value": "garage"}, {"code": "SURFACE", "value": "wall"}]
        assert "someone@example.org" not in str(got)
        listed = requests.get(f"{server.api}/requests.xml", params={"status": "open"}, timeout=30)
        assert tracking.encode() in listed.content
        assert case_service.get(deployment, tracking).channel == "app"
    finally:
        server.stop()
        deployment.engine.dispose()
