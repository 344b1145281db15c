"""The delivery outbox: enqueue in the caller's transaction; deliver with leases, retries and dead letters.

Whatever the city sends (a message to a resident, a call to a department's system) is
written here in the same transaction as the change that causes it, so a change is never
committed without its deliveries, nor a delivery made for a change rolled back. The
``civiccrm deliver`` worker then hands each row to the deliverer registered for its kind
(``register_deliverers``), records the attempt and its reason, backs off after a failure
and gives up after ``max_attempts`` tries (the row is dead, listed and retryable).

Delivery is at least once: a row is marked sent only after its deliverer returns, so a
worker killed between the two leaves it to be delivered again when its lease runs out. The
deliverer is handed the row's idempotency key to pass on (an e-mail's Message-ID, an
Idempotency-Key header) so the destination can recognise the repeat.
"""

import json
import logging
import os
import signal
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import attrs
from sqlalchemy.engine import Connection
from sqlmodel import Session

from civiccrm.domain.log_safe import contact_ref, without
from civiccrm.domain.outbox import (
    MESSAGE_FAMILY,
    AttemptOutcome,
    Deliverer,
    DeliveryRefused,
    DeliveryState,
    MessagePayload,
    OutboxItem,
    RetryPolicy,
    check_kind,
    family,
    message_kind,
)
from civiccrm.domain.timeutil import utcnow
from civiccrm.errors import CivicError, NotFound
from civiccrm.store import outbox as store

log = logging.getLogger(__name__)

DEFAULT_POLICY = RetryPolicy()


def _connection(connection_or_session) -> Connection:
    if isinstance(connection_or_session, Session):
        return connection_or_session.connection()
    if isinstance(connection_or_session, Connection):
        return connection_or_session
    raise CivicError(f"connection_or_session: expected a SQLAlchemy Connection or Session, got {connection_or_session!r}")


def enqueue(*, connection_or_session, kind: str, destination: str, payload: dict, idempotency_key: str,
            subject: str | None = None, not_before: datetime | None = None, max_attempts: int | None = None,
            now: datetime | None = None) -> int:
    """Write one delivery in the caller's transaction (it is sent only if that commits); the row id.

    A second call with the same ``idempotency_key`` writes nothing and returns the first row's id,
    so a change replayed (a retried request, an import run twice) never sends twice.
    ``subject`` names what the delivery is about (``case:2026-000123``): ``destination_states``
    reports each destination's state for it.
    """
    check_kind(kind)
    for name, value, size in (("destination", destination, 320), ("idempotency_key", idempotency_key, 200),
                              ("subject", subject, 120)):
        if value is None and name == "subject":
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > size:
            raise CivicError(f"{name}: a non-empty text of at most {size} characters is needed, not {value!r}",
                             field=name)
    if not isinstance(payload, dict):
        raise CivicError(f"payload: a dict is needed, not {type(payload).__name__}", field="payload")
    try:
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise CivicError(f"payload: cannot be stored as JSON ({exc})", field="payload") from None
    attempts = DEFAULT_POLICY.max_attempts if max_attempts is None else max_attempts
    if not isinstance(attempts, int) or attempts < 1:
        raise CivicError(f"max_attempts: a whole number of at least 1 is needed, not {max_attempts!r}",
                         field="max_attempts")
    now = now or utcnow()
    if now.utcoffset() is None or (not_before is not None and not_before.utcoffset() is None):
        raise CivicError("now / not_before: timezone-aware datetimes are needed", field="not_before")
    row_id, _ = store.insert_once(connection=_connection(connection_or_session), values={
        "kind": kind, "destination": destination, "subject": subject, "payload": text,
        "idempotency_key": idempotency_key, "state": DeliveryState.PENDING.value, "tries": 0,
        "max_attempts": attempts, "created_at": now, "next_attempt_at": max(now, not_before or now),
    })
    return row_id


def enqueue_message(*, connection_or_session, message: MessagePayload, idempotency_key: str,
                    subject: str | None = None, not_before: datetime | None = None,
                    max_attempts: int | None = None, now: datetime | None = None) -> int:
    """Enqueue one outbound message on its channel (kind ``message:<channel>``)."""
    return enqueue(connection_or_session=connection_or_session, kind=message_kind(message.channel),
                   destination=message.address, payload=message.to_dict(), idempotency_key=idempotency_key,
                   subject=subject, not_before=not_before, max_attempts=max_attempts, now=now)


# --- deliverers --------------------------------------------------------------------------


def deliverers(pm) -> dict[str, Deliverer]:
    """Kind (or family) -> Deliverer, from every plugin's ``register_deliverers``."""
    found: dict[str, Deliverer] = {}

    def register(deliverer):
        if not isinstance(deliverer, Deliverer):
            raise CivicError(f"register_deliverers: expected a civiccrm.domain.outbox.Deliverer, got {deliverer!r}")
        if deliverer.kind in found:
            raise CivicError(f"two plugins register a deliverer for the outbox kind {deliverer.kind!r}")
        found[deliverer.kind] = deliverer

    pm.hook.register_deliverers(register=register)
    return found


def deliverer_for(registered: dict[str, Deliverer], kind: str, deployment=None) -> Deliverer | None:
    """The deliverer of exactly ``kind``, else of its family (``integration`` for ``integration:open311``).

    With ``deployment``, a deliverer of the exact kind that this deployment has not set up
    (``Deliverer.available``) gives way to the family's (an SMS provider nobody configured)."""
    exact = registered.get(kind)
    if exact is not None and (deployment is None or exact.available_for(deployment)):
        return exact
    return registered.get(family(kind)) or exact


# --- the worker --------------------------------------------------------------------------


@attrs.frozen
class BatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    """Temporary failures, to be tried again after the back-off."""
    dead: int = 0
    lost_lease: int = 0
    """Rows skipped because another worker took them over (this worker was too slow)."""


def worker_name() -> str:
    """Unique per process and run: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _item(row) -> OutboxItem:
    return OutboxItem(id=row.id, kind=row.kind, destination=row.destination, payload=json.loads(row.payload),
                      idempotency_key=row.idempotency_key, attempt=row.tries, subject=row.subject)


def _loggable(row, reason: str | None) -> tuple[str, str]:
    """A row's destination and failure reason as a log line may show them: a message's address (a
    resident's e-mail or phone) as its digest, wherever it appears."""
    if family(row.kind) != MESSAGE_FAMILY:
        return row.destination, reason or ""
    return contact_ref(row.destination), without(reason, row.destination)


def _deliver_one(deployment, row, *, worker: str, lease: timedelta, registered: dict[str, Deliverer],
                 policy: RetryPolicy) -> str:
    """Deliver one claimed row and record the attempt: ``sent``, ``failed``, ``dead`` or ``lost``."""
    started = deployment.clock()
    if row.tries > row.max_attempts:  # its last try was lost with a killed worker
        store.finish(engine=deployment.engine, outbox_id=row.id, worker=worker, attempt=row.tries,
                     started_at=started, finished_at=started, state=DeliveryState.DEAD,
                     outcome=AttemptOutcome.REFUSED,
                     reason=f"no tries left ({row.max_attempts}); the last was lost with its worker")
        return "dead"
    # The claim leased the batch; a row reached while more than half its lease is left goes out
    # under that lease (one commit fewer per delivery), a later one renews it first.
    if row.lease_until - started <= lease / 2 and not store.hold(
            engine=deployment.engine, outbox_id=row.id, worker=worker, until=started + lease):
        return "lost"
    item = _item(row)
    deliverer = deliverer_for(registered, item.kind, deployment)
    receipt = reason = None
    outcome = AttemptOutcome.SENT
    try:
        if deliverer is None:
            raise LookupError(f"no plugin delivers the outbox kind {item.kind!r} (register_deliverers); "
                              f"known: {', '.join(sorted(registered)) or 'none'}")
        receipt = deliverer.deliver(deployment, item)
    except DeliveryRefused as exc:
        outcome, reason = AttemptOutcome.REFUSED, str(exc)
    except Exception as exc:  # a destination down, a plugin's bug: recorded, retried, never lost
        outcome, reason = AttemptOutcome.FAILED, f"{type(exc).__name__}: {exc}"
    finished = deployment.clock()
    next_at = None
    if outcome is AttemptOutcome.SENT:
        state = DeliveryState.SENT
    elif outcome is AttemptOutcome.FAILED:
        next_at = policy.after_failure(row.tries, row.max_attempts, finished)
        state = DeliveryState.PENDING if next_at is not None else DeliveryState.DEAD
        if next_at is None:
            reason = f"{reason} (gave up after {row.tries} tries)"
    else:
        state = DeliveryState.DEAD
    if receipt is not None and not isinstance(receipt, str):
        receipt = str(receipt)
    on_sent = None
    if deliverer is not None and deliverer.record is not None:
        def on_sent(connection):
            deliverer.record(connection, item, receipt, finished)
    if not store.finish(engine=deployment.engine, outbox_id=row.id, worker=worker, attempt=row.tries,
                        started_at=started, finished_at=finished, state=state, outcome=outcome, reason=reason,
                        receipt=receipt, next_attempt_at=next_at, on_sent=on_sent):
        return "lost"
    if state is DeliveryState.SENT:
        return "sent"
    if state is DeliveryState.DEAD:
        log.warning("outbox %s (%s to %s) is dead: %s", row.id, row.kind, *_loggable(row, reason))
        return "dead"
    destination, reason = _loggable(row, reason)
    log.info("outbox %s (%s to %s) failed, retry at %s: %s", row.id, row.kind, destination, next_at.isoformat(),
             reason)
    return "failed"


def deliver_batch(deployment, *, worker: str, limit: int = 20, lease_seconds: float = 300.0,
                  registered: dict[str, Deliverer] | None = None, policy: RetryPolicy = DEFAULT_POLICY,
                  kinds: tuple[str, ...] | None = None, stop: threading.Event | None = None,
                  concurrency: int = 1, executor: ThreadPoolExecutor | None = None) -> BatchResult:
    """Claim up to ``limit`` due rows and deliver them, each finished in its own transaction.

    ``concurrency`` deliveries run at once (threads, from ``executor`` when a long-running worker keeps
    one, so per-thread connections such as an SMTP session last across batches): a slow destination's
    calls overlap with the others' and with the database's commits. Each row is delivered and
    recorded on its own."""
    if not isinstance(concurrency, int) or concurrency < 1:
        raise CivicError(f"--concurrency: {concurrency!r}; expected a whole number of at least 1",
                         field="concurrency")
    registered = deliverers(deployment.pm) if registered is None else registered
    lease = timedelta(seconds=lease_seconds)
    claimed = store.claim(engine=deployment.engine, worker=worker, now=deployment.clock(),
                          lease_seconds=lease_seconds, limit=limit, kinds=kinds)

    def one(row) -> str | None:
        if stop is not None and stop.is_set():
            return None  # left leased to this worker: claimed again when the lease runs out
        return _deliver_one(deployment, row, worker=worker, lease=lease, registered=registered, policy=policy)

    if concurrency == 1 or len(claimed) < 2:
        outcomes = [o for o in map(one, claimed) if o is not None]
    else:
        pool = executor or ThreadPoolExecutor(max_workers=min(concurrency, len(claimed)),
                                              thread_name_prefix="civiccrm-deliver")
        try:
            outcomes = [o for o in pool.map(one, claimed) if o is not None]
        finally:
            if pool is not executor:
                pool.shutdown(wait=True)
    return BatchResult(claimed=len(claimed), sent=outcomes.count("sent"), failed=outcomes.count("failed"),
                       dead=outcomes.count("dead"), lost_lease=outcomes.count("lost"))


def run(deployment, *, once: bool = False, limit: int = 20, lease_seconds: float = 300.0,
        interval: float = 2.0, worker: str | None = None, kinds: tuple[str, ...] | None = None,
        stop: threading.Event | None = None, on_batch=None, concurrency: int = 1) -> BatchResult:
    """Deliver until nothing is due (``once``) or until stopped (SIGTERM/SIGINT or ``stop``); the totals.

    As a service it sleeps ``interval`` seconds whenever nothing is due; ``once`` suits cron.
    """
    worker = worker or worker_name()
    stop = stop or threading.Event()
    registered = deliverers(deployment.pm)
    total = BatchResult()
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="civiccrm-deliver") \
        if concurrency > 1 else None
    try:
        while not stop.is_set():
            result = deliver_batch(deployment, worker=worker, limit=limit, lease_seconds=lease_seconds,
                                   registered=registered, kinds=kinds, stop=stop, concurrency=concurrency,
                                   executor=executor)
            total = BatchResult(*(a + b for a, b in zip(attrs.astuple(total), attrs.astuple(result))))
            if on_batch is not None and result.claimed:
                on_batch(result)
            if result.claimed == 0:
                if once:
                    break
                stop.wait(interval)
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
    return total


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT let the current delivery finish, then stop the worker."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


# --- looking and retrying ----------------------------------------------------------------


@attrs.frozen
class OutboxEntry:
    """An outbox row as ``civiccrm outbox list`` shows it."""

    id: int
    kind: str
    destination: str
    subject: str | None
    state: DeliveryState
    tries: int
    max_attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    receipt: str | None
    last_error: str | None
    idempotency_key: str

    def to_dict(self) -> dict:
        return attrs.asdict(self)


def _entry(row) -> OutboxEntry:
    return OutboxEntry(id=row.id, kind=row.kind, destination=row.destination, subject=row.subject,
                       state=DeliveryState(row.state), tries=row.tries, max_attempts=row.max_attempts,
                       created_at=row.created_at, next_attempt_at=row.next_attempt_at, sent_at=row.sent_at,
                       receipt=row.receipt, last_error=row.last_error, idempotency_key=row.idempotency_key)


def parse_state(text: str) -> DeliveryState:
    try:
        return DeliveryState(text.strip().lower())
    except ValueError:
        raise CivicError(f"--state: {text!r} is not one of {', '.join(s.value for s in DeliveryState)}",
                         field="state") from None


def entries(deployment, *, state: DeliveryState | None = None, kind: str | None = None,
            subject: str | None = None, limit: int | None = None) -> list[OutboxEntry]:
    with deployment.engine.connect() as conn:
        return [_entry(r) for r in store.rows(connection=conn, state=state, kind=kind, subject=subject, limit=limit)]


def entry(deployment, outbox_id: int) -> tuple[OutboxEntry, list[dict]]:
    """One row and every attempt at it (oldest first)."""
    with deployment.engine.connect() as conn:
        row = store.row(connection=conn, outbox_id=outbox_id)
        if row is None:
            raise NotFound(f"outbox: no delivery {outbox_id}")
        tries = [dict(a._mapping) for a in store.attempts(connection=conn, outbox_id=outbox_id)]
    return _entry(row), tries


def counts(deployment) -> dict[str, int]:
    with deployment.engine.connect() as conn:
        found = store.counts(connection=conn)
    return {state.value: found.get(state.value, 0) for state in DeliveryState}


def destination_states(connection_or_session, subject: str) -> dict[tuple[str, str], DeliveryState]:
    """(kind, destination) -> state of every delivery about ``subject``: sent to all only when all are SENT."""
    rows = store.rows(connection=_connection(connection_or_session), subject=subject)
    return {(r.kind, r.destination): DeliveryState(r.state) for r in rows}


def retry(deployment, *, outbox_id: int | None = None, dead: bool = False, actor: str = "cli") -> list[int]:
    """Make a dead (or failed, waiting) row due now with a fresh set of tries, or every dead row."""
    if (outbox_id is None) == (not dead):
        raise CivicError("outbox retry: give one delivery ID or --dead (every dead delivery)")
    now = deployment.clock()
    if dead:
        return store.requeue(engine=deployment.engine, ids=None, now=now, actor=actor)
    found, _ = entry(deployment, outbox_id)
    if found.state in (DeliveryState.SENT, DeliveryState.DELIVERING):
        raise CivicError(f"outbox retry: delivery {outbox_id} is {found.state.value}; "
                         "only dead or failed deliveries are retried")
    return store.requeue(engine=deployment.engine, ids=[outbox_id], now=now, actor=actor)

