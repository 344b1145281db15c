"""The ``webhook`` integration: each case event as a signed JSON POST, and signed status updates taken back.

For systems with no Open311. A request carries ``X-CivicCRM-Timestamp`` (Unix seconds) and
``X-CivicCRM-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with the shared
secret; the receiver refuses a wrong signature or a timestamp more than ``tolerance``
seconds away (a replay). Settings: ``url``, ``secret_env`` (the environment variable with the
secret), ``tolerance`` (seconds, default 300), ``timeout``.
Updates come back to ``POST /integrations/<destination>/updates`` signed the same way:
``{"updates": [{"id": "WO-1", "status": "fixed", "at": "2026-06-01T10:00:00-05:00",
"update_id": "u-7", "description": "Crew filled it"}]}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
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

SIGNATURE = "X-CivicCRM-Signature"
TIMESTAMP = "X-CivicCRM-Timestamp"


class BadSignature(CivicError):
    """A pushed update whose signature or timestamp does not check out (answered 401)."""

    http_status = 401


def _secret(destination) -> bytes:
    name = destination.setting("secret_env")
    secret = os.environ.get(name)
    if not secret:
        raise CivicError(f"integrations.{destination.name}.settings.secret_env: ${name} is not set")
    return secret.encode("utf-8")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, headers, body: bytes, *, tolerance: float, now: float | None = None) -> None:
    """Raise BadSignature unless ``headers`` sign ``body`` with ``secret`` within ``tolerance`` seconds."""
    timestamp, given = headers.get(TIMESTAMP), headers.get(SIGNATURE)
    if not timestamp or not given:
        raise BadSignature(f"{SIGNATURE} and {TIMESTAMP} headers are required", field="signature")
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        raise BadSignature(f"{TIMESTAMP}: {timestamp!r} is not Unix seconds", field="timestamp") from None
    if age > tolerance:
        raise BadSignature(f"{TIMESTAMP}: {age:.0f} s away from now; at most {tolerance:g} s is accepted",
                           field="timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body), given):
        raise BadSignature(f"{SIGNATURE}: does not match the body", field="signature")


def _post(destination, payload: dict, idempotency_key: str) -> httpx.Response:
    body = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP: timestamp,
               SIGNATURE: sign(_secret(destination), timestamp, body), "Idempotency-Key": idempotency_key}
    timeout = float(destination.setting("timeout", required=False, default=30))
    response = shared_client(timeout).post(destination.setting("url"), content=body, headers=headers)
    if response.status_code in (400, 401, 403, 404, 422):
        raise DeliveryRefused(f"webhook: HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 300:
        raise RuntimeError(f"webhook: HTTP {response.status_code}: {response.text[:200]}")
    return response


def _case(case) -> dict:
    return {"tracking_number": case.tracking_number, "service_code": case.service_code,
            "request_type": case.request_type, "department": case.department, "status": case.status.value,
            "description": case.description, "address": case.location.address,
            "lat": case.location.latitude, "long": case.location.longitude,
            "opened_at": case.opened_at.isoformat(), "due_at": case.due_at.isoformat() if case.due_at else None}


def send_case(deployment, case, *, destination, idempotency_key):
    response = _post(destination, {"event": "created", "case": _case(case)}, idempotency_key)
    try:
        reference = response.json().get("id")
    except (ValueError, AttributeError):
        reference = None
    return str(reference or case.tracking_number)


def send_update(deployment, case, event, *, destination, external_id, idempotency_key):
    _post(destination, {"event": event.kind, "id": external_id, "case": _case(case), "note": event.note if event.kind == "public_note" else None,
                        "at": event.at.isoformat()}, idempotency_key)


def fetch_updates(deployment, since, *, destination):
    """A webhook destination pushes its updates; there is nothing to fetch."""
    return []


def receive(deployment, request, *, destination):
    """Check the signature, then read each update of the body (a bad one is returned as a BadUpdate)."""
    body = request.get_data()
    verify(_secret(destination), request.headers, body,
           tolerance=float(destination.setting("tolerance", required=False, default=300)))
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise CivicError(f"body: not JSON ({exc})", field="body") from None
    items = data.get("updates") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise CivicError('body: expected {"updates": [...]}', field="updates")
    found = []
    for n, item in enumerate(items, start=1):
        try:
            at = datetime.fromisoformat(str(item["at"]))
            if at.utcoffset() is None:
                raise ValueError("no UTC offset")
            found.append(ExternalUpdate(external_id=str(item["id"]), status=str(item["status"]).lower(), at=at,
                                        update_id=str(item["update_id"]) if item.get("update_id") else None,
                                        description=item.get("description")))
        except (KeyError, TypeError, ValueError) as exc:
            found.append(BadUpdate(reason=f"update {n}: {type(exc).__name__}: {exc} (id, status and an ISO 8601 "
                                          "'at' with offset are required)", raw=json.dumps(item, default=str)[:2000],
                                   update_id=str(item.get("update_id")) if isinstance(item, dict) and item.get("update_id") else None))
    return found


INTEGRATION = Integration(name="webhook", description="signed JSON POSTs (HMAC-SHA256 + timestamp) both ways",
                          send_case=send_case, send_update=send_update, fetch_updates=fetch_updates, receive=receive)


@hookimpl
def register_integrations(register):
    register(INTEGRATION)
