"""What a log line may say of a resident's e-mail address or phone: a short digest, never the value."""

import hashlib


def contact_ref(value: str | None) -> str:
    """``contact:1a2b3c4d5e`` for an address or phone (the same one always gives the same digest, so lines
    about one resident can be matched without naming them); ``-`` for none."""
    if not value:
        return "-"
    return "contact:" + hashlib.sha256(value.strip().casefold().encode()).hexdigest()[:10]


def without(text: str | None, value: str | None) -> str:
    """``text`` (an error's reason) with ``value`` in it replaced by its ``contact_ref``."""
    text = text or ""
    return text.replace(value, contact_ref(value)) if value else text
