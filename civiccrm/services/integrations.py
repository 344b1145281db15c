"""Integrations: send cases and updates to department systems through the outbox, apply what comes back.

Every call to another system is an outbox row (kind ``integration:<integration>``,
destination the profile's destination name) written in the transaction of the change, so a
change is never committed without its calls; the ``civiccrm deliver`` worker makes them
(retries, back-off, dead letters, every attempt recorded). The destination's reference and
status live on the case's work order; a case with an open work order is not closed as fixed.
"""

from datetime import datetime, timedelta

import attrs

from civiccrm.domain.cases import Case, CaseEvent, Status
from civiccrm.domain.integrations import BadUpdate, Destination, ExternalUpdate, routes
from civiccrm.domain.outbox import Deliverer, DeliveryRefused, DeliveryState
from civiccrm.domain.work_orders import WorkOrderStatus
from civiccrm.domain.work_orders import check_close as check_work_orders
from civiccrm.errors import CivicError, NotFound
from civiccrm.services import outbox
from civiccrm.store import integrations as store
from civiccrm.store import repo

FAMILY = "integration"
#: Case events sent on to a destination that holds the case's work order.
UPDATE_KINDS = frozenset({"status_changed", "public_note", "closed", "reopened", "merged"})


def kind_of(destination: Destination) -> str:
    return f"{FAMILY}:{destination.integration}"


def destination(deployment, name: str) -> Destination:
    found = deployment.profile.integrations.get(name)
    if found is None:
        raise NotFound(f"integration: no destination {name!r} in {deployment.profile.name}; known: "
                       f"{', '.join(sorted(deployment.profile.integrations)) or 'none'}", field="destination")
    return found


def integration_for(deployment, dest: Destination):
    registered = deployment.registry.integrations
    if dest.integration not in registered:
        raise CivicError(f"integrations.{dest.name}.integration: {dest.integration!r} is not a registered "
                         f"integration; registered: {', '.join(sorted(registered)) or 'none'}")
    return registered[dest.integration]


def _subject(case: Case) -> str:
    return f"case:{case.tracking_number}"


def queue(deployment, *, connection_or_session, case: Case, event: CaseEvent) -> list[int]:
    """Write the integration calls ``event`` causes, in the caller's transaction; the outbox ids.

    A new case goes to every destination its department or service type routes it to (one work
    order each); a later public change goes to the destinations holding an open work order.
    Imported history is never sent."""
    if event.origin != "intake" or not deployment.profile.integrations:
        return []
    connection = outbox._connection(connection_or_session)
    now = event.at
    ids = []
    if event.kind == "created":
        for dest in routes(deployment.profile.integrations.values(), case):
            work_order_id = store.open_work_order(connection, case_id=case.id, destination=dest.name, at=now)
            ids.append(outbox.enqueue(
                connection_or_session=connection, kind=kind_of(dest), destination=dest.name,
                payload={"action": "send_case", "tracking_number": case.tracking_number, "work_order_id": work_order_id},
                idempotency_key=f"send_case:{dest.name}:{case.tracking_number}", subject=_subject(case), now=now))
    elif event.kind in UPDATE_KINDS and not event.actor.startswith("integration:"):
        for order in store.work_orders_of(connection, case.id):
            dest = deployment.profile.integrations.get(order.destination)
            if dest is None or not order.is_open:
                continue
            ids.append(outbox.enqueue(
                connection_or_session=connection, kind=kind_of(dest), destination=dest.name,
                payload={"action": "send_update", "tracking_number": case.tracking_number,
                         "work_order_id": order.id, "event": {"kind": event.kind, "at": event.at.isoformat(),
                                                              "note": event.note, "changes": event.changes}},
                idempotency_key=f"send_update:{dest.name}:{case.tracking_number}:{event.kind}:{event.at.isoformat()}",
                subject=_subject(case), now=now))
            if not case.is_open:  # closed here (an override, a merge, another resolution): the work is off
                store.set_work_order_status(connection, work_order_id=order.id, status=WorkOrderStatus.CANCELLED,
                                            external_status=order.external_status or "", at=now)
    return ids


def deliver(deployment, item) -> str | None:
    """The outbox deliverer of the ``integration`` family: make one call, keep the reference it returns."""
    dest = deployment.profile.integrations.get(item.destination)
    if dest is None:
        raise DeliveryRefused(f"destination {item.destination!r} is no longer in the profile")
    integration = integration_for(deployment, dest)
    with deployment.session() as s:
        case = repo.case_from_row(repo.get_case_row(session=s, tracking_number=item.payload["tracking_number"]))
    with deployment.engine.connect() as connection:
        order = store.work_order(connection, item.payload["work_order_id"])
    if item.payload["action"] == "send_case":
        if order is not None and order.external_id:
            return order.external_id  # taken on an earlier try whose receipt was lost
        reference = integration.send_case(deployment, case, destination=dest, idempotency_key=item.idempotency_key)
        if not reference:
            raise CivicError(f"{dest.integration}: send_case returned no reference")
        return str(reference)  # kept on the work order by record(), in the transaction marking the row sent
    if item.payload["action"] == "send_update":
        if order is None or not order.external_id:
            raise CivicError(f"{dest.name} has not taken case {case.tracking_number} yet; the update waits for it")
        event = item.payload["event"]
        update = CaseEvent(kind=event["kind"], at=datetime.fromisoformat(event["at"]), actor="system",
                           changes=event["changes"], note=event["note"])
        receipt = integration.send_update(deployment, case, update, destination=dest, external_id=order.external_id,
                                          idempotency_key=item.idempotency_key)
        return None if receipt is None else str(receipt)
    raise DeliveryRefused(f"unknown integration action {item.payload['action']!r}")


def record(connection, item, receipt: str | None, at: datetime) -> None:
    """A case taken by a department: its reference is kept on the work order."""
    if item.payload["action"] == "send_case" and receipt:
        store.set_external_id(connection, work_order_id=item.payload["work_order_id"], external_id=receipt, at=at)


DELIVERER = Deliverer(kind=FAMILY, deliver=deliver, record=record,
                      description="calls to department systems (integrations)")


# --- what comes back -------------------------------------------------------------------------


@attrs.frozen
class Applied:
    outcome: str
    """applied, unchanged (seen before or nothing to do) or refused."""
    reason: str | None = None
    tracking_number: str | None = None


def apply_update(deployment, dest: Destination, update: ExternalUpdate | BadUpdate, *, via: str) -> Applied:
    """Apply one update from ``dest`` to its case; a bad one is recorded as refused (never raised)."""
    from civiccrm.services import cases as case_service

    now = deployment.clock()
    record = {"destination": dest.name, "received_at": now, "via": via}
    if isinstance(update, BadUpdate):
        return _record(deployment, record | {"update_id": update.update_id, "raw": update.raw},
                       Applied("refused", update.reason))
    record |= {"update_id": update.update_id, "external_id": update.external_id, "status": update.status,
               "at": update.at}
    with deployment.engine.connect() as connection:
        if update.update_id and store.seen_update(connection, destination=dest.name, update_id=update.update_id):
            return Applied("unchanged", "seen before")
        found = store.find_work_order(connection, destination=dest.name, reference=update.external_id)
    if found is None:
        return _record(deployment, record, Applied("refused", f"no work order {update.external_id!r} in {dest.name}"))
    order, tracking_number = found
    record["work_order_id"] = order.id
    try:
        mapping = dest.mapping(update.status)
    except CivicError as exc:
        return _record(deployment, record, Applied("refused", str(exc), tracking_number))
    actor = f"integration:{dest.name}"
    note = mapping.public_note(description=update.description, external_id=order.external_id)
    try:
        case = case_service.get(deployment, tracking_number)
        if mapping.status is Status.CLOSED:
            with deployment.engine.begin() as connection:
                store.set_work_order_status(connection, work_order_id=order.id, status=WorkOrderStatus.COMPLETED,
                                            external_status=update.status, at=now, resolution=mapping.resolution)
                still_open = [o for o in store.work_orders_of(connection, case.id) if o.is_open]
            if case.is_open and not still_open:
                case_service.close(deployment, tracking_number, mapping.resolution, actor=actor, note=note)
            elif note:
                case_service.add_note(deployment, tracking_number, note, actor=actor, public=True)
        else:
            with deployment.engine.begin() as connection:
                store.set_work_order_status(connection, work_order_id=order.id, status=WorkOrderStatus.OPEN,
                                            external_status=update.status, at=now)
            if case.is_open and case.status is not mapping.status:
                case_service.change_status(deployment, tracking_number, mapping.status, actor=actor, note=note)
            elif note:
                case_service.add_note(deployment, tracking_number, note, actor=actor, public=True)
    except CivicError as exc:
        return _record(deployment, record, Applied("refused", str(exc), tracking_number))
    return _record(deployment, record, Applied("applied", None, tracking_number))


def _record(deployment, record: dict, result: Applied) -> Applied:
    with deployment.engine.begin() as connection:
        store.record_update(connection, **record, outcome=result.outcome, reason=result.reason)
    return result


@attrs.frozen
class FetchResult:
    destination: str
    ok: bool
    applied: int = 0
    unchanged: int = 0
    refused: tuple[str, ...] = ()
    error: str | None = None


def fetch(deployment, name: str | None = None) -> list[FetchResult]:
    """Fetch updates from one destination (or every one) since its last good fetch, and apply them."""
    names = [name] if name else sorted(deployment.profile.integrations)
    results = []
    for dest in (destination(deployment, n) for n in names):
        integration = integration_for(deployment, dest)
        started = deployment.clock()
        with deployment.engine.connect() as connection:
            last = store.last_good_fetch(connection, dest.name)
        since = last.started_at if last else None
        counts = {"applied": 0, "unchanged": 0}
        refused, error = [], None
        try:
            for update in integration.fetch_updates(deployment, since, destination=dest):
                result = apply_update(deployment, dest, update, via="fetch")
                if result.outcome == "refused":
                    refused.append(f"{getattr(update, 'update_id', None) or '?'}: {result.reason}")
                else:
                    counts[result.outcome] += 1
        except Exception as exc:  # the destination is down or answered nonsense: recorded, tried next time
            error = f"{type(exc).__name__}: {exc}"
        with deployment.engine.begin() as connection:
            store.record_fetch(connection, destination=dest.name, since=since, started_at=started,
                               finished_at=deployment.clock(), ok=error is None, updates=sum(counts.values()),
                               refused=len(refused), error=error)
        results.append(FetchResult(destination=dest.name, ok=error is None, refused=tuple(refused), error=error,
                                   **counts))
    return results


def receive(deployment, name: str, request) -> list[Applied]:
    """A destination pushed updates (a web request): let its integration read them, apply each."""
    dest = destination(deployment, name)
    integration = integration_for(deployment, dest)
    if integration.receive is None:
        raise NotFound(f"integration {dest.integration!r} does not take pushed updates", field="destination")
    return [apply_update(deployment, dest, u, via="push")
            for u in integration.receive(deployment, request, destination=dest)]


# --- closing only when the work is done --------------------------------------------------------


def check_close(deployment, *, session, case: Case, resolution, override_reason: str | None, actor) -> str | None:
    """Refuse closing ``case`` as fixed while it has an open work order (unless a supervisor overrides);
    the override note to record, or None. Runs in the closing transaction, with the case locked, so a
    work order cannot open or complete between this check and the close."""
    orders = store.work_orders_of(session.connection(), case.id)
    if not any(o.is_open for o in orders):
        return None
    allowed = actor is not None and (getattr(actor, "role", None) == "supervisor" or bool(
        deployment.pm.hook.permission_allowed(deployment=deployment, actor=actor, action="close_override",
                                              resource=case)))
    return check_work_orders(case.tracking_number, orders, resolution, override_reason=override_reason,
                             may_override=allowed, actor_name=getattr(actor, "name", None) or "this user")


# --- looking at it ----------------------------------------------------------------------------


@attrs.frozen
class DestinationStatus:
    name: str
    integration: str
    deliveries: dict
    """Outbox state -> count of this destination's calls."""
    failures_in_a_row: int
    last_error: str | None
    last_update_at: datetime | None
    open_work_orders: int
    alerts: tuple[str, ...]
    recent_refused: tuple[str, ...]

    def to_dict(self) -> dict:
        return attrs.asdict(self)


def status(deployment) -> list[DestinationStatus]:
    """Each destination's deliveries, failures in a row, last update received and alerts."""
    found = []
    now = deployment.clock()
    for dest in sorted(deployment.profile.integrations.values(), key=lambda d: d.name):
        kind = kind_of(dest)
        with deployment.engine.connect() as connection:
            counts = store.delivery_counts(connection, dest.name, kind)
            attempts = store.recent_attempts(connection, dest.name, kind, dest.alert_after_failures + 50)
            last_update = store.last_update_at(connection, dest.name)
            open_orders, oldest_open = store.open_work_orders(connection, dest.name)
            refused = store.refused_updates(connection, dest.name, 5)
        in_a_row = 0
        for attempt in attempts:
            if attempt.outcome not in ("failed", "refused", "lost"):
                break
            in_a_row += 1
        alerts = []
        if in_a_row >= dest.alert_after_failures:
            alerts.append(f"{in_a_row} deliveries in a row failed (alert after {dest.alert_after_failures}); "
                          f"last: {attempts[0].reason}")
        if counts.get(DeliveryState.DEAD.value):
            alerts.append(f"{counts[DeliveryState.DEAD.value]} dead deliveries (civiccrm integrations retry {dest.name})")
        quiet_since = max(filter(None, (last_update, oldest_open)), default=None)
        if quiet_since is not None and now - quiet_since > timedelta(hours=dest.alert_after_hours):
            hours = (now - quiet_since).total_seconds() / 3600
            alerts.append(f"no update from {dest.name} for {hours:.0f} hours while {open_orders} work orders are open "
                          f"(alert after {dest.alert_after_hours:g} hours)")
        found.append(DestinationStatus(
            name=dest.name, integration=dest.integration,
            deliveries={s.value: counts.get(s.value, 0) for s in DeliveryState},
            failures_in_a_row=in_a_row, last_error=attempts[0].reason if attempts and in_a_row else None,
            last_update_at=last_update, open_work_orders=open_orders, alerts=tuple(alerts),
            recent_refused=tuple(f"{r.update_id or '?'}: {r.reason}" for r in refused)))
    return found


def case_state(deployment, tracking_number: str) -> dict:
    """Per destination, where ``tracking_number``'s calls stand; ``sent`` only when every destination took it."""
    with deployment.session() as s:
        case = repo.case_from_row(repo.get_case_row(session=s, tracking_number=tracking_number))
        states = outbox.destination_states(s, _subject(case))
        orders = {o.destination: o for o in store.work_orders_of(s.connection(), case.id)}
    destinations = {}
    for (kind, name), state in sorted(states.items()):
        if not kind.startswith(f"{FAMILY}:"):
            continue
        order = orders.get(name)
        current = destinations.get(name)
        worst = state if current is None or _rank(state) < _rank(current["delivery"]) else current["delivery"]
        destinations[name] = {"delivery": worst, "external_id": order.external_id if order else None,
                              "work_order": order.status.value if order else None,
                              "external_status": order.external_status if order else None}
    sent = bool(destinations) and all(d["delivery"] is DeliveryState.SENT for d in destinations.values())
    return {"tracking_number": case.tracking_number, "sent": sent, "destinations": destinations}


def _rank(state: DeliveryState) -> int:
    return {DeliveryState.DEAD: 0, DeliveryState.PENDING: 1, DeliveryState.DELIVERING: 2, DeliveryState.SENT: 3}[state]


def retry(deployment, name: str | None = None, *, actor: str = "cli") -> list[int]:
    """Revive the dead calls of one destination (or every one); the outbox ids made due again."""
    revived = []
    for dest in ([destination(deployment, name)] if name else deployment.profile.integrations.values()):
        with deployment.engine.connect() as connection:
            dead = store.dead_deliveries(connection, dest.name, kind_of(dest))
        for outbox_id in dead:
            revived += outbox.retry(deployment, outbox_id=outbox_id, actor=actor)
    return revived


def listing(deployment) -> list[dict]:
    """Registered integrations and the profile's destinations using them."""
    registered = deployment.registry.integrations
    rows = []
    for name, integration in sorted(registered.items()):
        users = sorted(d.name for d in deployment.profile.integrations.values() if d.integration == name)
        rows.append({"integration": name, "description": integration.description, "destinations": users,
                     "receives_pushes": integration.receive is not None})
    for dest in deployment.profile.integrations.values():
        if dest.integration not in registered:
            rows.append({"integration": dest.integration, "description": "NOT REGISTERED (no plugin provides it)",
                         "destinations": [dest.name], "receives_pushes": False})
    return rows
