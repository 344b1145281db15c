"""Possible duplicates at intake: the rule, the profile's thresholds, the lookup on SQLite and PostgreSQL,
the CLI, the Open311 POST, and the measurement against Kansas City's own DUP status."""

import json
import math
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from click.testing import CliRunner

from civiccrm import plugins
from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Location, Resolution
from civiccrm.domain.duplicates import DuplicateRule, bounding_box, describe, distance_m, rank
from civiccrm.metrics.duplicates import evaluate, uniform
from civiccrm.services import cases as case_service
from civiccrm.services import duplicates
from civiccrm.web import create_app
from profile_helpers import copy_kansas_city, edit, load_error

CHICAGO = ZoneInfo("America/Chicago")
POINT = (39.102738, -94.600134)  # council district 4
METRE_LAT = 1 / 111_195  # degrees of latitude in one metre


def north(metres: float) -> tuple[float, float]:
    return POINT[0] + metres * METRE_LAT, POINT[1]


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(deployment):
    deployment.clock = Clock(datetime(2026, 6, 1, 10, 0, tzinfo=CHICAGO))
    return deployment.clock


def new_case(deployment, code="abandoned-vehicle", point=POINT, **kwargs):
    draft = CaseDraft(service_code=code, description="Car on blocks", channel="phone",
                      location=Location(latitude=point[0], longitude=point[1]), **kwargs)
    return case_service.intake(deployment, draft)


# --- the rule itself ----------------------------------------------------------------


def test_distance_and_box_hold_every_point_of_the_circle():
    assert distance_m(*POINT, *POINT) == 0
    assert distance_m(*POINT, *north(100)) == pytest.approx(100, rel=1e-3)
    south, top, west, east = bounding_box(*POINT, 250)
    rng = random.Random(4)
    for _ in range(500):
        bearing, metres = rng.uniform(0, 2 * math.pi), rng.uniform(0, 250)
        lat = POINT[0] + metres * math.cos(bearing) * METRE_LAT
        lon = POINT[1] + metres * math.sin(bearing) * METRE_LAT / math.cos(math.radians(lat))
        if distance_m(*POINT, lat, lon) <= 250:
            assert south <= lat <= top and west <= lon <= east


def test_rank_keeps_radius_and_window_and_orders_by_distance_and_age():
    at = datetime(2026, 6, 1, tzinfo=timezone.utc)
    rule = DuplicateRule(radius_m=100, window_days=10)

    class Row:
        def __init__(self, number, metres, days):
            self.tracking_number, self.service_code, self.request_type, self.status = number, "x", "X", "open"
            self.latitude, self.longitude = north(metres)
            self.opened_at, self.address = at - timedelta(days=days), None

    rows = [Row("far", 150, 1), Row("old", 10, 11), Row("future", 10, -1), Row("near-old", 5, 9),
            Row("mid-new", 50, 0.5), Row("near-new", 5, 1)]
    found = rank(POINT, at, rule, rows, limit=5)
    assert [c.tracking_number for c in found] == ["near-new", "mid-new", "near-old"]
    assert found[0].distance_m == pytest.approx(5, abs=0.2) and found[0].age == timedelta(days=1)
    assert "near-new (X, 5 m away, opened 24 hours ago)" == describe(found[0])
    assert len(rank(POINT, at, rule, rows, limit=1)) == 1


def test_profile_rules_and_groups():
    from civiccrm.profiles import load_profile
    from profile_helpers import KC

    policy = load_profile(KC).duplicates
    assert (policy.default.radius_m, policy.default.window_days, policy.limit) == (25, 30, 5)
    assert policy.rule_for("property-violations").radius_m == 10
    assert policy.related_codes("trash-missed-by-city") == (
        "trash-missed-by-city", "trash-recycling-trash-collection-missed-by-city")
    assert policy.related_codes("abandoned-vehicle") == ("abandoned-vehicle",)


@pytest.mark.parametrize("old, new, words", [
    ("radius_m = 25", "radius_m = -3", "duplicates.radius_m: -3"),
    ("limit = 5", "limit = 0", "duplicates.limit must be at least 1"),
    ("limit = 5", "limti = 5", "unknown key duplicates.'limti'"),
    ("window_days = 30\nlimit", 'window_days = "a month"\nlimit', "duplicates.window_days has the wrong type"),
])
def test_bad_duplicates_table_is_named(tmp_path, old, new, words):
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", old, new)
    assert words in load_error(folder)


@pytest.mark.parametrize("old, new, words", [
    ("property-violations,10,60,", "no-such-type,10,60,", "line 2: service_code 'no-such-type' is not a service type"),
    ("property-violations,10,60,", "property-violations,ten,60,", "line 2: radius_m: 'ten' is not a number"),
    ("property-violations,10,60,", "trash-missed-by-city,10,60,", "line 3: service_code 'trash-missed-by-city' is listed twice"),
    ("service_code,radius_m", "service_code,radius", "line 1: unknown column(s) radius"),
])
def test_bad_rules_csv_is_named_with_its_line(tmp_path, old, new, words):
    folder = copy_kansas_city(tmp_path)
    edit(folder / "duplicate_rules.csv", old, new)
    message = load_error(folder)
    assert "duplicate_rules.csv" in message and words in message


# --- the lookup on both databases -------------------------------------------------------


def test_open_cases_nearby_are_offered_best_first(deployment, clock):
    start = clock.now
    clock.now = start - timedelta(days=40)
    too_old = new_case(deployment)
    clock.now = start - timedelta(days=3)
    older_near = new_case(deployment, point=north(3))
    closed = new_case(deployment, point=north(1))
    case_service.close(deployment, closed.tracking_number, Resolution.FIXED)
    other_type = new_case(deployment, code="dead-animal-pick-up", point=north(1))
    clock.now = start - timedelta(hours=5)
    newer_mid = new_case(deployment, point=north(15))
    far = new_case(deployment, point=north(40))
    clock.now = start

    draft = CaseDraft(service_code="Abandoned Vehicle", description="Same car", channel="web",
                      location=Location(latitude=POINT[0], longitude=POINT[1]))
    offered = duplicates.for_draft(deployment, draft)
    numbers = [c.tracking_number for c in offered]
    assert set(numbers) == {older_near.tracking_number, newer_mid.tracking_number}
    for absent in (too_old, closed, other_type, far):
        assert absent.tracking_number not in numbers
    # 3 m and 3 days against 15 m and 5 hours: 3/25 + 3/30 = 0.22 < 15/25 + 0.2/30 = 0.61
    assert numbers == [older_near.tracking_number, newer_mid.tracking_number]

    stored = case_service.intake(deployment, draft)
    assert [c.tracking_number for c in duplicates.for_case(deployment, stored.tracking_number)] == numbers
    # a case is never its own duplicate, and only cases opened before it count
    assert duplicates.for_case(deployment, older_near.tracking_number) == []


def test_related_types_of_a_group_are_compared(deployment, clock):
    first = new_case(deployment, code="trash-recycling-trash-collection-missed-by-city")
    clock.now += timedelta(hours=2)
    again = new_case(deployment, code="trash-missed-by-city", point=north(5))
    assert [c.tracking_number for c in duplicates.for_case(deployment, again)] == [first.tracking_number]


def test_a_burst_at_one_spot_scores_only_the_newest_reports(deployment, clock):
    """A storm brings dozens of reports of one spot: only the policy's ``scan`` newest are scored, so the
    check stays bounded, and the nearest of those still comes first."""
    made = []
    for n in range(6):
        made.append(new_case(deployment, point=north(1 if n == 0 else 10)))
        clock.now += timedelta(minutes=10)
    deployment.profile = attrs.evolve(deployment.profile,
                                      duplicates=attrs.evolve(deployment.profile.duplicates, scan=3, limit=5))
    draft = CaseDraft(service_code="abandoned-vehicle", description="Same car", channel="web",
                      location=Location(latitude=POINT[0], longitude=POINT[1]))
    offered = [c.tracking_number for c in duplicates.for_draft(deployment, draft)]
    # the 1 m report is the oldest, outside the three newest: what is offered is the three newest
    assert offered == [m.tracking_number for m in reversed(made[-3:])]
    deployment.profile = attrs.evolve(deployment.profile,
                                      duplicates=attrs.evolve(deployment.profile.duplicates, scan=200))
    assert duplicates.for_draft(deployment, draft)[0].tracking_number == made[0].tracking_number


def test_no_point_or_a_rule_turned_off_offers_nothing(deployment, clock):
    new_case(deployment)
    clock.now += timedelta(hours=1)
    draft = CaseDraft(service_code="abandoned-vehicle", description="x", channel="phone",
                      location=Location(address="414 E 12th St"))
    assert duplicates.for_draft(deployment, draft) == []
    deployment.profile = attrs.evolve(deployment.profile, duplicates=uniform(deployment.profile.duplicates, 0, 30))
    assert duplicates.for_case(deployment, new_case(deployment)) == []


def test_cli_lists_duplicates_as_text_and_json(deployment, clock):
    first = new_case(deployment)
    clock.now += timedelta(days=2)
    second = new_case(deployment, point=north(8))
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", deployment.engine.url.render_as_string(hide_password=False),
                                 "case", "duplicates", second.tracking_number])
    assert result.exit_code == 0, result.output
    assert f"{first.tracking_number} (Abandoned Vehicle, 8 m away, opened 2 days ago)" in result.output
    result = runner.invoke(cli, ["--db", deployment.engine.url.render_as_string(hide_password=False),
                                 "case", "duplicates", second.tracking_number, "--json"])
    rows = json.loads(result.output)
    assert rows[0]["tracking_number"] == first.tracking_number and rows[0]["age_hours"] == 48.0
    result = runner.invoke(cli, ["--db", deployment.engine.url.render_as_string(hide_password=False),
                                 "case", "duplicates", "KC-1999-000000"])
    assert result.exit_code == 1 and "not found" in result.output and "Traceback" not in result.output


# --- the Open311 POST ----------------------------------------------------------------


def test_open311_post_returns_the_notice_and_the_extension(sqlite_deployment):
    from civiccrm.services import apikeys

    deployment = sqlite_deployment
    _, key = apikeys.add(deployment, name="app", channel="app")
    client = create_app({"TESTING": True}, deployment=deployment).test_client()
    form = {"api_key": key, "service_code": "abandoned-vehicle", "description": "Car on blocks",
            "lat": str(POINT[0]), "long": str(POINT[1])}
    first = client.post("/open311/v2/requests.json", data=form).get_json()[0]
    assert "Possible duplicate" not in first["service_notice"] and "possible_duplicates" not in first
    second = client.post("/open311/v2/requests.json", data={**form, "extensions": "true",
                                                            "lat": str(north(6)[0])}).get_json()[0]
    assert f"Possible duplicate of {first['service_request_id']} (Abandoned Vehicle, 6 m away" in second["service_notice"]
    assert [d["service_request_id"] for d in second["possible_duplicates"]] == [first["service_request_id"]]
    assert second["possible_duplicates"][0]["distance_m"] == pytest.approx(6, abs=0.2)
    import xml.etree.ElementTree as ET

    third = ET.fromstring(client.post("/open311/v2/requests.xml", data={**form, "extensions": "true"}).data)
    assert [e.text for e in third.findall("request/possible_duplicates/possible_duplicate/service_request_id")] == [
        first["service_request_id"], second["service_request_id"]]


# --- measured against the city's own duplicates --------------------------------------


def brute_force(rows, policy):
    """Each case against every case of its related types, with no box and no sliding window: the
    definition evaluate() must agree with."""
    by_type = {}
    for row in rows:
        by_type.setdefault(row.service_code, []).append(row)
    found = alarms = 0
    for case in rows:
        rule = policy.rule_for(case.service_code)
        if not rule.enabled:
            continue
        hit = any(
            (other.opened_at, other.id) < (case.opened_at, case.id)
            and case.opened_at - other.opened_at <= rule.window
            and (other.closed_at is None or other.closed_at > case.opened_at)
            and distance_m(case.latitude, case.longitude, other.latitude, other.longitude) <= rule.radius_m
            for code in policy.related_codes(case.service_code) for other in by_type.get(code, ()))
        if hit and case.resolution == "duplicate":
            found += 1
        elif hit:
            alarms += 1
    return found, alarms


def test_evaluation_on_kansas_city_data_agrees_with_brute_force(sqlite_deployment, shared_data):
    deployment = sqlite_deployment
    plugins.importers()["kcmo"].run(deployment, [str(shared_data / "kc311" / "67_neighborhood.csv")],
                                    on_error=lambda reject: None)
    from civiccrm.store.duplicates import closed_and_open_with_points

    with deployment.engine.connect() as connection:
        rows = list(closed_and_open_with_points(connection))
    assert sum(r.resolution == "duplicate" for r in rows) == 3  # the city's DUP status, imported
    for policy in (deployment.profile.duplicates, uniform(deployment.profile.duplicates, 200, 90)):
        result = evaluate(deployment, policy)
        assert (result.cases, result.city_duplicates) == (len(rows), 3)
        assert (result.found, result.false_alarms) == brute_force(rows, policy)
    wide = evaluate(deployment, uniform(deployment.profile.duplicates, 200, 90))
    narrow = evaluate(deployment, uniform(deployment.profile.duplicates, 5, 7))
    assert wide.false_alarms > narrow.false_alarms and wide.found >= narrow.found


def test_merge_links_both_cases_and_keeps_the_requester_as_a_follower(deployment, clock):
    from civiccrm.domain.cases import Customer
    from civiccrm.store.duplicates import follower_ids

    main = new_case(deployment, customer=Customer(name="First Caller", email="first@example.org"))
    clock.now += timedelta(hours=3)
    repeat = new_case(deployment, point=north(4), customer=Customer(name="Second Caller", phone="816-555-0101"))
    assert [c.tracking_number for c in duplicates.for_case(deployment, repeat)] == [main.tracking_number]
    case_service.merge(deployment, repeat.tracking_number, main.tracking_number)
    assert duplicates.links(deployment, main) == [("duplicate", repeat.tracking_number)]
    assert duplicates.links(deployment, repeat) == [("duplicate_of", main.tracking_number)]
    with deployment.engine.connect() as connection:
        assert follower_ids(connection, main.id) == [repeat.customer_id]
        assert follower_ids(connection, repeat.id) == []
    # the merged duplicate is closed: a third report is offered the main case only
    clock.now += timedelta(hours=1)
    third = new_case(deployment, point=north(2))
    assert [c.tracking_number for c in duplicates.for_case(deployment, third)] == [main.tracking_number]
