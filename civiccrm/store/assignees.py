"""Which staff user a case is assigned to (table ``case_assignees``)."""

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from civiccrm.store.tables import case_assignees_table as table
from civiccrm.store.tables import users_table


def assignee_of(*, connection: Connection, case_id: int) -> str | None:
    """The username the case is assigned to, or None."""
    return connection.execute(select(users_table.c.username).join(table, table.c.user_id == users_table.c.id)
                              .where(table.c.case_id == case_id)).scalar()


def set_assignee(*, connection: Connection, case_id: int, user_id: int | None, now: datetime) -> None:
    connection.execute(delete(table).where(table.c.case_id == case_id))
    if user_id is not None:
        connection.execute(insert(table).values(case_id=case_id, user_id=user_id, assigned_at=now))
