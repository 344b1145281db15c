"""The analytics engine (DuckDB over a Parquet copy): the same figures as the SQL path to the last digit,
kept current incrementally, chosen by configuration and by size; on SQLite and PostgreSQL."""

import json
from datetime import datetime, timedelta, timezone

import pyarrow.parquet
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.domain.cases import CaseEvent
from civiccrm.errors import CivicError
from civiccrm.metrics.kcstat import kcstat_figures
from civiccrm.metrics.matrix import matrix
from civiccrm.metrics.summary import summaries, summary, summary_from_pieces
from civiccrm.store.analytics import CASE_COLUMNS, AnalyticsCopy, engine_for, report_source
from civiccrm.store import repo
from civiccrm.store.tables import cases_table
from civiccrm_plugins.kcstat_pack import kcstat_document
from civiccrm_plugins.report_document import render_document

FILES = ("6_neighborhood.csv", "67_neighborhood.csv")


@pytest.fixture
def kc(deployment, shared_data, database_url):
    result = CliRunner().invoke(cli, ["--db", database_url, "import", "kcmo",
                                      *(str(shared_data / "kc311" / name) for name in FILES)])
    assert result.exit_code == 0, result.output
    return deployment


def correction(kind):
    return CaseEvent(kind=kind, at=datetime.now(timezone.utc), actor="test", note="a correction the copy must follow")


def figures(deployment, source):
    tz = deployment.profile.tz
    start, end = inclusive_range("2019-07-01", "2019-07-31", tz)
    rated = {"department_service": "service"}
    found = kcstat_figures(source, start=start, end=end, now=datetime(2020, 10, 1, tzinfo=timezone.utc), tz=tz,
                           fiscal_year_start=deployment.profile.fiscal_year_start, survey=("post-case", rated))
    grid = matrix(source, start=start, end=end, instrument="post-case", question="department_service",
                  acceptable_from=3, timeliness_target=0.85, satisfaction_target=0.85)
    return found, grid


def test_same_figures_as_the_sql_path_and_kept_current(kc, tmp_path, monkeypatch):
    monkeypatch.setattr("civiccrm.store.analytics.BATCH", 997)  # several batches, some columns blank in one
    copy = AnalyticsCopy(kc.engine, tmp_path / "analytics")
    first = copy.sync()
    with kc.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(cases_table))
        stored = [tuple(row) for row in conn.execute(select(*CASE_COLUMNS).order_by(cases_table.c.id))]
    assert first["cases"] == total > 5 * 997 and first["departments"] > 0
    # Every column of every case as the database gives it (SQLite: read from the driver's own rows, not
    # SQLAlchemy's): times as aware instants, flags as booleans, columns blank throughout a batch typed.
    base = pyarrow.parquet.read_table(tmp_path / "analytics" / "cases" / "base.parquet").sort_by("id")
    assert [tuple(row[c.name] for c in CASE_COLUMNS) for row in base.to_pylist()] == stored
    assert {row[CASE_COLUMNS.index(cases_table.c.on_time)] for row in stored} == {True, False, None}
    with copy.connect() as duck:
        engine_figures = figures(kc, duck)
        assert engine_figures == figures(kc, kc.engine)
        assert sum(r.repeats for r in engine_figures[0].repeats.current) > 0  # the repeats' pairs are really compared
        # The grouping columns are ENUMs of the copy's values, read as their text: a value the copy does not hold
        # matches nothing (no conversion error), min and max are the text's.
        raw = duck.connection.driver_connection
        assert raw.execute("SELECT typeof(department), typeof(service_code) FROM cases LIMIT 1").fetchone()[0][:4] == "ENUM"
        c = cases_table.c
        assert duck.scalar(select(func.count()).select_from(cases_table).where(c.department.in_(["none", "such"]))) == 0
        bounds = select(func.min(c.service_code), func.max(c.work_group), func.max(c.channel))
        with kc.engine.connect() as conn:
            assert tuple(duck.execute(bounds).one()) == tuple(conn.execute(bounds).one())
        # The grouping sets of summaries, told apart by GROUPING(), whatever the groupings asked for
        # (the channel alone, the channel with others, one grouping, each with its NULL-key group).
        start, end = inclusive_range("2019-07-01", "2019-07-31", kc.profile.tz)
        now = datetime(2019, 8, 15, tzinfo=timezone.utc)
        for bys in (["channel"], ["type", "channel"], ["district"], ["work-group", "department", "district"]):
            grouped = summaries(duck, start=start, end=end, bys=bys, now=now)
            assert grouped == {by: summary(kc.engine, start=start, end=end, by=by, now=now) for by in bys}
            assert all(report.groups for report in grouped.values())
        # A report's counts added up from its pieces: one known (July, as the pack's own month), a run of pieces
        # computed in one pass (not month-aligned), the backlog from the known report, the percentiles computed.
        may = inclusive_range("2019-05-01", "2019-05-01", kc.profile.tz)[0]
        cuts = [may, may + timedelta(days=19), start, end]
        for by in ("department", "work-group", "channel", "district"):
            july = summaries(duck, start=start, end=end, bys=[by], now=now)[by]
            pieced = summary_from_pieces(duck, start=may, end=end, by=by, now=now, pieces=cuts, known=[july])
            assert pieced == summary(kc.engine, start=may, end=end, by=by, now=now)
            assert pieced.total.opened > july.total.opened > 0 and pieced.total.backlog == july.total.backlog > 0
        with pytest.raises(ValueError, match="do not split"):
            summary_from_pieces(duck, start=may, end=end, by="department", now=now, pieces=[may, end, start])
    assert copy.sync()["cases"] == 0  # nothing changed: nothing copied

    # Change the data: close some open cases in July 2019, reopen a closed one, and sync again.
    july = datetime(2019, 7, 15, 12, tzinfo=timezone.utc)
    with kc.engine.begin() as conn:
        ids = conn.scalars(select(cases_table.c.id).where(cases_table.c.status != "closed").limit(5)).all()
        repo.set_outcome(conn, case_ids=ids, event=correction("closed"), values=dict(
            status="closed", resolution="fixed", closed_at=july, days_to_close=3.5, on_time=True,
            updated_at=datetime.now(timezone.utc)))
        reopened = conn.scalar(select(cases_table.c.id).where(cases_table.c.status == "closed",
                                                             cases_table.c.closed_at >= july - timedelta(days=14),
                                                             cases_table.c.closed_at < july).limit(1))
        repo.set_outcome(conn, case_ids=[reopened], event=correction("reopened"), values=dict(
            status="open", resolution=None, closed_at=None, days_to_close=None, on_time=None,
            updated_at=datetime.now(timezone.utc) + timedelta(seconds=1)))
    assert copy.sync()["cases"] == len(ids) + 1
    state = copy.state()["cases"]
    assert len(state["deltas"]) == 1 and state["base_rows"] == total  # small change: kept as a delta
    with copy.connect() as duck:
        assert duck.scalar(select(func.count()).select_from(cases_table)) == total
        assert figures(kc, duck) == figures(kc, kc.engine)


def test_compaction_folds_deltas_into_the_base(kc, tmp_path, monkeypatch):
    copy = AnalyticsCopy(kc.engine, tmp_path / "analytics")
    copy.sync()
    monkeypatch.setattr("civiccrm.store.analytics.COMPACT_SHARE", 0.0)
    with kc.engine.begin() as conn:
        conn.execute(update(cases_table).where(cases_table.c.id <= 10).values(updated_at=datetime.now(timezone.utc),
                                                                               council_district="9"))
    copy.sync()
    state = copy.state()["cases"]
    assert state["deltas"] == [] and state["delta_rows"] == 0
    with copy.connect() as duck:
        districts = duck.scalar(select(func.count()).where(cases_table.c.council_district == "9"))
        assert districts == 10
        assert figures(kc, duck) == figures(kc, kc.engine)


def test_engine_is_chosen_by_configuration_and_size(kc, tmp_path, monkeypatch):
    monkeypatch.setenv("CIVICCRM_ANALYTICS_DIR", str(tmp_path / "copy"))
    monkeypatch.delenv("CIVICCRM_ANALYTICS", raising=False)
    assert engine_for(kc.engine) == "sql"  # a few thousand cases: below the default million
    monkeypatch.setenv("CIVICCRM_ANALYTICS_ABOVE", "100")
    assert engine_for(kc.engine) == "duckdb"
    monkeypatch.setenv("CIVICCRM_ANALYTICS", "sql")
    assert engine_for(kc.engine) == "sql"
    monkeypatch.setenv("CIVICCRM_ANALYTICS", "duckdb")
    with report_source(kc.engine) as source:
        assert source.dialect.name == "duckdb"
    assert (tmp_path / "copy" / "state.json").is_file()
    start, end = inclusive_range("2019-07-01", "2019-07-31", kc.profile.tz)
    with_duck = render_document(kcstat_document(kc, start=start, end=end), "json")[0]
    monkeypatch.setenv("CIVICCRM_ANALYTICS", "sql")
    assert render_document(kcstat_document(kc, start=start, end=end), "json")[0] == with_duck
    assert json.loads(with_duck)["tables"]["trend"]["rows"]
    for name, value, message in (("CIVICCRM_ANALYTICS", "spark", "expected one of auto, sql, duckdb"),
                                 ("CIVICCRM_ANALYTICS_ABOVE", "lots", "not a whole number")):
        monkeypatch.setenv("CIVICCRM_ANALYTICS", "auto")
        monkeypatch.setenv(name, value)
        with pytest.raises(CivicError, match=message):
            engine_for(kc.engine)
        monkeypatch.delenv(name)


@pytest.fixture
def small_kc(sqlite_deployment, shared_data):
    """One neighbourhood of Kansas City's data (about 4,000 cases) on SQLite, for the figure cache's tests."""
    url = sqlite_deployment.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--db", url, "import", "kcmo", str(shared_data / "kc311" / FILES[1])])
    assert result.exit_code == 0, result.output
    return sqlite_deployment


def cached_figures(deployment, copy):
    """The figures through a new connection to the copy, with what its figure cache found and computed."""
    with copy.connect() as duck:
        found = figures(deployment, duck)
        cache = duck.info["figure_cache"]
        counts = (cache.hits, cache.misses)
    return found, counts, json.loads((copy.folder / "figures.json").read_text())["entries"]


def month_key(month: str, tz) -> str:
    first = datetime.strptime(month, "%Y-%m").replace(tzinfo=tz)
    after = (first + timedelta(days=32)).replace(day=1)
    return "month|" + "|".join(t.astimezone(timezone.utc).isoformat() for t in (first, after))


def test_a_changed_case_drops_exactly_the_cached_figures_it_is_in(small_kc, tmp_path):
    tz = small_kc.profile.tz
    copy = AnalyticsCopy(small_kc.engine, tmp_path / "analytics")
    copy.sync()
    first, (hits, misses), entries = cached_figures(small_kc, copy)
    assert first == figures(small_kc, small_kc.engine) and hits == 0 and misses > 0
    # 25 trend months, the summaries, backlog age and repeats of July 2019 and July 2018, the fiscal years.
    assert month_key("2019-03", tz) in entries and len(entries) >= 25 + 2 * 3 + 2
    # The fiscal years' counts (from May) are their past months' plus the pack's own month's, which it has.
    assert sorted(key.split("|")[2][:7] for key in entries if key.startswith("pieces|department|")) == [
        "2018-05", "2018-06", "2019-05", "2019-06"]
    again, (hits, misses), _ = cached_figures(small_kc, copy)
    assert again == first and misses == 0 and hits == len(entries)  # every figure of the pack from the cache

    # A case opened and closed in March 2019 (a trend month, in no other figure's scope): its on-time
    # verdict corrected. The sync drops March's figures alone; the pack shows the change, as the SQL path.
    lo, hi = datetime(2019, 3, 1, tzinfo=tz), datetime(2019, 4, 1, tzinfo=tz)
    with small_kc.engine.begin() as conn:
        target = conn.execute(select(cases_table.c.id, cases_table.c.on_time).where(
            cases_table.c.opened_at >= lo, cases_table.c.closed_at < hi, cases_table.c.on_time.is_not(None))
            .limit(1)).one()
        repo.set_outcome(conn, case_ids=[target.id], event=correction("closed"), values=dict(
            on_time=not target.on_time, updated_at=datetime.now(timezone.utc)))
    assert copy.sync()["cases"] == 1
    kept = json.loads((copy.folder / "figures.json").read_text())["entries"]
    assert set(entries) - set(kept) == {month_key("2019-03", tz)}
    assert all(kept[key] == entries[key] for key in kept)  # every other cached row left alone
    changed, (hits, misses), _ = cached_figures(small_kc, copy)
    assert misses == 1 and hits == len(entries) - 1
    assert changed == figures(small_kc, small_kc.engine)
    march = next(m for m in changed[0].trend if m.month == "2019-03")
    before = next(m for m in first[0].trend if m.month == "2019-03")
    assert march.on_time == before.on_time + (1 if not target.on_time else -1)

    # A case of 2016, outside every figure of the pack: copied, and every cached row kept.
    with small_kc.engine.begin() as conn:
        old = conn.scalar(select(cases_table.c.id).where(cases_table.c.opened_at < datetime(2016, 6, 1, tzinfo=tz),
                                                         cases_table.c.closed_at < datetime(2016, 7, 1, tzinfo=tz))
                          .limit(1))
        conn.execute(update(cases_table).where(cases_table.c.id == old).values(
            council_district="9", updated_at=datetime.now(timezone.utc)))
    assert copy.sync()["cases"] == 1
    assert set(json.loads((copy.folder / "figures.json").read_text())["entries"]) == set(entries)
    unchanged, (hits, misses), _ = cached_figures(small_kc, copy)
    assert misses == 0 and unchanged == changed

    # A connection opened before a sync does not write the figures it computed on the older data back.
    with copy.connect() as duck:
        duck.info["figure_cache"].entries.clear()  # as if nothing were cached yet: it computes every figure
        figures(small_kc, duck)
        with small_kc.engine.begin() as conn:  # March's case corrected back, synced while this connection computes
            repo.set_outcome(conn, case_ids=[target.id], event=correction("closed"), values=dict(
                on_time=target.on_time, updated_at=datetime.now(timezone.utc)))
        copy.sync()
    assert set(entries) - set(json.loads((copy.folder / "figures.json").read_text())["entries"]) == {
        month_key("2019-03", tz)}
    restored, (hits, misses), _ = cached_figures(small_kc, copy)
    assert misses == 1 and restored == first  # first: the SQL path's figures (checked above)

    # An unreadable cache file is an empty cache: the sync goes on, the figures are computed again.
    (copy.folder / "figures.json").write_text("{not json", encoding="utf-8")
    assert copy.sync()["cases"] == 0
    recomputed, (hits, misses), entries_now = cached_figures(small_kc, copy)
    assert recomputed == first and hits == 0 and set(entries_now) == set(entries)


def test_engine_percentiles_are_the_nearest_rank_of_the_portable_window():
    """DuckDB's quantile_disc with DECIMAL fractions against the SQL path's ranked window, both run on DuckDB:
    every group size from 1 to 400 (0.9 * n whole or not), ties, cases without days or closed after, and
    one group of 100,003 cases."""
    from sqlalchemy import create_engine

    from civiccrm.metrics.summary import _percentile_query

    engine = create_engine("duckdb:///:memory:")
    with engine.connect() as duck:
        raw = duck.connection.driver_connection
        raw.execute("CREATE TABLE cases AS SELECT 'g' || n AS department, TIMESTAMPTZ '2020-06-15 12:00:00+00' AS "
                    "closed_at, CAST((hash(n, x) % 97) / 4 AS DOUBLE) AS days_to_close "
                    "FROM range(1, 401) a(n), range(400) b(x) WHERE x < n")
        raw.execute("INSERT INTO cases SELECT 'big', TIMESTAMPTZ '2020-06-15 12:00:00+00', "
                    "CAST(hash(x) % 5000 AS DOUBLE) / 7 FROM range(100003) t(x)")
        raw.execute("INSERT INTO cases VALUES ('g1', TIMESTAMPTZ '2020-06-15 12:00:00+00', NULL), "
                    "('g2', TIMESTAMPTZ '2020-08-15 12:00:00+00', 1000.0)")  # no days; closed after the period
        closed_in = (cases_table.c.closed_at >= datetime(2020, 6, 1, tzinfo=timezone.utc)) & (
            cases_table.c.closed_at < datetime(2020, 7, 1, tzinfo=timezone.utc))
        for key in (cases_table.c.department, None):
            engine_rows = duck.execute(_percentile_query(key, closed_in, "duckdb")).mappings().all()
            window_rows = duck.execute(_percentile_query(key, closed_in, None)).mappings().all()
            assert len(engine_rows) == (401 if key is not None else 1)
            by_group = lambda rows: {r.get("g"): (r["n"], r["median_days"], r["p90_days"]) for r in rows}  # noqa: E731
            assert by_group(engine_rows) == by_group(window_rows)
    engine.dispose()
