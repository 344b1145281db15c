"""A copy too large to load into memory is read from its base kept as a DuckDB file, with the deltas over it:
the same figures as the database, the file built once per base."""

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.errors import CivicError
from civiccrm.metrics.summary import summary
from civiccrm.services import cases as case_service
from civiccrm.store.analytics import AnalyticsCopy, in_memory_rows

NOW = datetime.now(timezone.utc)
PERIODS = ((datetime(2019, 7, 1, 5, tzinfo=timezone.utc), datetime(2019, 8, 1, 5, tzinfo=timezone.utc)),
           (NOW - timedelta(days=2), NOW + timedelta(days=1)))


def figures(source):
    return [summary(source, start=start, end=end, by=by, now=NOW + timedelta(days=1)).to_dict()
            for start, end in PERIODS for by in (None, "department")]


def test_a_large_copy_reads_its_stored_base_with_the_deltas_over_it(deployment, shared_data, database_url, tmp_path,
                                                                    monkeypatch):
    result = CliRunner().invoke(cli, ["--db", database_url, "import", "kcmo",
                                      str(shared_data / "kc311" / "6_neighborhood.csv")])
    assert result.exit_code == 0, result.output
    copy = AnalyticsCopy(deployment.engine, tmp_path / "copy")
    copy.sync()
    on_sql = figures(deployment.engine)
    assert on_sql[0]["total"]["opened"] > 0
    monkeypatch.setenv("CIVICCRM_ANALYTICS_IN_MEMORY_ROWS", "0")
    with copy.connect() as duck:
        assert duck.exec_driver_sql("SELECT table_type FROM information_schema.tables "
                                    "WHERE table_name = 'cases' AND table_catalog = 'memory'").scalar() == "VIEW"
        assert figures(duck) == on_sql
    stored = list((tmp_path / "copy" / "cases").glob("stored-*.duckdb"))
    assert len(stored) == 1
    built = stored[0].stat().st_mtime_ns

    # A new case: the delta's row joins the stored base's, which is not built again.
    case_service.intake(deployment, CaseDraft(
        service_code="Trash - Missed by City", description="Cart not emptied", channel="phone",
        location=Location(address="938 Mulberry St"), customer=Customer(name="Resident")), actor="tester")
    copy.sync()
    assert copy.state()["cases"]["deltas"]
    changed = figures(deployment.engine)
    assert changed[2]["total"]["opened"] == on_sql[2]["total"]["opened"] + 1
    with copy.connect() as duck:
        assert figures(duck) == changed
    assert [p.stat().st_mtime_ns for p in (tmp_path / "copy" / "cases").glob("stored-*.duckdb")] == [built]
    monkeypatch.setenv("CIVICCRM_ANALYTICS_IN_MEMORY_ROWS", "1000000")
    with copy.connect() as duck:  # loaded into memory: the same
        assert figures(duck) == changed
    monkeypatch.delenv("CIVICCRM_ANALYTICS_IN_MEMORY_ROWS")
    assert in_memory_rows() >= 1_000_000  # the default: 40% of any machine that runs the suite, at 500 bytes a case
    monkeypatch.setenv("CIVICCRM_ANALYTICS_IN_MEMORY_ROWS", "many")
    with pytest.raises(CivicError, match="CIVICCRM_ANALYTICS_IN_MEMORY_ROWS: 'many' is not a whole number"):
        in_memory_rows()
