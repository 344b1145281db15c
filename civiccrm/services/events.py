"""Fire event hooks after commit; a failing plugin is logged and noted on the case, never fatal."""

import logging

from civiccrm.domain.cases import Case, CaseEvent
from civiccrm.store import repo

log = logging.getLogger(__name__)


def fire(deployment, hook_name: str, case: Case, event: CaseEvent) -> list[str]:
    """Call every implementation of ``hook_name``; returns the names of plugins that failed.

    Each implementation is called on its own so one failure does not stop the
    others; a failure is logged and written to the case's history as a
    ``hook_failed`` event in a transaction of its own.
    """
    hook = getattr(deployment.pm.hook, hook_name)
    failed = []
    kwargs = {"case": case, "event": event}
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
    return failed
