"""SQL of the integrations: work orders, updates received, fetches, and each destination's delivery record."""

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from civiccrm.domain.cases import Resolution
from civiccrm.domain.work_orders import WorkOrder, WorkOrderStatus
from civiccrm.store.tables import (
    cases_table,
    integration_fetches_table,
    integration_updates_table,
    outbox_attempts_table,
    outbox_table,
    work_orders_table,
)

w, u, f = work_orders_table, integration_updates_table, integration_fetches_table


def _work_order(row) -> WorkOrder:
    return WorkOrder(id=row.id, case_id=row.case_id, destination=row.destination, status=WorkOrderStatus(row.status),
                     opened_at=row.opened_at, external_id=row.external_id, external_status=row.external_status,
                     completed_at=row.completed_at, resolution=Resolution(row.resolution) if row.resolution else None)


def open_work_order(connection, *, case_id: int, destination: str, at: datetime) -> int:
    """The case's work order in ``destination``, created open if it has none; its id."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(dialect.insert(w).values(case_id=case_id, destination=destination,
                                                status=WorkOrderStatus.OPEN.value, opened_at=at, updated_at=at)
                       .on_conflict_do_nothing(index_elements=["case_id", "destination"]))
    return connection.execute(select(w.c.id).where(w.c.case_id == case_id, w.c.destination == destination)).scalar_one()


def work_orders_of(connection, case_id: int) -> list[WorkOrder]:
    return [_work_order(r) for r in connection.execute(select(w).where(w.c.case_id == case_id).order_by(w.c.id))]


def work_order(connection, work_order_id: int) -> WorkOrder | None:
    row = connection.execute(select(w).where(w.c.id == work_order_id)).first()
    return _work_order(row) if row else None


def find_work_order(connection, *, destination: str, reference: str) -> tuple[WorkOrder, str] | None:
    """The work order ``reference`` names in ``destination`` (its external id, or our tracking number,
    which some systems echo), with the case's tracking number."""
    c = cases_table
    base = select(w, c.c.tracking_number).join(c, c.c.id == w.c.case_id).where(w.c.destination == destination)
    row = connection.execute(base.where(w.c.external_id == reference)).first()
    if row is None:
        row = connection.execute(base.where(c.c.tracking_number == reference)).first()
    return (_work_order(row), row.tracking_number) if row else None


def set_external_id(connection, *, work_order_id: int, external_id: str, at: datetime) -> None:
    connection.execute(update(w).where(w.c.id == work_order_id).values(external_id=external_id, updated_at=at))


def set_work_order_status(connection, *, work_order_id: int, status: WorkOrderStatus, external_status: str,
                          at: datetime, resolution: Resolution | None = None) -> None:
    values = {"status": status.value, "external_status": external_status, "updated_at": at}
    if status is not WorkOrderStatus.OPEN:
        values.update(completed_at=at, resolution=resolution.value if resolution else None)
    connection.execute(update(w).where(w.c.id == work_order_id).values(**values))


def seen_update(connection, *, destination: str, update_id: str) -> bool:
    return connection.execute(select(u.c.id).where(u.c.destination == destination, u.c.update_id == update_id,
                                                   u.c.outcome != "refused")).first() is not None


def record_update(connection, **values) -> int:
    return connection.execute(insert(u).values(**values).returning(u.c.id)).scalar_one()


def record_fetch(connection, **values) -> None:
    connection.execute(insert(f).values(**values))


def last_good_fetch(connection, destination: str):
    return connection.execute(select(f).where(f.c.destination == destination, f.c.ok.is_(True))
                              .order_by(f.c.started_at.desc(), f.c.id.desc()).limit(1)).first()


def last_update_at(connection, destination: str) -> datetime | None:
    return connection.scalar(select(func.max(u.c.received_at)).where(u.c.destination == destination,
                                                                      u.c.outcome != "refused"))


def refused_updates(connection, destination: str, limit: int = 20) -> list:
    return list(connection.execute(select(u).where(u.c.destination == destination, u.c.outcome == "refused")
                                   .order_by(u.c.id.desc()).limit(limit)))


def open_work_orders(connection, destination: str) -> tuple[int, datetime | None]:
    """How many work orders are open in ``destination``, and when the oldest of them was opened."""
    row = connection.execute(select(func.count(), func.min(w.c.opened_at)).where(
        w.c.destination == destination, w.c.status == WorkOrderStatus.OPEN.value)).one()
    return row[0], row[1]


def delivery_counts(connection, destination: str, kind: str) -> dict[str, int]:
    o = outbox_table
    rows = connection.execute(select(o.c.state, func.count()).where(o.c.destination == destination, o.c.kind == kind)
                              .group_by(o.c.state))
    return {row[0]: row[1] for row in rows}


def recent_attempts(connection, destination: str, kind: str, limit: int) -> list:
    """The destination's last ``limit`` delivery attempts, newest first (outcome, reason, finished_at, outbox id)."""
    o, a = outbox_table, outbox_attempts_table
    return list(connection.execute(
        select(a.c.outcome, a.c.reason, a.c.finished_at, a.c.outbox_id).join(o, o.c.id == a.c.outbox_id)
        .where(o.c.destination == destination, o.c.kind == kind).order_by(a.c.id.desc()).limit(limit)))


def dead_deliveries(connection, destination: str, kind: str) -> list[int]:
    o = outbox_table
    return list(connection.scalars(select(o.c.id).where(o.c.destination == destination, o.c.kind == kind,
                                                        o.c.state == "dead").order_by(o.c.id)))
