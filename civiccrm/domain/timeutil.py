"""Timezone-aware datetime checks and conversions shared by the domain."""

from datetime import datetime, timezone

import attrs


def require_aware(instance, attribute, value):
    """attrs validator: refuse naive datetimes (``None`` is allowed)."""
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise ValueError(f"{attribute.name} must be a timezone-aware datetime, got {value!r}")


def utcnow() -> datetime:
    """The current instant, in UTC."""
    return datetime.now(timezone.utc)


aware = attrs.validators.optional(require_aware)
