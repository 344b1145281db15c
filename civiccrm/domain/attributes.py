"""Service attributes: the extra questions a service type asks (Open311 service definitions)."""

import math
import re
from collections.abc import Mapping
from datetime import datetime

import attrs

from civiccrm.errors import CivicError


class Datatype:
    """The Open311 datatypes of an attribute."""

    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    TEXT = "text"
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"
    ALL = (STRING, NUMBER, DATETIME, TEXT, SINGLEVALUELIST, MULTIVALUELIST)
    LISTS = (SINGLEVALUELIST, MULTIVALUELIST)


ATTRIBUTE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_VALUE_LENGTH = {"string": 200, "number": 40, "datetime": 40, "text": 4000}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML = re.compile(r"<\s*[/!?]?\s*[A-Za-z]")


@attrs.frozen
class AttributeValue:
    """One choice of a list attribute."""

    key: str
    """What a client sends (the value of an HTML option)."""
    name: str
    """What a person reads."""


@attrs.frozen
class ServiceAttribute:
    """One question of a service type's definition."""

    code: str
    """Unique within the service type; the ``code`` of ``attribute[code]``."""
    datatype: str
    """One of ``Datatype.ALL``."""
    description: str
    """The question, as shown to the person filing the request."""
    order: int
    """Position in the form, 1 first; unique within the service type."""
    required: bool = False
    variable: bool = True
    """False for an informational attribute that takes no input."""
    datatype_description: str | None = None
    values: tuple[AttributeValue, ...] = ()
    """The allowed choices of a single- or multi-value list."""

    def keys(self) -> tuple[str, ...]:
        return tuple(v.key for v in self.values)


def check_plain_text(value: str, field: str, *, multiline: bool) -> str:
    """Refuse control characters (and line breaks unless ``multiline``) and HTML tags."""
    bad = _CONTROL.search(value)
    if bad or (not multiline and ("\n" in value or "\r" in value)):
        char = bad.group(0) if bad else "\\n"
        raise CivicError(f"{field}: contains a control character ({char!r}); plain text expected", field=field)
    if _HTML.search(value):
        raise CivicError(f"{field}: contains HTML or markup; plain text without tags expected", field=field)
    return value


def _check_value(attribute: ServiceAttribute, value: str, field: str) -> str:
    value = value.strip()
    limit = MAX_VALUE_LENGTH.get(attribute.datatype, 200)
    if len(value) > limit:
        raise CivicError(f"{field}: {len(value)} characters; at most {limit} are allowed", field=field)
    if attribute.datatype in Datatype.LISTS:
        if value not in attribute.keys():
            raise CivicError(
                f"{field}: {value!r} is not one of the allowed values {', '.join(attribute.keys())}", field=field
            )
        return value
    check_plain_text(value, field, multiline=attribute.datatype == Datatype.TEXT)
    if attribute.datatype == Datatype.NUMBER:
        try:
            number = float(value)
        except ValueError:
            raise CivicError(f"{field}: {value!r} is not a number", field=field) from None
        if not math.isfinite(number):
            raise CivicError(f"{field}: {value!r} is not a finite number", field=field)
    elif attribute.datatype == Datatype.DATETIME:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise CivicError(f"{field}: {value!r} is not an ISO 8601 date-time like 2024-05-01T09:30:00-05:00", field=field) from None
        if parsed.utcoffset() is None:
            raise CivicError(f"{field}: {value!r} has no timezone offset (add Z or -05:00)", field=field)
    return value


def validate_attributes(
    definitions: tuple[ServiceAttribute, ...], given: Mapping[str, tuple[str, ...]], *, service_code: str,
    require: bool = True,
) -> dict[str, tuple[str, ...]]:
    """Check answers against a service type's attributes; returns code -> cleaned values.

    Unknown codes, list values that are not allowed, values of the wrong datatype and
    several values for anything but a multi-value list are refused; so are missing
    required answers when ``require`` (the Open311 API requires them; a call taker's
    intake may leave a question the caller could not answer).
    """
    by_code = {a.code: a for a in definitions}
    unknown = sorted(code for code in given if code not in by_code)
    if unknown:
        known = ", ".join(by_code) or "none"
        raise CivicError(
            f"attribute[{unknown[0]}]: service {service_code!r} has no attribute {unknown[0]!r}; its attributes: {known}",
            field=f"attribute[{unknown[0]}]",
        )
    cleaned: dict[str, tuple[str, ...]] = {}
    for attribute in sorted(definitions, key=lambda a: a.order):
        field = f"attribute[{attribute.code}]"
        values = tuple(v for v in given.get(attribute.code, ()) if v is not None and v.strip())
        if not attribute.variable:
            if values:
                raise CivicError(f"{field}: this attribute is information only and takes no value", field=field)
            continue
        if not values:
            if attribute.required and require:
                raise CivicError(f"{field}: required for service {service_code!r} ({attribute.description})", field=field)
            continue
        if len(values) > 1 and attribute.datatype != Datatype.MULTIVALUELIST:
            raise CivicError(f"{field}: {len(values)} values given; a {attribute.datatype} takes one", field=field)
        checked = tuple(_check_value(attribute, v, field) for v in values)
        cleaned[attribute.code] = tuple(dict.fromkeys(checked))
    return cleaned
