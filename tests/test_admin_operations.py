"""Operations, users and API keys screens through the Flask test client, on SQLite and PostgreSQL."""

import re
from datetime import timedelta

from sqlalchemy import update

from civiccrm import hookimpl, plugins
from civiccrm.services import apikeys, hook_retry, outbox, users
from civiccrm.store.tables import cases_table
from tests.web_helpers import client_for, login, make_app, new_case, post


def dead_delivery(deployment, reason="SMTP 554 refused") -> int:
    """An outbox row that used every try, as the delivery worker leaves it."""
    from civiccrm.store.tables import outbox_table

    with deployment.engine.begin() as connection:
        outbox_id = outbox.enqueue(connection_or_session=connection, kind="email", destination="works@example.org",
                                   payload={"text": "x"}, idempotency_key=f"test-{reason}", subject="case:KC-1")
        connection.execute(update(outbox_table).where(outbox_table.c.id == outbox_id).values(
            state="dead", tries=5, max_attempts=5, last_error=reason))
    return outbox_id


def test_failed_deliveries_are_listed_with_their_reason_and_retried(staffed):
    outbox_id = dead_delivery(staffed)
    client = client_for(staffed, "sam")
    page = client.get("/admin/operations").text
    assert "SMTP 554 refused" in page and f"Retry delivery {outbox_id}" in page
    response = post(client, f"/admin/operations/deliveries/{outbox_id}/retry", page="/admin/operations")
    assert response.status_code == 302
    found, _ = outbox.entry(staffed, outbox_id)
    assert found.state.value == "pending" and found.tries == 0
    assert "1 delivery will be tried again now." in client.get("/admin/operations").text
    assert "No failed deliveries." in client.get("/admin/operations").text
    second = dead_delivery(staffed, "mailbox full")
    post(client, "/admin/operations/deliveries/retry-dead", page="/admin/operations")
    assert outbox.entry(staffed, second)[0].state.value == "pending"


def test_retrying_what_cannot_be_retried_is_a_clear_4xx(staffed):
    client = client_for(staffed, "sam")
    assert post(client, "/admin/operations/deliveries/999/retry", page="/admin/operations").status_code == 404
    missing = post(client, "/admin/operations/integrations/nowhere/retry", page="/admin/operations")
    assert missing.status_code == 404 and "no destination" in missing.text
    assert client.post("/admin/operations/deliveries/retry-dead").status_code == 400  # no CSRF token
    assert client.get("/admin/operations?within=forever").status_code == 400


def test_failed_hooks_are_listed_and_retried(staffed):
    class Flaky:
        broken = True

        @hookimpl
        def case_created(self, case, event):
            if Flaky.broken:
                raise RuntimeError("work-order system down")

    pm = plugins.load_plugins()
    pm.register(Flaky(), name="flaky-orders")
    try:
        case = new_case(staffed)
        client = client_for(staffed, "sam")
        page = client.get("/admin/operations").text
        assert case.tracking_number in page and "flaky-orders" in page and "civiccrm_plugins.permissions" in page
        Flaky.broken = False
        response = post(client, "/admin/operations/hooks/retry", {"plugin": "flaky-orders"}, page="/admin/operations")
        assert response.status_code == 302
        assert hook_retry.pending_failures(staffed) == []
        assert "No failed hooks waiting" in client.get("/admin/operations").text
    finally:
        pm.unregister(name="flaky-orders")


def test_sla_at_risk_counts_overdue_and_due_soon_per_work_group(staffed):
    late, soon, later = new_case(staffed), new_case(staffed, point=(39.05, -94.55)), new_case(staffed, point=None)
    now = staffed.clock()
    with staffed.engine.begin() as connection:
        for case, due in ((late, now - timedelta(hours=3)), (soon, now + timedelta(hours=5)),
                          (later, now + timedelta(days=5))):
            connection.execute(update(cases_table).where(cases_table.c.id == case.id).values(due_at=due))
    page = client_for(staffed, "sam").get("/admin/operations?within=24").text
    row = re.search(r"<tr><td>[^<]*</td>\s*<td><a href=\"([^\"]+)\">1</a></td>\s*<td><a href=\"[^\"]+\">1</a></td>",
                    page)
    assert row, page[page.find("SLA at risk"):][:1500]
    assert "overdue=1" in row.group(1) and f"work_group={late.work_group}" in row.group(1)
    assert ">2</a>" in client_for(staffed, "sam").get("/admin/operations?within=168").text


def test_operations_is_for_supervisors_and_administrators(staffed):
    for name, status in (("ada", 200), ("sam", 200), ("cal", 403), ("pat", 403), ("ana", 403), ("rob", 403)):
        assert client_for(staffed, name).get("/admin/operations").status_code == status, name
    cal = client_for(staffed, "cal")
    assert post(cal, "/admin/operations/deliveries/retry-dead").status_code == 403


def test_administrators_manage_users(staffed):
    client = client_for(staffed, "ada")
    page = post(client, "/admin/users", {"action": "add", "username": "newbie", "role": "call_taker"},
                page="/admin/users")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    password = re.search(r"One-time password \(shown once\): (\S+)</p>", page.text).group(1)
    fresh = make_app(staffed).test_client()
    assert login(fresh, "newbie", password).headers["Location"].endswith("/admin/account")
    post(client, "/admin/users", {"action": "disable", "username": "newbie"}, page="/admin/users")
    assert users.get_user(staffed, "newbie").disabled
    assert fresh.get("/admin/account").status_code == 302  # logged out at once
    post(client, "/admin/users", {"action": "role", "username": "cal", "role": "department_worker",
                                  "department": "public-works"}, page="/admin/users")
    assert users.get_user(staffed, "cal").departments == ("public-works",)
    for data, message in (({"action": "role", "username": "cal", "role": "department_worker"}, "at least one"),
                          ({"action": "role", "username": "cal", "role": "mayor"}, "unknown role"),
                          ({"action": "add", "username": "Bad Name", "role": "analyst"}, "username"),
                          ({"action": "add", "username": "ada", "role": "analyst"}, "already exists"),
                          ({"action": "disable", "username": "ada"}, "cannot disable yourself"),
                          ({"action": "explode", "username": "ada"}, "action")):
        bad = post(client, "/admin/users", data, page="/admin/users")
        assert bad.status_code == 400 and message in bad.text, data
    assert not users.get_user(staffed, "ada").disabled
    assert client_for(staffed, "sam").get("/admin/users").status_code == 403


def test_administrators_issue_and_revoke_api_keys(staffed):
    client = client_for(staffed, "ada")
    page = post(client, "/admin/api-keys", {"action": "add", "name": "KC mobile app", "channel": "app"},
                page="/admin/api-keys")
    secret = re.search(r"<code>([^<]+)</code>", page.text).group(1)
    key = apikeys.authenticate(staffed, secret, action="test")
    assert key.name == "KC mobile app" and key.scope == "own"
    assert secret not in client.get("/admin/api-keys").text  # shown once
    post(client, "/admin/api-keys", {"action": "revoke", "key_id": str(key.id)}, page="/admin/api-keys")
    assert not apikeys.list_keys(staffed)[0].active
    for data, message in (({"action": "revoke", "key_id": "x"}, "key_id"),
                          ({"action": "revoke", "key_id": str(key.id)}, "already revoked"),
                          ({"action": "add", "name": "", "channel": "app"}, "--name"),
                          ({"action": "add", "name": "x", "channel": "pigeon"}, "channel"),
                          ({"action": "add", "name": "x", "channel": "app", "scope": "god"}, "scope")):
        bad = post(client, "/admin/api-keys", data, page="/admin/api-keys")
        assert bad.status_code == 400 and message in bad.text, data
    assert client_for(staffed, "sam").get("/admin/api-keys").status_code == 403
