"""Fire event hooks after commit; a failing plugin is logged and noted on the case, never fatal."""

import contextvars
import logging

from civiccrm.domain.cases import Case, CaseEvent
from civiccrm.errors import CivicError
from civiccrm.store import repo

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


def _call(deployment, hook_name, hook, kwargs, case, event, failed):
    for impl in reversed(hook.get_hookimpls()):
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:  # a plugin's bug must not lose the case
            log.exception("plugin %s failed in %s for case %s", impl.plugin_name, hook_name, case.tracking_number)
            failed.append(impl.plugin_name)
            note = f"{hook_name} in plugin {impl.plugin_name} failed: {type(exc).__name__}: {exc}"
            with deployment.session() as s:
                repo.add_event(session=s, case_id=case.id, event=CaseEvent(
                    kind="hook_failed", at=deployment.clock(), actor="system",
                    changes={"plugin": impl.plugin_name, "hook": hook_name}, note=note[:2000],
                    origin=event.origin,
                ))
                s.commit()
