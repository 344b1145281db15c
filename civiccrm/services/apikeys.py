"""API keys for Open311 clients: issue (shown once), list, revoke, and check a presented key."""

import hashlib
import secrets
from time import monotonic
from datetime import datetime

import attrs
from sqlalchemy import bindparam, select

from civiccrm.domain.attributes import check_plain_text
from civiccrm.errors import CivicError, NotFound
from civiccrm.store.db import read_connection
from civiccrm.store.tables import ApiKeyRow

KEY_PREFIX = "c311_"
#: What a key's updates may touch: the cases it created, or every case (a partner's system).
SCOPES = ("own", "all")


class InvalidApiKey(CivicError):
    """A request needs a valid, unrevoked API key and did not bring one."""

    http_status = 403


class KeyNotAllowed(InvalidApiKey):
    """A valid key asked for what its scope does not allow (HTTP 403)."""


@attrs.frozen
class ApiKey:
    """An issued key, without the secret: only its SHA-256 is stored."""

    id: int
    name: str
    """Who the key was issued to (an app, a partner's system)."""
    channel: str
    """The intake channel of the cases created with this key."""
    prefix: str
    """The first characters of the key, so a person can tell keys apart."""
    created_at: datetime
    revoked_at: datetime | None = None
    scope: str = "own"
    """``own``: updates only to the cases created with this key; ``all``: to any case."""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _from_row(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, channel=row.channel, prefix=row.key_prefix,
                  created_at=row.created_at, revoked_at=row.revoked_at, scope=row.scope)


def actor(key: ApiKey) -> str:
    """How a key is named in the history of what it does (and how its own cases are found)."""
    return f"open311 api key {key.id}"


def add(deployment, *, name: str, channel: str, scope: str = "own") -> tuple[ApiKey, str]:
    """Issue a key for ``channel``; returns it and the secret, which is never stored or shown again."""
    if scope not in SCOPES:
        raise CivicError(f"--scope: {scope!r}; expected one of {', '.join(SCOPES)}", field="scope")
    from civiccrm.services.cases import _channel

    name = check_plain_text((name or "").strip(), "--name", multiline=False)
    if not name or len(name) > 200:
        raise CivicError("--name: give who the key is for, in 1 to 200 characters", field="name")
    channel = _channel(deployment, channel)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(key_hash=_hash(secret), key_prefix=secret[:12], name=name, channel=channel,
                    created_at=deployment.clock(), scope=scope)
    with deployment.session() as s:
        s.add(row)
        s.commit()
        return _from_row(row), secret


def list_keys(deployment) -> list[ApiKey]:
    with deployment.session() as s:
        return [_from_row(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]


def revoke(deployment, key_id: int) -> ApiKey:
    """Revoke a key for good; requests made with it are refused from now on."""
    with deployment.session() as s:
        row = s.get(ApiKeyRow, key_id)
        if row is None:
            raise NotFound(f"api key {key_id}: no such key (`civiccrm apikey list` shows them)")
        if row.revoked_at is not None:
            raise CivicError(f"api key {key_id}: already revoked at {row.revoked_at.isoformat()}")
        row.revoked_at = deployment.clock()
        s.commit()
        deployment.api_keys_seen.clear()  # this process stops at once; another within its max_age
        return _from_row(row)


_BY_HASH = select(*ApiKeyRow.__table__.c).where(ApiKeyRow.__table__.c.key_hash == bindparam("key_hash"))


#: Keys kept by ``authenticate(max_age=...)`` per process at most; past it the oldest half is forgotten.
SEEN_KEYS = 1000


def authenticate(deployment, key: str | None, *, action: str, max_age: float = 0.0) -> ApiKey:
    """The active key matching ``key``, or InvalidApiKey saying why ``action`` cannot go on.

    With ``max_age`` > 0, a key found active is believed for that many seconds without asking the database
    again (the Open311 API's ``API_KEY_CACHE_SECONDS``): a key revoked by another process is refused at most
    ``max_age`` seconds later, one revoked in this process at once. Unknown and revoked keys are never kept."""
    if not key:
        raise InvalidApiKey(f"api_key: missing -- can't proceed with {action}; ask the city for a key", field="api_key")
    key_hash = _hash(key.strip())
    seen = deployment.api_keys_seen
    now = monotonic()
    if max_age > 0 and key_hash in seen and now - seen[key_hash][1] < max_age:
        return seen[key_hash][0]
    with read_connection(deployment.engine) as connection:  # Core, not the ORM: this runs on every API write
        row = connection.execute(_BY_HASH, {"key_hash": key_hash}).first()
    if row is None:
        raise InvalidApiKey(f"api_key: invalid api_key received -- can't proceed with {action}", field="api_key")
    if row.revoked_at is not None:
        seen.pop(key_hash, None)
        raise InvalidApiKey(f"api_key: this key was revoked -- can't proceed with {action}", field="api_key")
    found = _from_row(row)
    if max_age > 0:
        if len(seen) >= SEEN_KEYS:
            for stale in list(seen)[:SEEN_KEYS // 2]:
                del seen[stale]
        seen[key_hash] = (found, now)
    return found


def check_may_update(key: ApiKey, *, case, created_by: str | None) -> None:
    """Refuse an update the key's scope does not allow; imported history is never changed this way."""
    if case.is_import:
        raise KeyNotAllowed(f"service_request_id: {case.tracking_number} is imported history; it is not changed "
                            "through the API", field="service_request_id")
    if key.scope != "all" and created_by != actor(key):
        raise KeyNotAllowed(f"service_request_id: this key may update only the requests it created; "
                            f"{case.tracking_number} was not (ask the city for a key with scope all)",
                            field="service_request_id")
