"""Enum members from the names people type: ``In-Progress``, ``in progress`` and ``in_progress`` alike."""

import enum

from civiccrm.errors import CivicError


def name_key(text) -> str:
    """``text`` lower-cased, apostrophes dropped, runs of spaces, ``-`` and ``_`` as one ``_``."""
    return "_".join(str(text).strip().lower().replace("-", " ").replace("_", " ").replace("'", "").split())


def parse_name(kind: type[enum.Enum], text, *, field: str, what: str, aliases: dict | None = None,
               allowed=None) -> enum.Enum:
    """The member of ``kind`` that ``text`` names, or CivicError naming the field, what was given and the choices.

    ``aliases`` maps other spellings (as :func:`name_key` writes them) to members;
    ``allowed`` narrows the choices to some members.
    """
    key = name_key(text)
    choices = tuple(kind) if allowed is None else tuple(allowed)
    member = (aliases or {}).get(key) or next((m for m in kind if m.value == key), None)
    if member not in choices:
        raise CivicError(f"{field}: unknown {what} {text!r}; expected one of {', '.join(m.value for m in choices)}",
                         field=field)
    return member
