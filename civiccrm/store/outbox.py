"""SQL of the delivery outbox: insert once per key, claim with a lease, finish, list, requeue."""

from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from civiccrm.domain.outbox import AttemptOutcome, DeliveryState
from civiccrm.store.db import writer_turn
from civiccrm.store.tables import outbox_attempts_table as attempts_t
from civiccrm.store.tables import outbox_table as t


def insert_once(*, connection: Connection, values: dict) -> tuple[int, bool]:
    """Insert a row unless one with its idempotency key exists: (id, inserted)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    result = connection.execute(dialect.insert(t).values(**values)
                                .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(t.c.id))
    new_id = result.scalar()
    if new_id is not None:
        return new_id, True
    return connection.execute(select(t.c.id).where(t.c.idempotency_key == values["idempotency_key"])).scalar_one(), False


def _claimable(now: datetime):
    return or_(and_(t.c.state == DeliveryState.PENDING.value, t.c.next_attempt_at <= now),
               and_(t.c.state == DeliveryState.DELIVERING.value, t.c.lease_until < now))


def claim(*, engine: Engine, worker: str, now: datetime, lease_seconds: float, limit: int,
          kinds: tuple[str, ...] | None = None) -> list:
    """Take up to ``limit`` due rows for ``worker`` until ``now + lease_seconds``; the claimed rows.

    Rows whose lease ran out (their worker stopped mid-delivery) are claimed again and get a
    ``lost`` attempt naming that worker. PostgreSQL skips rows another worker has locked
    (FOR UPDATE SKIP LOCKED); on SQLite the claim is one write transaction, and the UPDATE
    checks again that each row is still claimable, so two workers never hold the same row.
    """
    until = now + timedelta(seconds=lease_seconds)
    due = select(t.c.id, t.c.state, t.c.lease_token, t.c.lease_until, t.c.tries).where(_claimable(now))
    if kinds:
        due = due.where(or_(t.c.kind.in_(kinds), *(t.c.kind.like(f"{k}:%") for k in kinds)))
    due = due.order_by(t.c.next_attempt_at, t.c.id).limit(limit).with_for_update(skip_locked=True)
    with writer_turn(engine), engine.begin() as conn:
        candidates = conn.execute(due).all()
        if not candidates:
            return []
        ids = [c.id for c in candidates]
        conn.execute(update(t).where(t.c.id.in_(ids), _claimable(now))
                     .values(state=DeliveryState.DELIVERING.value, lease_token=worker, lease_until=until,
                             tries=t.c.tries + 1))
        claimed = conn.execute(select(t).where(t.c.id.in_(ids), t.c.lease_token == worker,
                                               t.c.lease_until == until).order_by(t.c.next_attempt_at, t.c.id)).all()
        got = {row.id for row in claimed}
        lost = [c for c in candidates if c.id in got and c.state == DeliveryState.DELIVERING.value]
        if lost:
            conn.execute(insert(attempts_t), [{
                "outbox_id": c.id, "attempt": c.tries, "worker": c.lease_token or "?", "started_at": c.lease_until,
                "finished_at": now, "outcome": AttemptOutcome.LOST.value,
                "reason": f"worker {c.lease_token} stopped before reporting (its lease ran out at "
                          f"{c.lease_until.isoformat()}); the destination may or may not have it",
            } for c in lost])
        return claimed


def hold(*, engine: Engine, outbox_id: int, worker: str, until: datetime) -> bool:
    """Extend ``worker``'s lease on a row just before delivering it; False when the lease was lost."""
    with writer_turn(engine), engine.begin() as conn:
        return conn.execute(update(t).where(t.c.id == outbox_id, t.c.lease_token == worker,
                                            t.c.state == DeliveryState.DELIVERING.value)
                            .values(lease_until=until)).rowcount == 1


def finish(*, engine: Engine, outbox_id: int, worker: str, attempt: int, started_at: datetime,
           finished_at: datetime, state: DeliveryState, outcome: AttemptOutcome, reason: str | None,
           receipt: str | None = None, next_attempt_at: datetime | None = None, on_sent=None) -> bool:
    """Record an attempt and the row's new state, if ``worker`` still holds it; False when it did not.

    ``on_sent(connection)`` runs in the same transaction when the row was sent (even if the lease was
    lost meanwhile: what the destination answered is kept either way)."""
    values = {"state": state.value, "lease_token": None, "lease_until": None}
    if state is DeliveryState.SENT:
        values.update(sent_at=finished_at, receipt=(receipt or None) and receipt[:500])
    else:
        values["last_error"] = reason
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    with writer_turn(engine), engine.begin() as conn:
        done = conn.execute(update(t).where(t.c.id == outbox_id, t.c.lease_token == worker)
                            .values(**values)).rowcount == 1
        conn.execute(insert(attempts_t).values(
            outbox_id=outbox_id, attempt=attempt, worker=worker, started_at=started_at, finished_at=finished_at,
            outcome=outcome.value, reason=reason if done else f"{reason or outcome.value} (lease lost meanwhile)"))
        if on_sent is not None and state is DeliveryState.SENT:
            on_sent(conn)
        return done


def rows(*, connection: Connection, state: DeliveryState | None = None, kind: str | None = None,
         subject: str | None = None, limit: int | None = None) -> list:
    query = select(t).order_by(t.c.id)
    if state is not None:
        query = query.where(t.c.state == state.value)
    if kind is not None:
        query = query.where(or_(t.c.kind == kind, t.c.kind.like(f"{kind}:%")))
    if subject is not None:
        query = query.where(t.c.subject == subject)
    if limit is not None:
        query = query.limit(limit)
    return connection.execute(query).all()


def row(*, connection: Connection, outbox_id: int):
    return connection.execute(select(t).where(t.c.id == outbox_id)).first()


def attempts(*, connection: Connection, outbox_id: int) -> list:
    return connection.execute(select(attempts_t).where(attempts_t.c.outbox_id == outbox_id)
                              .order_by(attempts_t.c.id)).all()


def counts(*, connection: Connection) -> dict[str, int]:
    return dict(connection.execute(select(t.c.state, func.count()).group_by(t.c.state)).all())


def requeue(*, engine: Engine, ids: list[int] | None, now: datetime, actor: str) -> list[int]:
    """Make dead rows (or the failed, waiting rows among ``ids``) due now with a fresh set of tries.

    ``ids`` None means every dead row. Rows sent or being delivered are left alone. Returns the
    ids requeued; each gets a ``requeued`` attempt naming ``actor``.
    """
    retryable = t.c.state.in_((DeliveryState.DEAD.value, DeliveryState.PENDING.value))
    query = select(t.c.id, t.c.tries).where(t.c.state == DeliveryState.DEAD.value) if ids is None else \
        select(t.c.id, t.c.tries).where(t.c.id.in_(ids), retryable)
    with writer_turn(engine), engine.begin() as conn:
        found = conn.execute(query.with_for_update()).all()
        if not found:
            return []
        conn.execute(update(t).where(t.c.id.in_([f.id for f in found]), retryable)
                     .values(state=DeliveryState.PENDING.value, tries=0, next_attempt_at=now))
        conn.execute(insert(attempts_t), [{
            "outbox_id": f.id, "attempt": f.tries, "worker": actor, "started_at": now, "finished_at": now,
            "outcome": AttemptOutcome.REQUEUED.value, "reason": f"retry asked for by {actor} after {f.tries} tries",
        } for f in found])
    return [f.id for f in found]
