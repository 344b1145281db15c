"""Staff users: roles and the permissions each bundles, usernames and the password rules."""

import enum
import re

import attrs

from civiccrm.errors import CivicError

MIN_PASSWORD = 12
MAX_PASSWORD = 256


class Role(enum.StrEnum):
    """What a staff user is there to do; each role is a bundle of permissions (ROLE_PERMISSIONS)."""

    ADMINISTRATOR = "administrator"
    SUPERVISOR = "supervisor"
    CALL_TAKER = "call_taker"
    DEPARTMENT_WORKER = "department_worker"
    ANALYST = "analyst"
    READ_ONLY = "read_only"


class Permission(enum.StrEnum):
    """An action checked through the ``permission_allowed`` hook."""

    CASE_VIEW = "case.read"
    """See a case, its history and the work queue."""
    CASE_CREATE = "case.create"
    """Take a call: create a case at the intake screen."""
    CASE_WORK = "case.work"
    """Reply, add notes, change status, assign, close, reopen and merge cases."""
    CASE_ASSIGN_ANY = "case.assign_any"
    """Bulk-assign cases of every work group."""
    KNOWLEDGE_EDIT = "knowledge.edit"
    """Edit knowledge-base articles (of one's departments unless also CONFIG_EDIT)."""
    CONFIG_EDIT = "config.edit"
    """Change the taxonomy, SLA policies and calendars."""
    SURVEYS_VIEW = "surveys.view"
    """See survey plans, draws, results and action plans."""
    SURVEYS_MANAGE = "surveys.manage"
    """Add survey action plans and change their status."""
    REPORTS_VIEW = "reports.view"
    """Render the report packs (city-wide figures) in the admin."""
    OPERATIONS = "operations"
    """See failed hooks and deliveries and retry them; see loaded plugins."""
    USERS_MANAGE = "users.manage"
    """Add, disable and change staff users and API keys."""


_READ = frozenset({Permission.CASE_VIEW, Permission.SURVEYS_VIEW})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset(Permission),
    Role.SUPERVISOR: _READ | {Permission.CASE_CREATE, Permission.CASE_WORK, Permission.CASE_ASSIGN_ANY,
                              Permission.KNOWLEDGE_EDIT, Permission.OPERATIONS, Permission.SURVEYS_MANAGE,
                              Permission.REPORTS_VIEW},
    Role.CALL_TAKER: _READ | {Permission.CASE_CREATE, Permission.CASE_WORK},
    Role.DEPARTMENT_WORKER: _READ | {Permission.CASE_WORK, Permission.KNOWLEDGE_EDIT},
    Role.ANALYST: _READ | {Permission.REPORTS_VIEW},
    Role.READ_ONLY: frozenset({Permission.CASE_VIEW}),
}

#: Roles that see only the cases of their own departments and work groups.
SCOPED_ROLES = frozenset({Role.DEPARTMENT_WORKER})

LANGUAGES = ("en", "es")

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")


def parse_role(text: str, *, field: str = "role") -> Role:
    """The Role named by ``text`` (``call taker``, ``call-taker`` and ``call_taker`` alike)."""
    key = "_".join(str(text).strip().lower().replace("-", " ").split())
    try:
        return Role(key)
    except ValueError:
        raise CivicError(f"{field}: unknown role {text!r}; expected one of {', '.join(r.value for r in Role)}",
                         field=field) from None


def check_username(username: str) -> str:
    """A username: 2-60 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit."""
    value = str(username).strip()
    if not _USERNAME.match(value):
        raise CivicError(f"username: {username!r} is not 2-60 lower-case letters, digits, '.', '_' or '-' "
                         "starting with a letter or digit", field="username")
    return value


def check_password(password: str, *, username: str, common: frozenset[str]) -> str:
    """Refuse a password shorter than 12 characters, longer than 256, equal to the username or in ``common``."""
    if len(password) < MIN_PASSWORD:
        raise CivicError(f"password: {len(password)} characters; at least {MIN_PASSWORD} are needed", field="password")
    if len(password) > MAX_PASSWORD:
        raise CivicError(f"password: {len(password)} characters; at most {MAX_PASSWORD} are allowed", field="password")
    if password.strip().lower() in common or password.lower() == username.lower():
        raise CivicError("password: too easy to guess (it is a common password or the username); choose another",
                         field="password")
    return password


@attrs.frozen
class User:
    """A staff user as the screens and the CLI see it (never the password hash)."""

    id: int
    username: str
    role: Role
    departments: tuple[str, ...] = ()
    """Department codes (a department worker sees their cases)."""
    work_groups: tuple[str, ...] = ()
    """Work group codes (a department worker sees their cases)."""
    language: str = "en"
    """The language the admin is shown in (en or es)."""
    disabled: bool = False
    session_version: int = 1
    """Raised by a password change or disable: sessions of an older version are logged out."""
    must_change_password: bool = False
    """The password is a one-time password: the next login asks for a new one."""
