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


def test_the_open311_api_neither_reads_nor_writes_the_session(deployment):
    """The API is stateless (no cookie read, signed or set; no ``Vary: Cookie``); the pages keep theirs."""
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    page = client.get("/?lang=es")  # the public pages keep the chosen language in the session cookie
    assert "civiccrm_session=" in page.headers.get("Set-Cookie", "")
    for path, status in (("services.json", 200), ("requests/KC-NO-SUCH.json", 404), ("no-such.xml", 404)):
        answer = client.get(f"/open311/v2/{path}", headers={"Accept-Language": "es"})
        assert answer.status_code == status, answer.text
        assert "Set-Cookie" not in answer.headers
        assert "Cookie" not in answer.headers.get("Vary", "")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"  # the security headers still apply
    assert '<html lang="es">' in client.get("/").text  # the session outlived the API calls



def test_the_app_remembers_plain_hooks_and_still_wraps_coroutines(sqlite_deployment):
    """``ensure_sync`` (asked for every hook and view of every request) answers a plain function from what it
    remembers; a coroutine function still goes to ``async_to_sync`` each time, as in Flask."""
    app = create_app({"TESTING": True}, deployment=sqlite_deployment)

    def hook():
        return None

    async def coroutine():
        return None

    assert app.ensure_sync(hook) is hook and hook in app._plain_functions
    assert app.ensure_sync(hook) is hook
    wrapped = []
    app.async_to_sync = lambda func: wrapped.append(func) or ("wrapped", func)
    assert app.ensure_sync(coroutine) == ("wrapped", coroutine) == app.ensure_sync(coroutine)
    assert wrapped == [coroutine, coroutine] and coroutine not in app._plain_functions
    assert app.test_client().get("/open311/v2/discovery.json").status_code == 200
