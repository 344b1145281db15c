"""Messages: what arrives on an inbound channel, and what is sent to a requester."""

from datetime import datetime

import attrs

from civiccrm.domain.timeutil import require_aware


@attrs.frozen
class InboundMessage:
    """A contact as it arrived on a channel (an e-mail, a text message), before it is a case."""

    channel: str
    """Code of the channel it came on."""
    sender: str
    """The address it came from (e-mail address, phone number)."""
    subject: str | None
    body: str
    received_at: datetime = attrs.field(validator=require_aware)
    language: str | None = None
    attachments: tuple = attrs.field(default=(), converter=tuple)


@attrs.frozen
class Notification:
    """A message to a requester: plain-text ``body`` always, ``html`` where the channel can show it."""

    subject: str
    body: str
    html: str | None = None
