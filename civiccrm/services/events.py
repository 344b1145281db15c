"""The one dispatcher of event hooks: called after commit; a failing plugin is logged and recorded on
the case (``hook_failed``) so ``civiccrm hooks retry`` (civiccrm.services.hook_retry) can call it again."""

import logging
from datetime import datetime

import attrs

from civiccrm.domain.cases import Case, CaseEvent
from civiccrm.domain.surveys import SurveyResponse
from civiccrm.store import repo

log = logging.getLogger(__name__)

#: Event hook -> its arguments besides ``deployment``.
EVENT_HOOKS = {
    "case_created": ("case", "event"),
    "case_updated": ("case", "event"),
    "case_closed": ("case", "event"),
    "sla_breached": ("case", "event"),
    "survey_answered": ("response",),
}


def fire(deployment, hook_name: str, **arguments) -> list[str]:
    """Call every implementation of the event hook ``hook_name``; returns the names of plugins that failed.

    ``arguments`` are the hook's (``case`` and ``event``, or ``response``); ``deployment`` is
    added. Each implementation is called on its own so one failure does not stop the others.
    """
    _check_arguments(hook_name, arguments)
    hook = getattr(deployment.pm.hook, hook_name)
    return [impl.plugin_name for impl in reversed(hook.get_hookimpls())
            if call_one(deployment, hook_name, impl, arguments) is not None]


def _check_arguments(hook_name: str, arguments: dict) -> None:
    if hook_name not in EVENT_HOOKS:
        raise ValueError(f"{hook_name!r} is not an event hook; expected one of {', '.join(EVENT_HOOKS)}")
    if set(arguments) != set(EVENT_HOOKS[hook_name]):
        raise ValueError(f"{hook_name} takes {', '.join(EVENT_HOOKS[hook_name])}, not {', '.join(arguments)}")


def call_one(deployment, hook_name: str, impl, arguments: dict, *, retry_of: int | None = None):
    """Call one implementation; on failure log one line, record ``hook_failed`` and return the exception."""
    given = {"deployment": deployment, **arguments}
    try:
        impl.function(*[given[name] for name in impl.argnames])
        return None
    except Exception as exc:  # a plugin's bug must not lose the case
        subject = _subject(arguments)
        log.exception("plugin %s failed in %s for %s: %s: %s (recorded; `civiccrm hooks retry` calls it again)",
                      impl.plugin_name, hook_name, subject, type(exc).__name__, exc)
        record_failure(deployment, hook_name, impl.plugin_name, arguments, exc, retry_of=retry_of)
        return exc


def _subject(arguments: dict) -> str:
    if "case" in arguments:
        return f"case {arguments['case'].tracking_number}"
    response = arguments["response"]
    return f"survey response {response.id}" + (f" (case {response.tracking_number})"
                                               if response.tracking_number else "")


def record_failure(deployment, hook_name: str, plugin: str, arguments: dict, exc: Exception, *,
                   retry_of: int | None = None) -> None:
    """Write ``hook_failed`` to the history of the case the event is about, with what a retry needs."""
    note = f"{hook_name} in plugin {plugin} failed: {type(exc).__name__}: {exc}"
    changes = {"plugin": plugin, "hook": hook_name, **_payload(arguments)}
    if retry_of is not None:
        changes["retry_of"] = retry_of
    with deployment.session() as s:
        if "case" in arguments:
            case_id, origin = arguments["case"].id, arguments["event"].origin
        else:
            number = arguments["response"].tracking_number
            if number is None:  # an answer about no case: nowhere to keep it but the log
                log.error("%s (survey response %s, about no case: not recorded)", note, arguments["response"].id)
                return
            case_id, origin = repo.get_case_row(session=s, tracking_number=number).id, "intake"
        repo.add_event(session=s, case_id=case_id, event=CaseEvent(
            kind="hook_failed", at=deployment.clock(), actor="system", changes=changes, note=note[:2000],
            origin=origin,
        ))
        s.commit()


def _payload(arguments: dict) -> dict:
    """What a retry needs to hand the plugin the same event again (the case is read as it is then)."""
    if "event" in arguments:
        event = arguments["event"]
        return {"event": {"kind": event.kind, "at": event.at.isoformat(), "actor": event.actor,
                          "changes": event.changes, "note": event.note, "origin": event.origin}}
    response = attrs.asdict(arguments["response"])
    response["answered_at"] = response["answered_at"].isoformat()
    return {"response": response}


def arguments_from_payload(changes: dict, case: Case) -> dict:
    """The hook arguments of a recorded failure: the case as it is now and the original event or response."""
    if "event" in changes:
        stored = changes["event"]
        return {"case": case, "event": CaseEvent(
            kind=stored["kind"], at=datetime.fromisoformat(stored["at"]), actor=stored["actor"],
            changes=stored["changes"], note=stored["note"], origin=stored["origin"])}
    stored = dict(changes["response"])
    stored["answered_at"] = datetime.fromisoformat(stored["answered_at"])
    return {"response": SurveyResponse(**stored)}
