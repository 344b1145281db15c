"""The case lifecycle in the domain: pure transitions return the evolved case and its changes, refuse
illegal moves with CivicError, and move the SLA clock (pause, resume, verdict, restart)."""

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from civiccrm.domain import lifecycle
from civiccrm.domain.cases import Case, Location, Resolution, Status
from civiccrm.domain.taxonomy import ServiceType
from civiccrm.errors import CivicError

OPENED = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
POTHOLE = ServiceType(code="pothole", name="Pothole", category="Streets", type=None, detail=None,
                      department="public-works", work_group=None, sla_target=3.0, sla_basis="calendar_days",
                      sla_source="profile", calendar=None)
SIGN = attrs.evolve(POTHOLE, code="sign", name="Street sign", sla_target=10.0)


@attrs.frozen
class CalendarDays:
    """SLA rules of a city with calendar-day targets, 3 days for potholes and 10 for signs; a first
    response is due within a day; on hold and waiting pause the clock."""

    warning: timedelta = timedelta(hours=24)

    def service_type(self, code):
        return {"pothole": POTHOLE, "sign": SIGN}.get(code)

    def due_at(self, service_type, opened_at, *, clock_from, paused_seconds):
        return (clock_from or opened_at) + timedelta(days=service_type.sla_target, seconds=paused_seconds)

    def response_due_at(self, service_type, opened_at):
        return opened_at + timedelta(days=1) if service_type.code == "sign" else None

    def pause_statuses(self, service_type, clock_start):
        return frozenset({"on_hold", "waiting"})

    def paused_counted(self, service_type, clock_start, start, end):
        return (end - start).total_seconds()


RULES = CalendarDays()


def case(**changes) -> Case:
    values = dict(id=1, tracking_number="KC-2026-000001", service_code="pothole", request_type="Pothole",
                  category="Streets", department="public-works", work_group=None, channel="phone",
                  description="Deep one", location=Location(), status=Status.NEW, opened_at=OPENED,
                  updated_at=OPENED, due_at=OPENED + timedelta(days=3))
    values.update(changes)
    return Case(**values)


def at(hours: float) -> datetime:
    return OPENED + timedelta(hours=hours)


def test_a_pause_pushes_the_due_time_back_and_the_verdict_counts_it_out():
    new = case()
    held, changes = lifecycle.change_status(new, Status.ON_HOLD, now=at(24), rules=RULES)
    assert new.status is Status.NEW and new.sla_paused_at is None  # the input is untouched
    assert (held.status, held.sla_paused_at, held.responded_at) == (Status.ON_HOLD, at(24), at(24))
    assert changes == {"status": ["new", "on_hold"], "responded_at": [None, at(24).isoformat()],
                       "sla_paused_at": [None, at(24).isoformat()]}

    resumed, changes = lifecycle.change_status(held, Status.IN_PROGRESS, now=at(72), rules=RULES)
    assert resumed.sla_paused_at is None and resumed.sla_paused_seconds == 48 * 3600
    assert resumed.due_at == OPENED + timedelta(days=5)
    assert changes["due_at"] == [(OPENED + timedelta(days=3)).isoformat(), (OPENED + timedelta(days=5)).isoformat()]
    assert "responded_at" not in changes  # only the first response counts

    closed, changes = lifecycle.close(resumed, Resolution.FIXED, now=at(100), rules=RULES)
    assert (closed.status, closed.resolution, closed.closed_at) == (Status.CLOSED, Resolution.FIXED, at(100))
    assert closed.on_time is True and closed.days_to_close == pytest.approx(100 / 24)
    assert changes == {"status": ["in_progress", "closed"], "resolution": [None, "fixed"], "on_time": [None, True]}


def test_closing_while_paused_ends_the_pause_first():
    held, _ = lifecycle.change_status(case(), Status.WAITING, now=at(1), rules=RULES)
    closed, changes = lifecycle.close(held, Resolution.FIXED, now=at(97), rules=RULES)
    assert closed.sla_paused_seconds == 96 * 3600 and closed.due_at == OPENED + timedelta(days=7)
    assert closed.on_time is True and changes["sla_paused_at"] == [at(1).isoformat(), None]


def test_late_is_late():
    closed, _ = lifecycle.close(case(), Resolution.FIXED, now=at(73), rules=RULES)
    assert closed.on_time is False


@pytest.mark.parametrize("move, message", [
    (lambda c: lifecycle.change_status(c, Status.OPEN, now=at(1), rules=RULES),
     "cannot change status from closed to open; from closed a case may go to reopened"),
    (lambda c: lifecycle.close(c, Resolution.FIXED, now=at(1), rules=RULES), "it is already closed"),
    (lambda c: lifecycle.assign(c, department="parks", work_group=None), "cannot assign it: it is closed (fixed)"),
    (lambda c: lifecycle.change_type(c, SIGN, now=at(1), rules=RULES), "cannot update it: it is closed"),
    (lambda c: lifecycle.merge(case(tracking_number="KC-2026-000002"), c, now=at(1), rules=RULES),
     "case KC-2026-000001: cannot merge into it: it is closed (fixed); reopen it first"),
])
def test_illegal_moves_of_a_closed_case_are_refused(move, message):
    closed = case(status=Status.CLOSED, resolution=Resolution.FIXED, closed_at=at(1))
    with pytest.raises(CivicError) as caught:
        move(closed)
    assert message in str(caught.value)


@pytest.mark.parametrize("move, message", [
    (lambda c: lifecycle.change_status(c, Status.NEW, now=at(1), rules=RULES), "it is already new"),
    (lambda c: lifecycle.change_status(c, Status.CLOSED, now=at(1), rules=RULES), "use close with a resolution"),
    (lambda c: lifecycle.change_status(c, Status.REOPENED, now=at(1), rules=RULES), "use reopen"),
    (lambda c: lifecycle.close(c, None, now=at(1), rules=RULES), "closing needs a resolution"),
    (lambda c: lifecycle.close(c, Resolution.FIXED, now=at(-1), rules=RULES), "is before it was opened"),
    (lambda c: lifecycle.reopen(c, now=at(1), rules=RULES), "cannot change status from new to reopened"),
    (lambda c: lifecycle.assign(c, department="public-works", work_group=None), "already assigned"),
    (lambda c: lifecycle.update(c, now=at(1), rules=RULES, description="Deep one"), "nothing to update"),
    (lambda c: lifecycle.merge(c, c, now=at(1), rules=RULES), "cannot merge a case into itself"),
])
def test_illegal_moves_of_an_open_case_are_refused(move, message):
    with pytest.raises(CivicError, match=message):
        move(case())


def test_reopen_restarts_the_clock():
    closed, _ = lifecycle.close(case(sla_level=2), Resolution.FIXED, now=at(100), rules=RULES)
    reopened, changes = lifecycle.reopen(closed, now=at(200), rules=RULES)
    assert (reopened.status, reopened.resolution, reopened.closed_at, reopened.on_time) == (
        Status.REOPENED, None, None, None)
    assert reopened.days_to_close is None and reopened.sla_clock_from == at(200) and reopened.sla_level == 0
    assert reopened.due_at == at(200) + timedelta(days=3)
    assert changes["sla_level"] == ["breached", None] and changes["closed_at"] == [at(100).isoformat(), None]


def test_merge_closes_as_a_duplicate():
    target = case(tracking_number="KC-2026-000002")
    merged, changes = lifecycle.merge(case(), target, now=at(5), rules=RULES)
    assert (merged.resolution, merged.duplicate_of) == (Resolution.DUPLICATE, "KC-2026-000002")
    assert changes["duplicate_of"] == [None, "KC-2026-000002"] and changes["resolution"] == [None, "duplicate"]


def test_a_new_type_moves_the_due_times_and_lifts_a_response_breach_not_yet_due():
    breached = case(service_code="pothole", sla_level=1, sla_response_level=2)
    moved, changes = lifecycle.change_type(breached, SIGN, now=at(2), rules=RULES)
    assert (moved.service_code, moved.request_type) == ("sign", "Street sign")
    assert moved.due_at == OPENED + timedelta(days=10) and moved.sla_level == 0
    assert moved.response_due_at == OPENED + timedelta(days=1) and moved.sla_response_level == 0
    assert changes["sla_level"] == ["warning", None] and changes["response_level"] == ["breached", None]


def test_update_records_each_location_field_that_changed():
    moved, changes = lifecycle.update(case(location=Location(address="1 Main")), now=at(1), rules=RULES,
                                      location=Location(address="2 Main", zip_code="64106"))
    assert moved.location.address == "2 Main"
    assert changes == {"address": ["1 Main", "2 Main"], "zip_code": [None, "64106"]}


def test_the_import_and_close_share_the_closing_rules():
    assert lifecycle.days_between(OPENED, at(36)) == 1.5
    assert lifecycle.on_time(at(1), at(1)) is True and lifecycle.on_time(at(2), at(1)) is False
    assert lifecycle.on_time(None, at(1)) is None and lifecycle.on_time(at(1), None) is None


def test_services_save_what_the_transition_evolved_and_hooks_see_the_clock(sqlite_deployment):
    from civiccrm import hookimpl
    from civiccrm.domain.cases import CaseDraft
    from civiccrm.services import cases

    seen = []

    class Witness:
        @hookimpl
        def case_closed(self, case):
            seen.append(case)

    opened = cases.intake(sqlite_deployment, CaseDraft(service_code="trash-missed-by-city", description="Missed",
                                                       channel="phone"))
    held = cases.change_status(sqlite_deployment, opened.tracking_number, Status.ON_HOLD)
    assert held.sla_paused_at is not None and held.responded_at == held.sla_paused_at
    sqlite_deployment.pm.register(Witness(), name="test-witness-clock")
    try:
        closed = cases.close(sqlite_deployment, opened.tracking_number, Resolution.FIXED)
    finally:
        sqlite_deployment.pm.unregister(name="test-witness-clock")
    [given] = seen
    assert given == closed == cases.get(sqlite_deployment, opened.tracking_number)
    assert given.sla_paused_at is None and given.days_to_close is not None and given.on_time is True
