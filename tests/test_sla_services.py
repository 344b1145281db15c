"""The SLA engine stored: due times through the case lifecycle, the breach scan, recompute,
policy versions and the comparison, on SQLite and PostgreSQL."""

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from civiccrm import hookimpl
from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Resolution, Status
from civiccrm.errors import CivicError
from civiccrm.metrics import sla as sla_metrics
from civiccrm.services import cases as case_service
from civiccrm.services import sla
from civiccrm.store.tables import CaseEventRow, cases_table

CHICAGO = ZoneInfo("America/Chicago")
TYPE = "abandoned-vehicle"  # 5 calendar days in the test profile (FIXED_SLA_POLICIES), 14 for action-center-escalation


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self):
        return self.now


@pytest.fixture
def clocked(fixed_sla_deployment):
    """The SLA engine's mechanics on time-frames the tests own, not the city's refitted ones."""
    deployment = fixed_sla_deployment
    deployment.clock = Clock(local("2026-11-23T10:00"))  # a Monday
    return deployment


def open_case(deployment, service=TYPE, **kwargs):
    return case_service.intake(deployment, CaseDraft(service_code=service, description="car on the street",
                                                     channel="phone", **kwargs))


def business_hours_policy(deployment, target=8):
    """From today the type is due in ``target`` opening hours of the call centre."""
    return sla.set_policy(deployment, TYPE, target=target, basis="business_hours", actor="test")


def test_due_time_is_stored_at_intake(clocked):
    case = open_case(clocked)
    assert case.due_at == local("2026-11-28T10:00")


def test_pause_and_resume_push_the_due_time_back(clocked):
    case = open_case(clocked)
    clocked.clock.now = local("2026-11-24T10:00")
    paused = case_service.change_status(clocked, case.tracking_number, Status.ON_HOLD)
    assert paused.due_at == case.due_at
    assert sla.state(clocked, case.tracking_number).paused_since == local("2026-11-24T10:00")
    clocked.clock.now = local("2026-11-26T16:00")
    resumed = case_service.change_status(clocked, case.tracking_number, Status.IN_PROGRESS)
    assert resumed.due_at == local("2026-11-30T16:00")  # 54 hours on hold
    state = sla.state(clocked, case.tracking_number)
    assert state.paused_since is None and state.paused_seconds == 54 * 3600
    kinds = [(e.kind, sorted(e.changes)) for e in case_service.history(clocked, case.tracking_number)]
    assert ("status_changed", ["due_at", "sla_paused_at", "sla_paused_seconds", "status"]) in kinds


def test_a_business_hours_pause_over_thanksgiving(clocked):
    business_hours_policy(clocked, target=8)
    case = open_case(clocked)  # Monday 10:00, call centre open 7-20
    assert case.due_at == local("2026-11-23T18:00")
    clocked.clock.now = local("2026-11-23T12:00")
    case_service.change_status(clocked, case.tracking_number, Status.ON_HOLD)
    clocked.clock.now = local("2026-11-27T07:00")  # Wednesday afternoon counts, Thanksgiving does not
    resumed = case_service.change_status(clocked, case.tracking_number, Status.IN_PROGRESS)
    paused = (20 - 12) + 13 + 13  # Mon 12-20, Tue, Wed
    assert sla.state(clocked, case.tracking_number).paused_seconds == paused * 3600
    assert resumed.due_at == local("2026-11-27T13:00")  # 6 hours left, counted from Friday's opening


def test_closing_while_on_hold_ends_the_pause_before_the_verdict(clocked):
    case = open_case(clocked)
    clocked.clock.now = local("2026-11-24T10:00")
    case_service.change_status(clocked, case.tracking_number, Status.ON_HOLD)
    clocked.clock.now = local("2026-12-05T10:00")  # a week past the original due time, all on hold
    closed = case_service.close(clocked, case.tracking_number, Resolution.FIXED)
    assert closed.on_time is True
    assert closed.due_at == local("2026-12-09T10:00")


def test_reopen_restarts_the_clock_and_type_change_recomputes(clocked):
    case = open_case(clocked)
    clocked.clock.now = local("2026-11-24T09:00")
    case_service.close(clocked, case.tracking_number, Resolution.FIXED)
    clocked.clock.now = local("2026-11-25T09:00")
    reopened = case_service.reopen(clocked, case.tracking_number, reason="still there")
    assert reopened.due_at == local("2026-11-30T09:00")
    updated = case_service.update(clocked, case.tracking_number, service_type="action-center-escalation")
    assert updated.due_at == local("2026-12-09T09:00")  # 14 days from the reopening


def test_a_plugin_can_override_the_due_time(clocked):
    class Priority:
        @hookimpl
        def compute_due_at(self, opened_at, service_type, profile):
            if service_type.code == TYPE:
                return opened_at + timedelta(hours=4)
            return None

    clocked.pm.register(Priority(), name="priority-rule")
    try:
        assert open_case(clocked).due_at == local("2026-11-23T14:00")
        assert open_case(clocked, service="action-center-escalation").due_at == local("2026-12-07T10:00")
    finally:
        clocked.pm.unregister(name="priority-rule")


def test_scan_escalates_once_per_level_and_fires_the_hook(clocked):
    calls = []

    class Listener:
        @hookimpl
        def sla_breached(self, case, event):
            calls.append((case.tracking_number, event.changes["sla_level"][1]))

    clocked.pm.register(Listener(), name="listener")
    try:
        case = open_case(clocked)
        running = open_case(clocked)
        held = open_case(clocked)
        case_service.change_status(clocked, held.tracking_number, Status.ON_HOLD)
        assert sla.scan(clocked).warned == ()
        clocked.clock.now = local("2026-11-27T12:00")  # within 24 h of the due time
        first = sla.scan(clocked)
        assert set(first.warned) == {case.tracking_number, running.tracking_number} and first.breached == ()
        assert sla.scan(clocked).warned == ()  # idempotent
        clocked.clock.now = local("2026-11-28T10:00:01")
        case_service.close(clocked, running.tracking_number, Resolution.FIXED)
        second = sla.scan(clocked)
        assert second.breached == (case.tracking_number,) and second.warned == ()
        assert sla.scan(clocked) == sla.ScanResult(warned=(), breached=())
    finally:
        clocked.pm.unregister(name="listener")
    assert calls == [(case.tracking_number, "warning"), (running.tracking_number, "warning"),
                     (case.tracking_number, "breached")]
    events = [e for e in case_service.history(clocked, case.tracking_number) if e.kind == "sla_escalated"]
    assert [e.changes["sla_level"] for e in events] == [[None, "warning"], ["warning", "breached"]]
    assert not [e for e in case_service.history(clocked, held.tracking_number) if e.kind == "sla_escalated"]


def _scan_fixture(deployment):
    """Cases in the order the scan meets them: three due at one instant (a batch boundary can fall
    between equal due times), two due two hours later, and three it must leave alone."""
    same = [open_case(deployment) for _ in range(3)]  # due 2026-11-28 10:00
    held, closed = open_case(deployment), open_case(deployment)
    case_service.change_status(deployment, held.tracking_number, Status.ON_HOLD)
    case_service.close(deployment, closed.tracking_number, Resolution.FIXED)
    deployment.clock.now = local("2026-11-23T12:00")
    later = [open_case(deployment) for _ in range(2)]  # due 2026-11-28 12:00
    deployment.clock.now = local("2026-11-26T10:00")
    far = open_case(deployment)  # due 2026-12-01 10:00: outside the 24-hour warning window
    return [c.tracking_number for c in same], [c.tracking_number for c in later], [held, closed, far]


def _escalations(deployment):
    """Per case: its sla_escalated events (id, level change), its stored level and last_event_id."""
    with deployment.engine.connect() as conn:
        events = conn.execute(select(CaseEventRow.case_id, CaseEventRow.id, CaseEventRow.changes)
                              .where(CaseEventRow.kind == "sla_escalated").order_by(CaseEventRow.id)).all()
        rows = conn.execute(select(cases_table.c.id, cases_table.c.tracking_number, cases_table.c.sla_level,
                                   cases_table.c.last_event_id)).all()
    found = {}
    for case_id, event_id, changes in events:
        found.setdefault(case_id, []).append((event_id, json.loads(changes)["sla_level"]))
    return {number: (level, last, found.get(case_id, [])) for case_id, number, level, last in rows}


@pytest.mark.parametrize("batch_size", [2, 1000])
def test_the_scan_in_batches_writes_one_event_per_level_and_moves_last_event_id(clocked, batch_size):
    calls = []

    class Listener:
        @hookimpl
        def sla_breached(self, case, event):
            calls.append((case.tracking_number, event.id, event.case_id == case.id, event.changes["sla_level"]))

    same, later, untouched = _scan_fixture(clocked)
    clocked.pm.register(Listener(), name="listener")
    try:
        clocked.clock.now = local("2026-11-28T11:00")  # same: past due; later: due within 24 h
        first = sla.scan(clocked, batch_size=batch_size)  # batches of 2: [same 0, 1] [same 2, later 0] [later 1]
        assert first == sla.ScanResult(warned=tuple(later), breached=tuple(same))
        clocked.clock.now = local("2026-11-28T12:00:01")
        assert sla.scan(clocked, batch_size=batch_size) == sla.ScanResult(warned=(), breached=tuple(later))
        assert sla.scan(clocked, batch_size=batch_size) == sla.ScanResult(warned=(), breached=())
    finally:
        clocked.pm.unregister(name="listener")
    stored = _escalations(clocked)
    for number in same:
        level, last, events = stored[number]
        assert level == 2 and [change for _, change in events] == [[None, "breached"]]
        assert last == events[-1][0]  # the case's own new event
    for number in later:
        level, last, events = stored[number]
        assert level == 2 and [change for _, change in events] == [[None, "warning"], ["warning", "breached"]]
        assert last == events[-1][0]
    for case in untouched:
        assert stored[case.tracking_number][2] == [] and stored[case.tracking_number][0] == 0
    # every escalation reached the plugin once, with the id it was stored under
    written = sorted(((e, n, c) for n in [*same, *later] for e, c in stored[n][2]), key=lambda w: w[0])
    assert calls == [(n, e, True, c) for e, n, c in written]


def _refuse_events_of(deployment, case_id: int) -> None:
    """A real refusal by the database: escalation events of one case fail, as a full disk would."""
    with deployment.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON case_events WHEN NEW.case_id = {case_id} "
                                 "AND NEW.kind = 'sla_escalated' BEGIN SELECT RAISE(ABORT, 'no space left'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                 "RAISE EXCEPTION 'no space left'; END $$")
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON case_events FOR EACH ROW WHEN "
                                 f"(NEW.case_id = {case_id} AND NEW.kind = 'sla_escalated') EXECUTE FUNCTION refuse()")


def test_a_scan_stopped_mid_way_leaves_whole_batches_and_a_rerun_finishes(clocked):
    fired = []

    class Listener:
        @hookimpl
        def sla_breached(self, case, event):
            fired.append(case.tracking_number)

    same, later, _ = _scan_fixture(clocked)
    with clocked.engine.connect() as conn:
        refused = conn.execute(select(cases_table.c.id).where(cases_table.c.tracking_number == later[0])).scalar()
    _refuse_events_of(clocked, refused)
    clocked.pm.register(Listener(), name="listener")
    try:
        clocked.clock.now = local("2026-11-28T11:00")
        with pytest.raises(Exception, match="no space left"):
            sla.scan(clocked, batch_size=2)  # the second batch (same 2, later 0) is refused
        stored = _escalations(clocked)
        assert [stored[n][0] for n in [*same, *later]] == [2, 2, 0, 0, 0]  # the first batch whole, nothing of the second
        assert [len(stored[n][2]) for n in [*same, *later]] == [1, 1, 0, 0, 0]
        assert fired == same[:2]  # the committed batch was told to the plugins
        with clocked.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse" + ("" if conn.dialect.name == "sqlite" else " ON case_events"))
        rerun = sla.scan(clocked, batch_size=2)
    finally:
        clocked.pm.unregister(name="listener")
    assert rerun == sla.ScanResult(warned=tuple(later), breached=(same[2],))
    stored = _escalations(clocked)
    assert [[c for _, c in stored[n][2]] for n in [*same, *later]] == \
        [[[None, "breached"]]] * 3 + [[[None, "warning"]]] * 2
    assert all(stored[n][1] == stored[n][2][-1][0] for n in [*same, *later])
    assert fired == [*same, *later]


def test_cli_scan_stopped_by_the_database_says_so_and_a_rerun_finishes(clocked, database_url):
    same, later, (_, _, far) = _scan_fixture(clocked)  # all open ones past due now (the command runs on the real clock)
    with clocked.engine.connect() as conn:
        refused = conn.execute(select(cases_table.c.id).where(cases_table.c.tracking_number == later[0])).scalar()
    _refuse_events_of(clocked, refused)
    runner = CliRunner()
    stopped = runner.invoke(cli, ["--db", database_url, "sla", "scan", "--batch-size", "2"])
    assert stopped.exit_code == 1, stopped.output
    assert "sla scan stopped: the database refused a batch (" in stopped.output and "no space left" in stopped.output
    assert "Traceback" not in stopped.output
    assert [len(_escalations(clocked)[n][2]) for n in same] == [1, 1, 0]
    with clocked.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse" + ("" if conn.dialect.name == "sqlite" else " ON case_events"))
    rerun = runner.invoke(cli, ["--db", database_url, "sla", "scan", "--batch-size", "2", "--json"])
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.output)["breached"] == [same[2], *later, far.tracking_number]
    assert runner.invoke(cli, ["--db", database_url, "sla", "scan", "--batch-size", "0"]).exit_code == 2


def test_the_scan_refuses_a_batch_size_below_one(sqlite_deployment):
    with pytest.raises(ValueError, match="batch_size: 0; expected a positive number"):
        sla.scan(sqlite_deployment, batch_size=0)


def test_a_failing_sla_breached_plugin_is_recorded_not_repeated(clocked):
    class Broken:
        @hookimpl
        def sla_breached(self, case, event):
            raise RuntimeError("pager down")

    clocked.pm.register(Broken(), name="broken-pager")
    try:
        case = open_case(clocked)
        clocked.clock.now = local("2026-12-01T10:00")
        result = sla.scan(clocked)
        assert result.breached == (case.tracking_number,) and result.failed_hooks == 1
        assert sla.scan(clocked).breached == ()
    finally:
        clocked.pm.unregister(name="broken-pager")
    failed = [e for e in case_service.history(clocked, case.tracking_number) if e.kind == "hook_failed"]
    assert len(failed) == 1
    assert (failed[0].changes["plugin"], failed[0].changes["hook"]) == ("broken-pager", "sla_breached")
    assert failed[0].changes["event"]["changes"]["sla_level"] == [None, "breached"]  # kept for a retry


def test_policy_versions_are_added_never_edited(clocked):
    old_case = open_case(clocked)
    with pytest.raises(CivicError, match="in the past"):
        sla.set_policy(clocked, TYPE, target=2, effective_from=local("2026-01-01T00:00").date())
    with pytest.raises(CivicError, match="greater than 0"):
        sla.set_policy(clocked, TYPE, target=0)
    added = business_hours_policy(clocked, target=4)
    assert added.effective_from == local("2026-11-23T00:00").date()
    with pytest.raises(CivicError, match="already has a version"):
        business_hours_policy(clocked, target=5)
    new_case = open_case(clocked)
    assert new_case.due_at == local("2026-11-23T14:00")
    # The old case was opened on the same day, so recompute holds it to the new version too.
    result = sla.recompute(clocked)
    assert (result.examined, result.moved) == (2, 1)
    assert case_service.get(clocked, old_case.tracking_number).due_at == local("2026-11-23T14:00")
    assert sla.recompute(clocked).moved == 0
    # A freshly opened deployment sees the stored version.
    from civiccrm.services.deployment import open_deployment

    again = open_deployment(str(clocked.engine.url.render_as_string(hide_password=False)))
    assert [p.target for p in again.profile.sla.history(TYPE)] == [5.0, 4.0]
    again.engine.dispose()


def test_recompute_after_a_calendar_change_counts_moves(clocked):
    import attrs

    business_hours_policy(clocked, target=20)
    cases = [open_case(clocked) for _ in range(3)]
    assert {c.due_at for c in cases} == {local("2026-11-24T17:00")}  # 10 h Monday, 10 h Tuesday
    profile = clocked.profile
    calendar = profile.calendars["action-center"]
    storm = attrs.evolve(calendar, closures=calendar.closures | {local("2026-11-24T00:00").date()})
    clocked.profile = attrs.evolve(profile, calendars={**profile.calendars, "action-center": storm})
    result = sla.recompute(clocked, batch_size=2)
    assert (result.examined, result.moved) == (3, 3)
    assert result.seconds_moved == 24 * 3600
    assert {case_service.get(clocked, c.tracking_number).due_at for c in cases} == {local("2026-11-25T17:00")}
    assert sla.recompute(clocked, batch_size=2).moved == 0


def test_compare_counts_agreement_by_department(clocked):
    now = clocked.clock()
    rows = []
    for n, (department, on_time, exceeded) in enumerate([
        ("nhs", True, False), ("nhs", False, True), ("nhs", False, False), ("public-works", True, True),
        ("public-works", True, False), ("public-works", None, True),
    ]):
        rows.append({
            "tracking_number": f"KC-T-{n}", "service_code": TYPE, "request_type": "Abandoned Vehicle",
            "department": department, "channel": "phone", "description": "", "status": "closed",
            "opened_at": now, "updated_at": now, "closed_at": now, "on_time": on_time,
            "city_exceeded_timeframe": exceeded, "origin": "import:test",
        })
    with clocked.engine.begin() as conn:
        conn.execute(insert(cases_table), rows)
    total, groups = sla_metrics.compare(clocked)
    assert (total.cases, total.agree) == (5, 3)
    by_name = {g.group: g for g in groups}
    nhs = next(g for name, g in by_name.items() if name.lower().startswith("n"))
    assert (nhs.cases, nhs.agree, nhs.project_late_city_on_time) == (3, 2, 1)
    pw = next(g for g in groups if g is not nhs)
    assert (pw.cases, pw.agree, pw.project_on_time_city_late) == (2, 1, 1)


def test_cli_scan_recompute_compare_and_policy(clocked):
    runner = CliRunner()
    url = clocked.engine.url.render_as_string(hide_password=False)
    case = open_case(clocked)
    clocked.engine.dispose()
    with clocked.engine.begin() as conn:  # make it overdue without waiting
        conn.execute(cases_table.update().values(due_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    result = runner.invoke(cli, ["--db", url, "sla", "scan"])
    assert result.exit_code == 0, result.output
    assert "1 breached" in result.output and case.tracking_number in result.output
    assert "0 warned, 0 breached" in runner.invoke(cli, ["--db", url, "sla", "scan"]).output
    result = runner.invoke(cli, ["--db", url, "sla", "recompute"])
    assert result.exit_code == 0 and "1 cases examined, 1 due dates moved" in result.output
    result = runner.invoke(cli, ["--db", url, "sla", "policy", "set", TYPE, "--target", "-1"])
    assert result.exit_code != 0 and "--target" in result.output and "greater than 0" in result.output
    result = runner.invoke(cli, ["--db", url, "sla", "policy", "show", TYPE])
    assert result.exit_code == 0 and "5 calendar_days on action-center from the beginning" in result.output
    result = runner.invoke(cli, ["--db", url, "sla", "compare"])
    assert result.exit_code == 0 and "no closed case" in result.output
    with clocked.engine.connect() as conn:
        kinds = conn.execute(select(CaseEventRow.kind)).scalars().all()
    assert kinds.count("sla_escalated") == 1


def test_case_show_and_overdue_list_know_about_pauses(clocked):
    runner = CliRunner()
    url = clocked.engine.url.render_as_string(hide_password=False)
    late = open_case(clocked)
    held = open_case(clocked)
    case_service.change_status(clocked, held.tracking_number, Status.ON_HOLD)
    with clocked.engine.begin() as conn:
        conn.execute(cases_table.update().values(due_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    result = runner.invoke(cli, ["--db", url, "case", "list", "--overdue"])
    assert result.exit_code == 0, result.output
    assert late.tracking_number in result.output and held.tracking_number not in result.output
    shown = runner.invoke(cli, ["--db", url, "case", "show", held.tracking_number])
    assert "paused (clock stopped while on hold)" in shown.output
    assert "5 calendar_days on action-center from the beginning" in shown.output
    shown = runner.invoke(cli, ["--db", url, "case", "show", late.tracking_number])
    assert "overdue" in shown.output and "sla_paused_since" not in shown.output


# --- waiting for the resident -----------------------------------------------------------


def test_waiting_for_the_resident_over_thanksgiving_extends_the_due_time(clocked):
    business_hours_policy(clocked, target=8)
    case = open_case(clocked)  # Monday 10:00, due 18:00
    clocked.clock.now = local("2026-11-23T12:00")
    waiting = case_service.change_status(clocked, case.tracking_number, Status.WAITING, note="asked for a photo")
    assert waiting.status is Status.WAITING and waiting.due_at == local("2026-11-23T18:00")
    assert sla.state(clocked, case.tracking_number).paused_since == local("2026-11-23T12:00")
    clocked.clock.now = local("2026-11-25T12:00")  # past the original due time, but the clock is stopped
    assert sla.scan(clocked) == sla.ScanResult(warned=(), breached=())
    clocked.clock.now = local("2026-11-27T07:00")  # the resident answers; Thanksgiving did not count
    resumed = case_service.change_status(clocked, case.tracking_number, Status.IN_PROGRESS)
    assert sla.state(clocked, case.tracking_number).paused_seconds == ((20 - 12) + 13 + 13) * 3600
    assert resumed.due_at == local("2026-11-27T13:00")


def test_waiting_is_open_paused_and_left_out_of_the_overdue_list(clocked):
    runner = CliRunner()
    url = clocked.engine.url.render_as_string(hide_password=False)
    late = open_case(clocked)
    waiting = open_case(clocked)
    clocked.engine.dispose()
    result = runner.invoke(cli, ["--db", url, "case", "update", waiting.tracking_number,
                                "--status", "waiting for resident", "--note", "which house?"])
    assert result.exit_code == 0, result.output
    assert f"{waiting.tracking_number}: waiting" in result.output
    with clocked.engine.begin() as conn:
        conn.execute(cases_table.update().values(due_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    listed = runner.invoke(cli, ["--db", url, "case", "list", "--overdue"])
    assert late.tracking_number in listed.output and waiting.tracking_number not in listed.output
    listed = runner.invoke(cli, ["--db", url, "case", "list", "--status", "waiting"])
    assert waiting.tracking_number in listed.output and late.tracking_number not in listed.output
    shown = runner.invoke(cli, ["--db", url, "case", "show", waiting.tracking_number])
    assert "paused (clock stopped while waiting for the resident)" in shown.output
    scanned = runner.invoke(cli, ["--db", url, "sla", "scan", "--json"])
    assert json.loads(scanned.output)["breached"] == [late.tracking_number]
    # Open311 publishes it as an open request, with the status in words
    from civiccrm.web import create_app

    client = create_app({"TESTING": True}, deployment=clocked).test_client()
    body = client.get(f"/open311/v2/requests/{waiting.tracking_number}.json").get_json()
    assert body[0]["status"] == "open" and body[0]["status_notes"] == "Waiting for the resident"
    updates = client.get("/open311/v2/servicerequestupdates.json").get_json()
    mine = [u for u in updates if u["service_request_id"] == waiting.tracking_number]
    assert mine and all(u["status"] == "open" for u in mine)
    # and the backlog counts it as open
    from civiccrm.store.tables import CaseRow

    with clocked.session() as s:
        statuses = dict(s.execute(select(CaseRow.tracking_number, CaseRow.status)).all())
    assert statuses[waiting.tracking_number] == "waiting"


# --- first response -------------------------------------------------------------------------


def test_scan_escalates_a_missing_first_response_once(clocked):
    calls = []

    class Listener:
        @hookimpl
        def sla_breached(self, case, event):
            calls.append((case.tracking_number, dict(event.changes)))

    sla.set_policy(clocked, TYPE, target=40, basis="business_hours", first_response=2, actor="test")
    clocked.pm.register(Listener(), name="listener")
    try:
        silent = open_case(clocked)  # Monday 10:00: a first response is due by 12:00
        answered = open_case(clocked)
        closed = open_case(clocked)
        assert silent.due_at == local("2026-11-27T11:00")  # 40 opening hours, Thanksgiving skipped
        assert sla.state(clocked, silent.tracking_number).response_due_at == local("2026-11-23T12:00")
        clocked.clock.now = local("2026-11-23T11:00")
        case_service.change_status(clocked, answered.tracking_number, Status.OPEN)
        case_service.close(clocked, closed.tracking_number, Resolution.NOT_CITY)
        assert sla.state(clocked, answered.tracking_number).responded_at == local("2026-11-23T11:00")
        assert sla.state(clocked, closed.tracking_number).responded_at == local("2026-11-23T11:00")
        assert sla.scan(clocked).response_breached == ()
        clocked.clock.now = local("2026-11-23T12:00:01")
        first = sla.scan(clocked)
        assert first.response_breached == (silent.tracking_number,)
        assert first.warned == () and first.breached == ()
        assert sla.scan(clocked).response_breached == ()  # idempotent
        assert sla.state(clocked, silent.tracking_number).response_level == "breached"
        # a later status change records the response late; nothing is escalated again
        case_service.change_status(clocked, silent.tracking_number, Status.IN_PROGRESS)
        assert sla.scan(clocked) == sla.ScanResult(warned=(), breached=())
    finally:
        clocked.pm.unregister(name="listener")
    assert [(n, c["response_level"]) for n, c in calls] == [(silent.tracking_number, [None, "breached"])]
    assert datetime.fromisoformat(calls[0][1]["response_due_at"]) == local("2026-11-23T12:00")
    assert "sla_level" not in calls[0][1]
    events = [e for e in case_service.history(clocked, silent.tracking_number) if e.kind == "sla_escalated"]
    assert len(events) == 1 and events[0].note.startswith("first response breached")
    closed_events = case_service.history(clocked, closed.tracking_number)
    assert any("responded_at" in e.changes for e in closed_events if e.kind == "closed")


def test_a_type_change_moves_the_first_response_due_time(clocked):
    sla.set_policy(clocked, TYPE, target=40, basis="business_hours", first_response=2, actor="test")
    case = open_case(clocked)
    clocked.clock.now = local("2026-11-23T13:00")
    assert sla.scan(clocked).response_breached == (case.tracking_number,)
    updated = case_service.update(clocked, case.tracking_number, service_type="action-center-escalation")
    state = sla.state(clocked, case.tracking_number)
    assert state.response_due_at is None and state.response_level is None
    assert updated.service_code == "action-center-escalation"
    assert sla.scan(clocked).response_breached == ()


def test_a_reopened_case_is_held_to_the_version_in_force_at_the_reopening(clocked):
    case = open_case(clocked)  # Monday, 5 calendar days
    sla.set_policy(clocked, TYPE, target=2, effective_from=local("2026-11-25T00:00").date(), actor="test")
    clocked.clock.now = local("2026-11-24T09:00")
    case_service.close(clocked, case.tracking_number, Resolution.FIXED)
    clocked.clock.now = local("2026-11-26T09:00")
    reopened = case_service.reopen(clocked, case.tracking_number, reason="still there")
    assert reopened.due_at == local("2026-11-28T09:00")  # the new version's 2 days
    assert sla.state(clocked, case.tracking_number).policy.target == 2
    assert sla.recompute(clocked).moved == 0  # recompute agrees with the reopening
    clocked.clock.now = local("2026-11-27T09:00")
    case_service.change_status(clocked, case.tracking_number, Status.WAITING)
    clocked.clock.now = local("2026-11-27T21:00")
    resumed = case_service.change_status(clocked, case.tracking_number, Status.IN_PROGRESS)
    assert resumed.due_at == local("2026-11-28T21:00")
    assert sla.recompute(clocked).moved == 0


def test_cli_scan_reports_first_response_breaches(clocked):
    runner = CliRunner()
    url = clocked.engine.url.render_as_string(hide_password=False)
    case = open_case(clocked)
    clocked.engine.dispose()
    with clocked.engine.begin() as conn:  # a first response long overdue
        conn.execute(cases_table.update().values(response_due_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    result = runner.invoke(cli, ["--db", url, "sla", "scan"])
    assert result.exit_code == 0, result.output
    assert "1 response breached" in result.output and f"no first response {case.tracking_number}" in result.output
    again = runner.invoke(cli, ["--db", url, "sla", "scan", "--json"])
    assert json.loads(again.output)["response_breached"] == []
    shown = runner.invoke(cli, ["--db", url, "case", "show", case.tracking_number])
    assert "response_escalation: breached" in shown.output
