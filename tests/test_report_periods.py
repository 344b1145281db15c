"""Named report periods: --month and --fiscal-year (named by the year a fiscal year ends in)."""

import json

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.cli.params import named_period
from civiccrm.errors import CivicError


@pytest.mark.parametrize("month, fiscal_year, start, expected", [
    ("2019-12", None, (5, 1), ("2019-12-01", "2019-12-31")),
    ("2020-02", None, (5, 1), ("2020-02-01", "2020-02-29")),  # leap year
    ("2021-02", None, (5, 1), ("2021-02-01", "2021-02-28")),
    (None, 2020, (5, 1), ("2019-05-01", "2020-04-30")),       # Kansas City: May 1
    (None, 2020, (7, 1), ("2019-07-01", "2020-06-30")),
    (None, 2020, (1, 1), ("2020-01-01", "2020-12-31")),       # calendar-year cities
])
def test_named_period(month, fiscal_year, start, expected):
    assert named_period(month, fiscal_year, start) == expected


@pytest.mark.parametrize("month", ["2020-13", "December", "2020/12", ""])
def test_bad_month_is_refused(month):
    with pytest.raises(CivicError, match="--month"):
        named_period(month or "x", None, (5, 1))


def test_summary_and_render_take_named_periods(tmp_path):
    url = f"sqlite:///{tmp_path / 'civiccrm.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", url, "init", "--city", "kansas-city"]).exit_code == 0

    fy = runner.invoke(cli, ["--db", url, "report", "summary", "--fiscal-year", "2020", "--json"])
    assert fy.exit_code == 0, fy.output
    assert json.loads(fy.stdout)["period"] == {"from": "2019-05-01", "to": "2020-04-30"}

    rendered = runner.invoke(cli, ["--db", url, "report", "render", "council-monthly", "--month", "2019-12"])
    assert rendered.exit_code == 0, rendered.output
    period = json.loads(rendered.stdout)["period"]
    assert (period["first_day"], period["last_day"]) == ("2019-12-01", "2019-12-31")

    for args, words in (
        (["report", "summary", "--month", "2019-12", "--from", "2019-12-01"], "not both"),
        (["report", "summary", "--month", "2019-12", "--fiscal-year", "2020"], "not both"),
        (["report", "render", "council-monthly"], "--month"),
    ):
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
