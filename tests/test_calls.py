"""Call records: import formats of the city profile, call figures in SQL, staffing from the calls."""

import csv
import json
from datetime import date, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain import erlang, staffing
from civiccrm.domain.callgen import GENERIC_HEADER, CallPattern, generate_calls
from civiccrm.domain.calls import parse_target
from civiccrm.domain.cases import CaseDraft, Location
from civiccrm.errors import CivicError
from civiccrm.metrics.calls import call_report, week_totals
from civiccrm.services import cases as case_service
from civiccrm.services.calls import import_calls
from profile_helpers import copy_kansas_city, edit, load_error

GENERIC = """call_id,queue,started_at,outcome,wait_seconds,talk_seconds,hold_seconds,acw_seconds,wrap_up,agent,caller,case_number
c1,311,2026-06-22T08:05:00-05:00,answered,10,100,20,30,trash,a1,816-555-0101,
c2,311,2026-06-22T08:10:00-05:00,answered,40,200,0,40,trash,a1,816-555-0102,
c3,311,2026-06-22T08:20:00-05:00,abandoned,3,,,,,,816-555-0103,
c4,311,2026-06-22T09:00:00-05:00,abandoned,60,,,,,,816-555-0104,
c5,water,2026-06-25T14:00:00Z,answered,20,300,0,60,billing,a2,(816) 555-0101,
c6,water,2026-06-27T14:00:00Z,answered,0:00:05,0:01:00,0,0,trash,a2,8165550101,
"""

CONNECT_HEADER = ("ContactId,LastUpdateTimestamp,InitiationMethod,Channel,Queue.EnqueueTimestamp,Queue.Name,"
                  "Agent.ConnectedToAgentTimestamp,Queue.Duration,Agent.AgentInteractionDuration,"
                  "Agent.CustomerHoldDuration,Agent.AfterContactWorkDuration,Agent.Username,"
                  "CustomerEndpoint.Address,Attributes.WrapUpCode,Attributes.CaseNumber\n")
CONNECT_OLD = "k1,2026-06-22T13:01:00Z,INBOUND,VOICE,2026-06-22T13:00:00Z,311,,30,,,,,+18165550101,,\n"

UCCX = """CSQ Name,Interval Start Time,Interval End Time,Calls Presented,Calls Handled,Calls Abandoned,Calls Handled Within SL,Avg Speed of Answer,Avg Handle Time
Trash CSQ,06/22/2026 08:00:00 AM,06/22/2026 08:30:00 AM,10,8,2,6,0:00:15,0:04:00
Trash CSQ,06/22/2026 08:30:00 AM,06/22/2026 09:00:00 AM,4,4,0,4,0:00:05,0:03:00
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _import(deployment, files, fmt, batch_size=2):
    """Import with tiny batches by default, so batch boundaries are crossed."""
    errors = []
    summary = import_calls(deployment, files, fmt, batch_size=batch_size, on_error=errors.append)
    return summary, errors


def _report(deployment, by=None, short=5.0, start=date(2026, 6, 1), end=date(2026, 6, 30)):
    return call_report(deployment.engine, start=start, end=end, by=by, short_abandon_seconds=short,
                       service_level_seconds=20.0, first_contact_days=7.0)


def test_generic_import_and_figures(deployment, tmp_path):
    path = _write(tmp_path, "calls.csv", GENERIC)
    summary, errors = _import(deployment, [path], "generic")
    assert errors == [] and summary.read == 6 and summary.new == 6

    report = _report(deployment)
    t = report.total
    assert (t.offered, t.handled, t.abandoned, t.short_abandoned) == (5, 4, 1, 1)
    assert t.abandonment_rate == pytest.approx(0.2)
    assert t.service_level == pytest.approx(3 / 5)  # c1, c5 (20 s is within T = 20 s), c6
    assert t.asa_seconds == pytest.approx((10 + 40 + 20 + 5) / 4)
    assert t.aht_seconds == pytest.approx((150 + 240 + 360 + 60) / 4)
    # c1 and c6: same number (written three ways), same code, five days apart: not resolved at first contact
    assert (report.fcr_resolved, report.fcr_eligible) == (3, 4)

    by_day = {g.label: g for g in _report(deployment, by="weekday").groups}
    assert set(by_day) == {"Monday", "Thursday", "Saturday"}
    assert (by_day["Monday"].offered, by_day["Monday"].abandoned, by_day["Monday"].short_abandoned) == (2 + 1, 1, 1)
    by_hour = {g.label: g.offered for g in _report(deployment, by="hour").groups}
    assert by_hour == {"08:00": 2, "09:00": 3}  # 14:00Z is 09:00 in Kansas City in June
    by_queue = {g.key: g.handled for g in _report(deployment, by="queue").groups}
    assert by_queue == {"311": 2, "water": 2}
    assert [g.key for g in _report(deployment, by="month").groups] == ["2026-06"]

    # the short-abandon threshold is the report's: at 0 s, c3 is offered and abandoned
    zero = _report(deployment, short=0.0).total
    assert (zero.offered, zero.abandoned, zero.short_abandoned) == (6, 2, 0)

    wraps = {w.code: w for w in report.wrap_ups}
    assert wraps["trash"].handled == 3 and wraps["trash"].with_case == 0
    assert wraps["trash"].talk_percentiles["median"] == 100  # talk 60, 100, 200: rank ceil(1.5) = 2
    assert wraps["trash"].talk_percentiles["p90"] == 200

    again, _ = _import(deployment, [path], "generic")
    assert again.new == 0
    assert _report(deployment).total == t  # importing the same file again changes nothing


def test_bad_rows_are_named_and_the_good_ones_kept(deployment, tmp_path):
    bad = GENERIC.replace("c2,311,2026-06-22T08:10:00-05:00,answered", "c2,311,2026-06-22T08:10:00-05:00,maybe")
    bad = bad.replace("c4,311,2026-06-22T09:00:00-05:00", "c4,311,yesterday")
    bad = bad.replace("c5,water,2026-06-25T14:00:00Z,answered,20", "c5,water,2026-06-25T14:00:00Z,answered,-4")
    path = _write(tmp_path, "bad.csv", bad)
    summary, errors = _import(deployment, [path], "generic")
    assert summary.rejected == 3 and summary.new == 3
    assert errors[0].startswith(f"{path}: line 3: outcome: 'maybe'")
    assert errors[1].startswith(f"{path}: line 5: started_at: 'yesterday' is not a date and time")
    assert errors[2].startswith(f"{path}: line 6: wait_seconds: '-4'")

    missing = _write(tmp_path, "missing.csv", "call_id,queue\nx,311\n")
    summary, errors = _import(deployment, [missing], "generic")
    assert errors == [f"{missing}: line 1: header: missing column 'started_at' (format 'generic' maps it)"]


def test_amazon_connect_keeps_the_latest_update_and_links_the_case(deployment, tmp_path):
    case = case_service.intake(deployment, CaseDraft(
        service_code="trash-missed-by-city", description="cart not emptied", channel="phone",
        location=Location(latitude=39.0997, longitude=-94.5786)), actor="call-taker")
    newer = (f"k1,2026-06-22T13:20:00Z,INBOUND,VOICE,2026-06-22T13:00:00Z,311,2026-06-22T13:00:30Z,30,200,10,40,"
             f"agent7,+18165550101,trash,{case.tracking_number}\n")
    first = _write(tmp_path, "ctr1.csv", CONNECT_HEADER + CONNECT_OLD + newer
                   + "k2,2026-06-22T14:00:00Z,OUTBOUND,VOICE,2026-06-22T14:00:00Z,311,2026-06-22T14:00:00Z,0,50,0,0,a,+1816,,\n"
                   + "k3,2026-06-22T14:00:00Z,INBOUND,CHAT,2026-06-22T14:00:00Z,311,2026-06-22T14:00:00Z,0,50,0,0,a,,,\n"
                   + "k4,2026-06-22T14:00:00Z,INBOUND,VOICE,,,,,,,,,+18165550199,,\n")
    summary, errors = _import(deployment, [first], "amazon-connect")
    assert errors == []
    assert summary.duplicates == 1 and summary.linked == 1 and summary.new == 1
    assert sum(summary.skipped.values()) == 3
    # an older version arriving later (another export file) does not replace the newer one
    late = _write(tmp_path, "ctr2.csv", CONNECT_HEADER + CONNECT_OLD)
    _import(deployment, [late], "amazon-connect")
    report = _report(deployment)
    assert (report.total.offered, report.total.handled, report.total.abandoned) == (1, 1, 0)
    assert report.total.aht_seconds == pytest.approx(250)
    assert (report.case_calls, report.cases, report.calls_per_case) == (1, 1, 1.0)
    with deployment.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT case_id, caller_key FROM calls").one()
    assert stored[0] == case.id
    assert stored[1] and "5550101" not in stored[1]  # the number itself is not stored


def test_uccx_intervals_add_up_with_calls(deployment, tmp_path):
    summary, errors = _import(deployment, [_write(tmp_path, "csq.csv", UCCX)], "uccx-csq")
    assert errors == [] and summary.new == 2
    _import(deployment, [_write(tmp_path, "calls.csv", GENERIC)], "generic")
    report = _report(deployment, by="weekday")
    monday = {g.label: g for g in report.groups}["Monday"]
    assert (monday.offered, monday.handled, monday.abandoned) == (3 + 14, 2 + 12, 1 + 2)
    assert monday.service_level == pytest.approx((1 + 10) / 17)
    assert monday.asa_seconds == pytest.approx((10 + 40 + 15 * 8 + 5 * 4) / 14)
    assert report.interval_thresholds == (("uccx-csq", 20.0, 5.0),)
    hours = {g.label: g.offered for g in _report(deployment, by="hour").groups}
    assert hours["08:00"] == 2 + 14
    again, _ = _import(deployment, [_write(tmp_path, "csq.csv", UCCX)], "uccx-csq")
    assert again.new == 0


def test_cli_import_report_and_errors(sqlite_deployment, tmp_path):
    db = str(sqlite_deployment.engine.url)
    runner = CliRunner()
    good = _write(tmp_path, "calls.csv", GENERIC)
    result = runner.invoke(cli, ["--db", db, "calls", "import", good, "--format", "generic"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--db", db, "calls", "report", "--from", "2026-06-01", "--to", "2026-06-30",
                                 "--by", "weekday", "--json"])
    data = json.loads(result.output)
    assert data["thresholds"]["short_abandon_seconds"] == 5 and data["total"]["offered"] == 5
    assert any("T = 20 s" in d["definition"] for d in data["definitions"])
    text = runner.invoke(cli, ["--db", db, "calls", "report", "--from", "2026-06-01", "--to", "2026-06-30"]).output
    assert "short abandon < 5 s, T = 20 s" in text and "SL 20s" in text

    bad = runner.invoke(cli, ["--db", db, "calls", "import", good, "--format", "avaya"])
    assert bad.exit_code == 1
    assert bad.output.strip() == "Error: --format: no call export format 'avaya' in the city profile; known: amazon-connect, generic, uccx-csq"
    bad = runner.invoke(cli, ["--db", db, "calls", "report", "--from", "2026-06-30", "--to", "2026-06-01"])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1
    rejected = runner.invoke(cli, ["--db", db, "calls", "import",
                                   _write(tmp_path, "b.csv", GENERIC.replace(",answered,10,", ",answered,ten,")),
                                   "--format", "generic"])
    assert rejected.exit_code == 1 and "b.csv: line 2: wait_seconds: 'ten'" in rejected.output


def test_cli_erlang_json_and_errors():
    runner = CliRunner()
    result = runner.invoke(cli, ["calls", "erlang", "--arrivals-per-hour", "200", "--aht", "180", "--agents", "14",
                                 "--answer-within", "19.8", "--json"])
    data = json.loads(result.output)
    assert data["model"] == "erlang-c" and round(data["service_level"], 3) == 0.888
    assert round(data["probability_wait"], 3) == 0.174 and round(data["occupancy"], 3) == 0.714
    result = runner.invoke(cli, ["calls", "erlang", "--arrivals-per-hour", "200", "--aht", "180", "--agents", "8",
                                 "--patience", "120", "--json"])
    data = json.loads(result.output)
    assert data["model"] == "erlang-a" and 0 < data["probability_abandon"] < data["probability_wait"] < 1
    bad = runner.invoke(cli, ["calls", "erlang", "--arrivals-per-hour", "-1", "--aht", "180", "--agents", "8"])
    assert bad.exit_code == 1 and bad.output.strip() == "Error: --arrivals-per-hour: must be a number greater than 0, got -1.0"


def test_city_without_call_settings_gets_a_clear_message(tmp_path):
    folder = copy_kansas_city(tmp_path)
    profile = folder / "profile.toml"
    text = profile.read_text(encoding="utf-8")
    text = text[: text.index("\n# The call centre")].replace('slug = "kansas-city"', 'slug = "no-calls"')
    profile.write_text(text.replace('name = "Kansas City, Missouri"', 'name = "Callless City"', 1), encoding="utf-8")
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert runner.invoke(cli, ["--db", db, "init", "--city", str(folder)]).exit_code == 0
    result = runner.invoke(cli, ["--db", db, "calls", "report", "--from", "2026-06-01", "--to", "2026-06-30"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Callless City has no call-centre settings: add a [calls] table")
    assert len(result.output.strip().splitlines()) == 1


def test_profile_call_settings_are_checked(tmp_path):
    folder = copy_kansas_city(tmp_path)
    edit(folder / "profile.toml", 'target = "80/20"', 'target = "eighty"')
    assert "calls.target: 'eighty' is not a goal like 80/20" in load_error(folder)
    folder = copy_kansas_city(tmp_path / "b")
    edit(folder / "profile.toml", 'id = "ContactId"', 'contact = "ContactId"')
    assert "calls.formats.amazon-connect.columns: unknown field 'contact'" in load_error(folder)
    folder = copy_kansas_city(tmp_path / "c")
    edit(folder / "profile.toml", "shrinkage = 0.30", "shrinkage = 1.5")
    assert "calls.shrinkage must be a share" in load_error(folder)
    assert parse_target("85/30") == (0.85, 30.0)
    with pytest.raises(CivicError):
        parse_target("80")


def test_staffing_recovers_the_generated_pattern(sqlite_deployment, tmp_path):
    """Eight weeks of synthetic calls with a known pattern: the rates, handle time and patience that
    staffing fits from the stored calls are the generator's, and so are its agents."""
    storm = date(2026, 6, 17)  # a Wednesday
    pattern = CallPattern(calls_per_day=500, storm_days=(storm,), aht_seconds=240, patience_seconds=150)
    start, days = date(2026, 5, 4), 56  # a Monday
    path = tmp_path / "gen.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=GENERIC_HEADER)
        writer.writeheader()
        writer.writerows(generate_calls(pattern, start=start, days=days, timezone="America/Chicago", seed=7))
    summary, errors = _import(sqlite_deployment, [str(path)], "generic", batch_size=5000)
    assert errors == []
    end = start + timedelta(days=days - 1)
    totals = week_totals(sqlite_deployment.engine, start=start, end=end, short_abandon_seconds=0.0)
    offered = np.array(totals.offered, dtype=float)
    per_day = offered.sum(axis=1) / np.array(totals.days_of_weekday)
    truth = pattern.week_rates().sum(axis=1)
    truth[2] *= (7 + pattern.storm_factor) / 8  # one storm Wednesday in eight
    assert per_day == pytest.approx(truth, rel=0.05)
    assert per_day[0] / per_day[3] == pytest.approx(1.45, rel=0.08)  # Monday peak
    aht = sum(map(sum, totals.handle_seconds)) / sum(map(sum, totals.handled))
    assert aht == pytest.approx(240, rel=0.03)
    patience = staffing.estimate_patience(abandoned=totals.abandoned, offered_wait_seconds=totals.offered_wait_seconds)
    assert patience == pytest.approx(150, rel=0.12)

    daily = {g.key: g.offered for g in _report(sqlite_deployment, by="day", short=0.0, start=start, end=end).groups}
    other_wednesdays = [daily[(storm + timedelta(weeks=k)).isoformat()] for k in (-3, -2, -1, 1)]
    assert daily[storm.isoformat()] / np.mean(other_wednesdays) == pytest.approx(2.7, rel=0.12)

    result = staffing.plan(offered=totals.offered, handled=totals.handled, handle_seconds=totals.handle_seconds,
                           days_of_weekday=totals.days_of_weekday, level=0.8, within_seconds=20, shrinkage=0.3,
                           calls_per_agent_hour=12, patience_seconds=patience)
    true_rates = pattern.week_rates() * 2
    true_agents = erlang.agents_needed(arrivals_per_hour=true_rates[0], aht_seconds=240, service_level=0.8,
                                       answer_within_seconds=20, patience_seconds=150)
    busy = true_rates[0] > 20
    assert np.max(np.abs(result.agents[0][busy] - true_agents[busy])) <= 2
    assert np.all(result.staff[0] >= result.agents[0])

    runner = CliRunner()
    schedule = _write(tmp_path, "schedule.csv", "weekday,start,staff\n" + "".join(
        f"Monday,{h:02d}:{m:02d},10\n" for h in range(7, 20) for m in (0, 30)))
    out = runner.invoke(cli, ["--db", str(sqlite_deployment.engine.url), "calls", "staffing", "--from", start.isoformat(),
                              "--to", end.isoformat(), "--patience", "auto", "--schedule", schedule, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    monday_ten = next(r for r in data["half_hours"] if r["weekday"] == "Monday" and r["start"] == "10:00")
    assert monday_ten["scheduled"] == 10 and monday_ten["scheduled_abandonment"] > monday_ten["abandonment"]
    assert data["days"][0]["rule_of_thumb_staff"] == staffing.daily_rule_of_thumb(data["days"][0]["calls"], 80)


def test_rule_of_thumb_matches_the_city():
    # 2,933 calls on Monday 22 June at 80 a shift: 37 staff.
    assert staffing.daily_rule_of_thumb(2933, 80) == 37


def test_schedule_errors_name_the_line(tmp_path):
    path = _write(tmp_path, "s.csv", "weekday,start,staff\nMonday,07:00,3\nFunday,07:30,2\n")
    with pytest.raises(CivicError, match=r"s.csv: line 3: weekday 'Funday'"):
        staffing.read_schedule(path)
    path = _write(tmp_path, "t.csv", "weekday,start,staff\nMon,07:15,3\n")
    with pytest.raises(CivicError, match=r"t.csv: line 2: start '07:15' must be on the hour or half-hour"):
        staffing.read_schedule(path)


def test_local_slots_agree_with_local_slot_across_transitions():
    """The quarter-hour cache gives every instant the slot its own conversion gives: around DST changes,
    in a zone a quarter-hour off the half-hours, and in a historical offset that is not whole minutes."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from civiccrm.domain.calls import LocalSlots, local_slot

    starts = {"America/Chicago": [datetime(2026, 3, 8, 6, tzinfo=timezone.utc), datetime(2026, 11, 1, 5, tzinfo=timezone.utc),
                                  datetime(1883, 11, 18, 16, tzinfo=timezone.utc)],
              "Asia/Kathmandu": [datetime(2026, 6, 21, 17, tzinfo=timezone.utc)],
              "Australia/Lord_Howe": [datetime(2026, 4, 4, 14, tzinfo=timezone.utc)]}
    for zone, instants in starts.items():
        tz = ZoneInfo(zone)
        slots = LocalSlots(tz)
        for start in instants:
            for step in range(0, 4 * 3600, 97):
                instant = start + timedelta(seconds=step)
                epoch = int(instant.timestamp())
                assert slots.of(instant, epoch) == local_slot(instant, tz), (zone, instant)


def test_a_big_import_rebuilds_the_indexes_even_when_it_fails(deployment, tmp_path, monkeypatch):
    from sqlalchemy import inspect

    from civiccrm.services import calls as call_service

    def index_names():
        with deployment.engine.connect() as conn:
            return {i["name"] for i in inspect(conn).get_indexes("calls")}

    expected = {"ix_calls_local_date", "ix_calls_caller_code", "ix_calls_answered_talk"}
    assert expected <= index_names()
    monkeypatch.setattr(call_service, "REBUILD_ABOVE_ROWS", 0)  # every import counts as a bulk load
    path = _write(tmp_path, "calls.csv", GENERIC)
    summary, errors = _import(deployment, [path], "generic")
    assert errors == [] and summary.new == 6 and expected <= index_names()
    assert _report(deployment).total.offered == 5

    def stop(message):
        raise RuntimeError(message)

    bad = _write(tmp_path, "bad.csv", GENERIC.replace(",answered,40,", ",answered,forty,"))
    with deployment.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM calls")
    with pytest.raises(RuntimeError, match="line 3: wait_seconds"):
        import_calls(deployment, [bad], "generic", batch_size=1, on_error=stop)
    assert expected <= index_names()  # put back although the import stopped half-way

    with deployment.engine.begin() as conn:  # as an import killed before it rebuilt them leaves it
        conn.exec_driver_sql("DROP INDEX ix_calls_caller_code")
    monkeypatch.setattr(call_service, "REBUILD_ABOVE_ROWS", 10**9)
    _import(deployment, [path], "generic")
    assert expected <= index_names()
