"""`civiccrm profile draft`: a city profile from its own export, that `civiccrm init` takes as it is."""

import csv
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain.mapping import DraftSettings
from civiccrm.domain.timeframes import derive, method_for
from civiccrm.errors import CivicError
from civiccrm.services.profile_draft import draft_profile

DATA = Path(__file__).parent / "data"
NYC = DATA / "nyc311_sample.csv"


def _types(folder: Path) -> dict:
    with (folder / "service_types.csv").open(newline="", encoding="utf-8") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


def test_draft_from_the_nyc_sample_passes_init_and_takes_its_import(tmp_path):
    out = tmp_path / "new-york"
    runner = CliRunner()
    result = runner.invoke(cli, ["profile", "draft", "--from-export", str(NYC), "--mapping", "nyc-311", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "From 9 cases in 1 file(s) (mapping nyc-311); 4 row(s) could not be read, 1 older row(s)" in result.output
    types = _types(out)
    assert set(types) == {"dirty-condition", "heat-hot-water", "illegal-parking", "noise-residential"}
    assert types["dirty-condition"]["department"] == "dsny" and types["dirty-condition"]["cases"] == "2"
    report = (out / "DRAFT-REPORT.md").read_text(encoding="utf-8")
    for check in ("**Timezone**", "**Boundary and districts**", "sla_source = default", "nyc311_sample.csv:5"):
        assert check in report
    assert (out / "mappings" / "nyc-311.toml").is_file()
    db = f"sqlite:///{tmp_path / 'ny.db'}"
    init = runner.invoke(cli, ["--db", db, "init", "--city", str(out)])
    assert init.exit_code == 0, init.output
    imported = runner.invoke(cli, ["--db", db, "import", "csv", str(NYC), "--mapping", "nyc-311"])
    assert imported.exit_code == 0, imported.output
    assert "imported 9" in imported.output and "unknown service type" not in imported.output


HEAD = "id,opened,closed,due,type,dept,late\n"
MAPPING = """
[mapping]
name = "tiny"
[fields]
id = "id"
opened = "opened"
closed = "closed"
name = "type"
department = "dept"
{extra}
[dates]
timezone = "America/Denver"
[draft]
min_verdicts = 3
min_peers = 1
close_quantile = 0.5
"""


def _draft(tmp_path, rows, extra=""):
    data = tmp_path / "export.csv"
    data.write_text(HEAD + "".join(rows), encoding="utf-8")
    mapping = tmp_path / "tiny.toml"
    mapping.write_text(MAPPING.format(extra=extra), encoding="utf-8")
    out = tmp_path / "out"
    figures = draft_profile([str(data)], mapping=str(mapping), out=out)
    return _types(out), figures


def _row(n, closed_day, due_day="", kind="Pothole", late=""):
    return f"{n},2024-01-01T08:00:00,{'' if closed_day is None else f'2024-01-{closed_day:02d}T08:00:00'}," \
           f"{'' if not due_day else f'2024-01-{due_day:02d}T08:00:00'},{kind},Streets,{late}\n"


def test_time_frames_from_verdicts(tmp_path):
    rows = [_row(1, 2, late="N"), _row(2, 3, late="N"), _row(3, 4, late="N"), _row(4, 9, late="Y"),
            _row(5, 2, kind="Graffiti")]
    types, figures = _draft(tmp_path, rows, extra='exceeded = "late"')
    assert (types["pothole"]["sla_days"], types["pothole"]["sla_source"]) == ("3", "data")
    assert (types["graffiti"]["sla_days"], types["graffiti"]["sla_source"]) == ("3", "default")  # its peers'
    assert figures["by_method"] == {"data": 1, "default": 1}


def test_time_frames_from_due_dates(tmp_path):
    rows = [_row(n, None, due_day=d) for n, d in ((1, 3), (2, 4), (3, 6))]  # 2, 3 and 5 days after opening
    types, _ = _draft(tmp_path, rows, extra='due = "due"')
    assert (types["pothole"]["sla_days"], types["pothole"]["sla_source"]) == ("3", "due-dates")


def test_time_frames_from_days_to_close(tmp_path):
    rows = [_row(n, d) for n, d in ((1, 2), (2, 3), (3, 5), (4, 11))]  # 1, 2, 4 and 10 days to close
    types, _ = _draft(tmp_path, rows)
    assert (types["pothole"]["sla_days"], types["pothole"]["sla_source"]) == ("2", "days-to-close")


def test_method_follows_what_the_export_has():
    settings = DraftSettings(min_verdicts=2, fit_since=date(2020, 1, 1))
    with_verdicts = {"verdicts": [(date(2019, 5, 1), 9, True), (date(2021, 1, 1), 1, False),
                                  (date(2021, 2, 1), 2, False)], "due_days": [], "close_days": [1, 2, 9]}
    assert method_for([with_verdicts]) == "verdicts"
    fit = derive(with_verdicts, settings, "verdicts")
    assert (fit["days"], fit["window"], fit["observations"]) == (2, "since-2020-01", 2)
    assert method_for([{"verdicts": [], "due_days": [3.0], "close_days": []}]) == "due-dates"
    assert derive({"verdicts": [], "due_days": [], "close_days": [1]}, settings, "days-to-close")["method"] == "default"


def test_bad_drafts_are_refused(tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CivicError, match="is not empty"):
        draft_profile([str(NYC)], mapping="nyc-311", out=out)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["profile", "draft", "--from-export", str(wrong), "--mapping", "nyc-311",
                                      "--out", str(tmp_path / "new")])
    assert result.exit_code == 1 and "not a nyc-311 export: missing column(s)" in result.output
    assert "Traceback" not in result.output
