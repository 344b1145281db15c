"""Pure domain rules: the case lifecycle, locations, aware datetimes and calendar maths."""

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from civiccrm.domain.calendar import BusinessCalendar, HolidaySet, add_calendar_days
from civiccrm.domain.cases import (
    TRANSITIONS,
    Case,
    CaseDraft,
    CaseEvent,
    Customer,
    Location,
    Resolution,
    Status,
    check_transition,
    parse_resolution,
    parse_status,
)
from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile

CHICAGO = ZoneInfo("America/Chicago")


def chicago(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def weekday_calendar(**kwargs) -> BusinessCalendar:
    """Monday to Friday 08:00-17:00 in Chicago, US federal holidays."""
    day = ((time(8), time(17)),)
    return BusinessCalendar(
        code="office", name="Office", timezone="America/Chicago",
        hours=(day, day, day, day, day, (), ()), holidays=HolidaySet(country="US"), **kwargs,
    )


# --- statuses and transitions -------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("in progress", Status.IN_PROGRESS), ("In-Progress", Status.IN_PROGRESS),
    ("in_progress", Status.IN_PROGRESS), (" ON HOLD ", Status.ON_HOLD), ("new", Status.NEW),
])
def test_parse_status_accepts_spellings(text, expected):
    assert parse_status(text) is expected


def test_parse_status_unknown_lists_choices():
    with pytest.raises(CivicError, match="unknown status 'done'.*expected one of new, open, in_progress"):
        parse_status("done")


def test_parse_resolution():
    assert parse_resolution("Not City") is Resolution.NOT_CITY
    assert parse_resolution("no-action") is Resolution.NO_ACTION
    with pytest.raises(CivicError, match="unknown resolution 'solved'.*fixed"):
        parse_resolution("solved")


@pytest.mark.parametrize("path", [
    [Status.NEW, Status.OPEN, Status.IN_PROGRESS, Status.ON_HOLD, Status.IN_PROGRESS, Status.CLOSED,
     Status.REOPENED, Status.ON_HOLD, Status.OPEN, Status.CLOSED],
    [Status.NEW, Status.CLOSED],
])
def test_lifecycle_paths_are_legal(path):
    for current, target in zip(path, path[1:]):
        check_transition("KC-2026-000001", current, target)


@pytest.mark.parametrize("current, target", [
    (Status.CLOSED, Status.IN_PROGRESS), (Status.CLOSED, Status.OPEN), (Status.CLOSED, Status.NEW),
    (Status.NEW, Status.REOPENED), (Status.IN_PROGRESS, Status.NEW), (Status.REOPENED, Status.NEW),
])
def test_illegal_transitions_say_what_and_why(current, target):
    with pytest.raises(CivicError) as info:
        check_transition("KC-2026-000007", current, target)
    message = str(info.value)
    assert "KC-2026-000007" in message
    assert f"from {current.value} to {target.value}" in message
    assert "may go to" in message


# The whole lifecycle as a table: row = from, columns = to (y: allowed).
LIFECYCLE = """
             new  open  in_progress  on_hold  waiting  closed  reopened
new          -    y     y            y        y        y       .
open         .    -     y            y        y        y       .
in_progress  .    y     -            y        y        y       .
on_hold      .    y     y            -        y        y       .
waiting      .    y     y            .        -        y       .
closed       .    .     .            .        .        -       y
reopened     .    .     y            y        y        y       -
"""


def _lifecycle_table():
    lines = [line.split() for line in LIFECYCLE.strip().splitlines()]
    header = lines[0]
    return {(row[0], header[i]): mark for row in lines[1:] for i, mark in enumerate(row[1:])}


def test_the_transition_table_covers_every_status():
    table = _lifecycle_table()
    assert {a for a, _ in table} == {s.value for s in Status} == {b for _, b in table}


@pytest.mark.parametrize("current, target", sorted(_lifecycle_table()))
def test_transition_table(current, target):
    mark = _lifecycle_table()[(current, target)]
    allowed = Status(target) in TRANSITIONS[Status(current)]
    assert allowed == (mark == "y"), f"{current} -> {target}: table says {mark}"
    if mark == "y":
        check_transition("KC-2026-000001", Status(current), Status(target))
    else:
        with pytest.raises(CivicError):
            check_transition("KC-2026-000001", Status(current), Status(target))


@pytest.mark.parametrize("text", ["waiting", "Waiting", "waiting for resident", "Waiting for the resident",
                                  "waiting-for-resident", "waiting_for_resident", " waiting  for  resident "])
def test_waiting_for_the_resident_is_parsed(text):
    assert parse_status(text) is Status.WAITING


def test_waiting_is_an_open_status_that_pauses_by_default():
    from civiccrm.domain.cases import OPEN_STATUSES
    from civiccrm.domain.sla import DEFAULT_PAUSE_STATUSES

    assert Status.WAITING in OPEN_STATUSES
    assert {"on_hold", "waiting"} <= DEFAULT_PAUSE_STATUSES


@pytest.mark.parametrize("status", list(Status))
def test_same_status_is_refused(status):
    with pytest.raises(CivicError, match=f"already {status.value}"):
        check_transition("KC-2026-000001", status, status)


def test_closed_case_can_only_be_reopened():
    assert TRANSITIONS[Status.CLOSED] == {Status.REOPENED}
    assert all(Status.CLOSED in TRANSITIONS[s] for s in Status if s is not Status.CLOSED)


# --- locations and customers --------------------------------------------------


def test_latitude_without_longitude_is_refused():
    with pytest.raises(CivicError, match="latitude and longitude go together"):
        Location(latitude=39.1)
    with pytest.raises(CivicError, match="latitude and longitude go together"):
        Location(longitude=-94.6)


@pytest.mark.parametrize("lat, long", [(91, -94.6), (-90.5, 0), (39.1, 181), (39.1, -180.01)])
def test_coordinates_out_of_range(lat, long):
    with pytest.raises(CivicError, match="not between"):
        Location(latitude=lat, longitude=long)


def test_location_converts_coordinates_to_float():
    where = Location(latitude="39.102738", longitude="-94.600134")
    assert where.latitude == pytest.approx(39.102738) and where.has_point
    assert not Location(address="414 E 12th St").has_point


def test_customer_is_empty_without_contact_details():
    assert Customer().is_empty
    assert Customer(name="", email=None).is_empty
    assert not Customer(phone="816-513-1313").is_empty


# --- timezone-aware datetimes ------------------------------------------------


def _case(**overrides):
    now = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    fields = dict(
        id=1, tracking_number="KC-2026-000001", service_code="x", request_type="X", category=None,
        department="d", work_group=None, channel="phone", description="d", location=Location(),
        status=Status.NEW, opened_at=now, updated_at=now,
    )
    fields.update(overrides)
    return Case(**fields)


@pytest.mark.parametrize("field", ["opened_at", "updated_at", "due_at", "closed_at"])
def test_case_refuses_naive_datetimes(field):
    with pytest.raises((ValueError, CivicError), match=field):
        _case(**{field: datetime(2026, 6, 1, 12)})


def test_case_accepts_aware_datetimes_in_any_zone():
    case = _case(due_at=chicago(2026, 6, 5, 12), closed_at=None)
    assert case.due_at.utcoffset() == timedelta(hours=-5)
    assert case.is_open and not case.is_import


def test_draft_and_event_refuse_naive_datetimes():
    with pytest.raises((ValueError, CivicError), match="opened_at"):
        CaseDraft(service_code="x", description="d", channel="phone", opened_at=datetime(2026, 1, 1))
    with pytest.raises((ValueError, CivicError), match="at"):
        CaseEvent(kind="note", at=datetime(2026, 1, 1), actor="me")
    assert CaseDraft(service_code="x", description="d", channel="phone").opened_at is None


# --- calendar maths ----------------------------------------------------------


def test_calendar_days_keep_wall_clock_across_spring_forward():
    start = chicago(2026, 3, 7, 9, 30)
    due = add_calendar_days(start, 1, CHICAGO)
    assert due.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 3, 8, 9, 30)
    assert due.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(hours=23)


def test_calendar_days_keep_wall_clock_across_fall_back():
    start = chicago(2026, 10, 30, 9, 30)
    due = add_calendar_days(start, 3, CHICAGO)
    assert due.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 11, 2, 9, 30)
    assert due.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(days=3, hours=1)


def test_calendar_days_keep_the_input_zone():
    start = datetime(2026, 3, 7, 15, 30, tzinfo=timezone.utc)  # 09:30 CST
    due = add_calendar_days(start, 2, CHICAGO)
    assert due.tzinfo is timezone.utc
    assert due == datetime(2026, 3, 9, 14, 30, tzinfo=timezone.utc)  # 09:30 CDT


def test_business_hours_skip_weekend_and_observed_holiday():
    calendar = weekday_calendar()
    # Thursday 2 July 2026, 16:00: one hour left that day; Friday 3 July is the observed
    # Independence Day, 4-5 July the weekend.
    due = calendar.add_business_hours(chicago(2026, 7, 2, 16), 2)
    assert due == chicago(2026, 7, 6, 9)


def test_business_hours_from_outside_opening_hours():
    calendar = weekday_calendar()
    assert calendar.add_business_hours(chicago(2026, 6, 13, 11), 3) == chicago(2026, 6, 15, 11)  # Saturday
    assert calendar.add_business_hours(chicago(2026, 6, 15, 6), 1) == chicago(2026, 6, 15, 9)  # before opening
    assert calendar.add_business_hours(chicago(2026, 6, 15, 16), 9) == chicago(2026, 6, 16, 16)


def test_business_hours_with_split_day_and_closure():
    day = ((time(8), time(12)), (time(13), time(17)))
    calendar = BusinessCalendar(
        code="c", name="C", timezone="America/Chicago", hours=(day,) * 5 + ((), ()),
        closures=frozenset({datetime(2026, 6, 16).date()}),
    )
    # Monday 11:00 + 2h: 1h before lunch, 1h after.
    assert calendar.add_business_hours(chicago(2026, 6, 15, 11), 2) == chicago(2026, 6, 15, 14)
    # Monday 16:00 + 2h: 1h Monday, Tuesday closed, 1h Wednesday.
    assert calendar.add_business_hours(chicago(2026, 6, 15, 16), 2) == chicago(2026, 6, 17, 9)


def test_business_hours_across_spring_forward():
    weekend = ((time(8), time(17)),)
    calendar = BusinessCalendar(code="c", name="C", timezone="America/Chicago", hours=(weekend,) * 7)
    due = calendar.add_business_hours(chicago(2026, 3, 7, 16), 2)
    assert due.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 3, 8, 9)


def test_business_days_skip_thanksgiving():
    calendar = weekday_calendar()
    # Wednesday 25 November 2026; Thursday 26 is Thanksgiving.
    assert calendar.add_business_days(chicago(2026, 11, 25, 10), 1) == chicago(2026, 11, 27, 10)
    assert calendar.add_business_days(chicago(2026, 11, 25, 10), 2) == chicago(2026, 11, 30, 10)
    assert calendar.is_holiday(datetime(2026, 11, 26).date())
    assert not calendar.is_holiday(datetime(2026, 11, 27).date())


def test_business_days_skip_weekend_and_keep_local_time_across_dst():
    calendar = weekday_calendar()
    # Friday 6 March 2026 (CST) + 1 business day = Monday 9 March (CDT), same wall clock.
    due = calendar.add_business_days(chicago(2026, 3, 6, 10), 1)
    assert due.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 3, 9, 10)


def test_kansas_city_action_center_works_weekends_but_not_holidays():
    profile = load_profile(Path(__file__).resolve().parents[1] / "cities" / "kansas_city")
    calendar = profile.calendar_for(None)
    assert calendar.intervals_on(datetime(2026, 7, 4).date()) == ()
    assert calendar.intervals_on(datetime(2026, 7, 5).date()) == ((time(8), time(17)),)
    # Saturday 4 July is a holiday, Sunday opens at 08:00.
    assert calendar.add_business_hours(chicago(2026, 7, 3, 19), 1) == chicago(2026, 7, 5, 9)
