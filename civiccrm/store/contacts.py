"""SQL for addresses not to send to (opted out, bouncing) and the log of inbound messages."""

import hashlib
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from civiccrm.store.tables import case_attachments_table, cases_table, customers_table
from civiccrm.store.tables import contact_addresses_table as addresses
from civiccrm.store.tables import inbound_messages_table as inbound
from civiccrm.store.tables import outbox_table


def normal(address: str) -> str:
    return address.strip().lower()


def _upsert(connection: Connection, address: str, channel: str, now: datetime, **values) -> None:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(addresses).values(address=normal(address), channel=channel, updated_at=now, **values)
    connection.execute(statement.on_conflict_do_update(index_elements=["address"],
                                                       set_={"updated_at": now, **values}))


def opt_out(*, connection: Connection, address: str, channel: str, now: datetime, reason: str) -> None:
    _upsert(connection, address, channel, now, opted_out_at=now, reason=reason)


def opt_in(*, connection: Connection, address: str, channel: str, now: datetime, reason: str) -> None:
    _upsert(connection, address, channel, now, opted_out_at=None, reason=reason)


def mark_bouncing(*, connection: Connection, address: str, channel: str, now: datetime, reason: str) -> None:
    _upsert(connection, address, channel, now, bouncing_since=now, reason=reason)


def clear_bouncing(*, connection: Connection, address: str, now: datetime) -> None:
    connection.execute(update(addresses).where(addresses.c.address == normal(address),
                                               addresses.c.bouncing_since.is_not(None))
                       .values(bouncing_since=None, updated_at=now))


def blocked(*, connection: Connection, address: str) -> str | None:
    """Why nothing may be sent to ``address`` (opted out, bouncing), or None."""
    row = connection.execute(select(addresses).where(addresses.c.address == normal(address))).first()
    if row is None:
        return None
    if row.opted_out_at is not None:
        return f"opted out {row.opted_out_at:%Y-%m-%d %H:%M}Z"
    if row.bouncing_since is not None:
        return f"bouncing since {row.bouncing_since:%Y-%m-%d %H:%M}Z ({row.reason or 'delivery report'})"
    return None


def log_inbound(*, connection: Connection, channel: str, sender: str, message_id: str | None, received_at: datetime,
                subject: str | None, outcome: str, reason: str | None = None, case_id: int | None = None,
                pending_body: str | None = None) -> int | None:
    """Record one inbound message; None (nothing written) when its ``message_id`` was seen on the channel."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(inbound).values(
        channel=channel, sender=normal(sender)[:320], message_id=message_id and message_id[:300],
        received_at=received_at, subject=subject and subject[:300], outcome=outcome, reason=reason,
        case_id=case_id, pending_body=pending_body,
    ).on_conflict_do_nothing(index_elements=["channel", "message_id"]).returning(inbound.c.id)
    return connection.execute(statement).scalar()


def recent_from(*, connection: Connection, channel: str, sender: str, since: datetime) -> list[datetime]:
    """When the sender's messages accepted since ``since`` arrived, oldest first (over-limit ones not counted)."""
    return list(connection.execute(
        select(inbound.c.received_at).where(inbound.c.channel == channel, inbound.c.sender == normal(sender),
                                            inbound.c.received_at >= since, inbound.c.outcome != "limited")
        .order_by(inbound.c.received_at)).scalars())


def seen(*, connection: Connection, channel: str, message_id: str | None) -> bool:
    if not message_id:
        return False
    return connection.execute(select(inbound.c.id).where(inbound.c.channel == channel,
                                                         inbound.c.message_id == message_id[:300])).first() is not None


def case_of_message_ids(*, connection: Connection, message_ids: tuple[str, ...]) -> str | None:
    """The tracking number a reply refers to: one of ``message_ids`` (nearest first) is a message we sent
    about a case (the outbox receipt) or one the case came in with."""
    if not message_ids:
        return None
    sent = connection.execute(select(outbox_table.c.receipt, outbox_table.c.subject)
                              .where(outbox_table.c.receipt.in_(message_ids),
                                     outbox_table.c.subject.like("case:%"))).all()
    received = connection.execute(select(inbound.c.message_id, cases_table.c.tracking_number)
                                  .join(cases_table, cases_table.c.id == inbound.c.case_id)
                                  .where(inbound.c.message_id.in_(message_ids))).all()
    found = {r.receipt: r.subject.split(":", 1)[1] for r in sent} | {r.message_id: r.tracking_number for r in received}
    return next((found[m] for m in message_ids if m in found), None)


def open_cases_of(*, connection: Connection, channel_field: str, address: str, limit: int = 9) -> list[str]:
    """Tracking numbers of the open cases whose customer has ``address`` (email or phone), newest first."""
    column = customers_table.c[channel_field]
    return list(connection.execute(
        select(cases_table.c.tracking_number).join(customers_table, customers_table.c.id == cases_table.c.customer_id)
        .where(func.lower(column) == normal(address), cases_table.c.status != "closed")
        .order_by(cases_table.c.opened_at.desc(), cases_table.c.id.desc()).limit(limit)).scalars())


def requester_address(*, connection: Connection, tracking_number: str, channel_field: str) -> str | None:
    row = connection.execute(select(customers_table.c[channel_field])
                             .join(cases_table, cases_table.c.customer_id == customers_table.c.id)
                             .where(cases_table.c.tracking_number == tracking_number)).first()
    return normal(row[0]) if row is not None and row[0] else None


def awaiting_choice(*, connection: Connection, channel: str, sender: str, since: datetime):
    """The sender's latest message still waiting for them to pick one of their open cases, if any."""
    return connection.execute(
        select(inbound).where(inbound.c.channel == channel, inbound.c.sender == normal(sender),
                              inbound.c.outcome == "awaiting_choice", inbound.c.received_at >= since)
        .order_by(inbound.c.id.desc()).limit(1)).first()


def settle_choice(*, connection: Connection, inbound_id: int, outcome: str, case_id: int | None, reason: str) -> None:
    connection.execute(update(inbound).where(inbound.c.id == inbound_id)
                       .values(outcome=outcome, case_id=case_id, reason=reason, pending_body=None))


def add_attachments(*, connection: Connection, case_id: int, attachments, now: datetime) -> None:
    if attachments:
        connection.execute(insert(case_attachments_table), [{
            "case_id": case_id, "filename": a.filename, "content_type": a.content_type[:100], "size": a.size,
            "sha256": hashlib.sha256(a.data).hexdigest(), "data": a.data, "created_at": now,
        } for a in attachments])


def inbound_log(*, connection: Connection, channel: str | None = None, outcome: str | None = None,
                limit: int = 100) -> list:
    query = select(inbound).order_by(inbound.c.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(inbound.c.channel == channel)
    if outcome is not None:
        query = query.where(inbound.c.outcome == outcome)
    return connection.execute(query).all()

