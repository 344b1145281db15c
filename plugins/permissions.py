"""Staff users' permissions: each role a bundle of permissions, and department workers kept to the
cases of their departments and work groups. Other actors (API keys, the command line, the system)
are left to the core's default; a plugin answering ``permission_allowed`` first replaces both."""

from civiccrm import hookimpl
from civiccrm.domain.users import ROLE_PERMISSIONS, SCOPED_ROLES, Permission, Role

_ROLES = {r.value for r in Role}
_ACTIONS = {p.value for p in Permission}


def in_scope(actor, resource) -> bool:
    """True when ``resource`` (a case, a knowledge-base article) belongs to one of the actor's departments
    or work groups."""
    work_group = getattr(resource, "work_group", None)
    return resource.department in actor.departments or (work_group is not None and work_group in actor.work_groups)


@hookimpl
def permission_allowed(deployment, actor, action, resource):
    """A staff user: their role's bundle; for a case or article, a scoped role also needs it in scope.
    None for everyone who is not a staff user (the core decides)."""
    if actor is None or actor.kind != "user":
        return None
    if actor.role not in _ROLES:
        return False
    if action not in _ACTIONS:  # not one of the admin's permissions: the core (or another plugin) decides
        return None
    role = Role(actor.role)
    if Permission(action) not in ROLE_PERMISSIONS[role]:
        return False
    if resource is not None and role in SCOPED_ROLES and hasattr(resource, "department"):
        return in_scope(actor, resource)
    return True
