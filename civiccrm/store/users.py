"""Staff users, their sessions and the login attempt log in the database (keyword-only functions)."""

import json
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from civiccrm.domain.users import Role, User
from civiccrm.errors import NotFound
from civiccrm.store.tables import (
    LoginAttemptRow,
    UserRow,
    login_attempts_table,
    staff_sessions_table,
    users_table,
)


def user_from_row(row) -> User:
    return User(id=row.id, username=row.username, role=Role(row.role),
                departments=tuple(json.loads(row.departments)), work_groups=tuple(json.loads(row.work_groups)),
                language=row.language, disabled=row.disabled_at is not None, session_version=row.session_version,
                must_change_password=bool(row.must_change_password))


def add_user(*, session: Session, username: str, password_hash: str, role: Role, departments: tuple[str, ...],
             work_groups: tuple[str, ...], language: str, now: datetime) -> UserRow:
    row = UserRow(username=username, password_hash=password_hash, role=role.value,
                  departments=json.dumps(list(departments)), work_groups=json.dumps(list(work_groups)),
                  language=language, created_at=now, password_changed_at=now)
    session.add(row)
    session.flush()
    return row


def find_user_row(*, session: Session, username: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.username == username.strip().lower())).first()


def get_user_row(*, session: Session, username: str) -> UserRow:
    row = find_user_row(session=session, username=username)
    if row is None:
        raise NotFound(f"user: no user {username!r}", field="username")
    return row


def list_user_rows(*, session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.username)))


def set_scopes(row: UserRow, *, departments: tuple[str, ...], work_groups: tuple[str, ...]) -> None:
    row.departments = json.dumps(list(departments))
    row.work_groups = json.dumps(list(work_groups))


def record_attempt(*, connection: Connection, at: datetime, username: str, address: str, outcome: str,
                   user_id: int | None) -> None:
    """Append one login attempt (the table refuses UPDATE and DELETE)."""
    connection.execute(insert(login_attempts_table).values(
        at=at, username=username[:100], address=address[:64], outcome=outcome, user_id=user_id))


def login_attempts(*, session: Session, limit: int = 100) -> list[LoginAttemptRow]:
    return list(session.scalars(select(LoginAttemptRow).order_by(LoginAttemptRow.id.desc()).limit(limit)))


def add_session(*, connection: Connection, token_hash: str, user_id: int, session_version: int,
                now: datetime) -> None:
    connection.execute(insert(staff_sessions_table).values(
        token_hash=token_hash, user_id=user_id, session_version=session_version, created_at=now, last_seen_at=now))


_SESSION_USER = select(staff_sessions_table.c.created_at.label("session_created_at"), staff_sessions_table.c.last_seen_at,
                       staff_sessions_table.c.session_version.label("token_version"), users_table).join(
    users_table, users_table.c.id == staff_sessions_table.c.user_id)


def session_user(*, connection: Connection, token_hash: str):
    """The session row joined with its user (columns of both), or None."""
    return connection.execute(_SESSION_USER.where(staff_sessions_table.c.token_hash == token_hash)).first()


def touch_session(*, connection: Connection, token_hash: str, now: datetime) -> None:
    connection.execute(update(staff_sessions_table).where(staff_sessions_table.c.token_hash == token_hash)
                       .values(last_seen_at=now))


def delete_session(*, connection: Connection, token_hash: str) -> None:
    connection.execute(delete(staff_sessions_table).where(staff_sessions_table.c.token_hash == token_hash))


def delete_user_sessions(*, connection: Connection, user_id: int) -> None:
    connection.execute(delete(staff_sessions_table).where(staff_sessions_table.c.user_id == user_id))
