"""Which engine answers reports: the size test is exact at its threshold without counting every case."""

from sqlalchemy import func, select

from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.services import cases as case_service
from civiccrm.store.analytics import engine_for, more_cases_than
from civiccrm.store.tables import cases_table


def test_more_cases_than_is_exact_on_both_sides_of_the_threshold(deployment, monkeypatch):
    for n in range(3):
        case_service.intake(deployment, CaseDraft(
            service_code="Trash - Missed by City", description=f"Cart not emptied #{n}", channel="phone",
            location=Location(address="938 Mulberry St"), customer=Customer(name=f"Resident {n}")), actor="tester")
    with deployment.engine.connect() as conn:
        count, top = conn.execute(select(func.count(), func.max(cases_table.c.id))).one()
    assert count >= 3
    assert more_cases_than(deployment.engine, count - 1)
    assert not more_cases_than(deployment.engine, count)
    assert not more_cases_than(deployment.engine, top)  # answered from the largest id alone
    assert more_cases_than(deployment.engine, 0)
    monkeypatch.delenv("CIVICCRM_ANALYTICS", raising=False)
    monkeypatch.setenv("CIVICCRM_ANALYTICS_ABOVE", str(count - 1))
    assert engine_for(deployment.engine) == "duckdb"
    monkeypatch.setenv("CIVICCRM_ANALYTICS_ABOVE", str(count))
    assert engine_for(deployment.engine) == "sql"
