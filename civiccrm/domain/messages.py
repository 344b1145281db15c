"""Messages: what arrives on an inbound channel, and what is sent to a requester."""

import re
from datetime import datetime

import attrs

from civiccrm.domain.timeutil import require_aware


@attrs.frozen
class Attachment:
    """A file that came with a message (kept within the channel's limits)."""

    filename: str
    content_type: str
    size: int
    data: bytes = attrs.field(repr=False)


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
    """``Attachment`` values."""
    sender_name: str | None = None
    """The name the sender gave (an e-mail's display name), if any."""
    message_id: str | None = None
    """The channel's id for it (Message-ID, the SMS provider's id): a repeat is recognised by it."""
    in_reply_to: tuple = attrs.field(default=(), converter=tuple)
    """Ids of the messages it answers, nearest first (In-Reply-To, then References)."""
    notes: tuple = attrs.field(default=(), converter=tuple)
    """What was dropped or repaired while reading it (an attachment over the limit, a bad charset)."""


@attrs.frozen
class Notification:
    """A message to a requester: plain-text ``body`` always, ``html`` where the channel can show it."""

    subject: str
    body: str
    html: str | None = None


#: Frequent short words of each language, to guess which one a message is written in.
COMMON_WORDS = {
    "en": {"the", "and", "is", "in", "of", "to", "my", "on", "not", "it", "this", "there", "please", "street"},
    "es": {"el", "la", "los", "las", "de", "del", "que", "en", "mi", "no", "por", "una", "un", "calle", "esta",
           "está", "hay", "semana", "favor", "basura"},
}


def guess_language(text: str, languages: tuple[str, ...]) -> str | None:
    """The one of ``languages`` whose common words ``text`` uses most, or None when none stands out."""
    words = re.findall(r"\w+", text.lower())
    scores = {lang: sum(word in COMMON_WORDS.get(lang, ()) for word in words) for lang in languages}
    best = max(scores.items(), key=lambda item: item[1], default=(None, 0))
    if best[1] == 0 or list(scores.values()).count(best[1]) > 1:
        return None
    return best[0]
