"""Staff users: add, list, disable, change role or password; log in and out; resolve a session."""

import functools
import hashlib
import secrets
from datetime import timedelta

import attrs
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from civiccrm.domain.actors import Actor
from civiccrm.domain.users import LANGUAGES, SCOPED_ROLES, Role, User, check_password, check_username
from civiccrm.errors import CivicError
from civiccrm.store import ratelimit, repo
from civiccrm.store import users as store

_hasher = PasswordHasher()  # argon2id with RFC 9106's low-memory parameters (t=3, 64 MiB, p=4)
_dummy_hash: str | None = None


def set_hasher_parameters(*, time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Use other argon2id parameters from now on (the test suite uses cheap ones; hashes made with
    others still verify, and are rehashed with these at the next login)."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    _dummy_hash = None


def _dummy() -> str:
    """A hash of no one's password, verified for unknown usernames so they cost what known ones do."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


class LoginRefused(CivicError):
    """Wrong username or password, or a disabled account (the message never says which)."""


class TooManyAttempts(CivicError):
    """Too many login attempts for the account or the address: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


@attrs.frozen
class LoginLimits:
    """How many login attempts are allowed per account and per address in a window."""

    per_account: int = 10
    per_address: int = 50
    window_seconds: int = 900


@attrs.frozen
class SessionRules:
    idle_seconds: int = 30 * 60
    """A session unused this long is logged out."""
    lifetime_seconds: int = 12 * 3600
    """A session older than this is logged out however busy it is."""
    touch_seconds: int = 60
    """``last_seen_at`` is written at most this often (a write per request would queue every reader)."""


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's list of the most common passwords (about 30,000), lower-cased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    return Actor(name=user.username, kind="user", role=user.role.value, departments=user.departments,
                 work_groups=user.work_groups, id=user.id)


def _scopes(deployment, role: Role, departments, work_groups) -> tuple[tuple[str, ...], tuple[str, ...]]:
    taxonomy = deployment.profile.taxonomy
    found_departments, found_groups = [], []
    for name in departments:
        department = taxonomy.find_department(name)
        if department is None:
            raise CivicError(f"department: no department {name!r} in {deployment.profile.name}", field="department")
        found_departments.append(department.code)
    for name in work_groups:
        group = taxonomy.find_work_group(name)
        if group is None:
            raise CivicError(f"work_group: no work group {name!r} in {deployment.profile.name}", field="work_group")
        found_groups.append(group.code)
    if role in SCOPED_ROLES and not (found_departments or found_groups):
        raise CivicError(f"role: a {role.value} needs at least one --department or --work-group", field="role")
    return tuple(dict.fromkeys(found_departments)), tuple(dict.fromkeys(found_groups))


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise CivicError(f"language: {language!r}; expected one of {', '.join(LANGUAGES)}", field="language")
    return language


def add_user(deployment, username: str, password: str, role: Role, *, departments=(), work_groups=(),
             language: str = "en", one_time: bool = False) -> User:
    """Add a staff user; the password is checked (12+ characters, not common) and kept only as argon2id.
    A ``one_time`` password must be changed at the first login."""
    username = check_username(username)
    check_password(password, username=username, common=common_passwords())
    departments, work_groups = _scopes(deployment, role, departments, work_groups)
    language = _language(language)
    password_hash = _hasher.hash(password)
    with deployment.session() as s:
        if store.find_user_row(session=s, username=username) is not None:
            raise CivicError(f"username: a user {username!r} already exists", field="username")
        row = store.add_user(session=s, username=username, password_hash=password_hash, role=role,
                             departments=departments, work_groups=work_groups, language=language,
                             now=deployment.clock())
        row.must_change_password = one_time
        s.commit()
        return store.user_from_row(row)


def list_users(deployment) -> list[User]:
    with deployment.session() as s:
        return [store.user_from_row(row) for row in store.list_user_rows(session=s)]


def get_user(deployment, username: str) -> User:
    with deployment.session() as s:
        return store.user_from_row(store.get_user_row(session=s, username=username))


def _logout_everywhere(s, row) -> None:
    row.session_version += 1
    s.flush()
    store.delete_user_sessions(connection=s.connection(), user_id=row.id)


def disable_user(deployment, username: str) -> User:
    """Disable a user: they cannot log in, and every session of theirs is logged out now."""
    with deployment.session() as s:
        row = store.get_user_row(session=s, username=username)
        if row.disabled_at is None:
            row.disabled_at = deployment.clock()
        _logout_everywhere(s, row)
        s.commit()
        return store.user_from_row(row)


def enable_user(deployment, username: str) -> User:
    with deployment.session() as s:
        row = store.get_user_row(session=s, username=username)
        row.disabled_at = None
        s.commit()
        return store.user_from_row(row)


def set_role(deployment, username: str, role: Role, *, departments=(), work_groups=()) -> User:
    """Give a user another role (and departments/work groups); their sessions carry on with it."""
    departments, work_groups = _scopes(deployment, role, departments, work_groups)
    with deployment.session() as s:
        row = store.get_user_row(session=s, username=username)
        row.role = role.value
        store.set_scopes(row, departments=departments, work_groups=work_groups)
        s.commit()
        return store.user_from_row(row)


def set_language(deployment, username: str, language: str) -> User:
    language = _language(language)
    with deployment.session() as s:
        row = store.get_user_row(session=s, username=username)
        row.language = language
        s.commit()
        return store.user_from_row(row)


def set_password(deployment, username: str, password: str, *, one_time: bool = False) -> User:
    """Change a password; every session of the user is logged out. A ``one_time`` password must be
    changed at the next login."""
    with deployment.session() as s:
        row = store.get_user_row(session=s, username=username)
        check_password(password, username=row.username, common=common_passwords())
        row.password_hash = _hasher.hash(password)
        row.password_changed_at = deployment.clock()
        row.must_change_password = one_time
        _logout_everywhere(s, row)
        s.commit()
        return store.user_from_row(row)


def generate_password() -> str:
    """A one-time password for a new administrator (20 URL-safe characters, about 120 bits)."""
    return secrets.token_urlsafe(15)


def _record(deployment, *, username: str, address: str, outcome: str, user_id: int | None, session_of=None) -> None:
    now = deployment.clock()
    with repo.write_transaction(deployment.engine) as connection:
        store.record_attempt(connection=connection, at=now, username=username, address=address, outcome=outcome,
                             user_id=user_id)
        if session_of is not None:
            token_hash, version = session_of
            store.add_session(connection=connection, token_hash=token_hash, user_id=user_id,
                              session_version=version, now=now)
            ratelimit.reset(connection=connection, scope="login-account", key=username)
        connection.commit()


def login(deployment, username: str, password: str, *, address: str,
          limits: LoginLimits = LoginLimits()) -> tuple[User, str]:
    """Check a username and password; the user and a new session token (kept only as its SHA-256).

    Every attempt counts against the account and the address (in the database, for every
    worker) and is appended to ``login_attempts``. Past a limit: TooManyAttempts, without
    looking at the password. A wrong password, an unknown user and a disabled account all
    give the same LoginRefused, after the same argon2 work."""
    username = str(username).strip().lower()[:100]
    now = deployment.clock()
    with repo.write_transaction(deployment.engine) as connection:
        waits = [ratelimit.hit(connection=connection, scope=scope, key=key, limit=limit,
                               window_seconds=limits.window_seconds, now=now)
                 for scope, key, limit in (("login-account", username, limits.per_account),
                                           ("login-address", address, limits.per_address))]
        connection.commit()
    retry_after = max((w for w in waits if w is not None), default=None)
    if retry_after is not None:
        _record(deployment, username=username, address=address, outcome="limited", user_id=None)
        raise TooManyAttempts(f"too many login attempts; try again in {int(retry_after)} seconds",
                              retry_after=retry_after)
    with deployment.session() as s:
        row = store.find_user_row(session=s, username=username)
        user = store.user_from_row(row) if row is not None else None
        stored_hash = row.password_hash if row is not None else _dummy()
    try:
        _hasher.verify(stored_hash, password)
        matches = row is not None
    except (VerificationError, InvalidHashError):
        matches = False
    if not matches or user.disabled:
        outcome = "unknown_user" if row is None else ("disabled" if matches else "bad_password")
        _record(deployment, username=username, address=address, outcome=outcome, user_id=user.id if user else None)
        raise LoginRefused("wrong username or password", field="username")
    token = secrets.token_urlsafe(32)
    _record(deployment, username=username, address=address, outcome="success", user_id=user.id,
            session_of=(hash_token(token), user.session_version))
    if _hasher.check_needs_rehash(stored_hash):
        with deployment.session() as s:
            store.get_user_row(session=s, username=username).password_hash = _hasher.hash(password)
            s.commit()
    return user, token


def resolve_session(deployment, token: str, *, rules: SessionRules = SessionRules()) -> User | None:
    """The user a session token belongs to, or None when it is unknown, expired, idle too long,
    of an older session version (password changed) or of a disabled user."""
    token_hash = hash_token(token)
    now = deployment.clock()
    with deployment.engine.connect() as connection:
        found = store.session_user(connection=connection, token_hash=token_hash)
    if found is None:
        return None
    user = store.user_from_row(found)
    stale = (found.token_version != user.session_version or user.disabled
             or now - found.last_seen_at > timedelta(seconds=rules.idle_seconds)
             or now - found.session_created_at > timedelta(seconds=rules.lifetime_seconds))
    if stale or now - found.last_seen_at > timedelta(seconds=rules.touch_seconds):
        with repo.write_transaction(deployment.engine) as connection:
            if stale:
                store.delete_session(connection=connection, token_hash=token_hash)
            else:
                store.touch_session(connection=connection, token_hash=token_hash, now=now)
            connection.commit()
    return None if stale else user


def change_own_password(deployment, user: User, current: str, new: str) -> str:
    """A logged-in user replaces their password (the current one is checked): every other session is
    logged out, and the new session token for this browser is returned."""
    with deployment.session() as s:
        row = store.get_user_row(session=s, username=user.username)
        stored_hash = row.password_hash
    try:
        _hasher.verify(stored_hash, current)
    except (VerificationError, InvalidHashError):
        raise CivicError("current_password: that is not your current password", field="current_password") from None
    if new == current:
        raise CivicError("password: the new password must differ from the current one", field="password")
    changed = set_password(deployment, user.username, new)
    token = secrets.token_urlsafe(32)
    with repo.write_transaction(deployment.engine) as connection:
        store.add_session(connection=connection, token_hash=hash_token(token), user_id=changed.id,
                          session_version=changed.session_version, now=deployment.clock())
        connection.commit()
    return token


def logout(deployment, token: str) -> None:
    with repo.write_transaction(deployment.engine) as connection:
        store.delete_session(connection=connection, token_hash=hash_token(token))
        connection.commit()
