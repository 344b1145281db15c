"""Service alerts by area: double opt-in by e-mail, alerts posted by CLI reach the right subscribers
through the outbox and a real SMTP server on loopback, one-click unsubscribe (RFC 8058)."""

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from civiccrm.cli import cli
from civiccrm.domain.alerts import Area, reaches
from civiccrm.services import outbox
from civiccrm.store.tables import alert_subscriptions_table, outbox_table
from tests.web_helpers import DOWNTOWN, csrf_token, make_app

sys.path.insert(0, str(Path(__file__).parent))
from mail_helpers import SmtpServer, SmtpSink, use_smtp  # noqa: E402

LINK = re.compile(r"http://127\.0\.0\.1:8311(/alerts/(?:confirm|unsubscribe)/[A-Za-z0-9_-]+)")
FAR_NORTH = (39.30, -94.60)  # Kansas City north of the river, a long way from downtown


@pytest.fixture
def sink(monkeypatch):
    handler = SmtpSink()
    with SmtpServer(handler) as server:
        use_smtp(monkeypatch, server.port)
        yield handler


@pytest.fixture
def client(deployment):
    return make_app(deployment).test_client()


def deliver(deployment) -> int:
    return outbox.run(deployment, once=True).sent


def subscribe(client, **fields):
    token = csrf_token(client.get("/alerts").text)
    return client.post("/alerts", data={"csrf_token": token, **fields})


def confirm_by_mail(client, message) -> str:
    path = LINK.search(message.get_content()).group(1)
    page = client.get(path)
    assert page.status_code == 200 and "Confirm" in page.text
    done = client.post(path, data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200 and "Subscribed" in done.text
    return path.rsplit("/", 1)[1]


def post_alert(deployment, database_url, *args):
    result = CliRunner().invoke(cli, ["--db", database_url, "alerts", "post", *args])
    return result


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(deployment, database_url, client, sink):
    response = subscribe(client, email="ana@example.org", area="district", district="4")
    assert response.status_code == 200 and "Check your e-mail" in response.text
    assert deliver(deployment) == 1
    confirmation = sink.messages[-1]
    assert confirmation["To"] == "ana@example.org" and "Confirm" in confirmation["Subject"]
    result = post_alert(deployment, database_url, "--title", "Trash pickup delayed", "--body", "One day late.",
                        "--district", "4")
    assert result.exit_code == 0, result.output
    assert "0 e-mails queued" in result.output  # not confirmed yet: nothing is sent
    token = confirm_by_mail(client, confirmation)
    result = post_alert(deployment, database_url, "--title", "Storm: crews out", "--body", "Report trees down.",
                        "--district", "4")
    assert "1 e-mails queued" in result.output
    assert deliver(deployment) == 1
    alert = sink.messages[-1]
    assert "Storm: crews out" in alert["Subject"] and "Report trees down." in alert.get_content()
    assert alert["List-Unsubscribe"].strip() == f"<http://127.0.0.1:8311/alerts/unsubscribe/{token}>"
    assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # RFC 8058: the mail client POSTs without a cookie or a CSRF token
    fresh = make_app(deployment).test_client()
    one_click = fresh.post(f"/alerts/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "Unsubscribed" in one_click.text
    result = post_alert(deployment, database_url, "--title", "Another", "--body", "Still raining.")
    assert "0 e-mails queued" in result.output
    assert "Storm: crews out" in client.get("/alerts").text  # the recent alerts are listed


def test_an_alert_reaches_only_the_areas_it_concerns(sqlite_deployment, tmp_path):
    city_map = sqlite_deployment.profile.city_map
    downtown = Area(latitude=DOWNTOWN[0], longitude=DOWNTOWN[1], radius_m=500)
    district_4 = Area(district="4")
    north = Area(latitude=FAR_NORTH[0], longitude=FAR_NORTH[1], radius_m=500)
    assert reaches(Area(), north, city_map)  # the whole city
    assert reaches(district_4, downtown, city_map)  # downtown lies in district 4
    assert not reaches(district_4, north, city_map)
    assert reaches(Area(latitude=DOWNTOWN[0], longitude=DOWNTOWN[1] + 0.008, radius_m=300), downtown, city_map)
    assert not reaches(Area(latitude=FAR_NORTH[0], longitude=FAR_NORTH[1], radius_m=1000), downtown, city_map)
    assert reaches(Area(latitude=DOWNTOWN[0], longitude=DOWNTOWN[1], radius_m=200), district_4, city_map)
    assert not reaches(Area(district="1"), district_4, city_map)


def test_a_radius_subscription_gets_the_alerts_near_it(sqlite_deployment, sink):
    database_url = str(sqlite_deployment.engine.url)
    client = make_app(sqlite_deployment).test_client()
    subscribe(client, email="near@example.org", area="point", lat=str(DOWNTOWN[0]), long=str(DOWNTOWN[1]),
              radius_m="500")
    subscribe(client, email="far@example.org", area="point", lat=str(FAR_NORTH[0]), long=str(FAR_NORTH[1]),
              radius_m="500")
    deliver(sqlite_deployment)
    for message in list(sink.messages):
        confirm_by_mail(client, message)
    result = post_alert(sqlite_deployment, database_url, "--title", "Water main break", "--body", "Avoid 12th St.",
                        "--point", f"{DOWNTOWN[0]},{DOWNTOWN[1] + 0.004}", "--radius", "300")
    assert "1 e-mails queued" in result.output, result.output
    deliver(sqlite_deployment)
    assert sink.messages[-1]["To"] == "near@example.org"


def test_subscribing_twice_sends_nothing_new_and_tells_no_one(sqlite_deployment, sink):
    client = make_app(sqlite_deployment).test_client()
    subscribe(client, email="ana@example.org", area="district", district="4")
    deliver(sqlite_deployment)
    confirm_by_mail(client, sink.messages[-1])
    again = subscribe(client, email="ana@example.org", area="district", district="4")
    assert again.status_code == 200 and "Check your e-mail" in again.text
    assert deliver(sqlite_deployment) == 0


@pytest.mark.parametrize("fields, words", [
    ({"email": "not-an-address", "area": "district", "district": "4"}, "email: 'not-an-address' is not an e-mail"),
    ({"email": "a@example.org", "area": "district", "district": "99"}, "district: '99' is not a council district"),
    ({"email": "a@example.org", "area": "district"}, "district: choose a council district"),
    ({"email": "a@example.org", "area": "point", "lat": "38.6270", "long": "-90.1994", "radius_m": "500"},
     "outside the city limits"),
    ({"email": "a@example.org", "area": "point", "lat": "39.1", "long": "-94.58", "radius_m": "999999"},
     "radius_m: '999999' is not a whole number from 1 up to 20000"),
    ({"email": "a@example.org", "area": "point", "radius_m": "500"}, "give the latitude and longitude"),
])
def test_bad_subscriptions_are_refused_and_nothing_is_stored(sqlite_deployment, fields, words):
    client = make_app(sqlite_deployment).test_client()
    response = subscribe(client, **fields)
    assert response.status_code == 400 and words in response.text.replace("&#39;", "'")
    with sqlite_deployment.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(alert_subscriptions_table)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(outbox_table)).scalar() == 0


def test_confirm_needs_a_post_with_csrf_and_unknown_tokens_are_404(sqlite_deployment, sink):
    client = make_app(sqlite_deployment).test_client()
    subscribe(client, email="ana@example.org", area="district", district="4")
    deliver(sqlite_deployment)
    path = LINK.search(sink.messages[-1].get_content()).group(1)
    client.get(path)  # a mail scanner's GET confirms nothing
    with sqlite_deployment.engine.connect() as connection:
        assert connection.execute(select(alert_subscriptions_table.c.confirmed_at)).scalar() is None
    assert client.post(path).status_code == 400  # no csrf_token
    assert client.get("/alerts/confirm/not-a-token").status_code == 404
    assert client.post("/alerts/unsubscribe/not-a-token").status_code == 404


def test_alerts_post_refuses_bad_arguments_without_a_traceback(sqlite_deployment):
    database_url = str(sqlite_deployment.engine.url)
    for args, words in ((["--district", "99"], "district: '99' is not a council district"),
                        (["--point", "north"], "--point: 'north' is not LAT,LONG"),
                        (["--point", "38.6270,-90.1994"], "outside the city limits"),
                        (["--district", "4", "--point", "39.1,-94.5"], "give one of them")):
        result = post_alert(sqlite_deployment, database_url, "--title", "T", "--body", "B", *args)
        assert result.exit_code != 0 and words in result.output and "Traceback" not in result.output
    listed = CliRunner().invoke(cli, ["--db", database_url, "alerts", "list", "--json"])
    assert listed.exit_code == 0 and listed.output.strip() == "[]"


def test_the_alerts_page_in_spanish(sqlite_deployment):
    page = make_app(sqlite_deployment).test_client().get("/alerts?lang=es")
    assert "Avisos de servicio" in page.text and "Suscribirse" in page.text
