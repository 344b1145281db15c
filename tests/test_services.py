"""Case services on SQLite and PostgreSQL: intake, routing, history, lifecycle, merge, hooks."""

import re
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from civiccrm import hookimpl
from civiccrm.domain.cases import Case, CaseDraft, CaseEvent, Customer, Location, Resolution, Status
from civiccrm.errors import CivicError, NotFound
from civiccrm.services import cases as case_service
from civiccrm.store import repo

CHICAGO = ZoneInfo("America/Chicago")
DISTRICT_4 = (39.102738, -94.600134)
#: A point inside each council district (representative points of the district polygons).
DISTRICT_POINTS = {
    "1": (39.229772503163176, -94.49718022827308),
    "2": (39.27010093657937, -94.65239938035057),
    "3": (39.07109563975726, -94.52198852754222),
    "4": (39.10372645305026, -94.49636179234123),
    "5": (38.982918750353896, -94.53181413840272),
    "6": (38.92281257923029, -94.52900299502548),
}
NEW_YORK = (40.712776, -74.005974)
TRACKING = re.compile(r"^KC-(\d{4})-(\d{6})$")


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock(deployment) -> Clock:
    clock = Clock(datetime(2026, 6, 1, 10, 0, tzinfo=CHICAGO))  # Monday
    deployment.clock = clock
    return clock


def draft(**kwargs) -> CaseDraft:
    fields = dict(service_code="Trash - Missed by City", description="Cart not emptied on Monday",
                  channel="phone", location=Location(address="414 E 12th St", latitude=DISTRICT_4[0],
                                                     longitude=DISTRICT_4[1]))
    fields.update(kwargs)
    return CaseDraft(**fields)


def intake(deployment, **kwargs) -> Case:
    return case_service.intake(deployment, draft(**kwargs), actor="call-taker-1")


def event_count(deployment) -> int:
    with deployment.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM case_events")).scalar()


def assert_unchanged(deployment, case: Case, events_before: int) -> None:
    assert case_service.get(deployment, case.tracking_number) == case
    assert event_count(deployment) == events_before


def refused(deployment, case: Case, call, *match: str) -> str:
    """Run ``call``; it must raise CivicError naming ``match`` and change nothing."""
    case = case_service.get(deployment, case.tracking_number)
    before = event_count(deployment)
    with pytest.raises(CivicError) as info:
        call()
    message = str(info.value)
    for part in match:
        assert part in message, f"{part!r} not in {message!r}"
    assert_unchanged(deployment, case, before)
    return message


# --- intake -------------------------------------------------------------------


def test_intake_creates_a_routed_located_case(deployment, clock):
    case = intake(deployment)
    assert TRACKING.match(case.tracking_number)
    assert case.tracking_number == "KC-2026-000001"
    assert case.service_code == "trash-missed-by-city"
    assert case.request_type == "Trash - Missed by City"
    assert case.category == "Trash"
    assert case.department == "public-works"
    assert case.work_group == "public-works-solid-waste"
    assert case.channel == "phone"
    assert case.status is Status.NEW
    assert case.location.council_district == "4"
    assert case.location.address == "414 E 12th St"
    assert case.opened_at == clock.now and case.updated_at == clock.now
    # Trash - Missed by City: 2 business days (Kansas City's refit time-frame), Monday 10:00 -> Wednesday.
    assert case.due_at == datetime(2026, 6, 3, 10, 0, tzinfo=CHICAGO)
    assert case.closed_at is None and case.resolution is None
    assert case_service.get(deployment, case.tracking_number) == case


def test_service_type_by_code_or_name(deployment, clock):
    by_code = intake(deployment, service_code="trash-missed-by-city")
    by_name = intake(deployment, service_code="  trash - missed BY city ")
    assert by_code.service_code == by_name.service_code == "trash-missed-by-city"
    other = intake(deployment, service_code="Abandoned Vehicle")
    assert (other.department, other.work_group) == ("kcpd", "kcpd-parking-control")
    events = event_count(deployment)
    with pytest.raises(CivicError, match="no service type 'Unicorn sighting'"):
        intake(deployment, service_code="Unicorn sighting")
    assert event_count(deployment) == events


def test_tracking_numbers_are_sequential(deployment, clock):
    numbers = [intake(deployment).tracking_number for _ in range(25)]
    assert numbers == [f"KC-2026-{n:06d}" for n in range(1, 26)]


def test_tracking_number_year_is_the_city_year(deployment, clock):
    # 23:30 on New Year's Eve in Kansas City is already 2027 in UTC.
    late = intake(deployment, opened_at=datetime(2026, 12, 31, 23, 30, tzinfo=CHICAGO))
    assert late.opened_at.astimezone(timezone.utc).year == 2027
    assert late.tracking_number == "KC-2026-000001"
    first = intake(deployment, opened_at=datetime(2027, 1, 1, 0, 1, tzinfo=CHICAGO))
    assert first.tracking_number == "KC-2027-000001"
    assert intake(deployment).tracking_number == "KC-2026-000002"


def test_tracking_numbers_unique_under_concurrent_intake(deployment, clock):
    threads, per_thread = 6, 5
    numbers, errors = [], []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work():
        try:
            start.wait()
            for _ in range(per_thread):
                number = intake(deployment, customer=Customer(phone="816-555-0100")).tracking_number
                with lock:
                    numbers.append(number)
        except Exception as exc:  # reported below
            with lock:
                errors.append(repr(exc))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"KC-2026-{n:06d}" for n in range(1, threads * per_thread + 1)]



INTAKE_PROCESS = """
import sys
from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.services import cases
from civiccrm.services.deployment import open_deployment

deployment = open_deployment(sys.argv[1])
for n in range(int(sys.argv[2])):
    case = cases.intake(deployment, CaseDraft(
        service_code="trash-missed-by-city", description=f"process case {n}", channel="web",
        location=Location(latitude=39.0997, longitude=-94.5786), customer=Customer(phone="816-555-0100"),
        attributes={}, media_url="https://example.org/cart.jpg"))
    print(case.tracking_number, case.id, case.customer_id, flush=True)
"""


def test_intake_from_several_processes_on_one_sqlite_file(sqlite_deployment):
    """Worker processes of one SQLite deployment (gunicorn's) take turns writing: no number twice, no
    case lost, and each case stored with its customer, media and created event."""
    import subprocess
    import sys

    url = sqlite_deployment.engine.url.render_as_string(hide_password=False)
    processes, per_process = 3, 8
    running = [subprocess.Popen([sys.executable, "-c", INTAKE_PROCESS, url, str(per_process)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    acknowledged = []
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        acknowledged += [line.split() for line in out.splitlines()]
    assert len(acknowledged) == processes * per_process
    year = acknowledged[0][0].split("-")[1]
    assert sorted(n for n, _, _ in acknowledged) == [f"KC-{year}-{n:06d}" for n in range(1, processes * per_process + 1)]
    with sqlite_deployment.engine.connect() as connection:
        stored = connection.execute(text(
            "SELECT c.tracking_number, c.id, c.customer_id, (SELECT COUNT(*) FROM case_media m WHERE m.case_id = c.id),"
            " (SELECT COUNT(*) FROM case_events e WHERE e.case_id = c.id AND e.kind = 'created') FROM cases c"
        )).all()
    assert sorted((n, int(i), int(c), 1, 1) for n, i, c in acknowledged) == sorted(tuple(r) for r in stored)

def test_district_from_the_point(deployment, clock):
    found = {}
    for district, (lat, long) in DISTRICT_POINTS.items():
        found[district] = intake(deployment, location=Location(latitude=lat, longitude=long)).location.council_district
    assert found == {d: d for d in DISTRICT_POINTS}


def test_point_outside_city_limits_is_refused(deployment, clock):
    with pytest.raises(CivicError) as info:
        intake(deployment, location=Location(latitude=NEW_YORK[0], longitude=NEW_YORK[1]))
    assert "outside the city limits" in str(info.value)
    assert "Kansas City" in str(info.value)
    assert info.value.field == "latitude"
    assert event_count(deployment) == 0
    with deployment.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 0


def test_district_comes_from_the_map_only(deployment, clock):
    case = intake(deployment, location=Location(latitude=DISTRICT_4[0], longitude=DISTRICT_4[1],
                                                council_district="6"))
    assert case.location.council_district == "4"
    without_point = intake(deployment, location=Location(address="City Hall"))
    assert without_point.location.council_district is None and without_point.location.latitude is None
    with pytest.raises(CivicError, match="latitude and longitude go together"):
        intake(deployment, location=Location(latitude=DISTRICT_4[0]))


def test_channels_of_the_city(deployment, clock):
    for channel in ("web", "email", "walk_in", "app"):
        assert intake(deployment, channel=channel).channel == channel


def test_unknown_channel_is_refused(deployment, clock):
    for channel in ("pigeon", "sms"):  # sms exists, but Kansas City does not take it
        with pytest.raises(CivicError) as info:
            intake(deployment, channel=channel)
        message = str(info.value)
        assert repr(channel) in message and "expected one of" in message and "phone" in message
    assert event_count(deployment) == 0


def test_bad_description_is_refused(deployment, clock):
    for description, match in (
        ("   ", "needs a description"),
        ("bad\x00byte", "control characters"),
        ("x" * 4001, "at most 4000"),
    ):
        with pytest.raises(CivicError, match=match):
            intake(deployment, description=description)
    assert event_count(deployment) == 0


def test_customer_is_kept_apart(deployment, clock):
    case = intake(deployment, customer=Customer(name="Ada Resident", email="ada@example.org", phone="816-555-0100"))
    assert case.customer_id is not None
    with deployment.session() as s:
        customer = repo.get_customer(session=s, customer_id=case.customer_id)
    assert (customer.name, customer.email, customer.phone) == ("Ada Resident", "ada@example.org", "816-555-0100")
    assert "Ada" not in repr(case) and "ada@example.org" not in repr(case)
    assert intake(deployment).customer_id is None


def test_created_event_records_who_when_what(deployment, clock):
    case = intake(deployment)
    [created] = case_service.history(deployment, case.tracking_number)
    assert created.kind == "created"
    assert created.actor == "call-taker-1"
    assert created.at == clock.now
    assert created.origin == "intake"
    assert created.changes["status"] == [None, "new"]
    assert created.changes["department"] == [None, "public-works"]
    assert created.changes["work_group"] == [None, "public-works-solid-waste"]
    assert created.changes["channel"] == [None, "phone"]


def test_unknown_tracking_number(deployment, clock):
    for call in (
        lambda: case_service.get(deployment, "KC-2026-999999"),
        lambda: case_service.add_note(deployment, "KC-2026-999999", "hello"),
        lambda: case_service.close(deployment, "KC-2026-999999", Resolution.FIXED),
    ):
        with pytest.raises(NotFound, match="KC-2026-999999"):
            call()
    assert issubclass(NotFound, CivicError)
    assert event_count(deployment) == 0


# --- status lifecycle and history ---------------------------------------------


def test_status_lifecycle_with_history(deployment, clock):
    case = intake(deployment)
    steps = [Status.OPEN, Status.IN_PROGRESS, Status.ON_HOLD, Status.IN_PROGRESS]
    for step in steps:
        clock.advance(hours=1)
        changed = case_service.change_status(deployment, case.tracking_number, step, actor="worker-7", note=f"to {step}")
        assert changed.status is step
        assert changed.updated_at == clock.now
    clock.advance(hours=1)
    closed = case_service.close(deployment, case.tracking_number, Resolution.FIXED, actor="worker-7")
    assert closed.status is Status.CLOSED and closed.resolution is Resolution.FIXED
    assert closed.closed_at == clock.now
    assert closed.on_time is True

    events = case_service.history(deployment, case.tracking_number)
    assert [e.kind for e in events] == ["created"] + ["status_changed"] * 4 + ["closed"]
    assert [e.changes["status"] for e in events[1:5]] == [
        ["new", "open"], ["open", "in_progress"], ["in_progress", "on_hold"], ["on_hold", "in_progress"]]
    assert all(e.actor == "worker-7" for e in events[1:])
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert events[2].note == "to in_progress"
    assert events[-1].changes["resolution"] == [None, "fixed"]
    assert events[-1].changes["status"] == ["in_progress", "closed"]


def test_closed_case_cannot_go_to_in_progress(deployment, clock):
    case = intake(deployment)
    case_service.close(deployment, case.tracking_number, Resolution.FIXED)
    message = refused(deployment, case, lambda: case_service.change_status(
        deployment, case.tracking_number, Status.IN_PROGRESS), case.tracking_number, "closed", "in_progress")
    assert "reopened" in message  # what is allowed instead


def test_status_change_to_the_same_status(deployment, clock):
    case = intake(deployment)
    case_service.change_status(deployment, case.tracking_number, Status.IN_PROGRESS)
    refused(deployment, case, lambda: case_service.change_status(deployment, case.tracking_number, Status.IN_PROGRESS),
            "already in_progress")
    refused(deployment, case, lambda: case_service.change_status(deployment, case.tracking_number, Status.CLOSED),
            "resolution")
    refused(deployment, case, lambda: case_service.change_status(deployment, case.tracking_number, Status.REOPENED),
            "reopen")


def test_update_of_a_closed_case_is_refused(deployment, clock):
    case = intake(deployment)
    case_service.close(deployment, case.tracking_number, Resolution.NO_ACTION)
    refused(deployment, case, lambda: case_service.update(deployment, case.tracking_number, description="more"),
            case.tracking_number, "closed", "reopen")
    refused(deployment, case, lambda: case_service.assign(deployment, case.tracking_number, work_group="kcpd-parking-control"),
            "closed")


def test_update_changes_type_description_and_location(deployment, clock):
    case = intake(deployment)
    clock.advance(hours=2)
    lat, long = DISTRICT_POINTS["6"]
    updated = case_service.update(deployment, case.tracking_number, actor="supervisor",
                                  service_type="abandoned-vehicle", description="A car, not a cart",
                                  location=Location(latitude=lat, longitude=long))
    assert updated.service_code == "abandoned-vehicle" and updated.request_type == "Abandoned Vehicle"
    assert updated.description == "A car, not a cart"
    assert updated.location.council_district == "6"
    # Abandoned Vehicle: 1 business day (since June 2010) from when the case was opened, not from now.
    assert updated.due_at == datetime(2026, 6, 2, 10, 0, tzinfo=CHICAGO)
    last = case_service.history(deployment, case.tracking_number)[-1]
    assert last.kind == "updated" and last.actor == "supervisor" and last.at == clock.now
    assert last.changes["service_code"] == ["trash-missed-by-city", "abandoned-vehicle"]
    assert last.changes["council_district"] == ["4", "6"]


def test_useless_or_bad_updates_are_refused(deployment, clock):
    case = intake(deployment)
    refused(deployment, case, lambda: case_service.update(deployment, case.tracking_number,
                                                          description=case.description), "nothing to update")
    refused(deployment, case, lambda: case_service.update(
        deployment, case.tracking_number, location=Location(latitude=NEW_YORK[0], longitude=NEW_YORK[1])),
        "outside the city limits")


# --- assignment and notes -----------------------------------------------------------


def test_assign_by_work_group_name_or_code(deployment, clock):
    case = intake(deployment)
    moved = case_service.assign(deployment, case.tracking_number, work_group="kcpd-PARKING control-", actor="sup")
    assert (moved.department, moved.work_group) == ("kcpd", "kcpd-parking-control")
    back = case_service.assign(deployment, case.tracking_number, work_group="public-works-solid-waste")
    assert (back.department, back.work_group) == ("public-works", "public-works-solid-waste")
    events = case_service.history(deployment, case.tracking_number)
    assert [e.kind for e in events] == ["created", "assigned", "assigned"]
    assert events[1].changes == {"department": ["public-works", "kcpd"],
                                 "work_group": ["public-works-solid-waste", "kcpd-parking-control"]}
    assert events[1].actor == "sup"


def test_assign_to_a_department(deployment, clock):
    case = intake(deployment)
    moved = case_service.assign(deployment, case.tracking_number, department="KCPD")
    assert (moved.department, moved.work_group) == ("kcpd", None)


def test_assign_work_group_of_another_department_is_refused(deployment, clock):
    case = intake(deployment)
    refused(deployment, case, lambda: case_service.assign(
        deployment, case.tracking_number, work_group="kcpd-parking-control", department="public-works"),
        "'kcpd'", "'public-works'")


def test_bad_assignments_are_refused(deployment, clock):
    case = intake(deployment)
    for kwargs, match in (
        ({"work_group": "moon-patrol"}, "no work group 'moon-patrol'"),
        ({"department": "space-agency"}, "no department 'space-agency'"),
        ({}, "give a work group or a department"),
        ({"work_group": "public-works-solid-waste"}, "already assigned"),
    ):
        refused(deployment, case, lambda: case_service.assign(deployment, case.tracking_number, **kwargs), match)


def test_notes(deployment, clock):
    case = intake(deployment)
    clock.advance(minutes=5)
    noted = case_service.add_note(deployment, case.tracking_number, "  Resident called again  ", actor="ct-2")
    assert noted.status is Status.NEW and noted.updated_at == clock.now
    last = case_service.history(deployment, case.tracking_number)[-1]
    assert (last.kind, last.note, last.actor, last.at) == ("note", "Resident called again", "ct-2", clock.now)
    refused(deployment, case, lambda: case_service.add_note(deployment, case.tracking_number, "  "), "empty note")


# --- close, reopen, merge ------------------------------------------------------------


def test_closing_needs_a_resolution(deployment, clock):
    case = intake(deployment)
    message = refused(deployment, case, lambda: case_service.close(deployment, case.tracking_number, None),
                      "resolution")
    assert "fixed" in message
    case_service.close(deployment, case.tracking_number, Resolution.FIXED)
    refused(deployment, case, lambda: case_service.close(deployment, case.tracking_number, Resolution.FIXED),
            case.tracking_number, "already closed")


def test_late_close_is_not_on_time(deployment, clock):
    case = intake(deployment)
    clock.advance(days=5)
    closed = case_service.close(deployment, case.tracking_number, Resolution.FIXED, note="finally")
    assert closed.on_time is False
    assert closed.closed_at == clock.now
    assert case_service.history(deployment, case.tracking_number)[-1].note == "finally"


def test_reopen_gets_a_new_due_time(deployment, clock):
    case = intake(deployment)
    clock.advance(days=1)
    case_service.close(deployment, case.tracking_number, Resolution.FIXED)
    clock.now = datetime(2026, 6, 10, 15, 0, tzinfo=CHICAGO)
    reopened = case_service.reopen(deployment, case.tracking_number, actor="sup", reason="cart still full")
    assert reopened.status is Status.REOPENED
    assert reopened.resolution is None and reopened.closed_at is None and reopened.on_time is None
    assert reopened.due_at == datetime(2026, 6, 12, 15, 0, tzinfo=CHICAGO)  # 2 business days from the reopening
    assert reopened.opened_at == case.opened_at
    last = case_service.history(deployment, case.tracking_number)[-1]
    assert last.kind == "reopened" and last.note == "cart still full" and last.actor == "sup"
    assert last.changes["status"] == ["closed", "reopened"]
    assert last.changes["resolution"] == ["fixed", None]
    assert datetime.fromisoformat(last.changes["due_at"][1]) == reopened.due_at
    # and it can be worked and closed again
    case_service.change_status(deployment, case.tracking_number, Status.IN_PROGRESS)
    assert case_service.close(deployment, case.tracking_number, Resolution.FIXED).on_time is True


def test_reopen_an_open_case_is_refused(deployment, clock):
    case = intake(deployment)
    refused(deployment, case, lambda: case_service.reopen(deployment, case.tracking_number, reason="x"),
            "from new to reopened")


def test_merge_a_duplicate(deployment, clock):
    target = intake(deployment)
    duplicate = intake(deployment, channel="web")
    clock.advance(hours=3)
    merged = case_service.merge(deployment, duplicate.tracking_number, target.tracking_number, actor="sup")
    assert merged.status is Status.CLOSED
    assert merged.resolution is Resolution.DUPLICATE
    assert merged.duplicate_of == target.tracking_number
    assert merged.closed_at == clock.now
    assert case_service.get(deployment, duplicate.tracking_number) == merged

    kept = case_service.get(deployment, target.tracking_number)
    assert kept.is_open and kept.status is Status.NEW and kept.duplicate_of is None
    target_events = case_service.history(deployment, target.tracking_number)
    assert target_events[-1].kind == "note"
    assert duplicate.tracking_number in target_events[-1].note
    assert target_events[-1].actor == "sup"
    dup_events = case_service.history(deployment, duplicate.tracking_number)
    assert dup_events[-1].kind == "merged"
    assert dup_events[-1].changes["duplicate_of"] == [None, target.tracking_number]
    assert dup_events[-1].changes["resolution"] == [None, "duplicate"]


def test_merge_refusals_change_nothing(deployment, clock):
    target = intake(deployment)
    duplicate = intake(deployment)
    refused(deployment, duplicate, lambda: case_service.merge(deployment, duplicate.tracking_number,
                                                              duplicate.tracking_number), "into itself")
    refused(deployment, duplicate, lambda: case_service.merge(deployment, duplicate.tracking_number, "KC-2026-999999"),
            "KC-2026-999999", "not found")

    case_service.close(deployment, target.tracking_number, Resolution.FIXED)
    message = refused(deployment, duplicate, lambda: case_service.merge(
        deployment, duplicate.tracking_number, target.tracking_number), target.tracking_number, "closed")
    assert "cannot merge into it" in message

    case_service.reopen(deployment, target.tracking_number, reason="not fixed after all")
    case_service.close(deployment, duplicate.tracking_number, Resolution.FIXED)
    target_events = len(case_service.history(deployment, target.tracking_number))
    refused(deployment, duplicate, lambda: case_service.merge(deployment, duplicate.tracking_number,
                                                              target.tracking_number), "already closed")
    assert len(case_service.history(deployment, target.tracking_number)) == target_events


# --- hooks ------------------------------------------------------------------------


def test_case_created_hook_gets_a_domain_case(deployment, clock):
    seen = []

    class Recorder:
        @hookimpl
        def case_created(self, case, event):
            seen.append((case, event))

    deployment.pm.register(Recorder(), name="test-recorder")
    try:
        case = intake(deployment)
    finally:
        deployment.pm.unregister(name="test-recorder")
    [(hooked, event)] = seen
    assert type(hooked) is Case
    assert hooked == case
    assert hooked.origin == "intake"
    assert isinstance(event, CaseEvent) and event.kind == "created" and event.origin == "intake"
    intake(deployment)
    assert len(seen) == 1  # unregistered


def test_case_closed_hook_sees_the_committed_case(deployment, clock):
    found = []

    class Reader:
        @hookimpl
        def case_closed(self, case, event):
            found.append(case_service.get(deployment, case.tracking_number).status)

    case = intake(deployment)
    deployment.pm.register(Reader(), name="test-reader")
    try:
        case_service.close(deployment, case.tracking_number, Resolution.FIXED)
    finally:
        deployment.pm.unregister(name="test-reader")
    assert found == [Status.CLOSED]


def test_failing_hook_never_loses_the_case(deployment, clock):
    class Broken:
        @hookimpl
        def case_created(self, case, event):
            raise RuntimeError("work-order system down")

    deployment.pm.register(Broken(), name="test-broken")
    try:
        case = intake(deployment)
    finally:
        deployment.pm.unregister(name="test-broken")
    events = case_service.history(deployment, case.tracking_number)
    assert [e.kind for e in events] == ["created", "hook_failed"]
    assert "work-order system down" in events[1].note
    assert events[1].changes["plugin"] == "test-broken"



def test_concurrent_closes_of_one_case_close_it_once(deployment, clock, monkeypatch):
    """Two people close the same case at once: one wins, the other is told it is already closed."""
    case = intake(deployment)
    both_read = threading.Barrier(2, timeout=2)
    real_get_case_row = repo.get_case_row

    def get_case_row_then_wait(**kwargs):
        row = real_get_case_row(**kwargs)
        if kwargs.get("for_update"):
            try:
                both_read.wait()  # on a database that locks the row, the second reader never gets here
            except threading.BrokenBarrierError:
                pass
        return row

    monkeypatch.setattr(repo, "get_case_row", get_case_row_then_wait)
    outcomes = []

    def close():
        try:
            case_service.close(deployment, case.tracking_number, Resolution.FIXED)
            outcomes.append("closed")
        except CivicError as exc:
            outcomes.append(str(exc))

    pool = [threading.Thread(target=close) for _ in range(2)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert outcomes.count("closed") == 1, outcomes
    assert any("already closed" in o for o in outcomes), outcomes
    assert [e.kind for e in case_service.history(deployment, case.tracking_number)] == ["created", "closed"]
