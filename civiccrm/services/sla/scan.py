"""The SLA breach scan: escalate open cases newly due, past due, or past their first-response due time."""

from datetime import datetime, timedelta

import attrs
from sqlalchemy import select, update

from civiccrm.domain import sla as rules
from civiccrm.domain.cases import CaseEvent, Status
from civiccrm.domain.lifecycle import LEVEL_NAMES
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store.tables import CaseRow, cases_table


@attrs.frozen
class ScanResult:
    warned: tuple[str, ...]
    breached: tuple[str, ...]
    failed_hooks: int = 0
    response_breached: tuple[str, ...] = ()
    """Cases escalated because their first-response due time passed with no first response."""


def _escalate(s, case_id: int, level_column: str, due_column: str, due: datetime, target: int) -> bool:
    """Raise one escalation level if no other scan has: a conditional UPDATE that only one can win."""
    c = cases_table.c
    return bool(s.execute(
        update(cases_table).where(c.id == case_id, c[level_column] < target, c[due_column] == due)
        .values({level_column: target})
    ).rowcount)


def scan(deployment, *, warning: timedelta | None = None, actor: str = "sla-scan") -> ScanResult:
    """Escalate open cases newly due within the warning window or past due, and cases past
    their first-response due time with no first response.

    Resolution: open cases whose clock runs, ``warning`` then ``breached``. First response:
    open cases with ``response_due_at`` passed and ``responded_at`` empty, ``breached``
    only (a warning window sized for days would warn of an hours-long response target at
    intake). Each case gets at most one event per level of each: the level is raised with
    a conditional UPDATE, so a second scan (or two at once) writes nothing new.
    ``sla_breached`` is fired for each escalation after the commit.
    """
    now = deployment.clock()
    warning = deployment.profile.sla.warning if warning is None else warning
    tz = deployment.profile.tz
    c = CaseRow
    resolution = (
        select(c.id, c.due_at, c.sla_level)
        .where(c.status != Status.CLOSED.value, c.sla_paused_at.is_(None), c.due_at.is_not(None),
               c.due_at <= now + warning, c.sla_level < 2)
        .order_by(c.due_at, c.id)
    )
    response = (
        select(c.id, c.response_due_at, c.sla_response_level)
        .where(c.responded_at.is_(None), c.response_due_at.is_not(None), c.response_due_at <= now,
               c.status != Status.CLOSED.value, c.sla_response_level < 2)
        .order_by(c.response_due_at, c.id)
    )
    escalated = []  # (case id, "resolution" or "response", level name, event)
    with deployment.session() as s:
        for case_id, due, level in s.execute(resolution).all():
            target = 2 if due <= now else 1
            if target <= level or not _escalate(s, case_id, "sla_level", "due_at", due, target):
                continue
            name = LEVEL_NAMES[target]
            event = CaseEvent(
                kind="sla_escalated", at=now, actor=actor,
                changes={"sla_level": [LEVEL_NAMES[level], name], "due_at": due.isoformat()},
                note=f"{name}: due {due.astimezone(tz):%Y-%m-%d %H:%M %Z}",
            )
            repo.add_event(session=s, case_id=case_id, event=event)
            escalated.append((case_id, "resolution", name, event))
        for case_id, due, level in s.execute(response).all():
            if not _escalate(s, case_id, "sla_response_level", "response_due_at", due, 2):
                continue
            name = LEVEL_NAMES[2]
            event = CaseEvent(
                kind="sla_escalated", at=now, actor=actor,
                changes={"response_level": [LEVEL_NAMES[level], name], "response_due_at": due.isoformat()},
                note=f"first response {name}: due {due.astimezone(tz):%Y-%m-%d %H:%M %Z}, none recorded",
            )
            repo.add_event(session=s, case_id=case_id, event=event)
            escalated.append((case_id, "response", name, event))
        s.commit()
        cases = {}
        for case_id, _, _, _ in escalated:
            if case_id not in cases:
                cases[case_id] = repo.case_from_row(s.get(CaseRow, case_id))
    failed = 0
    for case_id, _, _, event in escalated:
        failed += len(fire(deployment, "sla_breached", case=cases[case_id], event=event))

    def numbers(kind, name):
        return tuple(cases[i].tracking_number for i, k, n, _ in escalated if k == kind and n == name)

    return ScanResult(
        warned=numbers("resolution", rules.WARNING), breached=numbers("resolution", rules.BREACHED),
        failed_hooks=failed, response_breached=numbers("response", rules.BREACHED),
    )
