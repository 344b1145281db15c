"""The web app factory: health check against the real database, and an unreachable one."""

from civiccrm.web import create_app


def test_healthz_reaches_the_database(deployment):
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_is_down():
    app = create_app({"TESTING": True, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/civiccrm"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert "unavailable" in response.get_json()["error"]
