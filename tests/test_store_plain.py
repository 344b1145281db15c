"""store.plain runs the hot paths' statements on the driver's cursor: the rows it writes and returns must be the ones
SQLAlchemy's Connection writes and returns, errors must come out as SQLAlchemy's, and the caller's commit (or its
rollback) through the Connection must cover them."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from civiccrm.store import plain, repo
from civiccrm.store.tables import cases_table, events_table

AT = datetime(2026, 3, 8, 8, 30, 15, 123456, tzinfo=timezone.utc)


def case_values(number):
    return {"tracking_number": number, "service_code": "trash-missed-by-city", "request_type": "Trash", "channel": "app",
            "description": "Cart not emptied", "status": "new", "opened_at": AT, "updated_at": AT, "due_at": None,
            "latitude": 39.0997, "longitude": -94.5786, "origin": "intake"}


def test_the_driver_path_writes_and_returns_what_sqlalchemy_does(deployment):
    with repo.write_transaction(deployment.engine) as connection:
        by_driver = plain.execute(connection, repo._INSERT_CASE, case_values("T-PLAIN-1"))[0]["id"]
        by_sqlalchemy = connection.execute(repo._INSERT_CASE, case_values("T-PLAIN-2")).scalar_one()
        event = {"at": AT, "actor": "test", "kind": "created", "origin": "intake", "changes": "{}", "note": None}
        event_ids = [plain.execute(connection, repo._INSERT_FIRST_EVENT, {**event, "case_id": by_driver})[0]["id"],
                     connection.execute(repo._INSERT_FIRST_EVENT, {**event, "case_id": by_sqlalchemy}).scalar_one()]
        plain.execute(connection, repo._INSERT_ATTRIBUTES, [{"case_id": by_driver, "code": "C", "value": v} for v in "ab"])
        connection.commit()
    assert isinstance(by_driver, int) and isinstance(event_ids[0], int)
    with deployment.engine.connect() as connection:
        rows = {r.id: r._asdict() for r in connection.execute(select(cases_table).where(cases_table.c.id.in_([by_driver, by_sqlalchemy])))}
        events = [r._asdict() for r in connection.execute(select(events_table).where(events_table.c.id.in_(event_ids)).order_by(events_table.c.id))]
        attributes = connection.execute(select(repo.CaseAttributeRow.__table__.c.value).where(
            repo.CaseAttributeRow.__table__.c.case_id == by_driver)).scalars().all()
    one, other = rows[by_driver], rows[by_sqlalchemy]
    differs = {"id", "tracking_number", "last_event_id"}
    assert {k: v for k, v in one.items() if k not in differs} == {k: v for k, v in other.items() if k not in differs}
    assert one["opened_at"] == AT and one["opened_at"].utcoffset().total_seconds() == 0  # aware UTC, microseconds kept
    assert one["sla_paused_seconds"] == 0  # the column's Python-side default, as SQLAlchemy fills it
    assert events[0]["at"] == events[1]["at"] == AT and events[0]["case_id"] == by_driver
    assert sorted(attributes) == ["a", "b"]


def test_a_driver_error_is_sqlalchemys_and_the_rollback_covers_the_driver_statements(deployment):
    with repo.write_transaction(deployment.engine) as connection:
        plain.execute(connection, repo._INSERT_CASE, case_values("T-PLAIN-3"))
        with pytest.raises(IntegrityError):  # the tracking number is taken
            plain.execute(connection, repo._INSERT_CASE, case_values("T-PLAIN-3"))
        # not committed: write_transaction rolls back
    with deployment.engine.connect() as connection:
        found = connection.execute(select(cases_table.c.id).where(cases_table.c.tracking_number == "T-PLAIN-3")).all()
    assert found == []


def test_a_commit_through_the_connection_covers_a_first_driver_statement(deployment):
    """On PostgreSQL a durable write transaction sends nothing before the first statement: plain.execute begins
    the Connection's transaction, or its commit would do nothing and the pool would roll the insert back."""
    with deployment.engine.connect() as connection:
        assert not connection.in_transaction()
        plain.execute(connection, repo._INSERT_CASE, case_values("T-PLAIN-4"))
        connection.commit()
    with deployment.engine.connect() as connection:
        assert connection.execute(select(cases_table.c.id).where(cases_table.c.tracking_number == "T-PLAIN-4")).all()


def test_a_column_default_computed_at_execution_is_refused():
    from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert
    from sqlalchemy.dialects import sqlite

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", DateTime, default=lambda: datetime.now(timezone.utc)))
    with pytest.raises(ValueError, match="column at"):
        plain.Plain(insert(table), sqlite.dialect(), ("id",))
