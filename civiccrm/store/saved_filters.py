"""Work-queue filters a user saved under a name (keyword-only functions)."""

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from civiccrm.store.tables import saved_filters_table as table


def list_filters(*, connection: Connection, user_id: int) -> list:
    return list(connection.execute(select(table.c.id, table.c.name, table.c.query)
                                   .where(table.c.user_id == user_id).order_by(table.c.name)))


def save_filter(*, connection: Connection, user_id: int, name: str, query: str, now: datetime) -> None:
    """Save (or replace) the filter ``name`` of the user."""
    connection.execute(delete(table).where(table.c.user_id == user_id, table.c.name == name))
    connection.execute(insert(table).values(user_id=user_id, name=name, query=query, created_at=now))


def delete_filter(*, connection: Connection, user_id: int, filter_id: int) -> int:
    return connection.execute(delete(table).where(table.c.user_id == user_id, table.c.id == filter_id)).rowcount
