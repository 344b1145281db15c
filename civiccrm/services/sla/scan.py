"""The SLA breach scan: escalate open cases newly due, past due, or past their first-response due time.

Set-based, in batches: each batch is one write transaction that reads up to ``batch_size``
candidates (locked: ``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), inserts all their
``sla_escalated`` events in one statement (``INSERT ... RETURNING``), raises their levels and moves
each case's ``last_event_id`` to its own new event in one UPDATE, and commits; then
``sla_breached`` is fired through the one dispatcher for each escalation of the batch. A scan
stopped mid-way leaves whole batches only, and a re-run finishes the rest (an escalated level is
never escalated again).
"""

import json
from datetime import datetime, timedelta

import attrs
from sqlalchemy import and_, insert, or_, select, text

from civiccrm.domain import sla as rules
from civiccrm.domain.cases import CaseEvent, Status
from civiccrm.domain.lifecycle import LEVEL_NAMES
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store.tables import cases_table, events_table

BATCH_SIZE = 2000
"""Cases per transaction: large enough that a statement's round trip is spread over many cases,
small enough that a batch holds its locks for a fraction of a second."""


@attrs.frozen
class ScanResult:
    warned: tuple[str, ...]
    breached: tuple[str, ...]
    failed_hooks: int = 0
    response_breached: tuple[str, ...] = ()
    """Cases escalated because their first-response due time passed with no first response."""


@attrs.frozen
class _Pass:
    """One of the two things escalated: the resolution due time or the first-response due time."""

    level: str
    due: str
    key: str
    """The key of the level in the event's changes."""
    top: int = 2


_RESOLUTION = _Pass(level="sla_level", due="due_at", key="sla_level")
_RESPONSE = _Pass(level="sla_response_level", due="response_due_at", key="response_level")

# One UPDATE per batch: the levels and the events come as one array (PostgreSQL) or JSON list (SQLite) each.
_UPDATE = {
    "postgresql": ("UPDATE cases SET {level} = v.level, last_event_id = v.event FROM "
                   "(SELECT unnest(CAST(:ids AS integer[])) AS id, unnest(CAST(:levels AS integer[])) AS level, "
                   "unnest(CAST(:events AS integer[])) AS event) AS v WHERE cases.id = v.id"),
    "sqlite": ("UPDATE cases SET {level} = v.level, last_event_id = v.event FROM "
               "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS level, "
               "json_extract(value, '$[2]') AS event FROM json_each(:rows)) AS v WHERE cases.id = v.id"),
}


def _candidates(which: _Pass, now: datetime, warning: timedelta):
    c = cases_table.c
    due = c[which.due]
    if which is _RESOLUTION:
        where = (c.sla_paused_at.is_(None), due.is_not(None), due <= now + warning)
    else:
        where = (c.responded_at.is_(None), due.is_not(None), due <= now)
    return (select(c.id, due, c[which.level])
            .where(c.status != Status.CLOSED.value, c[which.level] < which.top, *where)
            .order_by(due, c.id))


def _event(which: _Pass, due: datetime, level: int, target: int, now: datetime, actor: str, tz) -> CaseEvent:
    name = LEVEL_NAMES[target]
    if which is _RESOLUTION:
        note = f"{name}: due {due.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    else:
        note = f"first response {name}: due {due.astimezone(tz):%Y-%m-%d %H:%M %Z}, none recorded"
    return CaseEvent(kind="sla_escalated", at=now, actor=actor, note=note,
                     changes={which.key: [LEVEL_NAMES[level], name], which.due: due.isoformat()})


def _batch(conn, which: _Pass, query, after, *, now, warning, actor, tz, size):
    """Escalate the next batch of candidates past ``after`` (due time, id); returns the escalations
    written [(case, event)] and the last candidate read (None when there was none)."""
    c = cases_table.c
    due_column = c[which.due]
    if after is not None:
        query = query.where(or_(due_column > after[0], and_(due_column == after[0], c.id > after[1])))
    query = query.limit(size)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = conn.execute(query).all()
    if not rows:
        return [], None
    raised = []  # (case id, target level, event)
    for case_id, due, level in rows:
        target = which.top if which is _RESPONSE or due <= now else 1
        if target > level:
            raised.append((case_id, target, _event(which, due, level, target, now, actor, tz)))
    escalations = []
    if raised:
        inserted = conn.execute(insert(events_table).returning(events_table.c.id, events_table.c.case_id),
                                [repo.event_values(case_id, event) for case_id, _, event in raised]).all()
        event_of = {case_id: event_id for event_id, case_id in inserted}
        ids = [case_id for case_id, _, _ in raised]
        levels = [target for _, target, _ in raised]
        events = [event_of[case_id] for case_id in ids]
        statement = text(_UPDATE[conn.dialect.name].format(level=which.level))
        if conn.dialect.name == "postgresql":
            conn.execute(statement, {"ids": ids, "levels": levels, "events": events})
        else:
            conn.execute(statement, {"rows": json.dumps(list(zip(ids, levels, events)))})
        cases = {row.id: repo.case_from_row(row)
                 for row in conn.execute(select(cases_table).where(c.id.in_(ids)))}
        escalations = [(cases[case_id], attrs.evolve(event, id=event_of[case_id], case_id=case_id))
                       for case_id, _, event in raised]
    conn.commit()
    return escalations, (rows[-1][1], rows[-1][0])


def scan(deployment, *, warning: timedelta | None = None, actor: str = "sla-scan",
         batch_size: int = BATCH_SIZE) -> ScanResult:
    """Escalate open cases newly due within the warning window or past due, and cases past
    their first-response due time with no first response.

    Resolution: open cases whose clock runs, ``warning`` then ``breached``. First response:
    open cases with ``response_due_at`` passed and ``responded_at`` empty, ``breached``
    only (a warning window sized for days would warn of an hours-long response target at
    intake). Each case gets at most one event per level of each: candidates are read locked
    and only a level above the stored one is written, so a second scan (or two at once)
    writes nothing new. ``batch_size`` cases a transaction (see the module's docstring);
    ``sla_breached`` is fired for each escalation after its batch commits.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: {batch_size}; expected a positive number of cases")
    now = deployment.clock()
    warning = deployment.profile.sla.warning if warning is None else warning
    tz = deployment.profile.tz
    numbers = {(which, level): [] for which in (_RESOLUTION, _RESPONSE) for level in (1, 2)}
    failed = 0
    for which in (_RESOLUTION, _RESPONSE):
        query = _candidates(which, now, warning)
        after = None
        while True:
            with repo.write_transaction(deployment.engine) as conn:
                escalations, after = _batch(conn, which, query, after, now=now, warning=warning,
                                            actor=actor, tz=tz, size=batch_size)
            if after is None:
                break
            for case, event in escalations:
                level = 2 if event.changes[which.key][1] == rules.BREACHED else 1
                numbers[(which, level)].append(case.tracking_number)
                failed += len(fire(deployment, "sla_breached", case=case, event=event))
    return ScanResult(
        warned=tuple(numbers[(_RESOLUTION, 1)]), breached=tuple(numbers[(_RESOLUTION, 2)]),
        failed_hooks=failed, response_breached=tuple(numbers[(_RESPONSE, 2)]),
    )
