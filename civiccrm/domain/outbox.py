"""The delivery outbox's values and rules: states, deliverers, back-off and the dead-letter limit."""

import enum
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from civiccrm.errors import CivicError


class DeliveryState(enum.StrEnum):
    """Where one outbox row is: waiting, being delivered by a worker, delivered, or given up on."""

    PENDING = "pending"
    """Waiting for its next attempt (``next_attempt_at``); a failed attempt puts it back here."""
    DELIVERING = "delivering"
    """Claimed by a worker whose lease runs until ``lease_until``; an expired lease is claimed again."""
    SENT = "sent"
    """Taken by its destination (the deliverer returned); never sent again."""
    DEAD = "dead"
    """Given up on after ``max_attempts`` tries or a permanent refusal; ``civiccrm outbox retry`` revives it."""


class AttemptOutcome(enum.StrEnum):
    """What one recorded attempt came to."""

    SENT = "sent"
    FAILED = "failed"
    """A temporary failure: tried again after the back-off."""
    REFUSED = "refused"
    """A permanent refusal (the destination said no for good): the row is dead at once."""
    LOST = "lost"
    """The worker stopped (killed, crashed) while delivering; its lease ran out and another claimed the row."""
    REQUEUED = "requeued"
    """Someone asked for the row to be tried again (``civiccrm outbox retry``)."""


KIND = re.compile(r"^[a-z][a-z0-9_-]*(:[a-z0-9][a-z0-9_.-]*)?$")
"""A kind is a family and an optional name: ``message:email``, ``integration:open311``."""

MESSAGE_FAMILY = "message"
"""Kinds ``message:<channel code>`` carry an outbound message (see MessagePayload)."""


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND.match(kind):
        raise CivicError(f"kind: {kind!r} is not an outbox kind like 'message:email' or 'integration:open311' "
                         "(lower-case family, optional ':name')", field="kind")
    return kind


def family(kind: str) -> str:
    """``message`` for ``message:email``: a deliverer registered for the family takes all its kinds."""
    return kind.split(":", 1)[0]


def message_kind(channel: str) -> str:
    return check_kind(f"{MESSAGE_FAMILY}:{channel}")


@attrs.frozen
class OutboxItem:
    """One delivery handed to a deliverer: what to send, where, and which try this is."""

    id: int
    kind: str
    """``message:email``, ``integration:<name>`` ...: which deliverer takes it."""
    destination: str
    """Where it goes: an address for a message, an integration's destination name for a call."""
    payload: dict
    """What the enqueuer wrote (JSON); a message's is a MessagePayload as a dict."""
    idempotency_key: str
    """Unique per delivery: a deliverer passes it on (Message-ID, Idempotency-Key) so a repeat is recognised."""
    attempt: int
    """1 for the first try, 2 for the second ..."""
    subject: str | None = None
    """What the delivery is about, e.g. ``case:2026-000123`` (for per-destination state)."""


class DeliveryRefused(CivicError):
    """Raised by a deliverer when trying again cannot help (an address refused for good, a bad payload):
    the row goes straight to the dead letters with this reason."""


@attrs.frozen
class Deliverer:
    """Delivers the outbox rows of one kind (``message:sms``) or of a whole family (``integration``).

    ``deliver(deployment, item)`` returns a receipt (a provider's id, a Message-ID) or None, raises
    DeliveryRefused for a permanent failure and any other exception for a temporary one.
    """

    kind: str = attrs.field(validator=lambda _i, _a, value: check_kind(value))
    deliver: Callable = attrs.field(validator=attrs.validators.is_callable())
    description: str = ""
    available: Callable | None = attrs.field(default=None,
                                             validator=attrs.validators.optional(attrs.validators.is_callable()))
    """``available(deployment) -> bool``: whether this deployment has it set up (an SMS provider's
    settings, say). Messages are routed only to channels that can deliver; None: always."""
    record: Callable | None = attrs.field(default=None,
                                          validator=attrs.validators.optional(attrs.validators.is_callable()))
    """``record(connection, item, receipt, at)``: what a sent delivery leaves behind (a department's reference),
    written in the transaction that marks the row sent, so a delivery costs one commit, not two."""

    def available_for(self, deployment) -> bool:
        return self.available is None or bool(self.available(deployment))


@attrs.frozen
class RetryPolicy:
    """Exponential back-off: try ``n`` waits ``base * factor**(n-1)`` seconds, at most ``cap``."""

    base_seconds: float = 30.0
    factor: float = 2.0
    cap_seconds: float = 6 * 3600.0
    max_attempts: int = 8
    """Tries before a row is dead (a dead row is kept, listed and can be retried)."""

    def delay(self, tries: int) -> timedelta:
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * self.factor ** max(0, tries - 1)))

    def after_failure(self, tries: int, max_attempts: int, now: datetime) -> datetime | None:
        """When to try again after the ``tries``-th failed try, or None when the row is dead."""
        if now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, got {now!r}")
        if tries >= max_attempts:
            return None
        return now + self.delay(tries)


@attrs.frozen
class MessagePayload:
    """The payload of a ``message:<channel>`` row: one message to one address."""

    channel: str
    address: str
    subject: str
    body: str
    html: str | None = None
    language: str | None = None
    headers: dict = attrs.Factory(dict)
    """Extra headers a channel may honour (In-Reply-To, References for e-mail)."""
    notification: str | None = None
    """The notification kind (created, status_changed, closed, survey_invitation ...), if it is one."""

    def to_dict(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MessagePayload":
        try:
            return cls(**{field.name: data[field.name] for field in attrs.fields(cls) if field.name in data})
        except TypeError as exc:
            raise DeliveryRefused(f"payload: not a message ({exc})") from None
