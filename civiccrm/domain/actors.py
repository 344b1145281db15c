"""Who is acting: a staff user, an API key, an operating-system user at the CLI, or the system itself."""

import attrs

from civiccrm.errors import CivicError

ACTOR_KINDS = ("user", "api_key", "os", "system")


def _kind(instance, attribute, value):
    if value not in ACTOR_KINDS:
        raise CivicError(f"actor kind: {value!r}; expected one of {', '.join(ACTOR_KINDS)}", field="kind")


@attrs.frozen
class Actor:
    """Someone or something acting on cases; ``name`` is what history records as the actor."""

    name: str
    kind: str = attrs.field(validator=_kind)
    """user, api_key, os (a person at the command line) or system (scans, imports, workers)."""
    role: str | None = None
    """The user's role (administrator, supervisor, call_taker, ...); None when there is none."""
    departments: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    """Department codes the actor works for (empty: not limited to some)."""
    work_groups: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    id: int | None = None
    """The stored user's or key's id."""


SYSTEM = Actor(name="system", kind="system")
