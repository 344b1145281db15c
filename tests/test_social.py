"""Social posts: a provider-neutral webhook (loopback provider), the place a post names geocoded
through the ``geocode`` hook, and the reply with the tracking number."""

import json

import pytest

from civiccrm import hookimpl
from civiccrm.domain.cases import Location
from civiccrm.services import cases
from civiccrm.web import create_app
from civiccrm_plugins.social_channel import places_named, signature

TOKEN = "social-token"


class Streets:
    """A street directory that knows one corner."""

    asked = []

    @hookimpl
    def geocode(self, deployment, address):
        Streets.asked.append(address)
        if address.lower() == "12th and main":
            return Location(address="E 12th St & Main St", latitude=39.0997, longitude=-94.5786)
        return None


@pytest.fixture
def client(deployment, monkeypatch):
    monkeypatch.setenv("CIVICCRM_SOCIAL_AUTH_TOKEN", TOKEN)
    plugin = Streets()
    Streets.asked = []
    deployment.pm.register(plugin, name="test-streets")
    try:
        yield create_app({"TESTING": True, "WTF_CSRF_ENABLED": True}, deployment=deployment).test_client()
    finally:
        deployment.pm.unregister(plugin)


def _post(client, data, token=TOKEN):
    body = json.dumps(data).encode()
    return client.post("/social/loopback", data=body, content_type="application/json",
                       headers={"X-Loopback-Signature": signature(token, body)})


def test_a_post_naming_a_place_is_geocoded_and_answered(deployment, client):
    answer = _post(client, {"id": "p1", "author": "@kcresident", "text": "Graffiti on City Property at 12th and Main"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    found = answer.get_json()
    assert found["outcome"] == "case" and found["tracking_number"] in found["reply"]
    case = cases.get(deployment, found["tracking_number"])
    assert case.channel == "social" and case.location.latitude == 39.0997
    assert case.location.council_district is not None  # located in the city's districts
    assert Streets.asked == ["City Property", "12th and Main"]
    again = _post(client, {"id": "p1", "author": "@kcresident", "text": "Graffiti on City Property at 12th and Main"})
    assert again.get_json()["outcome"] == "duplicate"


def test_bad_posts_and_signatures_are_refused(deployment, client):
    assert _post(client, {"id": "p2", "author": "@x", "text": "hi"}, token="wrong").status_code == 403
    bad = _post(client, {"id": "p3", "text": "no author"})
    assert bad.status_code == 400 and "author" in bad.get_json()["error"]
    assert client.post("/social/twitter", data=b"{}").status_code == 404
    with deployment.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == 0


def test_places_named():
    assert places_named("Pothole on Main St, please fix") == ["Main St"]
    assert places_named("trash near 938 Mulberry St.") == ["938 Mulberry St"]
    assert places_named("the park smells") == []
