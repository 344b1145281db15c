"""Staff users and the login layer: passwords, roles, sessions, the login limit, CSRF, headers, the CLI."""

import json
import logging
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from civiccrm.cli import cli
from civiccrm.domain.users import Role
from civiccrm.errors import CivicError
from civiccrm.services import users
from civiccrm.store import ratelimit
from civiccrm.store.tables import login_attempts_table, rate_limits_table
from tests.web_helpers import PASSWORD, add_staff, csrf_token, login, make_app, new_case, post


def attempts(deployment):
    with deployment.engine.connect() as connection:
        return [(r.username, r.outcome) for r in connection.execute(
            select(login_attempts_table).order_by(login_attempts_table.c.id))]


# --- users and passwords ------------------------------------------------------


def test_passwords_are_stored_as_argon2id_only(deployment):
    users.add_user(deployment, "ada", PASSWORD, Role.ADMINISTRATOR)
    with deployment.engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users WHERE username = 'ada'")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize("password, message", [
    ("short-pw-1", "at least 12"),
    ("password1234", "too easy to guess"),
    ("LeaveMeAlone", "too easy to guess"),
    ("qwerty123456", "too easy to guess"),
    ("ada-the-admin", None),
])
def test_password_rules(sqlite_deployment, password, message):
    if message is None:
        assert users.add_user(sqlite_deployment, "ada", password, Role.ADMINISTRATOR).username == "ada"
        return
    with pytest.raises(CivicError, match=message):
        users.add_user(sqlite_deployment, "ada", password, Role.ADMINISTRATOR)


def test_password_equal_to_username_is_refused(sqlite_deployment):
    with pytest.raises(CivicError, match="too easy"):
        users.add_user(sqlite_deployment, "averylongname", "AveryLongName", Role.ANALYST)


def test_department_worker_needs_a_department_and_names_are_checked(sqlite_deployment):
    with pytest.raises(CivicError, match="at least one --department"):
        users.add_user(sqlite_deployment, "pat", PASSWORD, Role.DEPARTMENT_WORKER)
    with pytest.raises(CivicError, match="no department 'Nowhere'"):
        users.add_user(sqlite_deployment, "pat", PASSWORD, Role.DEPARTMENT_WORKER, departments=("Nowhere",))
    pat = users.add_user(sqlite_deployment, "pat", PASSWORD, Role.DEPARTMENT_WORKER, departments=("Public Works",))
    assert pat.departments == ("public-works",)


def test_usernames_are_unique_and_checked(sqlite_deployment):
    users.add_user(sqlite_deployment, "ada", PASSWORD, Role.ADMINISTRATOR)
    with pytest.raises(CivicError, match="already exists"):
        users.add_user(sqlite_deployment, "ada", PASSWORD, Role.ANALYST)
    with pytest.raises(CivicError, match="username"):
        users.add_user(sqlite_deployment, "Ada Lovelace", PASSWORD, Role.ANALYST)


# --- the command line -----------------------------------------------------------


def test_user_commands(database_url):
    runner = CliRunner()
    db = ["--db", database_url]
    assert runner.invoke(cli, [*db, "init", "--city", "kansas-city"]).exit_code == 0
    result = runner.invoke(cli, [*db, "user", "add", "pat", "--role", "department worker", "--department",
                                 "public-works", "--work-group", "nhs-solid-waste", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(cli, [*db, "user", "list", "--json"]).output)
    assert listed == [{"username": "pat", "role": "department_worker", "departments": ["public-works"],
                       "work_groups": ["nhs-solid-waste"], "language": "en", "disabled": False}]
    assert runner.invoke(cli, [*db, "user", "role", "pat", "supervisor"]).exit_code == 0
    assert runner.invoke(cli, [*db, "user", "disable", "pat"]).exit_code == 0
    listed = json.loads(runner.invoke(cli, [*db, "user", "list", "--json"]).output)
    assert listed[0]["role"] == "supervisor" and listed[0]["disabled"] is True
    result = runner.invoke(cli, [*db, "user", "password", "pat", "--password-stdin"], input="short\n")
    assert result.exit_code == 1 and "at least 12" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, [*db, "user", "add", "zed", "--role", "boss", "--password-stdin"], input=PASSWORD)
    assert result.exit_code != 0 and "unknown role 'boss'" in result.output
    result = runner.invoke(cli, [*db, "user", "add", "zed", "--role", "analyst"])
    assert result.exit_code == 1 and "--password-stdin" in result.output


def test_bootstrap_prints_a_one_time_password_that_must_be_changed(sqlite_deployment):
    runner = CliRunner()
    db = ["--db", str(sqlite_deployment.engine.url)]
    result = runner.invoke(cli, [*db, "user", "bootstrap", "--url", "http://127.0.0.1:9999/admin/"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:9999/admin/" in result.output
    password = result.output.split("one-time password ")[1].strip()
    client = make_app(sqlite_deployment).test_client()
    response = login(client, "admin", password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/account")
    assert client.get("/admin/queue").headers["Location"].endswith("/admin/account")
    page = client.get("/admin/account").text
    response = client.post("/admin/account", data={"csrf_token": csrf_token(page), "action": "password",
                                                   "current_password": password, "password": PASSWORD,
                                                   "password_again": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/queue").status_code == 200
    again = runner.invoke(cli, [*db, "user", "bootstrap"])  # a second `make run`: a fresh one-time password
    assert again.exit_code == 0 and again.output.split("one-time password ")[1].strip() != password
    assert client.get("/admin/queue").status_code == 302  # the reset logged the old session out


# --- logging in -------------------------------------------------------------------


def test_login_rotates_the_session_and_logout_ends_it(deployment):
    add_staff(deployment, ["ada"])
    client = make_app(deployment).test_client()
    page = client.get("/admin/login")
    assert 'name="username"' in page.text and 'name="password"' in page.text
    before = client.get_cookie("civiccrm_session").value
    response = login(client, "ada")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/queue"
    after = client.get_cookie("civiccrm_session")
    assert after.value != before and after.http_only and after.same_site == "Lax"
    with client.session_transaction() as session:
        token = session["staff_token"]
    assert token not in before
    assert users.resolve_session(deployment, token).username == "ada"
    assert client.get("/admin/queue").status_code == 200
    assert post(client, "/admin/logout").status_code == 302
    assert users.resolve_session(deployment, token) is None
    assert client.get("/admin/queue").status_code == 302
    assert attempts(deployment) == [("ada", "success")]


def test_wrong_password_unknown_user_and_disabled_user_look_alike(deployment):
    add_staff(deployment, ["ada", "rob"])
    users.disable_user(deployment, "rob")
    client = make_app(deployment).test_client()
    answers = [login(client, "ada", "not-the-password-1"), login(client, "nobody", PASSWORD), login(client, "rob")]
    assert [r.status_code for r in answers] == [401, 401, 401]
    assert all("Wrong username or password." in r.text for r in answers)
    assert attempts(deployment) == [("ada", "bad_password"), ("nobody", "unknown_user"), ("rob", "disabled")]


def test_login_limit_per_account_answers_429_for_every_worker(deployment):
    add_staff(deployment, ["ada"])
    app = make_app(deployment, LOGIN_LIMIT_PER_ACCOUNT=3)
    first, second = app.test_client(), make_app(deployment, LOGIN_LIMIT_PER_ACCOUNT=3).test_client()
    for client in (first, second, first):
        assert login(client, "ada", "not-the-password-1").status_code == 401
    limited = login(second, "ada")  # right password, but past the limit: not even checked
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many login attempts" in limited.text
    assert attempts(deployment)[-1] == ("ada", "limited")
    assert login(first, "bob", "not-the-password-1").status_code == 401  # other accounts are not locked


def test_login_limit_per_address(deployment):
    add_staff(deployment, ["ada", "sam"])
    client = make_app(deployment, LOGIN_LIMIT_PER_ADDRESS=2).test_client()
    assert login(client, "ada", "wrong-password-11", address="10.0.0.7").status_code == 401
    assert login(client, "sam", "wrong-password-11", address="10.0.0.7").status_code == 401
    assert login(client, "sam", address="10.0.0.7").status_code == 429
    assert login(client, "sam", address="10.0.0.8").status_code == 302


def test_login_attempts_are_append_only(deployment):
    add_staff(deployment, ["ada"])
    login(make_app(deployment).test_client(), "ada")
    for statement in ("UPDATE login_attempts SET outcome = 'x'", "DELETE FROM login_attempts"):
        with pytest.raises(DBAPIError, match="append-only"):
            with deployment.engine.begin() as connection:
                connection.execute(text(statement))
    assert attempts(deployment) == [("ada", "success")]


def test_rate_limiter_counts_a_window_then_starts_again(deployment):
    now = deployment.clock()
    with deployment.engine.begin() as connection:
        results = [ratelimit.hit(connection=connection, scope="t", key="k", limit=2, window_seconds=60, now=now)
                   for _ in range(3)]
        later = ratelimit.hit(connection=connection, scope="t", key="k", limit=2, window_seconds=60,
                              now=now + timedelta(seconds=61))
        other = ratelimit.hit(connection=connection, scope="t", key="other", limit=2, window_seconds=60, now=now)
    assert results == [None, None, 60] and later is None and other is None
    with deployment.engine.begin() as connection:
        assert ratelimit.prune(connection=connection, older_than_seconds=30, now=now + timedelta(seconds=62)) == 1
        assert connection.execute(select(rate_limits_table.c.key)).scalars().all() == ["k"]


def test_password_change_and_disable_log_every_session_out(deployment):
    add_staff(deployment, ["ada", "sam"])
    app = make_app(deployment)
    one, two, other = app.test_client(), app.test_client(), app.test_client()
    login(one, "ada"), login(two, "ada"), login(other, "sam")
    users.set_password(deployment, "ada", "a-brand-new-password-7")
    assert one.get("/admin/queue").status_code == 302 and two.get("/admin/queue").status_code == 302
    assert other.get("/admin/queue").status_code == 200
    users.disable_user(deployment, "sam")
    assert other.get("/admin/queue").status_code == 302
    assert login(other, "sam").status_code == 401


def test_idle_session_is_logged_out(deployment):
    add_staff(deployment, ["ada"])
    start = deployment.clock()
    deployment.clock = lambda: start
    client = make_app(deployment, ADMIN_IDLE_SECONDS=600).test_client()
    login(client, "ada")
    deployment.clock = lambda: start + timedelta(seconds=300)
    assert client.get("/admin/queue").status_code == 200
    deployment.clock = lambda: start + timedelta(seconds=300 + 601)
    assert client.get("/admin/queue").status_code == 302


def test_next_after_login_stays_in_the_admin(deployment):
    add_staff(deployment, ["ada"])
    client = make_app(deployment).test_client()
    token = csrf_token(client.get("/admin/login").text)
    for target, expected in (("/admin/queue?status=open", "/admin/queue?status=open"),
                             ("https://evil.example/", "/admin/queue"), ("//evil.example/x", "/admin/queue")):
        client.post("/admin/logout", data={"csrf_token": token})
        token = csrf_token(client.get("/admin/login").text)
        response = client.post("/admin/login?next=" + target,
                               data={"username": "ada", "password": PASSWORD, "csrf_token": token})
        assert response.headers["Location"] == expected
        token = csrf_token(client.get("/admin/queue").text)


# --- CSRF, headers, no GET changes, no PII in logs ------------------------------------


def test_csrf_missing_or_wrong_is_refused(deployment):
    add_staff(deployment, ["ada"])
    case = new_case(deployment)
    client = make_app(deployment).test_client()
    assert client.post("/admin/login", data={"username": "ada", "password": PASSWORD}).status_code == 400
    login(client, "ada")
    for data in ({"note": "hello"}, {"note": "hello", "csrf_token": "forged"}):
        response = client.post(f"/admin/cases/{case.tracking_number}", data=data)
        assert response.status_code == 400 and "csrf_token" in response.text
    from civiccrm.services import cases

    assert [e.kind for e in cases.history(deployment, case.tracking_number)] == ["created"]


def test_state_changes_need_post(deployment):
    add_staff(deployment, ["ada"])
    case = new_case(deployment)
    client = make_app(deployment).test_client()
    login(client, "ada")
    assert client.get("/admin/logout").status_code == 405
    assert client.get(f"/admin/cases/{case.tracking_number}/reopen").status_code == 405
    assert client.get("/admin/queue/bulk").status_code == 405


def test_security_headers_on_every_response(deployment):
    client = make_app(deployment).test_client()
    for path in ("/admin/login", "/healthz", "/open311/v2/services.json", "/no-such-page"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers
    secure = make_app(deployment).test_client().get("/admin/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in secure.headers["Set-Cookie"]


def test_secret_key_is_generated_into_the_instance_folder_once(deployment, tmp_path):
    from civiccrm.web import create_app

    first = create_app({"INSTANCE_PATH": str(tmp_path / "instance")}, deployment=deployment)
    second = create_app({"INSTANCE_PATH": str(tmp_path / "instance")}, deployment=deployment)
    key_file = tmp_path / "instance" / "secret_key"
    assert first.secret_key == second.secret_key == key_file.read_text() and len(first.secret_key) == 64
    assert key_file.stat().st_mode & 0o077 == 0


def test_no_resident_pii_in_any_log_line(deployment, caplog):
    from civiccrm.domain.cases import Customer

    add_staff(deployment, ["ada"])
    customer = Customer(name="Rosa Resident", email="rosa@example.org", phone="816-555-0100")
    case = new_case(deployment, customer=customer)
    caplog.set_level(logging.DEBUG)
    client = make_app(deployment).test_client()
    login(client, "ada")
    page = client.get(f"/admin/cases/{case.tracking_number}")
    assert "rosa@example.org" in page.text  # staff see the resident ...
    post(client, f"/admin/cases/{case.tracking_number}", {"note": "called back"})
    client.get("/admin/queue?type=nonsense&due_within=x")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("Rosa Resident", "rosa@example.org", "816-555-0100", PASSWORD):
        assert secret not in logged  # ... but no log line carries them
