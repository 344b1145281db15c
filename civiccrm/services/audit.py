"""Tamper evidence beyond triggers: seal case history into a hash chain and verify it."""

import attrs
from sqlalchemy import text

from civiccrm.errors import CivicError
from civiccrm.store import audit
from civiccrm.store.repo import write_transaction


@attrs.frozen
class ChainHead:
    """The newest link: keep ``position`` and ``hash`` somewhere the database's owner cannot write."""

    position: int
    """How many links the chain had (the head is the last of them)."""
    event_id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.hash}@{self.position}"

    @classmethod
    def parse(cls, text_: str) -> "ChainHead":
        digest, _, position = text_.strip().partition("@")
        if len(digest) != 64 or not position.isascii() or not position.isdigit():
            raise CivicError(f"head: {text_!r}; expected HASH@COUNT as printed by `civiccrm audit head`",
                             field="head")
        return cls(position=int(position), event_id=0, hash=digest.lower())


@attrs.frozen
class Verdict:
    links: int
    """Links checked."""
    unsealed: int
    """History rows no link covers yet (sealed by the next `audit seal`)."""
    broken: dict | None = None
    """The first broken link: its position (link), event id, case, and what is wrong; None when the chain holds."""

    @property
    def ok(self) -> bool:
        return self.broken is None


def seal(deployment, *, batch: int = 5000) -> int:
    """Append every committed, unsealed history event to the chain; how many were sealed.

    One sealer at a time (SQLite's write lock; an advisory lock on PostgreSQL), so the chain
    never forks. Safe to run every minute from cron.
    """
    sealed = 0
    while True:
        with write_transaction(deployment.engine) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(7311)"))
            last = audit.head(connection=connection)
            previous = last.hash if last else audit.GENESIS
            rows = audit.unsealed_events(connection=connection, limit=batch)
            if not rows:
                return sealed
            now = deployment.clock()
            links = []
            for row in rows:
                previous = audit.link_hash(previous, row)
                links.append({"event_id": row.id, "hash": previous, "sealed_at": now})
            audit.append_links(connection=connection, links=links)
            connection.commit()
        sealed += len(links)


def head(deployment) -> ChainHead | None:
    with deployment.engine.connect() as connection:
        row = audit.head(connection=connection)
        count = audit.length(connection=connection)
    return None if row is None else ChainHead(position=count, event_id=row.event_id, hash=row.hash)


def verify(deployment, *, expected: ChainHead | None = None) -> Verdict:
    """Recompute the chain from the first link; the first link whose event is gone or changed.

    ``expected`` is a head kept elsewhere: the chain must still pass through it (a rewritten
    chain, recomputed by someone who dropped the triggers, does not).
    """
    previous, links = audit.GENESIS, 0
    with deployment.engine.connect() as connection:
        for row in audit.walk(connection=connection):
            links += 1
            where = {"link": links, "event_id": row.link_event_id, "case": row.tracking_number}
            if row.id is None:
                return Verdict(links, 0, {**where, "problem": "the history row this link sealed is gone"})
            previous = audit.link_hash(previous, row)
            if previous != row.hash:
                return Verdict(links, 0, {**where, "problem": "the history row or the link was changed after sealing"})
            if expected is not None and links == expected.position and row.hash != expected.hash:
                return Verdict(links, 0, {**where, "problem": f"the chain no longer passes through the kept head {expected}"})
        if expected is not None and links < expected.position:
            return Verdict(links, 0, {"link": links + 1, "event_id": None, "case": None,
                                      "problem": f"the chain ends at link {links}, before the kept head {expected}"})
        return Verdict(links, audit.events_outside_chain(connection=connection))
