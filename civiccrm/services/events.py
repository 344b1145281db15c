"""Fire event hooks after commit; a failing plugin is logged, noted on the case and can be retried."""

import contextvars
import json
import logging
from datetime import datetime

import attrs
from sqlalchemy import select

from civiccrm.domain.cases import Case, CaseEvent
from civiccrm.errors import CivicError
from civiccrm.store import repo
from civiccrm.store.tables import cases_table, events_table

log = logging.getLogger(__name__)
_current: contextvars.ContextVar = contextvars.ContextVar("civiccrm_deployment", default=None)


def fire(deployment, hook_name: str, case: Case, event: CaseEvent) -> list[str]:
    """Call every implementation of ``hook_name``; returns the names of plugins that failed.

    Each implementation is called on its own so one failure does not stop the
    others; a failure is logged and written to the case's history as a
    ``hook_failed`` event in a transaction of its own.
    """
    hook = getattr(deployment.pm.hook, hook_name)
    failed = []
    kwargs = {"case": case, "event": event}
    token = _current.set(deployment)
    try:
        _call(deployment, hook_name, hook, kwargs, case, event, failed)
    finally:
        _current.reset(token)
    return failed


def current_deployment():
    """The Deployment whose event is being fired, for a plugin that must act through the services.

    Hook arguments stay domain objects; a plugin such as the survey dispatcher, which
    stores invitations, asks for the deployment here (like Flask's ``current_app``).
    Outside an event hook there is none and CivicError is raised.
    """
    deployment = _current.get()
    if deployment is None:
        raise CivicError("no deployment: current_deployment() is only available while an event hook runs")
    return deployment


def _call(deployment, hook_name, hook, kwargs, case, event, failed, *, retry_of: int | None = None):
    for impl in reversed(hook.get_hookimpls()):
        if _call_one(deployment, hook_name, impl, kwargs, case, event, retry_of=retry_of) is not None:
            failed.append(impl.plugin_name)


def _call_one(deployment, hook_name, impl, kwargs, case, event, *, retry_of: int | None = None):
    """Call one implementation; on failure log it, record ``hook_failed`` and return the exception."""
    try:
        impl.function(*[kwargs[name] for name in impl.argnames])
        return None
    except Exception as exc:  # a plugin's bug must not lose the case
        log.exception("plugin %s failed in %s for case %s", impl.plugin_name, hook_name, case.tracking_number)
        note = f"{hook_name} in plugin {impl.plugin_name} failed: {type(exc).__name__}: {exc}"
        changes = {"plugin": impl.plugin_name, "hook": hook_name, "event": _event_payload(event)}
        if retry_of is not None:
            changes["retry_of"] = retry_of
        with deployment.session() as s:
            repo.add_event(session=s, case_id=case.id, event=CaseEvent(
                kind="hook_failed", at=deployment.clock(), actor="system", changes=changes, note=note[:2000],
                origin=event.origin,
            ))
            s.commit()
        return exc


def _event_payload(event: CaseEvent) -> dict:
    """What a retry needs to hand the plugin the same event again."""
    return {"kind": event.kind, "at": event.at.isoformat(), "actor": event.actor, "changes": event.changes,
            "note": event.note, "origin": event.origin}


# --- retrying failed event hooks -----------------------------------------------------------


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
    """Failed event hooks that no later retry has answered, oldest first.

    A retry writes ``hook_retried`` (it worked) or a new ``hook_failed`` (it failed again),
    each naming the failure it answers in ``changes["retry_of"]``; history stays append-only.
    """
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
            if row.kind == "hook_failed" and "event" in changes:
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
    from civiccrm.services import cases as case_service

    retried = failed_again = 0
    skipped = []
    token = _current.set(deployment)
    try:
        for failure in pending_failures(deployment, plugin=plugin, limit=limit):
            hook = getattr(deployment.pm.hook, failure.hook, None)
            impl = next((i for i in (hook.get_hookimpls() if hook else ()) if i.plugin_name == failure.plugin), None)
            if impl is None:
                skipped.append(f"failure {failure.id} on case {failure.tracking_number}: plugin {failure.plugin!r} "
                               f"does not implement {failure.hook} (not loaded?)")
                continue
            with deployment.engine.connect() as conn:
                stored = json.loads(conn.execute(select(events_table.c.changes).where(
                    events_table.c.id == failure.id)).scalar_one())["event"]
            event = CaseEvent(kind=stored["kind"], at=datetime.fromisoformat(stored["at"]), actor=stored["actor"],
                              changes=stored["changes"], note=stored["note"], origin=stored["origin"])
            case = case_service.get(deployment, failure.tracking_number)
            kwargs = {"case": case, "event": event}
            if _call_one(deployment, failure.hook, impl, kwargs, case, event, retry_of=failure.id) is None:
                retried += 1
                with deployment.session() as s:
                    repo.add_event(session=s, case_id=case.id, event=CaseEvent(
                        kind="hook_retried", at=deployment.clock(), actor="system",
                        changes={"plugin": failure.plugin, "hook": failure.hook, "retry_of": failure.id},
                        note=f"{failure.hook} in plugin {failure.plugin} succeeded on retry", origin=event.origin,
                    ))
                    s.commit()
            else:
                failed_again += 1
    finally:
        _current.reset(token)
    return RetryResult(retried=retried, failed_again=failed_again, skipped=tuple(skipped))
