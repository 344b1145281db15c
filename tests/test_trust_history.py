"""History and past outcomes cannot be rewritten, whatever SQL a person types."""

import sqlite3

import pytest
import sqlalchemy
from sqlalchemy import text, update

from civiccrm.domain.cases import CaseDraft, Location
from civiccrm.services import cases as case_service


def new_case(deployment):
    return case_service.intake(deployment, CaseDraft(
        service_code="Trash - Missed by City",
        description="Cart not emptied", channel="phone", location=Location(address="938 Mulberry St")))


def snapshot(engine):
    with engine.connect() as conn:
        return (conn.execute(text("SELECT * FROM cases ORDER BY id")).all(),
                conn.execute(text("SELECT * FROM case_events ORDER BY id")).all())


def refused(engine, statement, match):
    with engine.connect() as conn:
        with pytest.raises(sqlalchemy.exc.DBAPIError, match=match):
            conn.execute(text(statement))
            conn.commit()


def test_replace_cannot_rewrite_a_history_row(deployment):
    if deployment.engine.dialect.name != "sqlite":
        pytest.skip("REPLACE is SQLite's")
    case = new_case(deployment)
    before = snapshot(deployment.engine)
    event_id = before[1][0].id
    for verb in ("INSERT OR REPLACE INTO", "REPLACE INTO"):
        refused(deployment.engine,
                f"{verb} case_events (id, case_id, at, actor, kind, origin, changes) VALUES "
                f"({event_id}, {case.id}, '2007-01-01 00:00:00.000000', 'mallory', 'created', 'intake', '{{}}')",
                "append-only")
    assert snapshot(deployment.engine) == before


def test_replace_cannot_rewrite_a_case(deployment):
    if deployment.engine.dialect.name != "sqlite":
        pytest.skip("REPLACE is SQLite's")
    case = new_case(deployment)
    before = snapshot(deployment.engine)
    refused(deployment.engine,
            "REPLACE INTO cases (id, tracking_number, service_code, request_type, channel, description, status, "
            "opened_at, updated_at, origin) SELECT id + 1000, tracking_number, service_code, request_type, channel, "
            "'rewritten', 'closed', opened_at, updated_at, origin FROM cases",
            "never deleted or replaced")
    assert snapshot(deployment.engine) == before
    assert case_service.get(deployment, case.tracking_number).description == "Cart not emptied"


def test_cases_cannot_be_deleted(deployment):
    new_case(deployment)
    before = snapshot(deployment.engine)
    statements = ["DELETE FROM cases"]
    if deployment.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE cases CASCADE")
    for statement in statements:
        refused(deployment.engine, statement, "never deleted")
    assert snapshot(deployment.engine) == before


def test_delete_refused_with_foreign_keys_off_as_in_the_sqlite3_shell(sqlite_deployment):
    new_case(sqlite_deployment)
    before = snapshot(sqlite_deployment.engine)
    path = sqlite_deployment.engine.url.database
    sqlite_deployment.engine.dispose()
    shell = sqlite3.connect(path)
    try:
        assert shell.execute("PRAGMA foreign_keys").fetchone() == (0,)
        with pytest.raises(sqlite3.DatabaseError, match="never deleted"):
            shell.execute("DELETE FROM cases")
        shell.rollback()
    finally:
        shell.close()
    assert snapshot(sqlite_deployment.engine) == before


# --- outcomes change only with an event ------------------------------------------------------

OUTCOME_CHANGES = [
    "UPDATE cases SET resolution = 'duplicate'",
    "UPDATE cases SET status = 'open', resolution = NULL, closed_at = NULL, on_time = NULL",
    "UPDATE cases SET on_time = NOT on_time",
    "UPDATE cases SET closed_at = opened_at",
    "UPDATE cases SET days_to_close = 0.5",
    "UPDATE cases SET status = 'open', last_event_id = last_event_id",
]


def closed_case(deployment):
    from civiccrm.domain.cases import Resolution

    case = new_case(deployment)
    return case_service.close(deployment, case.tracking_number, Resolution.FIXED, actor="tester")


@pytest.mark.parametrize("statement", OUTCOME_CHANGES)
def test_an_outcome_cannot_change_without_an_event(deployment, statement):
    closed_case(deployment)
    before = snapshot(deployment.engine)
    refused(deployment.engine, statement, "changes only with an event")
    assert snapshot(deployment.engine) == before


def test_last_event_id_must_advance_to_a_new_event_of_the_case(deployment):
    case, other = closed_case(deployment), new_case(deployment)
    before = snapshot(deployment.engine)
    [old_event] = [e.id for e in case_service.history(deployment, case.tracking_number) if e.kind == "created"]
    [others] = [e.id for e in case_service.history(deployment, other.tracking_number)]
    for statement in (f"UPDATE cases SET resolution = 'duplicate', last_event_id = {old_event} WHERE id = {case.id}",
                      f"UPDATE cases SET resolution = 'duplicate', last_event_id = {others} WHERE id = {case.id}",
                      f"UPDATE cases SET resolution = 'duplicate', last_event_id = NULL WHERE id = {case.id}",
                      f"UPDATE cases SET last_event_id = {old_event} WHERE id = {case.id}"):
        refused(deployment.engine, statement, "changes only with an event")
    assert snapshot(deployment.engine) == before


def test_an_outcome_changes_with_its_event_and_other_columns_freely(deployment):
    case = closed_case(deployment)
    saved = case_service.history(deployment, case.tracking_number)[-1]
    with deployment.engine.connect() as conn:
        assert conn.execute(text(f"SELECT last_event_id FROM cases WHERE id = {case.id}")).scalar() == saved.id
        conn.execute(text(f"UPDATE cases SET council_district = '9', sla_level = 2 WHERE id = {case.id}"))
        conn.execute(text("INSERT INTO case_events (case_id, at, actor, kind, origin, changes, note) VALUES "
                          f"({case.id}, '2026-12-01 12:00:00.000000', 'dba', 'corrected', 'intake', '{{}}', 'typo')"))
        conn.execute(text("UPDATE cases SET resolution = 'duplicate', last_event_id = "
                          f"(SELECT max(id) FROM case_events WHERE case_id = {case.id}) WHERE id = {case.id}"))
        conn.commit()
    after = case_service.get(deployment, case.tracking_number)
    assert after.resolution.value == "duplicate" and after.location.council_district == "9"
    assert case_service.history(deployment, case.tracking_number)[-1].note == "typo"


def test_a_rejudged_verdict_is_recorded_in_history(deployment):
    """sla recompute --include-closed changes closed cases' on-time verdicts: each with its event."""
    from datetime import timedelta

    from civiccrm.domain.cases import CaseEvent
    from civiccrm.services import sla
    from civiccrm.store import repo
    from civiccrm.store.tables import cases_table

    case = closed_case(deployment)
    assert case.on_time is True and case.due_at is not None
    with deployment.engine.begin() as conn:  # a wrong verdict (corrected with its event) and a stale due time
        repo.set_outcome(conn, case_ids=[case.id], values={"on_time": False}, event=CaseEvent(
            kind="corrected", at=deployment.clock(), actor="tester"))
        conn.execute(update(cases_table).where(cases_table.c.id == case.id).values(
            due_at=case.due_at - timedelta(days=1)))
    result = sla.recompute(deployment, include_closed=True)
    assert result.verdicts_changed == 1
    after = case_service.get(deployment, case.tracking_number)
    last = case_service.history(deployment, case.tracking_number)[-1]
    assert after.on_time is True and after.due_at == case.due_at
    assert (last.kind, last.actor, last.changes) == ("verdict_recomputed", "sla-recompute", {"on_time": [False, True]})
    with deployment.engine.connect() as conn:
        assert conn.execute(text(f"SELECT last_event_id FROM cases WHERE id = {case.id}")).scalar() == last.id


# --- the hash chain -------------------------------------------------------------------

from click.testing import CliRunner  # noqa: E402

from civiccrm.cli import cli  # noqa: E402
from civiccrm.services import audit  # noqa: E402


def drop_history_triggers(engine):
    """What a superuser could do: take the append-only triggers away."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in ("case_events_no_update", "case_events_no_delete", "case_events_no_replace"):
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            conn.execute(text("DROP TRIGGER case_events_append_only ON case_events"))


def test_seal_then_verify_names_the_first_changed_link(deployment):
    first, second = new_case(deployment), new_case(deployment)
    case_service.add_note(deployment, second.tracking_number, "crew on the way", actor="tester")
    assert audit.seal(deployment) == 3
    assert audit.seal(deployment) == 0  # idempotent
    verdict = audit.verify(deployment)
    assert verdict.ok and verdict.links == 3 and verdict.unsealed == 0
    kept = audit.head(deployment)
    assert kept.position == 3 and len(kept.hash) == 64

    case_service.add_note(deployment, first.tracking_number, "called back", actor="tester")
    assert audit.verify(deployment).unsealed == 1
    assert audit.seal(deployment) == 1

    drop_history_triggers(deployment.engine)
    with deployment.engine.begin() as conn:
        conn.execute(text("UPDATE case_events SET actor = 'mallory' WHERE note = 'crew on the way'"))
    verdict = audit.verify(deployment, expected=kept)
    assert not verdict.ok
    assert verdict.broken["link"] == 3 and verdict.broken["case"] == second.tracking_number
    assert "changed" in verdict.broken["problem"]


def test_verify_finds_a_deleted_history_row(deployment):
    case = new_case(deployment)
    case_service.add_note(deployment, case.tracking_number, "first note", actor="tester")
    case_service.add_note(deployment, case.tracking_number, "second note", actor="tester")
    audit.seal(deployment)
    drop_history_triggers(deployment.engine)
    with deployment.engine.begin() as conn:
        conn.execute(text("DELETE FROM case_events WHERE note = 'first note'"))
    verdict = audit.verify(deployment)
    assert verdict.broken["link"] == 2 and "gone" in verdict.broken["problem"]


def test_a_recomputed_chain_does_not_pass_the_kept_head(deployment):
    case = new_case(deployment)
    audit.seal(deployment)
    kept = audit.head(deployment)
    drop_history_triggers(deployment.engine)
    with deployment.engine.begin() as conn:  # rewrite the history and the chain, consistently
        conn.execute(text("UPDATE case_events SET actor = 'mallory'"))
        if deployment.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_chain_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_chain_append_only ON audit_chain"))
        conn.execute(text("DELETE FROM audit_chain"))
    audit.seal(deployment)
    assert audit.verify(deployment).ok  # self-consistent...
    verdict = audit.verify(deployment, expected=kept)  # ...but not the chain that was kept
    assert not verdict.ok and "kept head" in verdict.broken["problem"]
    assert case.tracking_number


def test_chain_links_are_append_only(deployment):
    new_case(deployment)
    audit.seal(deployment)
    refused(deployment.engine, "UPDATE audit_chain SET hash = 'x'", "append-only")
    refused(deployment.engine, "DELETE FROM audit_chain", "append-only")


def test_audit_cli(database_url, tmp_path):
    from civiccrm.services.deployment import init_deployment

    deployment = init_deployment(database_url, "kansas-city")
    new_case(deployment)
    runner = CliRunner()
    sealed = runner.invoke(cli, ["--db", database_url, "audit", "seal"])
    assert sealed.exit_code == 0 and "sealed 1 events" in sealed.output
    kept = runner.invoke(cli, ["--db", database_url, "audit", "head"]).output.strip()
    ok = runner.invoke(cli, ["--db", database_url, "audit", "verify", "--head", kept])
    assert ok.exit_code == 0 and "chain intact: 1 links" in ok.output
    bad = runner.invoke(cli, ["--db", database_url, "audit", "verify", "--head", "nonsense"])
    assert bad.exit_code != 0 and "HASH@COUNT" in bad.output and "Traceback" not in bad.output
    drop_history_triggers(deployment.engine)
    with deployment.engine.begin() as conn:
        conn.execute(text("UPDATE case_events SET note = 'rewritten'"))
    broken = runner.invoke(cli, ["--db", database_url, "audit", "verify", "--json"])
    assert broken.exit_code == 1 and '"ok": false' in broken.output
    deployment.engine.dispose()
