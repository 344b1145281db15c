"""Checking Open311 request parameters: dates, lists, pages, text fields and attributes."""

import math
import re
from datetime import datetime, timedelta, timezone

from werkzeug.datastructures import MultiDict

from civiccrm.domain.attributes import check_plain_text
from civiccrm.errors import CivicError

MAX_RANGE = timedelta(days=90)
MAX_PAGE_SIZE = 1000
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]*)\](\[\])?$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")
#: A decimal number in ASCII digits ("1_0", other scripts' digits, "nan" and "inf" are not).
_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$")
#: Instants outside these years are refused before any date arithmetic can overflow.
_YEARS = (1900, 2999)


def optional(values: MultiDict, name: str) -> str | None:
    """A parameter's value; an empty one counts as not given (the spec's "optional")."""
    value = values.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def comma_list(values: MultiDict, name: str) -> tuple[str, ...]:
    """``a,b`` and repeated parameters alike, blanks dropped, order kept."""
    items = []
    for raw in values.getlist(name):
        items.extend(part.strip() for part in raw.split(","))
    return tuple(dict.fromkeys(i for i in items if i))


def when(values: MultiDict, name: str) -> datetime | None:
    """A w3 date-time with a timezone, e.g. ``2010-01-01T00:00:00Z``."""
    text = optional(values, name)
    if text is None:
        return None
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        parsed = datetime.fromisoformat(iso)
        if "T" not in iso.upper() or parsed.utcoffset() is None:
            raise ValueError
    except ValueError:
        raise CivicError(
            f"{name}: {text!r} is not a w3 date-time with a timezone, like 2010-01-01T00:00:00Z "
            "or 2010-01-01T00:00:00-06:00", field=name
        ) from None
    # The year as written (docs/openapi.yaml's pattern says the same); away from 1 and 9999 no offset overflows.
    if not _YEARS[0] <= parsed.year <= _YEARS[1]:
        raise CivicError(f"{name}: {text!r} is outside the years {_YEARS[0]} to {_YEARS[1]}", field=name)
    return parsed.astimezone(timezone.utc)


def date_range(values: MultiDict, start_name: str, end_name: str, now: datetime,
               *, default: bool = True) -> tuple[datetime | None, datetime | None]:
    """``start``/``end`` at most 90 days apart; a missing end is 90 days after the start and
    a missing start 90 days before the end; neither gives the last 90 days when ``default``."""
    start, end = when(values, start_name), when(values, end_name)
    if start and end:
        if end < start:
            raise CivicError(f"{end_name}: {values.get(end_name)} is before {start_name} {values.get(start_name)}", field=end_name)
        if end - start > MAX_RANGE:
            raise CivicError(
                f"{start_name}/{end_name}: the range spans {(end - start).days} days; it may not span more than 90 days",
                field=end_name,
            )
        return start, end
    if start:
        return start, start + MAX_RANGE
    if end:
        return end - MAX_RANGE, end
    return (now - MAX_RANGE, now) if default else (None, None)


def positive_int(values: MultiDict, name: str, default: int, maximum: int | None = None) -> int:
    text = optional(values, name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1 or (
            maximum is not None and int(text) > maximum):
        limit = f" up to {maximum}" if maximum else ""
        raise CivicError(f"{name}: {text!r} is not a whole number from 1{limit}", field=name)
    return int(text)


def page(values: MultiDict) -> tuple[int, int]:
    """(limit, offset) from ``page`` and ``page_size`` (default and most: 1000 requests)."""
    size = positive_int(values, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    number = positive_int(values, "page", 1, 10**6)
    return size, (number - 1) * size


def flag(values: MultiDict, name: str) -> bool:
    text = (values.get(name) or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CivicError(f"{name}: {values.get(name)!r} must be true or false", field=name)


def text(values: MultiDict, name: str, limit: int, *, multiline: bool = False) -> str | None:
    """A plain-text field: no markup, no control characters, at most ``limit`` characters."""
    value = optional(values, name)
    if value is None:
        return None
    if len(value) > limit:
        raise CivicError(f"{name}: {len(value)} characters; at most {limit:,} are allowed", field=name)
    return check_plain_text(value, name, multiline=multiline)


def coordinate(values: MultiDict, name: str, bound: float) -> float | None:
    raw = optional(values, name)
    if raw is None:
        return None
    if not _DECIMAL.match(raw):
        raise CivicError(f"{name}: {raw!r} is not a number of degrees (WGS84) in ASCII digits, like 39.0997",
                         field=name)
    number = float(raw)
    if not math.isfinite(number) or abs(number) > bound:
        raise CivicError(f"{name}: {raw!r} is not between -{bound:g} and {bound:g} degrees", field=name)
    return number


def attributes(values: MultiDict) -> dict[str, tuple[str, ...]]:
    """``attribute[code]=v`` and ``attribute[code][]=v1&attribute[code][]=v2`` -> code -> values."""
    found: dict[str, list[str]] = {}
    for key in values.keys():
        if not key.startswith("attribute"):
            continue
        match = _ATTRIBUTE_KEY.match(key)
        if not match or not match.group(1).strip():
            raise CivicError(f"{key}: attributes are sent as attribute[code]=value or attribute[code][]=value", field=key)
        found.setdefault(match.group(1).strip(), []).extend(values.getlist(key))
    return {code: tuple(v) for code, v in found.items()}
