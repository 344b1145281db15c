"""Personal data on request and by retention: only contact data goes; cases, history and figures stay."""

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Location, Resolution
from civiccrm.errors import CivicError
from civiccrm.services import cases as case_service
from civiccrm.services import privacy

PAT = Customer(name="Pat Privacy", email="Pat.Privacy@example.org", phone="(816) 555-0142")
LEE = Customer(name="Lee Keep", email="lee.keep@example.org", phone="816-555-0199")


def new_case(deployment, customer, opened_at=None):
    return case_service.intake(deployment, CaseDraft(
        service_code="Trash - Missed by City", description="Cart not emptied", channel="phone",
        location=Location(address="938 Mulberry St"), customer=customer, opened_at=opened_at), actor="tester")


def dump(engine) -> str:
    """Everything stored outside the customers table, as text."""
    with engine.connect() as conn:
        rows = [conn.execute(text(f"SELECT * FROM {t}")).all() for t in ("cases", "case_events", "survey_invitations")]
    return repr(rows)


def contact(engine, customer_id):
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT name, email, phone FROM customers WHERE id = :i"),
                                  {"i": customer_id}).one())


def test_redact_by_email_removes_only_contact_data(deployment):
    first, second = new_case(deployment, PAT), new_case(deployment, PAT)
    other = new_case(deployment, LEE)
    before = case_service.get(deployment, first.tracking_number)
    removed = privacy.redact(deployment, email="pat.privacy@EXAMPLE.org", reason="request 2026-114", actor="clerk")
    assert set(removed.cases) == {first.tracking_number, second.tracking_number} and removed.customers == 2
    assert contact(deployment.engine, first.customer_id) == (None, None, None)
    assert contact(deployment.engine, other.customer_id) == (LEE.name, LEE.email, LEE.phone)
    after = case_service.get(deployment, first.tracking_number)
    assert (after.status, after.service_code, after.opened_at, after.due_at) == (
        before.status, before.service_code, before.opened_at, before.due_at)
    kinds = [e.kind for e in case_service.history(deployment, first.tracking_number)]
    assert kinds[-1] == "contact_redacted"
    stored = dump(deployment.engine)
    assert "Pat" not in stored and "555-0142" not in stored and "request 2026-114" in stored


def test_redact_by_phone_in_any_punctuation(deployment):
    case = new_case(deployment, PAT)
    privacy.redact(deployment, phone="+1 816 555 0142", reason="phoned in", actor="clerk")
    assert contact(deployment.engine, case.customer_id) == (None, None, None)


@pytest.mark.parametrize("kwargs, field", [
    ({"email": "nobody@example.org", "reason": "x"}, None),
    ({"reason": "x"}, "email"),
    ({"email": "pat.privacy@example.org", "reason": " "}, "reason"),
    ({"phone": "12", "reason": "x"}, "phone"),
])
def test_redact_refuses_bad_requests_and_changes_nothing(deployment, kwargs, field):
    new_case(deployment, PAT)
    before = dump(deployment.engine)
    with pytest.raises(CivicError) as error:
        privacy.redact(deployment, actor="clerk", **kwargs)
    assert error.value.field == field
    assert dump(deployment.engine) == before


def test_retention_purge_keeps_anyone_with_a_recent_or_open_case(deployment):
    now = datetime(2026, 6, 1, 15, tzinfo=timezone.utc)
    deployment.clock = lambda: now - timedelta(days=365 * 9)
    old = new_case(deployment, PAT, opened_at=now - timedelta(days=365 * 9 + 3))
    case_service.close(deployment, old.tracking_number, Resolution.FIXED, actor="tester")
    kept_open = new_case(deployment, LEE, opened_at=now - timedelta(days=365 * 9 + 3))
    deployment.clock = lambda: now
    recent = new_case(deployment, Customer(email="recent@example.org"))

    assert privacy.purge(deployment, years=7, actor="cron", dry_run=True).cases == (old.tracking_number,)
    assert contact(deployment.engine, old.customer_id) == (PAT.name, PAT.email, PAT.phone)
    removed = privacy.purge(deployment, years=7, actor="cron")
    assert removed.cases == (old.tracking_number,)
    assert contact(deployment.engine, old.customer_id) == (None, None, None)
    assert contact(deployment.engine, kept_open.customer_id)[0] == LEE.name
    assert contact(deployment.engine, recent.customer_id)[1] == "recent@example.org"
    closed = case_service.get(deployment, old.tracking_number)
    assert closed.resolution is Resolution.FIXED and closed.on_time is not None
    assert privacy.purge(deployment, years=7, actor="cron").customers == 0


def test_privacy_cli(database_url):
    from civiccrm.services.deployment import init_deployment

    deployment = init_deployment(database_url, "kansas-city")
    case = new_case(deployment, PAT)
    runner = CliRunner()
    done = runner.invoke(cli, ["--db", database_url, "privacy", "redact", "--case", case.tracking_number,
                               "--reason", "web form 88"])
    assert done.exit_code == 0 and "removed the contact data of 1 people on 1 cases" in done.output
    again = runner.invoke(cli, ["--db", database_url, "privacy", "redact", "--case", case.tracking_number,
                                "--reason", "web form 88"])
    assert again.exit_code == 1 and "no unredacted contact" in again.output and "Traceback" not in again.output
    bad = runner.invoke(cli, ["--db", database_url, "privacy", "purge", "--years", "-1"])
    assert bad.exit_code == 1 and "--years" in bad.output
    deployment.engine.dispose()


def test_purge_takes_the_profiles_retention_period(tmp_path):
    """`[privacy] retention_years` in profile.toml is the purge's period when --years is not given."""
    from civiccrm.services.deployment import init_deployment
    from profile_helpers import copy_kansas_city

    folder = copy_kansas_city(tmp_path)
    url = f"sqlite:///{tmp_path / 'civiccrm.db'}"
    runner = CliRunner()
    plain = init_deployment(url, str(folder))
    refused = runner.invoke(cli, ["--db", url, "privacy", "purge"])
    assert refused.exit_code == 1 and "--years" in refused.output and "retention_years" in refused.output
    assert "Traceback" not in refused.output
    plain.engine.dispose()

    with (folder / "profile.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n[privacy]\nretention_years = 7\n")
    deployment = init_deployment(url, str(folder))
    now = datetime(2026, 6, 1, 15, tzinfo=timezone.utc)
    deployment.clock = lambda: now - timedelta(days=365 * 8)
    old = new_case(deployment, PAT, opened_at=now - timedelta(days=365 * 8 + 3))
    case_service.close(deployment, old.tracking_number, Resolution.FIXED, actor="tester")
    deployment.clock = lambda: now - timedelta(days=365 * 6)
    younger = new_case(deployment, LEE, opened_at=now - timedelta(days=365 * 6 + 3))
    case_service.close(deployment, younger.tracking_number, Resolution.FIXED, actor="tester")
    deployment.clock = lambda: now

    assert privacy.retention_years(deployment) == 7
    assert privacy.purge(deployment, actor="cron", dry_run=True).cases == (old.tracking_number,)  # 8 years > 7
    assert privacy.purge(deployment, years=5, actor="cron", dry_run=True).customers == 2  # --years wins
    removed = privacy.purge(deployment, actor="cron")
    assert removed.cases == (old.tracking_number,)
    assert contact(deployment.engine, old.customer_id) == (None, None, None)
    assert contact(deployment.engine, younger.customer_id)[0] == LEE.name
    note = case_service.history(deployment, old.tracking_number)[-1].note
    assert "retention of 7 years" in note and PAT.email not in note
    deployment.engine.dispose()


@pytest.mark.parametrize("value, says", [("0", "retention_years 0"), ("-3", "retention_years -3"),
                                         ('"seven"', "privacy.retention_years must be")])
def test_a_bad_retention_period_is_refused_when_the_profile_loads(tmp_path, value, says):
    from profile_helpers import copy_kansas_city, load_error

    folder = copy_kansas_city(tmp_path)
    with (folder / "profile.toml").open("a", encoding="utf-8") as handle:
        handle.write(f"\n[privacy]\nretention_years = {value}\n")
    message = load_error(folder)
    assert says in message and "profile.toml" in message
