"""What the admin case page reads beside the case itself: SLA clock columns, answers, and nearby cases."""

import math
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from civiccrm.domain.geo import METRES_PER_DEGREE, distance_metres
from civiccrm.store.tables import case_attributes_table, cases_table

c = cases_table.c


def sla_columns(*, connection: Connection, case_id: int):
    """The stored SLA clock of a case: pause start, first response due/at, escalation level."""
    return connection.execute(select(c.sla_paused_at, c.sla_paused_seconds, c.response_due_at, c.responded_at,
                                     c.sla_level).where(c.id == case_id)).one()


def attributes(*, connection: Connection, case_id: int) -> list[tuple[str, str]]:
    table = case_attributes_table.c
    return [tuple(row) for row in connection.execute(
        select(table.code, table.value).where(table.case_id == case_id).order_by(table.id))]


def nearby(*, connection: Connection, case_id: int, service_code: str, latitude: float, longitude: float,
           opened_at: datetime, radius_metres: float, window: timedelta, limit: int = 10) -> list:
    """Cases of the same type within ``radius_metres`` and ``window`` of the opening time, nearest first
    (a bounding box in SQL on the service-code index, then the distance exactly in Python)."""
    dlat = radius_metres / METRES_PER_DEGREE
    dlon = radius_metres / (METRES_PER_DEGREE * max(0.01, math.cos(math.radians(latitude))))
    rows = connection.execute(
        select(c.id, c.tracking_number, c.status, c.opened_at, c.address, c.latitude, c.longitude, c.request_type)
        .where(and_(c.service_code == service_code, c.id != case_id,
                    c.opened_at.between(opened_at - window, opened_at + window),
                    c.latitude.between(latitude - dlat, latitude + dlat),
                    c.longitude.between(longitude - dlon, longitude + dlon)))
        .limit(200))
    found = []
    for row in rows:
        metres = distance_metres(latitude, longitude, row.latitude, row.longitude)
        if metres <= radius_metres:
            found.append((metres, row))
    found.sort(key=lambda pair: pair[0])
    return found[:limit]
