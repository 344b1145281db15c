"""Queries of the duplicate check: open cases in a bounding box, followers and links of cases."""

import functools
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite

from civiccrm.store import plain
from civiccrm.store.tables import OPEN_CASE, case_followers_table, case_links_table, cases_table

_OPEN = text(OPEN_CASE)  # written as the index's own predicate, so the partial index applies


@functools.cache
def _box_query(dialect: str, newest: bool):
    """The statement behind open_cases_in_box, built once per dialect: it runs on every intake, and building
    a select costs more than running it."""
    c = cases_table.c
    opened_at = c.opened_at
    if dialect == "sqlite":
        # A unary + keeps SQLite's planner on the point index: offered the opened_at range it walks
        # ix_cases_type_opened over the type's whole window instead (7x slower at 50,000 cases).
        opened_at = literal_column("+cases.opened_at", type_=c.opened_at.type)
    query = (
        select(c.id, c.tracking_number, c.service_code, c.request_type, c.status, c.opened_at,
               c.latitude, c.longitude, c.address)
        .where(_OPEN, c.service_code.in_(bindparam("codes", expanding=True)),
               c.latitude.between(bindparam("south"), bindparam("north")),
               c.longitude.between(bindparam("west"), bindparam("east")),
               opened_at.between(bindparam("opened_from", type_=c.opened_at.type),
                                 bindparam("opened_to", type_=c.opened_at.type)),
               c.id != bindparam("exclude_id"))
    )
    if newest:
        query = query.order_by(c.opened_at.desc(), c.id.desc()).limit(bindparam("newest"))
    return query


def open_cases_in_box(connection, *, service_codes, box: tuple[float, float, float, float],
                      opened_from: datetime, opened_to: datetime, exclude_id: int | None = None,
                      newest: int | None = None) -> list:
    """Open cases of ``service_codes`` whose point lies in ``box`` (south, north, west, east), opened in
    [opened_from, opened_to]; rows with the columns ``rank`` reads (as attributes); only the ``newest`` latest if
    given. Run on the driver's cursor (``store.plain``): SQLAlchemy's execution layer took 0.25 ms of CPU where the
    query took 0.035 (every Open311 POST asks it)."""
    south, north, west, east = box
    values = {"codes": list(service_codes), "south": south, "north": north, "west": west, "east": east,
              "opened_from": opened_from, "opened_to": opened_to,
              "exclude_id": -1 if exclude_id is None else exclude_id}
    if newest is not None:
        values["newest"] = newest
    rows = plain.execute(connection, _box_query(connection.dialect.name, newest is not None), values)
    return [SimpleNamespace(**row) for row in rows]


def _insert_ignore(connection, table, rows: list[dict], constraint_columns: list[str]) -> None:
    if not rows:
        return
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=constraint_columns), rows)


def link_merge(connection, *, duplicate, target, at: datetime, actor: str) -> None:
    """Record a merge of the Case ``duplicate`` into ``target``: links both ways, and the duplicate's
    requester as a follower of the main case (kept informed of it)."""
    duplicate_id, target_id, customer_id = duplicate.id, target.id, duplicate.customer_id
    _insert_ignore(connection, case_links_table, [
        {"case_id": duplicate_id, "linked_case_id": target_id, "kind": "duplicate_of", "created_at": at, "actor": actor},
        {"case_id": target_id, "linked_case_id": duplicate_id, "kind": "duplicate", "created_at": at, "actor": actor},
    ], ["case_id", "linked_case_id", "kind"])
    if customer_id is not None and customer_id != target.customer_id:
        _insert_ignore(connection, case_followers_table, [
            {"case_id": target_id, "customer_id": customer_id, "via_case_id": duplicate_id, "created_at": at},
        ], ["case_id", "customer_id"])


def links_of(connection, case_id: int) -> list[tuple[str, str]]:
    """(kind, tracking number of the linked case) for every link of a case, oldest first."""
    c, link = cases_table, case_links_table
    rows = connection.execute(
        select(link.c.kind, c.c.tracking_number).join(c, c.c.id == link.c.linked_case_id)
        .where(link.c.case_id == case_id).order_by(link.c.id))
    return [(row.kind, row.tracking_number) for row in rows]


def follower_ids(connection, case_id: int) -> list[int]:
    """Customer ids of a case's followers (not its own requester), oldest first."""
    f = case_followers_table
    return list(connection.scalars(select(f.c.customer_id).where(f.c.case_id == case_id).order_by(f.c.id)))


def closed_and_open_with_points(connection):
    """Every case with a point, for measuring the rule against a city's own duplicate marks."""
    c = cases_table
    return connection.execute(
        select(c.c.id, c.c.tracking_number, c.c.service_code, c.c.request_type, c.c.status, c.c.resolution,
               c.c.opened_at, c.c.closed_at, c.c.latitude, c.c.longitude, c.c.address)
        .where(and_(c.c.latitude.is_not(None), c.c.longitude.is_not(None)))
        .order_by(c.c.opened_at, c.c.id))


def add_follower(connection, *, case_id: int, customer_id: int, at: datetime) -> None:
    """A person who reported the problem again follows the case (told of its progress); once each."""
    _insert_ignore(connection, case_followers_table, [
        {"case_id": case_id, "customer_id": customer_id, "via_case_id": None, "created_at": at},
    ], ["case_id", "customer_id"])
