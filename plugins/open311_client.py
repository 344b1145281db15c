"""The ``open311`` integration: send cases to a department's or contractor's Open311 GeoReport v2 endpoint.

As FixMyStreet does: ``POST requests`` (a token answer is resolved through ``GET tokens``),
mySociety's ``servicerequestupdates`` both ways (POST our public changes, GET theirs since a
time), JSON or XML. Settings (``[integrations.<name>.settings]``): ``url`` (the endpoint up to
``/open311/v2``), ``api_key_env`` (the environment variable holding the key; keys never live
in the profile), ``format`` (json or xml), ``jurisdiction_id``, ``service_codes`` (our code ->
theirs, default the same), ``timeout`` (seconds).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import TYPE_CHECKING

from civiccrm import hookimpl
from civiccrm.domain.integrations import BadUpdate, ExternalUpdate
from civiccrm.domain.outbox import DeliveryRefused
from civiccrm.errors import CivicError
from civiccrm.registries import Integration
from civiccrm.services.http import client as shared_client

if TYPE_CHECKING:
    import httpx  # the client comes from civiccrm.services.http, which imports httpx on first use

#: Our status / resolution -> mySociety's servicerequestupdates status words, for updates we send.
OUTGOING_STATUS = {"closed": "CLOSED", "reopened": "OPEN"}


def _settings(destination):
    url = destination.setting("url").rstrip("/")
    fmt = destination.setting("format", required=False, default="json")
    if fmt not in ("json", "xml"):
        raise CivicError(f"integrations.{destination.name}.settings.format: {fmt!r}; expected json or xml")
    key_env = destination.setting("api_key_env", required=False)
    key = os.environ.get(key_env) if key_env else None
    if key_env and not key:
        raise CivicError(f"integrations.{destination.name}.settings.api_key_env: ${key_env} is not set")
    return url, fmt, key, float(destination.setting("timeout", required=False, default=30))


def _parse(response: httpx.Response, fmt: str):
    """The body as a list of dicts (a JSON array, or the items of the XML list)."""
    if fmt == "json":
        data = response.json()
        return data if isinstance(data, list) else [data]
    element = ET.fromstring(response.content)
    return [{child.tag: (child.text or "").strip() for child in item} for item in element]


def _check(response: httpx.Response, fmt: str, what: str) -> None:
    if response.status_code < 400:
        return
    try:
        detail = "; ".join(str(e.get("description")) for e in _parse(response, fmt))
    except (ValueError, ET.ParseError):
        detail = response.text[:200]
    message = f"{what}: HTTP {response.status_code}: {detail}"
    if response.status_code in (400, 403, 404, 422):
        raise DeliveryRefused(message)  # trying again cannot help: the department refuses it
    raise RuntimeError(message)


def send_case(deployment, case, *, destination, idempotency_key):
    """POST requests; the department's service_request_id (a token is resolved through GET tokens).
    The case goes as it is now, without the requester's personal data."""
    url, fmt, key, timeout = _settings(destination)
    codes = destination.setting("service_codes", required=False, default={}) or {}
    form = {"service_code": codes.get(case.service_code, case.service_code),
            "description": f"{case.description}\n\n({destination.setting('sender', required=False, default='311')} "
                           f"case {case.tracking_number})"}
    if key:
        form["api_key"] = key
    jurisdiction = destination.setting("jurisdiction_id", required=False)
    if jurisdiction:
        form["jurisdiction_id"] = jurisdiction
    if case.location.has_point:
        form |= {"lat": repr(case.location.latitude), "long": repr(case.location.longitude)}
    if case.location.address:
        form["address_string"] = case.location.address
    headers = {"Idempotency-Key": idempotency_key}
    http = shared_client(timeout)
    response = http.post(f"{url}/requests.{fmt}", data=form, headers=headers)
    _check(response, fmt, f"POST {url}/requests.{fmt}")
    answer = _parse(response, fmt)[0]
    if answer.get("service_request_id"):
        return str(answer["service_request_id"])
    token = answer.get("token")
    if not token:
        raise RuntimeError(f"POST requests: the answer has neither service_request_id nor token: {answer}")
    response = http.get(f"{url}/tokens/{token}.{fmt}")
    _check(response, fmt, f"GET tokens/{token}")
    found = _parse(response, fmt)
    if not found or not found[0].get("service_request_id"):
        raise RuntimeError(f"token {token} has no service_request_id yet")  # retried with back-off
    return str(found[0]["service_request_id"])


def send_update(deployment, case, event, *, destination, external_id, idempotency_key):
    """POST servicerequestupdates: our public note, close or reopen of the case; the department's update_id."""
    url, fmt, key, timeout = _settings(destination)
    # only a public note's text leaves the city: notes on a close or a status change may be internal
    description = (event.note if event.kind == "public_note" else None) or {"closed": f"Closed: {(case.resolution.value if case.resolution else 'closed')}",
                                 "reopened": "Reopened", "merged": "Closed as a duplicate"}.get(
        event.kind, f"Status: {case.status.value.replace('_', ' ')}")
    form = {"service_request_id": external_id, "update_id": idempotency_key[-200:],
            "status": "CLOSED" if not case.is_open else "OPEN", "description": description,
            "updated_datetime": event.at.isoformat()}
    if key:
        form["api_key"] = key
    http = shared_client(timeout)
    response = http.post(f"{url}/servicerequestupdates.{fmt}", data=form,
                         headers={"Idempotency-Key": idempotency_key})
    _check(response, fmt, f"POST {url}/servicerequestupdates.{fmt}")
    found = _parse(response, fmt)
    return str(found[0].get("update_id")) if found and found[0].get("update_id") else None


def read_updates(items) -> list:
    """servicerequestupdates items (dicts) -> ExternalUpdate, or BadUpdate naming what is wrong."""
    found = []
    for item in items:
        update_id = str(item.get("update_id") or "") or None
        missing = [k for k in ("service_request_id", "status", "updated_datetime") if not item.get(k)]
        if missing:
            found.append(BadUpdate(reason=f"update {update_id or '?'}: missing {', '.join(missing)}",
                                   update_id=update_id, raw=repr(item)[:2000]))
            continue
        try:
            at = datetime.fromisoformat(str(item["updated_datetime"]).replace("Z", "+00:00"))
            if at.utcoffset() is None:
                raise ValueError("no UTC offset")
        except ValueError as exc:
            found.append(BadUpdate(reason=f"update {update_id or '?'}: updated_datetime "
                                          f"{item['updated_datetime']!r} is not an ISO 8601 instant ({exc})",
                                   update_id=update_id, raw=repr(item)[:2000]))
            continue
        found.append(ExternalUpdate(external_id=str(item["service_request_id"]), status=str(item["status"]).lower(),
                                    at=at, update_id=update_id, description=item.get("description") or None))
    return found


def fetch_updates(deployment, since, *, destination):
    """GET servicerequestupdates from ``since`` (the last good fetch) to now."""
    url, fmt, key, timeout = _settings(destination)
    params = {"end_date": deployment.clock().isoformat()}
    if since is not None:
        params["start_date"] = since.isoformat()
    if key:
        params["api_key"] = key
    http = shared_client(timeout)
    response = http.get(f"{url}/servicerequestupdates.{fmt}", params=params)
    _check(response, fmt, f"GET {url}/servicerequestupdates.{fmt}")
    return read_updates(_parse(response, fmt))


INTEGRATION = Integration(
    name="open311", description="Open311 GeoReport v2 endpoint (requests, tokens, mySociety servicerequestupdates)",
    send_case=send_case, send_update=send_update, fetch_updates=fetch_updates)


@hookimpl
def register_integrations(register):
    register(INTEGRATION)
