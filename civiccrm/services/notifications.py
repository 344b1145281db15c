"""Tell the requester (and the case's followers): created, status changed, closed, survey invitations.

``queue`` is called by the case services inside the transaction of the change, so the message
is in the outbox exactly when the change is committed, and ``civiccrm deliver`` sends it. The
requester's preferred channel and language are used; an address that opted out or bounces,
imported history and notification kinds the city turned off are skipped; quiet hours put the
message off until they end. The text comes from the ``render_notification`` hook (the city's
templates, then the core default).
"""

import contextlib
import contextvars
import logging
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from civiccrm.domain.cases import Case, CaseEvent, Customer, Status
from civiccrm.domain.log_safe import contact_ref
from civiccrm.domain.outbox import MessagePayload, message_kind
from civiccrm.errors import CivicError
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services import outbox
from civiccrm.services.deployment import DEFAULT_BASE_URL
from civiccrm.store import contacts, repo
from civiccrm.store.duplicates import follower_ids
from civiccrm.store.tables import events_table

log = logging.getLogger(__name__)

KINDS = ("created", "status_changed", "closed", "survey_invitation")
DEFAULTS = {
    "kinds": list(KINDS),
    "statuses": ["in_progress", "on_hold", "waiting", "reopened"],
    "quiet_hours": None,
    "quiet_channels": ["sms", "social"],
    "followers": True,
    "base_url": DEFAULT_BASE_URL,
}
"""``[plugins.notifications]``: which kinds are sent, which new statuses call for a message, the
quiet hours (``"21:00-08:00"``, city time) and the channels they hold back, whether followers are
told too, and the public address of the status pages (``CIVICCRM_BASE_URL`` overrides it)."""

#: Kinds a case's followers are told of too (they did not open it: no "we received your request").
FOLLOWER_KINDS = ("status_changed", "closed")

_reply_to: contextvars.ContextVar = contextvars.ContextVar("civiccrm_notification_reply_to", default=None)


@contextlib.contextmanager
def replying_to(message_id: str | None):
    """Thread the notifications queued inside (the acknowledgement) onto the inbound message ``message_id``."""
    token = _reply_to.set(message_id)
    try:
        yield
    finally:
        _reply_to.reset(token)


def settings(deployment) -> dict:
    """``[plugins.notifications]`` of the profile over the defaults, checked."""
    config = plugin_settings(deployment.profile, "notifications", DEFAULTS, env={"base_url": "CIVICCRM_BASE_URL"})
    unknown = [k for k in config["kinds"] if k not in KINDS]
    if unknown:
        raise CivicError(f"plugins.notifications.kinds: {', '.join(unknown)}; expected some of {', '.join(KINDS)}",
                         field="kinds")
    statuses = {s.value for s in Status}
    bad = [s for s in config["statuses"] if s not in statuses]
    if bad:
        raise CivicError(f"plugins.notifications.statuses: {', '.join(bad)} is not a status; expected some of "
                         f"{', '.join(sorted(statuses))}", field="statuses")
    return config


def status_url(deployment, tracking_number: str, language: str | None = None) -> str:
    """The public status page of a case (in ``language`` when it is not the city's first)."""
    first = (deployment.profile.languages or ("en",))[0]
    suffix = f"?lang={language}" if language and language != first else ""
    return f"{settings(deployment)['base_url'].rstrip('/')}/status/{tracking_number}{suffix}"


def quiet_until(deployment, config: dict, channel: str, now: datetime) -> datetime | None:
    """The end of the city's quiet hours if ``now`` falls in them on ``channel``, else None."""
    spec = config.get("quiet_hours")
    if not spec or channel not in config["quiet_channels"]:
        return None
    try:
        start_text, end_text = str(spec).split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError:
        raise CivicError(f"plugins.notifications.quiet_hours: {spec!r}; expected HH:MM-HH:MM like 21:00-08:00",
                         field="quiet_hours") from None
    local = now.astimezone(deployment.profile.tz)
    clock = local.time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if start > end and clock >= start else local.date()
    return datetime.combine(day, end, tzinfo=deployment.profile.tz)


def kind_of(event: CaseEvent, config: dict) -> str | None:
    """Which notification a history event calls for, if any."""
    if event.kind == "created":
        return "created"
    if event.kind in ("closed", "merged"):
        return "closed"
    if event.kind in ("status_changed", "reopened"):
        new = (event.changes.get("status") or [None, None])[1]
        return "status_changed" if new in config["statuses"] else None
    return None


def deliverable(deployment) -> set[str]:
    """Channel codes a message can go out on: a deliverer for ``message:<code>``, or a channel that sends."""
    kinds = {kind.split(":", 1)[1] for kind, deliverer in outbox.deliverers(deployment.pm).items()
             if kind.startswith("message:") and deliverer.available_for(deployment)}
    return kinds | {code for code, channel in deployment.registry.channels.items() if channel.can_send}


def route(deployment, customer: Customer | None) -> tuple[str, str] | None:
    """(channel, address) to reach ``customer`` on: their preferred channel, else e-mail.

    Without a preference only e-mail is used: a bare phone number may be a landline."""
    if customer is None:
        return None
    can = deliverable(deployment)
    order = [customer.contact_by] if customer.contact_by else []
    order += [] if "email" in order else ["email"]
    for channel in order:
        address = customer.address_for(channel)
        if address and address.strip() and channel in can:
            return channel, address.strip()
    return None


def language_of(deployment, customer: Customer | None) -> str:
    languages = deployment.profile.languages or ("en",)
    language = getattr(customer, "language", None)
    return language if language in languages else languages[0]


def _event_id(connection, case: Case, event: CaseEvent) -> int | str:
    """The stored id of the event just written (the newest of the case); its time if it has none yet."""
    if event.id is not None:
        return event.id
    found = connection.execute(select(func.max(events_table.c.id))
                               .where(events_table.c.case_id == case.id)).scalar()
    return found if found is not None else event.at.isoformat()


def queue(deployment, *, connection_or_session, case: Case, event: CaseEvent, config: dict | None = None) -> list[int]:
    """Enqueue the notifications ``event`` calls for (the requester, then followers) in the caller's
    transaction; the outbox ids. Imported history is never notified. ``config``: ``settings(deployment)``,
    read by the caller before its write transaction (intake's)."""
    if event.origin != "intake" or case.is_import:
        return []
    config = config or settings(deployment)
    kind = kind_of(event, config)
    if kind is None or kind not in config["kinds"]:
        return []
    if isinstance(connection_or_session, Session):
        connection_or_session.flush()  # the event's row, for its id
    connection = outbox._connection(connection_or_session)
    people = [case.customer_id] if case.customer_id is not None else []
    if config["followers"] and kind in FOLLOWER_KINDS:
        people += follower_ids(connection, case.id)
    if not people:
        return []
    event_id = _event_id(connection, case, event)
    ids = []
    for customer in repo.customers_by_id(connection=connection, customer_ids=people):
        row = send(deployment, connection_or_session=connection, kind=kind, case=case, event=event,
                   customer=customer, idempotency_key=f"notify:{case.tracking_number}:{event_id}:{kind}:{customer.id}",
                   config=config)
        if row is not None:
            ids.append(row)
    return ids


def send(deployment, *, connection_or_session, kind: str, case: Case, event: CaseEvent | None, customer: Customer,
         idempotency_key: str, route_to: tuple[str, str] | None = None, config: dict | None = None) -> int | None:
    """Render one notification for ``customer`` and write it to the outbox; the outbox id, or None when
    it is not sent (the kind is off, no channel reaches them, the address opted out or bounces, no text)."""
    config = config or settings(deployment)
    if kind not in config["kinds"]:
        return None
    reach = route_to or route(deployment, customer)
    if reach is None:
        return None
    channel, address = reach
    connection = outbox._connection(connection_or_session)
    blocked = contacts.blocked(connection=connection, address=address)
    if blocked:
        log.info("no %s notification for %s to %s: %s", kind, case.tracking_number, contact_ref(address), blocked)
        return None
    language = language_of(deployment, customer)
    notification = deployment.pm.hook.render_notification(deployment=deployment, kind=kind, case=case, event=event,
                                                          language=language, channel=channel)
    if notification is None:
        log.info("no %s notification for %s: no plugin writes it", kind, case.tracking_number)
        return None
    now = deployment.clock()
    reply_to = _reply_to.get()
    headers = {"In-Reply-To": reply_to, "References": reply_to} if reply_to and channel == "email" else {}
    message = MessagePayload(channel=channel, address=address, subject=notification.subject, body=notification.body,
                             html=notification.html, language=language, headers=headers, notification=kind)
    return outbox.enqueue(connection_or_session=connection, kind=message_kind(channel), destination=address,
                          payload=message.to_dict(), idempotency_key=idempotency_key,
                          subject=f"case:{case.tracking_number}",
                          not_before=quiet_until(deployment, config, channel, now), now=now)
