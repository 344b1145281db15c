"""SQL of the history hash chain: which events are unsealed, append links, read the chain back."""

import hashlib
import json
from collections.abc import Iterator

from sqlalchemy import func, select

from civiccrm.store.tables import audit_chain_table as chain
from civiccrm.store.tables import cases_table as cases
from civiccrm.store.tables import events_table as events

GENESIS = "0" * 64
"""The hash before the first link."""

#: Events with an id this far below the newest sealed one are still looked for: on PostgreSQL
#: a transaction that took a lower id may commit after a higher one was sealed.
LATE_WINDOW = 100_000

_EVENT_COLUMNS = (events.c.id, events.c.case_id, events.c.at, events.c.actor, events.c.kind,
                  events.c.origin, events.c.changes, events.c.note)


def link_hash(previous: str, event) -> str:
    """The hash of one link: the previous hash and the event's stored columns, canonically."""
    body = json.dumps([event.id, event.case_id, event.at.isoformat(), event.actor, event.kind, event.origin,
                       event.changes, event.note], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{body}".encode()).hexdigest()


def head(*, connection):
    """The last link (seq, event_id, hash, sealed_at), or None before the first seal."""
    return connection.execute(select(chain).order_by(chain.c.seq.desc()).limit(1)).first()


def length(*, connection) -> int:
    return connection.execute(select(func.count()).select_from(chain)).scalar()


def unsealed_events(*, connection, limit: int) -> list:
    """Committed events not yet in the chain, in id order (at most ``limit``)."""
    newest = connection.execute(select(func.max(chain.c.event_id))).scalar() or 0
    query = (select(*_EVENT_COLUMNS).outerjoin(chain, chain.c.event_id == events.c.id)
             .where(events.c.id > newest - LATE_WINDOW, chain.c.event_id.is_(None))
             .order_by(events.c.id).limit(limit))
    return connection.execute(query).all()


def append_links(*, connection, links: list[dict]) -> None:
    connection.execute(chain.insert(), links)


def walk(*, connection, batch: int = 10_000) -> Iterator:
    """Every link in order with its event's columns (None where the event row is gone)."""
    last = 0
    while True:
        rows = connection.execute(
            select(chain.c.seq, chain.c.event_id.label("link_event_id"), chain.c.hash, cases.c.tracking_number,
                   *_EVENT_COLUMNS)
            .outerjoin(events, events.c.id == chain.c.event_id).outerjoin(cases, cases.c.id == events.c.case_id)
            .where(chain.c.seq > last).order_by(chain.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def events_outside_chain(*, connection) -> int:
    """How many history rows no link covers (not yet sealed, or inserted behind the chain's back)."""
    return connection.execute(select(func.count()).select_from(events)
                              .outerjoin(chain, chain.c.event_id == events.c.id)
                              .where(chain.c.event_id.is_(None))).scalar()
