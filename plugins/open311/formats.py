"""Open311 responses in JSON and XML (the Spark convention: one mapping, two spellings)."""

import json
from xml.etree import ElementTree as ET

from flask import Response

CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
FORMATS = tuple(CONTENT_TYPES)

#: XML element name of one item of each list (the JSON array is unnamed).
ITEM_NAMES = {
    "services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
    "values": "value", "notes": "note", "service_request_updates": "request_update", "endpoints": "endpoint",
    "formats": "format", "possible_duplicates": "possible_duplicate",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _append(parent: ET.Element, name: str, value) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    elif isinstance(value, (list, tuple)):
        item_name = ITEM_NAMES.get(name, "item")
        for item in value:
            _append(element, item_name, item)
    else:
        element.text = _text(value)


def to_xml(root: str, data) -> bytes:
    """``data`` (a list for list roots, a dict otherwise) as an XML document with a UTF-8 declaration."""
    element = ET.Element(root)
    if isinstance(data, dict):
        for key, value in data.items():
            _append(element, key, value)
    else:
        item_name = ITEM_NAMES[root]
        for item in data:
            _append(element, item_name, item)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode").encode("utf-8")


def respond(fmt: str, root: str, data, status: int = 200) -> Response:
    """The response for ``data`` in ``fmt``; ``root`` names the XML document element."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        body = to_xml(root, data)
    return Response(body, status=status, content_type=CONTENT_TYPES[fmt])


def error_response(fmt: str, status: int, *descriptions: str) -> Response:
    """The spec's error list: one ``code``/``description`` pair per problem."""
    return respond(fmt, "errors", [{"code": status, "description": d} for d in descriptions], status)
