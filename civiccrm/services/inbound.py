"""Inbound contacts on any channel: a new case, a note on the case a reply is about, or nothing and why.

Channel plugins (e-mail, SMS, social) read their own formats and robots' marks, then hand an
``InboundMessage`` here. Every message is logged with what became of it (``inbound_messages``).
"""

import logging
import re
from datetime import timedelta

import attrs

from civiccrm.domain.cases import CaseDraft, Customer
from civiccrm.domain.log_safe import contact_ref, without
from civiccrm.domain.messages import InboundMessage
from civiccrm.errors import CivicError
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services import cases as case_service
from civiccrm.services import notifications
from civiccrm.store import contacts, repo

log = logging.getLogger(__name__)

#: channel code -> the customer field holding a sender's address on it.
ADDRESS_FIELDS = {"email": "email", "sms": "phone"}

DEFAULTS = {"rate_limit": 20, "rate_window_seconds": 3600, "choice_window_hours": 24, "triage_type": None}
"""``[plugins.inbound]``: messages a sender may send in the window before the rest are refused for a
while, how long a numbered choice (SMS) stays open, and optionally a service type for what nobody can
classify (default none: a case without a type, in the admin's triage queue)."""


@attrs.frozen
class Received:
    """What became of one inbound message."""

    outcome: str
    """case, note, triage, duplicate, limited, awaiting_choice, answered, ignored, bounce or refused
    (``failed``: a poller could not file it now and leaves it for the next poll; not logged)."""
    tracking_number: str | None = None
    reason: str = ""
    reply: str | None = None
    """A text for channels that answer on the spot (an SMS reply); None: nothing to say."""


def settings(deployment) -> dict:
    """``[plugins.inbound]`` of the profile over the defaults, checked."""
    found = plugin_settings(deployment.profile, "inbound", DEFAULTS)
    for key in ("rate_limit", "rate_window_seconds", "choice_window_hours"):
        if not isinstance(found[key], (int, float)) or isinstance(found[key], bool) or found[key] <= 0:
            raise CivicError(f"plugins.inbound.{key}: {found[key]!r}; a positive number is expected", field=key)
    return found


def tracking_pattern(deployment) -> re.Pattern:
    return re.compile(rf"\b{re.escape(deployment.profile.tracking_prefix)}-\d{{4}}-\d{{6}}\b", re.IGNORECASE)


def log_outcome(deployment, message: InboundMessage, outcome: str, *, reason: str = "", case_id: int | None = None,
                pending_body: str | None = None, attachments=(), heard_from: bool = False) -> None:
    """Record what became of a message, with the case's attachments; ``heard_from``: the sender wrote
    to us (a person, not a robot), so a bounce recorded for the address is cleared, all in one transaction."""
    with repo.write_transaction(deployment.engine) as connection:
        if attachments and case_id is not None:
            contacts.add_attachments(connection=connection, case_id=case_id, attachments=attachments,
                                     now=deployment.clock())
        if heard_from:
            contacts.clear_bouncing(connection=connection, address=message.sender, now=deployment.clock())
        contacts.log_inbound(connection=connection, channel=message.channel, sender=message.sender,
                             message_id=message.message_id, received_at=message.received_at, subject=message.subject,
                             outcome=outcome, reason=reason or None, case_id=case_id, pending_body=pending_body)
        connection.commit()


def ignore(deployment, message: InboundMessage, outcome: str, reason: str) -> Received:
    """Log a message no case or reply is made for (a robot's, a bounce, a refused one)."""
    log.info("inbound %s from %s %s: %s", message.channel, contact_ref(message.sender), outcome,
             without(reason, message.sender))
    log_outcome(deployment, message, outcome, reason=reason)
    return Received(outcome=outcome, reason=reason)


def mark_bouncing(deployment, *, address: str, channel: str, reason: str) -> None:
    """A delivery report says ``address`` fails: nothing more is sent there until it writes again."""
    with repo.write_transaction(deployment.engine) as connection:
        contacts.mark_bouncing(connection=connection, address=address, channel=channel, now=deployment.clock(),
                               reason=reason[:500])
        connection.commit()


def set_opt_out(deployment, *, address: str, channel: str, opted_out: bool, reason: str) -> None:
    with repo.write_transaction(deployment.engine) as connection:
        (contacts.opt_out if opted_out else contacts.opt_in)(connection=connection, address=address, channel=channel,
                                                             now=deployment.clock(), reason=reason)
        connection.commit()


def _limited(deployment, message: InboundMessage) -> float | None:
    """Seconds until the sender may write again when they are over ``rate_limit`` messages in the window
    (counted in the inbound log, so every listener and worker counts the same), else None."""
    config = settings(deployment)
    window = timedelta(seconds=float(config["rate_window_seconds"]))
    now = deployment.clock()
    with deployment.engine.connect() as connection:
        recent = contacts.recent_from(connection=connection, channel=message.channel, sender=message.sender,
                                      since=now - window)
    if len(recent) < int(config["rate_limit"]):
        return None
    return max(1.0, (recent[0] + window - now).total_seconds())


def thread_of(deployment, message: InboundMessage) -> str | None:
    """The case a reply is about: by the message ids it answers, then a tracking number in its subject."""
    with deployment.engine.connect() as connection:
        found = contacts.case_of_message_ids(connection=connection, message_ids=tuple(message.in_reply_to))
    if found:
        return found
    match = tracking_pattern(deployment).search(message.subject or "")
    return match.group(0).upper() if match else None


def is_requester(deployment, tracking_number: str, message: InboundMessage) -> bool:
    field = ADDRESS_FIELDS.get(message.channel)
    if field is None:
        return False
    with deployment.engine.connect() as connection:
        address = contacts.requester_address(connection=connection, tracking_number=tracking_number,
                                             channel_field=field)
    return address is not None and address == contacts.normal(message.sender)


def open_cases(deployment, message: InboundMessage) -> list[str]:
    field = ADDRESS_FIELDS.get(message.channel)
    if field is None:
        return []
    with deployment.engine.connect() as connection:
        return contacts.open_cases_of(connection=connection, channel_field=field, address=message.sender)


def add_reply(deployment, message: InboundMessage, tracking_number: str, text: str) -> Received:
    """A reply from the requester: a note on their case."""
    case = case_service.add_note(deployment, tracking_number, text[:case_service.MAX_DESCRIPTION],
                                 actor=f"{message.channel}:{message.sender}"[:100])
    log_outcome(deployment, message, "note", reason=f"reply on {tracking_number}", case_id=case.id, heard_from=True)
    return Received(outcome="note", tracking_number=tracking_number, reason=f"added to {tracking_number}")


def classify(deployment, message: InboundMessage) -> tuple[str | None, bool]:
    """(service code, triaged): the ``classify_inbound`` answer; else no type (the triage queue), or the
    profile's ``triage_type`` for a city that files what nobody can classify under a real type."""
    code = deployment.pm.hook.classify_inbound(deployment=deployment, message=message)
    if code is not None:
        return deployment.profile.service_type(code).code, False
    triage = settings(deployment).get("triage_type")
    if not triage:
        return None, True
    try:
        return deployment.profile.service_type(triage).code, True
    except CivicError as exc:
        raise CivicError(f"plugins.inbound.triage_type: {exc}", field="triage_type") from None


def open_case(deployment, message: InboundMessage, *, location=None) -> Received:
    """A new case from a message: classified (or triaged), acknowledged by the ``created`` notification."""
    code, triaged = classify(deployment, message)
    field = ADDRESS_FIELDS.get(message.channel)
    language = message.language if message.language in deployment.profile.languages else None
    customer = Customer(name=message.sender_name or None, language=language,
                        **({field: message.sender, "contact_by": message.channel} if field else {}))
    text = "\n\n".join(part for part in (message.subject, message.body) if part).strip()
    draft = CaseDraft(service_code=code, description=text[:case_service.MAX_DESCRIPTION], channel=message.channel,
                      customer=customer, **({"location": location} if location is not None else {}))
    with notifications.replying_to(message.message_id):
        case = case_service.intake(deployment, draft, actor=f"{message.channel}:{message.sender}"[:100])
    outcome = "triage" if triaged else "case"
    triage_note = ("nobody could classify it: in the triage queue without a type" if code is None
                   else f"nobody could classify it: filed as {code} (triage_type)")
    reason = "; ".join((triage_note,) * triaged + tuple(message.notes))
    log_outcome(deployment, message, outcome, reason=reason, case_id=case.id, attachments=message.attachments,
                heard_from=True)
    return Received(outcome=outcome, tracking_number=case.tracking_number, reason=reason)


def receive(deployment, message: InboundMessage, *, location=None) -> Received:
    """Turn one message from a person into a case or a note (robots and bounces are the channel's to drop)."""
    with deployment.engine.connect() as connection:
        if contacts.seen(connection=connection, channel=message.channel, message_id=message.message_id):
            return Received(outcome="duplicate", reason=f"message {message.message_id} was received before")
    wait = _limited(deployment, message)
    if wait is not None:
        return ignore(deployment, message, "limited",
                      f"more than {settings(deployment)['rate_limit']} messages from {message.sender}; "
                      f"accepted again in {wait:.0f} s")
    tracking_number = thread_of(deployment, message)
    if tracking_number is not None and is_requester(deployment, tracking_number, message):
        return add_reply(deployment, message, tracking_number, message.body or message.subject or "")
    return open_case(deployment, message, location=location)


def choice_window(deployment) -> timedelta:
    return timedelta(hours=float(settings(deployment)["choice_window_hours"]))
