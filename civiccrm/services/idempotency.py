"""Idempotent POSTs: a request retried with the same key gets the first answer again.

A client that lost the reply to a POST sends it again with the same ``Idempotency-Key``
header (or ``idempotency_key`` field); the first answer is stored with the key and
returned, so the retry never creates a second case.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from civiccrm.errors import CivicError
from civiccrm.store.tables import idempotency_keys_table as table

MAX_KEY = 200
STALE = timedelta(minutes=2)
"""A first request unanswered for this long is taken to have died; its key may be used again."""


class InProgress(CivicError):
    """The first request with this key is still being handled."""

    http_status = 409


def check_key(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > MAX_KEY or not text.isascii() or not text.isprintable():
        raise CivicError(f"idempotency_key: at most {MAX_KEY} printable ASCII characters", field="idempotency_key")
    return text


def fingerprint(fields: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(fields), ensure_ascii=False).encode()).hexdigest()


def once(deployment, *, api_key_id: int, key: str, fields_hash: str, handle: Callable[[], object]):
    """The stored answer for ``key``, or ``handle()``'s answer (JSON-able), stored for the next retry."""
    now = deployment.clock()
    where = (table.c.api_key_id == api_key_id) & (table.c.idem_key == key)
    with deployment.engine.begin() as conn:
        row = conn.execute(select(table).where(where)).first()
        if row is not None and row.response is None and row.created_at < now - STALE:
            conn.execute(delete(table).where(table.c.id == row.id))
            row = None
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(table.insert().values(api_key_id=api_key_id, idem_key=key, fingerprint=fields_hash,
                                                       created_at=now))
            except IntegrityError:
                row = conn.execute(select(table).where(where)).first()
    if row is not None:
        if row.fingerprint != fields_hash:
            raise CivicError("idempotency_key: already used for a different request; use a new key for a new "
                             "request", field="idempotency_key")
        if row.response is None:
            raise InProgress("idempotency_key: the first request with this key is still being handled; retry "
                             "shortly", field="idempotency_key")
        return json.loads(row.response)
    try:
        answer = handle()
    except BaseException:
        with deployment.engine.begin() as conn:
            conn.execute(delete(table).where(where))
        raise
    with deployment.engine.begin() as conn:
        conn.execute(update(table).where(where).values(response=json.dumps(answer)))
    return answer
