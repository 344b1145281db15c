"""The kcstat pack: figures against values computed straight from Kansas City's CSV, on SQLite and PostgreSQL.

Three neighbourhoods of the real open data (about 8,600 cases) are imported with
`civiccrm import kcmo`; the test reads the same files with the csv module and works out
each figure by the importer's documented rules (closed statuses RESOL, CANC and DUP; a
case closed on a later day counts as closed at 00:00 of that day, one closed the day it
was opened at its opening time; channels through the mapping's SOURCE table).
"""

import csv
import json
import math
import tomllib
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.errors import CivicError
from civiccrm_plugins.kcstat_pack import kcstat_document, settings
from civiccrm_plugins.report_document import render_document

CHICAGO = ZoneInfo("America/Chicago")
FILES = ("6_neighborhood.csv", "67_neighborhood.csv", "68_neighborhood.csv")
MONTH = "2019-07"
START, END = inclusive_range("2019-07-01", "2019-07-31", CHICAGO)
CLOSED = {"RESOL", "CANC", "DUP"}
MAPPING = Path(__file__).resolve().parents[1] / "cities" / "kansas_city" / "mappings" / "kcmo.toml"


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def _district(text: str) -> str | None:
    text = text.strip()
    return str(int(float(text))) if text else None


def read_cases(folder: Path) -> list[dict]:
    """The rows of the files as the importer reads them: local instants, closed_at by its rule."""
    sources = tomllib.loads(MAPPING.read_text())["values"]["channel"]
    found = []
    for name in FILES:
        for row in csv.DictReader(_text(folder / name).splitlines(keepends=True)):
            day = datetime.strptime(row["CREATION DATE"].strip(), "%m/%d/%Y").date()
            clock = datetime.strptime(row["CREATION TIME"].strip(), "%I:%M %p").time()
            opened = datetime.combine(day, clock, CHICAGO)
            closed = None
            if row["STATUS"].strip() in CLOSED:
                closed_day = datetime.strptime(row["CLOSED DATE"].strip(), "%m/%d/%Y").date()
                closed = opened if closed_day == day else datetime.combine(closed_day, datetime.min.time(), CHICAGO)
            exceeded = row["EXCEEDED EST TIMEFRAME"].strip()
            found.append({
                "channel": sources.get(row["SOURCE"].strip(), "other"), "department": row["DEPARTMENT"].strip(),
                "type": row["REQUEST TYPE"].strip(), "address": row["STREET ADDRESS"].strip() or None,
                "district": _district(row["COUNCIL DISTRICT"]), "opened": opened, "closed": closed,
                "exceeded": {"Y": True, "N": False}.get(exceeded),
            })
    return found


def nearest_rank(values: list[float], p: float) -> float | None:
    values = sorted(values)
    return values[math.ceil(p * len(values)) - 1] if values else None


def month_bounds(first: date, months: int) -> list[datetime]:
    index = first.year * 12 + first.month - 1
    return [datetime(i // 12, i % 12 + 1, 1, tzinfo=CHICAGO) for i in range(index, index + months + 1)]


@pytest.fixture
def kc(deployment, shared_data, database_url):
    result = CliRunner().invoke(cli, ["--db", database_url, "import", "kcmo",
                                      *(str(shared_data / "kc311" / name) for name in FILES)])
    assert result.exit_code == 0, result.output
    return deployment, read_cases(shared_data / "kc311")


def _json(deployment, start=START, end=END) -> dict:
    content, media_type = render_document(kcstat_document(deployment, start=start, end=end), "json")
    assert media_type.startswith("application/json")
    return json.loads(content)


def _rows(data, table, key) -> dict:
    return {row[key]: row for row in data["tables"][table]["rows"]}


def test_kcstat_figures_match_the_csv(kc):
    deployment, rows = kc
    data = _json(deployment)
    start, end = START, END
    before_start, before_end = inclusive_range("2018-07-01", "2018-07-31", CHICAGO)

    def opened_in(lo, hi):
        return [r for r in rows if lo <= r["opened"] < hi]

    def closed_in(lo, hi):
        return [r for r in rows if r["closed"] is not None and lo <= r["closed"] < hi]

    # Volume by channel and department, this month and a year before.
    for table, key in (("volume_by_channel", "channel"), ("volume_by_department", "department")):
        now, was = Counter(r[key] for r in opened_in(start, end)), Counter(r[key] for r in opened_in(before_start, before_end))
        got = _rows(data, table, key)
        keys = set(now) | set(was)
        assert {k: v["opened"] for k, v in got.items()} == {k: now.get(k, 0) for k in keys}
        assert {k: v["opened_year_before"] for k, v in got.items()} == {k: was.get(k, 0) for k in keys}
        assert data["tables"][table]["total"]["opened"] == sum(now.values())
        assert data["tables"][table]["total"]["opened_year_before"] == sum(was.values())

    # Timeliness by department: closed, the city's on-time share, median and p90 days, backlog.
    got = _rows(data, "timeliness_by_department", "department")
    closed = closed_in(start, end)
    for department in {r["department"] for r in closed}:
        mine = [r for r in closed if r["department"] == department]
        known = [r for r in mine if r["exceeded"] is not None]
        figures = got[department]
        assert figures["closed"] == len(mine)
        assert figures["city_on_time"]["numerator"] == sum(1 for r in known if not r["exceeded"])
        assert figures["city_on_time"]["denominator"] == len(known)
        assert figures["city_on_time"]["low_sample"] == (len(known) < 30)
        days = [(r["closed"] - r["opened"]).total_seconds() / 86400 for r in mine]
        assert figures["median_days"] == pytest.approx(nearest_rank(days, 0.5), abs=1e-9)
        assert figures["p90_days"] == pytest.approx(nearest_rank(days, 0.9), abs=1e-9)
    backlog = [r for r in rows if r["opened"] < end and (r["closed"] is None or r["closed"] >= end)]
    assert data["tables"]["timeliness_by_department"]["total"]["backlog"] == len(backlog)

    # Backlog age in the 30-60-90 windows, per department.
    ages = defaultdict(lambda: [0, 0, 0, 0])
    for r in backlog:
        age = end - r["opened"]
        window = next((i for i, bound in enumerate((30, 60, 90)) if age <= timedelta(days=bound)), 3)
        ages[r["department"]][window] += 1
    got = _rows(data, "backlog_age", "department")
    assert {k: [v["days_0_30"], v["days_31_60"], v["days_61_90"], v["days_over_90"]] for k, v in got.items()} == dict(ages)

    # The 13-month trend and the same months a year before: opened per month.
    bounds = month_bounds(date(2017, 7, 1), 25)
    per_month = [len(opened_in(lo, hi)) for lo, hi in zip(bounds, bounds[1:])]
    trend = data["tables"]["trend"]["rows"]
    assert [t["month"] for t in trend] == [f"{b:%Y-%m}" for b in bounds[12:25]]
    assert [t["opened"] for t in trend] == per_month[12:]
    assert [t["opened_year_before"] for t in trend] == per_month[:13]
    assert [t["closed"] for t in trend] == [len(closed_in(lo, hi)) for lo, hi in zip(bounds[12:], bounds[13:])]

    # Fiscal year to date (Kansas City's year starts 1 May) against the year before.
    fytd_start, _ = inclusive_range("2019-05-01", "2019-05-01", CHICAGO)
    before_fytd, _ = inclusive_range("2018-05-01", "2018-05-01", CHICAGO)
    counts = _rows(data, "headline_counts", "figure")
    assert counts["opened"]["fytd"] == len(opened_in(fytd_start, end))
    assert counts["opened"]["fytd_before"] == len(opened_in(before_fytd, before_end))
    assert counts["closed"]["month"] == len(closed)

    # Repeat requests: the previous case of the same type at the same address within 30 days.
    history = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["opened"]):
        if r["address"]:
            history[(r["type"], r["address"])].append(r)
    repeats, with_address = Counter(), Counter()
    for cases in history.values():
        for previous, case in zip([None, *cases], cases):
            if start <= case["opened"] < end:
                with_address[case["district"]] += 1
                if previous is not None and case["opened"] - previous["opened"] <= timedelta(days=30):
                    repeats[case["district"]] += 1
    got = _rows(data, "repeat_requests", "district")
    assert {k: v["opened"] for k, v in got.items()} == {k or "unknown": v for k, v in with_address.items()}
    assert {k: v["repeats"] for k, v in got.items()} == {k or "unknown": repeats.get(k, 0) for k in with_address}

    # Kansas City has a post-case survey but no answers in this data; no call records yet.
    assert "Satisfaction" in data["missing"] and "No answers" in data["missing"]["Satisfaction"]
    assert data["missing"]["Call centre"].startswith("No call records")
    assert {m["name"] for m in data["definitions"]} >= {"backlog_age", "repeat_requests", "trend", "low_sample"}


def test_kcstat_settings_are_checked(sqlite_deployment, monkeypatch):
    profile = sqlite_deployment.profile
    for table, message in (({"min_sample": 0}, "plugins.kcstat.min_sample: 0 is not a whole number"),
                           ({"backlog_windows": [60, 30]}, "plugins.kcstat.backlog_windows"),
                           ({"repeat_area": "ward"}, "plugins.kcstat.repeat_area: 'ward'"),
                           ({"colour": "red"}, "plugins.kcstat: unknown key 'colour'"),
                           ({"instrument": "nope"}, "plugins.kcstat.instrument: no survey 'nope'"),
                           ({"satisfaction_goals": [1.5]}, "plugins.kcstat.satisfaction_goals: 1.5")):
        monkeypatch.setitem(profile.settings, "plugins", {"kcstat": table})
        with pytest.raises(CivicError, match=message.replace(".", r"\.").replace("[", r"\[")):
            settings(sqlite_deployment)
