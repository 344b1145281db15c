"""Failed event hooks: list those no retry has answered, and call their plugins again.

A retry writes ``hook_retried`` (it worked) or a new ``hook_failed`` (it failed again),
each naming the failure it answers in ``changes["retry_of"]``; history stays append-only.
"""

import json
from datetime import datetime

import attrs
from sqlalchemy import select

from civiccrm.domain.cases import CaseEvent
from civiccrm.services.events import arguments_from_payload, call_one
from civiccrm.store import repo
from civiccrm.store.tables import cases_table, events_table


@attrs.frozen
class HookFailure:
    """A ``hook_failed`` history event not yet retried."""

    id: int
    tracking_number: str
    plugin: str
    hook: str
    at: datetime
    note: str | None


def pending_failures(deployment, *, plugin: str | None = None, limit: int | None = None) -> list[HookFailure]:
    """Failed event hooks that no later retry has answered, oldest first."""
    t, c = events_table, cases_table
    query = (select(t.c.id, t.c.kind, t.c.at, t.c.changes, t.c.note, c.c.tracking_number)
             .join(c, c.c.id == t.c.case_id)
             .where(t.c.kind.in_(("hook_failed", "hook_retried"))).order_by(t.c.id))
    answered, failures = set(), []
    with deployment.engine.connect() as conn:
        for row in conn.execute(query):
            changes = json.loads(row.changes or "{}")
            if changes.get("retry_of") is not None:
                answered.add(changes["retry_of"])
            if row.kind == "hook_failed" and ("event" in changes or "response" in changes):
                failures.append(HookFailure(id=row.id, tracking_number=row.tracking_number, plugin=changes["plugin"],
                                            hook=changes["hook"], at=row.at, note=row.note))
    pending = [f for f in failures if f.id not in answered and (plugin is None or f.plugin == plugin)]
    return pending[:limit] if limit is not None else pending


@attrs.frozen
class RetryResult:
    retried: int = 0
    failed_again: int = 0
    skipped: tuple[str, ...] = ()
    """Why failures were left pending (their plugin is not loaded)."""


def retry_failures(deployment, *, plugin: str | None = None, limit: int | None = None) -> RetryResult:
    """Call each pending failure's plugin again with the case as it is now and the original event."""
    retried = failed_again = 0
    skipped = []
    for failure in pending_failures(deployment, plugin=plugin, limit=limit):
        hook = getattr(deployment.pm.hook, failure.hook, None)
        impl = next((i for i in (hook.get_hookimpls() if hook else ()) if i.plugin_name == failure.plugin), None)
        if impl is None:
            skipped.append(f"failure {failure.id} on case {failure.tracking_number}: plugin {failure.plugin!r} "
                           f"does not implement {failure.hook} (not loaded?)")
            continue
        with deployment.session() as s:
            changes = json.loads(s.execute(select(events_table.c.changes).where(
                events_table.c.id == failure.id)).scalar_one())
            case = repo.case_from_row(repo.get_case_row(session=s, tracking_number=failure.tracking_number))
        arguments = arguments_from_payload(changes, case)
        if call_one(deployment, failure.hook, impl, arguments, retry_of=failure.id) is None:
            retried += 1
            with deployment.session() as s:
                repo.add_event(session=s, case_id=case.id, event=CaseEvent(
                    kind="hook_retried", at=deployment.clock(), actor="system",
                    changes={"plugin": failure.plugin, "hook": failure.hook, "retry_of": failure.id},
                    note=f"{failure.hook} in plugin {failure.plugin} succeeded on retry",
                    origin=changes.get("event", {}).get("origin", "intake"),
                ))
                s.commit()
        else:
            failed_again += 1
    return RetryResult(retried=retried, failed_again=failed_again, skipped=tuple(skipped))
