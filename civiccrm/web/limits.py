"""Request rate limits shared by every worker (counted in the database): 429 with Retry-After past them.

Each limit is a pair of config keys (``CIVICCRM_<KEY>`` in the environment): hits allowed per key
(an API key, a client address) and the window they are counted in."""

import hashlib

from flask import current_app, request

from civiccrm.errors import CivicError
from civiccrm.store import ratelimit, repo


class TooManyRequests(CivicError):
    """Past a rate limit: HTTP 429; ``retry_after`` seconds until the window ends."""

    http_status = 429

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


def wait(deployment, *, scope: str, key: str, limit: tuple[str, int], window: tuple[str, float]) -> float | None:
    """Count this request on ``key`` in ``scope`` in a write transaction of its own; None within the limit, else
    the seconds to wait.

    ``limit`` and ``window`` are (config key, default)."""
    with repo.write_transaction(deployment.engine, durable=False) as connection:  # a counter need not reach the disk
        waited = count(connection, scope=scope, key=key, limit=limit, window=window)
        connection.commit()
    return waited


def count(connection, *, scope: str, key: str, limit: tuple[str, int], window: tuple[str, float]) -> float | None:
    """``wait`` inside the caller's write transaction (e.g. intake's own, so a POST takes one writer turn, not
    two); the caller commits."""
    hits = int(current_app.config.get(limit[0], limit[1]))
    seconds = float(current_app.config.get(window[0], window[1]))
    return ratelimit.hit(connection=connection, scope=scope, key=key, limit=hits, window_seconds=seconds)


def client_address() -> str:
    """The client's address (behind a proxy, as ``PROXIES`` lets ProxyFix find it)."""
    return request.remote_addr or "unknown"


def api_key_id(presented: str) -> str:
    """What a presented API key is counted under: its SHA-256 (as stored), never the secret itself."""
    return "key:" + hashlib.sha256(presented.strip().encode("utf-8")).hexdigest()


def with_retry_after(response, exc: CivicError):
    """``response`` with Retry-After when ``exc`` is a TooManyRequests."""
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(int(exc.retry_after))
    return response
