"""Storage on SQLite and PostgreSQL: migrations, pragmas, aware datetimes, append-only history, PII apart."""

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.errors import CivicError
from civiccrm.services import cases as case_service
from civiccrm.services.deployment import init_deployment, open_deployment
from civiccrm.store import migrate
from civiccrm.store.db import database_url, make_engine
from civiccrm.store.tables import CaseEventRow, CaseRow, CustomerRow

KC = Path(__file__).resolve().parents[1] / "cities" / "kansas_city"
CHICAGO = ZoneInfo("America/Chicago")
TABLES = {"settings", "departments", "work_groups", "service_types", "customers", "cases", "case_events",
          "tracking_counters"}


def new_case(deployment, **kwargs):
    draft = dict(service_code="Trash - Missed by City", description="Cart not emptied", channel="phone",
                 location=Location(address="414 E 12th St", latitude=39.102738, longitude=-94.600134))
    draft.update(kwargs)
    return case_service.intake(deployment, CaseDraft(**draft), actor="tester")


def event_rows(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, case_id, at, actor, kind, origin, changes, note FROM case_events ORDER BY id"))]


# --- migrations ---------------------------------------------------------------


def test_db_upgrade_on_empty_database(database_url):
    runner = CliRunner()
    before = runner.invoke(cli, ["--db", database_url, "db", "current"])
    assert before.exit_code == 0, before.output
    assert "empty" in before.stdout

    result = runner.invoke(cli, ["--db", database_url, "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Database at revision ")
    head = result.stdout.split()[-1]
    assert head >= "0001"

    engine = make_engine(database_url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        assert migrate.current(engine) == head
    finally:
        engine.dispose()
    current = runner.invoke(cli, ["--db", database_url, "db", "current"])
    assert current.exit_code == 0 and current.stdout.strip() == head

    again = runner.invoke(cli, ["--db", database_url, "db", "upgrade"])
    assert again.exit_code == 0 and again.stdout.split()[-1] == head


def test_migrations_are_one_linear_history():
    """One head, and every revision revises the one before it: a second head fails here."""
    script = migrate.history()
    assert len(script.get_heads()) == 1, f"several Alembic heads: {script.get_heads()}"
    chain = list(script.walk_revisions())
    assert chain[-1].down_revision is None
    for newer, older in zip(chain, chain[1:]):
        assert newer.down_revision == older.revision, f"{newer.revision} does not revise {older.revision}"


def test_a_database_migrated_on_the_old_branches_upgrades_to_the_one_head(database_url):
    """A database set up while 0005, 0006 and 0007 were three heads keeps its data and ends on one head."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0007")
        with engine.begin() as conn:  # what the branched history left in alembic_version
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0005'), ('0006'), ('0007')"))
        assert migrate.current(engine) == "0005,0006,0007"
        migrate.upgrade(engine)
        head = migrate.history().get_current_head()
        assert migrate.current(engine) == head
    finally:
        engine.dispose()
    current = CliRunner().invoke(cli, ["--db", database_url, "db", "current"])
    assert current.stdout.strip() == head


def test_first_revision_creates_the_core_tables(database_url):
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        assert migrate.current(engine) == "0001"
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    current = CliRunner().invoke(cli, ["--db", database_url, "db", "current"])
    assert current.stdout.strip() == "0001"


def test_columns_match_the_table_models(deployment):
    columns = {c["name"] for c in inspect(deployment.engine).get_columns("cases")}
    assert columns == set(CaseRow.__table__.columns.keys())
    events = {c["name"] for c in inspect(deployment.engine).get_columns("case_events")}
    assert events == set(CaseEventRow.__table__.columns.keys())


def test_no_index_of_cases_repeats_the_first_columns_of_another(deployment):
    """Every new case writes every index: a full index whose columns begin another full index's answers nothing
    the longer one does not (ix_cases_service_code beside ix_cases_type_opened, dropped by migration 0030)."""
    found = [(index["name"], tuple(index["column_names"])) for index in inspect(deployment.engine).get_indexes("cases")
             if (index.get("dialect_options") or {}).get(f"{deployment.engine.dialect.name}_where") is None]
    assert "ix_cases_type_opened" in dict(found)
    repeated = [(short, long) for short, columns in found for long, longer in found
                if short != long and len(columns) < len(longer) and longer[:len(columns)] == columns]
    assert not repeated, f"indexes that begin another index: {repeated}"


def test_init_twice_keeps_cases(database_url):
    first = init_deployment(database_url, "kansas-city")
    try:
        case = new_case(first)
    finally:
        first.engine.dispose()
    second = init_deployment(database_url, "kansas-city")
    try:
        assert case_service.get(second, case.tracking_number).description == "Cart not emptied"
        with second.session() as s:
            assert s.scalar(text("SELECT count(*) FROM service_types")) == 793
    finally:
        second.engine.dispose()


def test_init_for_another_city_is_refused(deployment, database_url, tmp_path):
    other = tmp_path / "springfield"
    shutil.copytree(KC, other, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    toml = other / "profile.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('slug = "kansas-city"', 'slug = "springfield"'),
                    encoding="utf-8")
    with pytest.raises(CivicError, match="set up for 'kansas-city'.*'springfield'"):
        init_deployment(database_url, str(other))
    with deployment.session() as s:
        assert s.scalar(text("SELECT value FROM settings WHERE key = 'city'")) == "kansas-city"


def test_open_deployment_needs_init(database_url):
    with pytest.raises(CivicError, match="not set up.*civiccrm init"):
        open_deployment(database_url)


def test_open_deployment_finds_the_city(deployment, database_url):
    opened = open_deployment(database_url)
    try:
        assert opened.profile.slug == "kansas-city"
    finally:
        opened.engine.dispose()


@pytest.mark.parametrize("url, message", [
    ("not a url", "not a database URL"),
    ("mysql://u@h/db", "mysql is not supported"),
])
def test_database_url_refuses_what_it_cannot_use(url, message):
    with pytest.raises(CivicError, match=message):
        database_url(url)


def test_database_url_uses_psycopg_for_postgres():
    assert database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert database_url("postgres://u@h/db").startswith("postgresql+psycopg://")


# --- SQLite pragmas -----------------------------------------------------------


def test_sqlite_connections_use_wal_and_synchronous_full(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'civic.db'}")
    try:
        for _ in range(2):  # every pooled connection, not only the first
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with engine.connect() as a, engine.connect() as b:
            assert b.execute(text("PRAGMA synchronous")).scalar() == 2
            assert a.execute(text("PRAGMA synchronous")).scalar() == 2
    finally:
        engine.dispose()
    assert (tmp_path / "sub" / "civic.db").exists()


def test_deployment_engine_is_wal(sqlite_deployment):
    with sqlite_deployment.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2


# --- timezone-aware datetimes --------------------------------------------------


def test_datetimes_come_back_aware_and_equal(fixed_sla_deployment):
    deployment = fixed_sla_deployment  # trash missed: 4 calendar days (the test profile), so it spans the gap
    opened = datetime(2026, 3, 8, 1, 30, tzinfo=CHICAGO)  # just before the spring-forward gap
    case = new_case(deployment, opened_at=opened)
    stored = case_service.get(deployment, case.tracking_number)
    assert stored.opened_at == opened
    assert stored.opened_at.utcoffset() is not None
    assert stored.due_at.utcoffset() is not None
    assert stored.due_at.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 3, 12, 1, 30)
    assert stored.updated_at.utcoffset() is not None


def test_column_type_refuses_naive_datetimes(deployment):
    case = new_case(deployment)
    with deployment.session() as s:
        row = s.scalars(select(CaseRow).where(CaseRow.tracking_number == case.tracking_number)).one()
        row.due_at = datetime(2026, 1, 1, 12, 0)
        with pytest.raises(sqlalchemy.exc.StatementError, match="naive datetime"):
            s.commit()
    with deployment.session() as s:
        with pytest.raises(sqlalchemy.exc.StatementError, match="naive datetime"):
            s.execute(CustomerRow.__table__.insert().values(name="x", created_at=datetime(2026, 1, 1)))
    assert case_service.get(deployment, case.tracking_number).due_at == case.due_at


def test_datetime_filters_compare_instants(deployment):
    case = new_case(deployment, opened_at=datetime(2026, 5, 1, 23, 30, tzinfo=CHICAGO))  # 04:30 UTC on 2 May
    with deployment.session() as s:
        found = s.scalars(select(CaseRow.tracking_number).where(
            CaseRow.opened_at >= datetime(2026, 5, 2, 4, 0, tzinfo=timezone.utc),
            CaseRow.opened_at < datetime(2026, 5, 1, 23, 45, tzinfo=CHICAGO),
        )).all()
    assert found == [case.tracking_number]


# --- append-only history -------------------------------------------------------


def test_case_events_refuse_update_and_delete(deployment):
    case = new_case(deployment)
    case_service.add_note(deployment, case.tracking_number, "called back", actor="tester")
    before = event_rows(deployment.engine)
    assert len(before) == 2

    for statement in (
        "UPDATE case_events SET actor = 'mallory'",
        "UPDATE case_events SET note = NULL WHERE kind = 'note'",
        "DELETE FROM case_events",
        f"DELETE FROM case_events WHERE id = {before[0][0]}",
    ):
        with deployment.engine.connect() as conn:
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
                conn.execute(text(statement))
                conn.commit()
    assert event_rows(deployment.engine) == before


def test_case_events_refuse_truncate_on_postgresql(deployment):
    if deployment.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    new_case(deployment)
    before = event_rows(deployment.engine)
    with deployment.engine.connect() as conn:
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            conn.execute(text("TRUNCATE case_events"))
            conn.commit()
    assert event_rows(deployment.engine) == before


def test_orm_cannot_change_history_either(deployment):
    case = new_case(deployment)
    before = event_rows(deployment.engine)
    with deployment.session() as s:
        row = s.scalars(select(CaseEventRow)).first()
        row.actor = "mallory"
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            s.commit()
    with deployment.session() as s:
        s.delete(s.scalars(select(CaseEventRow)).first())
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            s.commit()
    assert event_rows(deployment.engine) == before
    assert [e.kind for e in case_service.history(deployment, case.tracking_number)] == ["created"]


# --- personal data apart ---------------------------------------------------------


def test_customer_details_live_in_customers_table(deployment):
    customer = Customer(name="Ada Resident", email="ada@example.org", phone="816-555-0100")
    case = new_case(deployment, customer=customer)
    case_columns = {c["name"] for c in inspect(deployment.engine).get_columns("cases")}
    assert not {"name", "email", "phone"} & case_columns

    with deployment.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM cases WHERE tracking_number = :t"),
                           {"t": case.tracking_number}).mappings().one()
        stored = conn.execute(text("SELECT name, email, phone FROM customers WHERE id = :id"),
                              {"id": row["customer_id"]}).one()
    assert tuple(stored) == ("Ada Resident", "ada@example.org", "816-555-0100")
    for value in row.values():
        assert value is None or not any(pii in str(value) for pii in ("Ada", "ada@", "555-0100"))
    assert case.customer_id == row["customer_id"]
    for event in event_rows(deployment.engine):
        assert not any(pii in str(event) for pii in ("Ada", "ada@", "555-0100"))

    anonymous = new_case(deployment, customer=Customer())
    assert anonymous.customer_id is None
    with deployment.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 1


def test_first_case_of_a_year_gets_number_one(deployment):
    case = new_case(deployment, opened_at=datetime(2031, 1, 1, 0, 5, tzinfo=CHICAGO))
    assert case.tracking_number == "KC-2031-000001"
    with deployment.engine.connect() as conn:
        assert conn.execute(text("SELECT last FROM tracking_counters WHERE year = 2031")).scalar() == 1


def test_opened_at_in_the_past_keeps_event_time_now(deployment):
    now = datetime(2026, 6, 10, 15, tzinfo=timezone.utc)
    deployment.clock = lambda: now
    case = new_case(deployment, opened_at=now - timedelta(days=30))
    [created] = case_service.history(deployment, case.tracking_number)
    assert created.at == now
    assert case.opened_at == now - timedelta(days=30)


def test_a_write_that_need_not_be_durable_skips_the_disk_wait_and_leaves_the_pooled_connection_durable(database_url):
    """Rate-limit counters are written with durable=False: inside, SQLite runs synchronous=NORMAL and PostgreSQL
    synchronous_commit off; the write is committed and seen by others; afterwards the connection is as it was."""
    from civiccrm.store import repo

    engine = make_engine(database_url)
    try:
        sqlite = engine.dialect.name == "sqlite"
        setting = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE counters (n INTEGER)")
        with repo.write_transaction(engine, durable=False) as connection:
            inside = connection.exec_driver_sql(setting).scalar()
            connection.exec_driver_sql("INSERT INTO counters VALUES (1)")
            connection.commit()
        assert str(inside) == ("1" if sqlite else "off")  # 1: NORMAL
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT COUNT(*) FROM counters").scalar() == 1
            assert str(connection.exec_driver_sql(setting).scalar()) == ("2" if sqlite else "on")  # 2: FULL
        with repo.write_transaction(engine) as connection:
            assert str(connection.exec_driver_sql(setting).scalar()) == ("2" if sqlite else "on")
    finally:
        engine.dispose()
