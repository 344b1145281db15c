"""The summary report: exact figures on a known data set, on SQLite and PostgreSQL alike."""

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.cli.reports import period_dates
from civiccrm.domain.cases import CaseDraft, Resolution
from civiccrm.errors import CivicError
from civiccrm.metrics.definitions import SUMMARY_METRICS
from civiccrm.metrics.summary import summary
from civiccrm.services import cases as case_service
from civiccrm.store.tables import cases_table

CHICAGO = ZoneInfo("America/Chicago")
# 2019-10-01 .. 2019-11-03 inclusive; 2019-11-03 is the day Chicago leaves daylight time,
# so the period starts at 00:00 CDT (05:00 UTC) and ends at 2019-11-04 00:00 CST (06:00 UTC).
FROM, TO = "2019-10-01", "2019-11-03"
START, END = inclusive_range(FROM, TO, CHICAGO)
NOW = datetime(2020, 6, 1, tzinfo=timezone.utc)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def _rows():
    """The known data set: (tracking number, columns). See the expected figures below."""
    rows = []

    def add(opened_at, *, closed_at=None, on_time=None, city_exceeded=None, channel="phone",
            department="public-works", work_group=None, district=None, service_code="pothole",
            request_type="Pothole"):
        n = len(rows) + 1
        rows.append({
            "tracking_number": f"T-{n:04d}", "service_code": service_code, "request_type": request_type,
            "department": department, "work_group": work_group, "channel": channel,
            "council_district": district, "status": "closed" if closed_at else "open",
            "resolution": "fixed" if closed_at else None,
            "opened_at": opened_at, "updated_at": closed_at or opened_at, "closed_at": closed_at,
            "days_to_close": (closed_at - opened_at).total_seconds() / 86400 if closed_at else None,
            "on_time": on_time, "city_exceeded_timeframe": city_exceeded,
        })

    # Public Works: ten cases opened and closed in the period after 1..10 days.
    for i in range(1, 11):
        opened = local(2019, 10, 1, 12) + timedelta(hours=i)
        add(opened, closed_at=opened + timedelta(days=i),
            on_time=True if i <= 6 else (False if i <= 9 else None),
            city_exceeded=False if i <= 3 else (True if i <= 5 else None),
            channel="phone" if i <= 5 else ("web" if i <= 8 else "email"),
            work_group="public-works-administration", district="1" if i <= 7 else "2")
    # KCPD
    add(local(2019, 9, 20, 9), closed_at=local(2019, 10, 5, 9), on_time=True, city_exceeded=True,
        department="kcpd", service_code="abandoned-vehicle", request_type="Abandoned Vehicle")  # closed only: 15 days
    add(local(2019, 10, 20, 9), closed_at=local(2019, 11, 10, 9), channel="app", department="kcpd",
        service_code="abandoned-vehicle", request_type="Abandoned Vehicle")  # opened; closed after: backlog
    add(local(2019, 11, 3, 23, 30), department="kcpd",
        service_code="abandoned-vehicle", request_type="Abandoned Vehicle")  # 23:30 CST on --to: opened, backlog
    # NHS
    add(local(2019, 9, 15, 10), department="nhs")  # before the period, still open: backlog
    add(local(2019, 11, 4, 0, 30), department="nhs")  # 00:30 the day after --to: nothing
    add(local(2019, 9, 30, 23, 30), department="nhs")  # 23:30 CDT the day before --from: backlog only
    add(local(2019, 9, 1, 10), closed_at=local(2019, 9, 10, 10), department="nhs")  # all before: nothing
    return rows


@pytest.fixture
def loaded(deployment):
    with deployment.engine.begin() as conn:
        conn.execute(cases_table.insert(), _rows())
    return deployment


def _url(deployment) -> str:
    return deployment.engine.url.render_as_string(hide_password=False)


def figures(group) -> dict:
    return {
        "opened": group.opened, "closed": group.closed, "backlog": group.backlog,
        "median": group.median_days, "p90": group.p90_days,
        "on_time": (group.on_time, group.on_time_known), "city": (group.city_on_time, group.city_on_time_known),
        "channels": group.channels,
    }


TOTAL = {
    "opened": 12, "closed": 11, "backlog": 4, "median": 6.0, "p90": 10.0,
    "on_time": (7, 10), "city": (3, 6), "channels": (("phone", 6), ("web", 3), ("email", 2), ("app", 1)),
}
PUBLIC_WORKS = {
    "opened": 10, "closed": 10, "backlog": 0, "median": 5.0, "p90": 9.0,
    "on_time": (6, 9), "city": (3, 5), "channels": (("phone", 5), ("web", 3), ("email", 2)),
}
KCPD = {
    "opened": 2, "closed": 1, "backlog": 2, "median": 15.0, "p90": 15.0,
    "on_time": (1, 1), "city": (0, 1), "channels": (("app", 1), ("phone", 1)),
}
NHS = {"opened": 0, "closed": 0, "backlog": 2, "median": None, "p90": None,
       "on_time": (0, 0), "city": (0, 0), "channels": ()}


def test_period_boundaries_are_local_midnights_across_dst():
    assert START == datetime(2019, 10, 1, 5, tzinfo=timezone.utc)
    assert END == datetime(2019, 11, 4, 6, tzinfo=timezone.utc)


def test_summary_all_cases(loaded):
    report = summary(loaded.engine, start=START, end=END, now=NOW)
    assert report.by is None and len(report.groups) == 1
    assert report.groups[0] is report.total and report.total.label == "all"
    assert figures(report.total) == TOTAL
    assert report.total.share_on_time == pytest.approx(0.7)
    assert report.total.share_on_time_city == pytest.approx(0.5)
    assert [(s.channel, s.count, s.share) for s in report.total.channel_mix] == [
        ("phone", 6, 0.5), ("web", 3, 0.25), ("email", 2, pytest.approx(2 / 12)), ("app", 1, pytest.approx(1 / 12)),
    ]
    assert report.backlog_as_of == END
    assert report.definitions == SUMMARY_METRICS


def test_summary_by_department(loaded):
    report = summary(loaded.engine, start=START, end=END, by="department", now=NOW)
    assert [(g.key, g.label) for g in report.groups] == [
        ("public-works", "Public Works"), ("kcpd", "KCPD"), ("nhs", "NHS"),
    ]
    assert [figures(g) for g in report.groups] == [PUBLIC_WORKS, KCPD, NHS]
    assert report.total.label == "total"
    assert figures(report.total) == TOTAL
    pw = report.groups[0]
    assert pw.share_on_time == pytest.approx(6 / 9) and pw.share_on_time_city == pytest.approx(0.6)


def test_summary_other_groupings(loaded):
    by_district = summary(loaded.engine, start=START, end=END, by="district", now=NOW)
    assert [(g.key, g.label, g.opened, g.closed, g.backlog, g.median_days) for g in by_district.groups] == [
        ("1", "1", 7, 7, 0, 4.0), ("2", "2", 3, 3, 0, 9.0), (None, "unknown", 2, 1, 4, 15.0),
    ]
    by_type = summary(loaded.engine, start=START, end=END, by="type", now=NOW)
    assert [(g.key, g.label, g.opened) for g in by_type.groups] == [
        ("pothole", "Pothole", 10), ("abandoned-vehicle", "Abandoned Vehicle", 2),
    ]
    by_channel = summary(loaded.engine, start=START, end=END, by="channel", now=NOW)
    assert [(g.key, g.opened, g.closed) for g in by_channel.groups] == [
        ("phone", 6, 6), ("web", 3, 3), ("email", 2, 2), ("app", 1, 0),
    ]
    by_work_group = summary(loaded.engine, start=START, end=END, by="work_group", now=NOW)
    assert by_work_group.by == "work-group"
    assert [(g.key, g.label, g.opened) for g in by_work_group.groups] == [
        ("public-works-administration", "Public Works-Administration-", 10), (None, "unknown", 2),
    ]
    for report in (by_district, by_type, by_channel, by_work_group):
        assert figures(report.total) == TOTAL


def test_backlog_is_as_of_now_when_the_period_has_not_ended(loaded):
    now = local(2019, 10, 10, 12)  # before D opens and before the last Public Works cases close
    report = summary(loaded.engine, start=START, end=END, now=now)
    assert report.backlog_as_of == now
    # NHS cases from September (2), and Public Works cases 9 and 10, which close at 10-10 21:00 and
    # 10-11 22:00; KCPD's 10-20 case is not open yet.
    assert report.total.backlog == 4


def test_summary_accepts_a_session_and_a_deployment(loaded):
    with loaded.session() as s:
        assert figures(summary(s, start=START, end=END, now=NOW).total) == TOTAL
    assert figures(summary(loaded, start=START, end=END, now=NOW).total) == TOTAL


def test_empty_period(deployment):
    report = summary(deployment.engine, start=START, end=END, now=NOW)
    assert figures(report.total) == {"opened": 0, "closed": 0, "backlog": 0, "median": None, "p90": None,
                                     "on_time": (0, 0), "city": (0, 0), "channels": ()}
    grouped = summary(deployment.engine, start=START, end=END, by="department", now=NOW)
    assert grouped.groups == () and grouped.total.opened == 0


def test_summary_refuses_bad_arguments(sqlite_deployment):
    engine = sqlite_deployment.engine
    with pytest.raises(CivicError, match="--by: unknown grouping 'ward'"):
        summary(engine, start=START, end=END, by="ward", now=NOW)
    with pytest.raises(CivicError, match="not after start"):
        summary(engine, start=END, end=START, now=NOW)
    with pytest.raises(CivicError, match="timezone-aware"):
        summary(engine, start=START.replace(tzinfo=None), end=END, now=NOW)


def test_cases_made_through_the_services(fixed_sla_deployment):
    """Intake and close with a controlled clock: days_to_close and on_time come from the services."""
    deployment = fixed_sla_deployment
    opened = local(2019, 10, 7, 9)  # abandoned-vehicle: 5 calendar days in the test profile
    clock = {"now": opened}
    deployment.clock = lambda: clock["now"]
    numbers = []
    for days in (2, 4, 8, 11):
        draft = CaseDraft(service_code="abandoned-vehicle", description="car on blocks", channel="web", opened_at=opened)
        numbers.append(case_service.intake(deployment, draft).tracking_number)
    for number, days in zip(numbers[:3], (2, 4, 8)):
        clock["now"] = opened + timedelta(days=days)
        case_service.close(deployment, number, Resolution.FIXED)
    clock["now"] = opened + timedelta(days=9)
    case_service.reopen(deployment, numbers[2])  # no longer closed: back in the backlog
    clock["now"] = opened + timedelta(days=11)
    case_service.close(deployment, numbers[3], Resolution.FIXED)  # 11 days: late

    report = summary(deployment.engine, start=START, end=END, now=NOW)
    total = report.total
    assert (total.opened, total.closed, total.backlog) == (4, 3, 1)
    assert (total.median_days, total.p90_days) == (pytest.approx(4.0), pytest.approx(11.0))
    assert (total.on_time, total.on_time_known) == (2, 3)
    assert total.city_on_time_known == 0 and total.share_on_time_city is None
    assert total.channels == (("web", 4),)


# --- command line -------------------------------------------------------------------------------


def _invoke(deployment, *args):
    return CliRunner().invoke(cli, ["--db", _url(deployment), "report", "summary", *args])


def test_cli_text(loaded):
    result = _invoke(loaded, "--from", FROM, "--to", TO, "--by", "department")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Kansas City, Missouri — 2019-10-01 to 2019-11-03 (America/Chicago)"
    assert lines[1] == "by department; backlog as of 2019-11-04 00:00 CST"
    header = lines[3].split()
    assert header[:7] == ["department", "opened", "closed", "backlog", "median", "days", "p90"]
    table = {line.split("  ")[0].strip(): line for line in lines[5:9]}
    assert table["Public Works"].split() == ["Public", "Works", "10", "10", "0", "5.0", "9.0",
                                             "66.7%", "(6/9)", "60.0%", "(3/5)"]
    assert table["KCPD"].split() == ["KCPD", "2", "1", "2", "15.0", "15.0", "100.0%", "(1/1)", "0.0%", "(0/1)"]
    assert table["NHS"].split() == ["NHS", "0", "0", "2", "-", "-", "-", "-"]
    assert table["total"].split() == ["total", "12", "11", "4", "6.0", "10.0", "70.0%", "(7/10)", "50.0%", "(3/6)"]
    assert len({len(line) for line in lines[3:9]}) == 1  # aligned: every row as wide as the rule
    mix = lines.index("Channel mix (cases opened)")
    assert lines[mix + 1].split() == ["department", "phone", "web", "email", "app"]
    assert lines[mix + 3].split() == ["Public", "Works", "5", "(50%)", "3", "(30%)", "2", "(20%)", "-"]
    assert lines[mix + 6].split() == ["total", "6", "(50%)", "3", "(25%)", "2", "(17%)", "1", "(8%)"]
    assert "Definitions" in lines
    text = " ".join(line.strip() for line in lines[lines.index("Definitions"):])
    assert "share on time (project) = closed cases with on_time true / closed cases with on_time known" in text
    assert "rank ceil(0.9 x n)" in text


def test_cli_json(loaded):
    result = _invoke(loaded, "--from", FROM, "--to", TO, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["city"] == "Kansas City, Missouri" and data["timezone"] == "America/Chicago"
    assert data["period"] == {"from": FROM, "to": TO}
    assert data["start"] == "2019-10-01T00:00:00-05:00" and data["end"] == "2019-11-04T00:00:00-06:00"
    assert data["by"] is None
    (group,) = data["groups"]
    assert group == data["total"]
    assert {k: group[k] for k in ("opened", "closed", "backlog", "median_days_to_close", "p90_days_to_close",
                                  "on_time", "on_time_known", "city_on_time", "city_on_time_known")} == {
        "opened": 12, "closed": 11, "backlog": 4, "median_days_to_close": 6.0, "p90_days_to_close": 10.0,
        "on_time": 7, "on_time_known": 10, "city_on_time": 3, "city_on_time_known": 6,
    }
    assert group["share_on_time"] == pytest.approx(0.7) and group["share_on_time_city"] == pytest.approx(0.5)
    assert group["channel_mix"][0] == {"channel": "phone", "count": 6, "share": 0.5}
    assert [d["name"] for d in data["definitions"]] == [m.name for m in SUMMARY_METRICS]


def test_cli_json_by_department(loaded):
    result = _invoke(loaded, "--from", FROM, "--to", TO, "--by", "department", "--json")
    data = json.loads(result.output)
    assert [(g["key"], g["opened"], g["backlog"]) for g in data["groups"]] == [
        ("public-works", 10, 0), ("kcpd", 2, 2), ("nhs", 0, 2),
    ]
    assert data["total"]["label"] == "total" and data["total"]["opened"] == 12


def test_inclusive_to_date_at_local_midnight(loaded):
    """--to 2019-11-03 counts the case opened 23:30 that night; --to 2019-11-04 adds the one at 00:30."""
    day = json.loads(_invoke(loaded, "--from", "2019-11-03", "--to", "2019-11-03", "--json").output)
    assert day["total"]["opened"] == 1
    two = json.loads(_invoke(loaded, "--from", "2019-11-03", "--to", "2019-11-04", "--json").output)
    assert two["total"]["opened"] == 2
    before = json.loads(_invoke(loaded, "--from", "2019-09-30", "--to", "2019-09-30", "--json").output)
    assert before["total"]["opened"] == 1  # 23:30 CDT on 09-30


@pytest.mark.parametrize("args, message", [
    (["--from", "2020-13-01", "--to", "2020-12-31"], "--from: '2020-13-01' is not a date"),
    (["--from", "2020-01-01", "--to", "2020-02-30"], "--to: '2020-02-30' is not a date"),
    (["--from", "2020-03-01", "--to", "2020-02-01"], "--to: 2020-02-01 is before --from 2020-03-01"),
    (["--from", "2020-01-01", "--to", "2020-01-31", "--by", "ward"], "--by: unknown grouping 'ward'"),
    (["--from", "2999-01-01"], "--from: 2999-01-01 is after today"),
])
def test_cli_bad_input(sqlite_deployment, args, message):
    result = _invoke(sqlite_deployment, *args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_default_period_is_the_last_30_days():
    today = date(2020, 3, 15)
    assert period_dates(None, None, today) == ("2020-02-15", "2020-03-15")
    assert period_dates("2020-03-01", None, today) == ("2020-03-01", "2020-03-15")
    assert period_dates(None, "2020-01-30", today) == ("2020-01-01", "2020-01-30")
