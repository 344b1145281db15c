"""SLA calendar maths: table-driven cases (DST, holidays, after hours, weekends, split days,
pauses, version boundaries) and properties checked with hypothesis."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.domain import sla
from civiccrm.domain.calendar import BusinessCalendar, HolidaySet, add_calendar_days
from civiccrm.domain.sla import ClockStart, PolicyBook, SlaPolicy
from civiccrm.errors import CivicError

CHICAGO = ZoneInfo("America/Chicago")
US = HolidaySet(country="US")


def hours(*spans):
    return tuple((time.fromisoformat(a), time.max if b == "24:00" else time.fromisoformat(b)) for a, b in spans)


KC = BusinessCalendar(  # the 311 Action Center: weekdays 7-20, weekends 8-17, US federal holidays
    code="action-center", name="311", timezone="America/Chicago",
    hours=(hours(("07:00", "20:00")),) * 5 + (hours(("08:00", "17:00")),) * 2, holidays=US,
)
SPLIT = BusinessCalendar(  # a crew: two shifts a weekday, closed at weekends and on holidays
    code="crew", name="Crew", timezone="America/Chicago",
    hours=(hours(("08:00", "12:00"), ("13:00", "17:00")),) * 5 + ((), ()), holidays=US,
    closures=frozenset({date(2026, 2, 11)}),
)
ALWAYS = BusinessCalendar(
    code="always", name="24x7", timezone="America/Chicago", hours=(hours(("00:00", "24:00")),) * 7,
)
CALENDARS = {c.code: c for c in (KC, SPLIT, ALWAYS)}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


BUSINESS_HOURS = [
    # (calendar, start (local), hours, expected due (local), what it shows)
    ("always", "2026-03-07T12:00", 24, "2026-03-08T13:00", "spring forward: a 23-hour day"),
    ("always", "2026-10-31T12:00", 24, "2026-11-01T11:00", "fall back: a 25-hour day"),
    ("action-center", "2026-03-07T16:00", 2, "2026-03-08T09:00", "Saturday close, Sunday opening after the clocks go forward"),
    ("action-center", "2026-07-02T19:00", 2, "2026-07-05T09:00", "Independence Day observed (Fri) and the day itself (Sat)"),
    ("action-center", "2026-02-02T22:00", 1, "2026-02-03T08:00", "opened after hours: counts from the next opening"),
    ("action-center", "2026-02-03T05:00", 13, "2026-02-03T20:00", "opened before opening: a whole day"),
    ("crew", "2026-02-06T16:00", 3, "2026-02-09T10:00", "weekend skipped"),
    ("crew", "2026-02-09T11:00", 2, "2026-02-09T14:00", "lunch break between two intervals"),
    ("crew", "2026-02-09T10:00", 2, "2026-02-09T12:00", "due exactly at an interval's end, not the next start"),
    ("crew", "2026-02-10T16:00", 2, "2026-02-12T09:00", "a local closure (storm day)"),
    ("crew", "2026-11-25T10:00", 8, "2026-11-27T10:00", "Thanksgiving"),
    ("crew", "2026-12-31T16:30", 1, "2027-01-04T08:30", "New Year's Day, then a weekend, across a year end"),
]


@pytest.mark.parametrize("code, start, amount, expected, why", BUSINESS_HOURS, ids=[r[4] for r in BUSINESS_HOURS])
def test_business_hours(code, start, amount, expected, why):
    due = CALENDARS[code].add_business_hours(local(start), amount)
    assert due == local(expected), why
    assert due.tzinfo is CHICAGO


BUSINESS_DAYS = [
    ("crew", "2026-11-25T10:00", 1, "2026-11-27T10:00", "Thanksgiving is not a working day"),
    ("crew", "2026-02-06T15:00", 1, "2026-02-09T15:00", "Friday + 1 working day = Monday"),
    ("crew", "2026-03-06T09:00", 1, "2026-03-09T09:00", "same wall-clock time across spring forward"),
    ("action-center", "2026-07-02T10:00", 1, "2026-07-05T10:00", "weekends count at the call centre; holidays do not"),
]


@pytest.mark.parametrize("code, start, amount, expected, why", BUSINESS_DAYS, ids=[r[4] for r in BUSINESS_DAYS])
def test_business_days(code, start, amount, expected, why):
    assert CALENDARS[code].add_business_days(local(start), amount) == local(expected), why


@pytest.mark.parametrize("start, days, expected", [
    ("2026-03-07T12:00", 1, "2026-03-08T12:00"),  # 23 hours later, same wall clock
    ("2026-10-31T12:00", 1, "2026-11-01T12:00"),  # 25 hours later
    ("2026-03-07T02:30", 1, "2026-03-08T03:30"),  # 02:30 does not exist on the 8th: read as zoneinfo does
])
def test_calendar_days_keep_the_wall_clock(start, days, expected):
    assert add_calendar_days(local(start), days, CHICAGO) == local(expected)


def test_elapsed_hours_across_dst():
    start = local("2026-03-07T12:00")
    due = add_calendar_days(start, 1, CHICAGO)
    assert due.timestamp() - start.timestamp() == 23 * 3600


def policy(**kwargs) -> SlaPolicy:
    base = {"service_code": "pothole", "target": 8, "basis": "business_hours", "calendar": "crew"}
    return SlaPolicy(**(base | kwargs))


def test_clock_starts_at_the_next_opening():
    received = local("2026-02-07T10:00")  # a Saturday
    assert sla.due_at(policy(clock_start=ClockStart.NEXT_OPENING, target=4, basis="business_hours"), SPLIT, received) \
        == local("2026-02-09T12:00")
    # Calendar days from the next opening: Monday 08:00 + 1 day.
    assert sla.due_at(policy(clock_start=ClockStart.NEXT_OPENING, target=1, basis="calendar_days"), SPLIT, received) \
        == local("2026-02-10T08:00")
    assert sla.due_at(policy(target=1, basis="calendar_days"), SPLIT, received) == local("2026-02-08T10:00")


def test_a_pause_across_a_holiday_costs_only_open_time():
    p = policy(target=8, basis="business_hours")
    opened = local("2026-11-25T08:00")
    due = sla.due_at(p, SPLIT, opened)
    assert due == local("2026-11-25T17:00")
    paused = sla.paused_counted(p, SPLIT, local("2026-11-25T12:00"), local("2026-11-27T08:00"))
    assert paused == 4 * 3600  # Wednesday afternoon; Thanksgiving and the nights are closed anyway
    assert sla.extend_for_pause(p, SPLIT, due, paused) == local("2026-11-27T12:00")


def test_a_calendar_day_pause_counts_every_second():
    p = policy(target=2, basis="calendar_days")
    paused = sla.paused_counted(p, SPLIT, local("2026-11-25T12:00"), local("2026-11-27T08:00"))
    assert paused == 44 * 3600
    assert sla.extend_for_pause(p, SPLIT, local("2026-11-27T08:00"), paused) == local("2026-11-29T04:00")


BOOK = PolicyBook.build([
    policy(target=84, basis="calendar_days", effective_from=None, source="sla_policies.csv line 2"),
    policy(target=6, basis="calendar_days", effective_from=date(2015, 7, 1), source="sla_policies.csv line 3"),
    SlaPolicy(service_code="late", target=1, basis="calendar_days", calendar="crew",
              effective_from=date(2015, 7, 1), source="sla_policies.csv line 4"),
])


@pytest.mark.parametrize("day, target", [
    (date(2007, 1, 4), 84), (date(2015, 6, 30), 84), (date(2015, 7, 1), 6), (date(2020, 1, 1), 6),
])
def test_version_in_force_by_local_opening_date(day, target):
    assert BOOK.in_force("pothole", day).target == target


def test_no_version_in_force_names_the_line():
    with pytest.raises(CivicError) as info:
        BOOK.in_force("late", date(2015, 6, 30))
    message = str(info.value)
    assert "'late'" in message and "2015-06-30" in message and "2015-07-01" in message
    assert "sla_policies.csv line 4" in message


def test_version_boundary_uses_the_city_date_not_utc():
    """23:30 in Kansas City on 30 June is already 1 July in UTC; the older version applies."""
    from civiccrm.domain.profile import CityProfile
    from civiccrm.profiles import load_profile

    profile: CityProfile = load_profile("cities/kansas_city")
    import attrs

    code = "abandoned-vehicle"
    book = PolicyBook.build([
        SlaPolicy(service_code=code, target=84, basis="calendar_days", calendar="action-center"),
        SlaPolicy(service_code=code, target=6, basis="calendar_days", calendar="action-center",
                  effective_from=date(2015, 7, 1)),
    ])
    profile = attrs.evolve(profile, sla=book)
    st_ = profile.taxonomy.service_types[code]
    late_june = local("2015-06-30T23:30").astimezone(timezone.utc)
    assert late_june.date() == date(2015, 7, 1)
    assert profile.sla_policy(st_, late_june).target == 84
    assert profile.sla_policy(st_, local("2015-07-01T00:00")).target == 6


def test_a_calendar_with_no_opening_hours_is_refused():
    closed = BusinessCalendar(code="never", name="Never", timezone="America/Chicago", hours=((),) * 7)
    with pytest.raises(CivicError, match="never.*no opening hours"):
        closed.add_business_hours(local("2026-01-05T10:00"), 1)


# --- properties --------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 12, 31),
                        timezones=st.just(timezone.utc))
amounts = st.floats(min_value=0.01, max_value=400, allow_nan=False)
calendars = st.sampled_from([KC, SPLIT])


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=instants, amount=amounts)
def test_business_hours_due_never_falls_in_a_closed_period(calendar, start, amount):
    due = calendar.add_business_hours(start, amount)
    assert due > start
    wall = due.astimezone(calendar.tz)
    spans = calendar.intervals_on(wall.date())
    assert any(s < wall.time() <= e for s, e in spans), f"{wall} is outside {spans}"
    assert calendar.open_seconds_between(due - timedelta(seconds=1), due) > 0


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=instants, a=amounts, b=amounts,
       basis=st.sampled_from(["calendar_days", "business_days", "business_hours"]))
def test_a_longer_target_never_gives_an_earlier_due_time(calendar, start, a, b, basis):
    short, long_ = sorted((a, b))
    p = SlaPolicy(service_code="x", target=1, basis=basis, calendar=calendar.code)
    assert sla.add_target(p, calendar, start, short) <= sla.add_target(p, calendar, start, long_)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=instants, target=amounts, pause_from=st.floats(0, 2000), pause_hours=st.floats(0, 2000),
       basis=st.sampled_from(["calendar_days", "business_days", "business_hours"]))
def test_pausing_never_makes_a_case_due_sooner(calendar, start, target, pause_from, pause_hours, basis):
    p = SlaPolicy(service_code="x", target=target, basis=basis, calendar=calendar.code)
    due = sla.due_at(p, calendar, start)
    pause_start = start + timedelta(hours=pause_from)
    paused = sla.paused_counted(p, calendar, pause_start, pause_start + timedelta(hours=pause_hours))
    assert paused >= 0
    assert sla.extend_for_pause(p, calendar, due, paused) >= due


@settings(max_examples=40, deadline=None)
@given(calendar=calendars, starts=st.lists(instants, min_size=1, max_size=30), target=amounts,
       basis=st.sampled_from(["calendar_days", "business_days", "business_hours"]),
       clock=st.sampled_from(ClockStart.ALL))
def test_the_vector_path_agrees_with_one_case_at_a_time(calendar, starts, target, basis, clock):
    p = SlaPolicy(service_code="x", target=target, basis=basis, calendar=calendar.code, clock_start=clock)
    epochs = np.array([s.timestamp() for s in starts])
    vector = sla.due_epochs(p, calendar, epochs, np.zeros(len(starts)))
    for s, v in zip(starts, vector):
        assert abs(sla.due_at(p, calendar, s).timestamp() - v) < 1e-3


# Instants within a few hours of a US clock change (2nd Sunday of March, 1st of November, 2 a.m. local).
near_clock_changes = st.builds(
    lambda year, march, hours: datetime(year, 3 if march else 11, 14 if march else 7, tzinfo=timezone.utc)
    - timedelta(days=(datetime(year, 3 if march else 11, 14 if march else 7).weekday() + 1) % 7) + timedelta(hours=hours),
    st.integers(2008, 2034), st.booleans(), st.floats(0, 16))


@settings(max_examples=60, deadline=None)
@given(calendar=calendars, start=st.one_of(instants, near_clock_changes), amount=amounts, seconds=st.floats(0, 3e6))
def test_the_scalar_path_is_identical_to_the_vector_path(calendar, start, amount, seconds):
    """One case's due time is computed by bisect on lists (no numpy per call); it must be the same float."""
    timeline, e = calendar.timeline, start.timestamp()
    one = np.array([e])
    assert timeline.next_opening1(e) == timeline.next_opening(one)[0]
    assert timeline.add_open_seconds1(e, seconds) == timeline.add_open_seconds(one, seconds)[0]
    assert timeline.add_open_seconds1(e, amount * 3600) == timeline.add_open_seconds(one, amount * 3600)[0]
    assert timeline.add_working_days1(e, amount) == timeline.add_working_days(one, amount)[0]
    assert timeline.counted1(e + seconds) - timeline.counted1(e) == float(np.diff(timeline.counted(np.array([e, e + seconds])))[0])
    from civiccrm.domain.calendar import add_calendar_days_epoch1, add_calendar_days_epochs
    assert add_calendar_days_epoch1(e, amount, calendar.tz) == add_calendar_days_epochs(one, amount, calendar.tz)[0]
    offsets = timeline.offsets
    assert offsets.instant1(e) == offsets.instant(one)[0]
    assert offsets.local1(e) == offsets.local(one)[0]
