"""Notifications from the city's own templates: ``notifications/<kind>.<language>.txt`` (and ``.html``)
in the profile folder, Jinja2 in a sandbox; HTML autoescaped.

A ``.txt`` template's first line is ``Subject: ...``, then a blank line, then the body. A
channel that shows no subject or markup (``sms``) uses ``<kind>.<language>.sms.txt`` when
the city wrote one, else the body of the ``.txt``. A city without a template for a kind
leaves it to the core's plain default; a template that fails to render is logged and left
to the default too, so a mistake in a template never blocks a change to a case.
"""

import logging
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from civiccrm import hookimpl
from civiccrm.domain.cases import STATUS_LABELS, Status
from civiccrm.domain.messages import Notification

log = logging.getLogger(__name__)

FOLDER = "notifications"

#: A status in words per language, for templates (``status_label``).
STATUS_WORDS = {
    "en": {s.value: label for s, label in STATUS_LABELS.items()},
    "es": {Status.NEW.value: "Recibida", Status.OPEN.value: "Abierta", Status.IN_PROGRESS.value: "En curso",
           Status.ON_HOLD.value: "En espera", Status.WAITING.value: "Esperando su respuesta",
           Status.CLOSED.value: "Cerrada", Status.REOPENED.value: "Reabierta"},
}


@lru_cache(maxsize=32)
def _environments(folder: str) -> tuple[SandboxedEnvironment, SandboxedEnvironment]:
    loader = jinja2.FileSystemLoader(folder)
    text = SandboxedEnvironment(loader=loader, autoescape=False, keep_trailing_newline=True,
                                undefined=jinja2.StrictUndefined)
    markup = SandboxedEnvironment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return text, markup


def template_names(kind: str, language: str, channel: str) -> tuple[str, ...]:
    plain = f"{kind}.{language}.txt"
    return (f"{kind}.{language}.{channel}.txt", plain) if channel == "sms" else (plain,)


def context(deployment, case, event, language: str) -> dict:
    """What a template may use: the city, the case's public facts, the status in words, links."""
    from civiccrm.services import notifications

    tz = deployment.profile.tz
    note = event.note if event is not None and event.kind == "public_note" else None
    return {
        "city": deployment.profile.name,
        "language": language,
        "tracking_number": case.tracking_number,
        "request_type": case.request_type,
        "status": case.status.value,
        "status_label": STATUS_WORDS.get(language, STATUS_WORDS["en"]).get(case.status.value, case.status.value),
        "resolution": case.resolution.value if case.resolution else None,
        "due_date": case.due_at.astimezone(tz).date().isoformat() if case.due_at else None,
        "address": case.location.address,
        "public_note": note,
        "status_url": notifications.status_url(deployment, case.tracking_number, language),
        "survey_link": event.changes.get("survey_link") if event is not None else None,
        "survey_until": event.changes.get("survey_until") if event is not None else None,
        "event": {"kind": event.kind, "changes": dict(event.changes)} if event is not None else {},
    }


def split_subject(text: str, name: str) -> tuple[str, str]:
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise ValueError(f"{name}: the first line must be 'Subject: ...'")
    return first.split(":", 1)[1].strip(), rest.lstrip("\n")


@hookimpl
def render_notification(deployment, kind, case, event, language, channel):
    """The city's template for ``kind`` in ``language`` on ``channel``, or None when it has none."""
    folder = Path(deployment.profile.path) / FOLDER
    if not folder.is_dir():
        return None
    text_env, html_env = _environments(str(folder))
    names = [n for n in template_names(kind, language, channel) if (folder / n).is_file()]
    if not names:
        return None
    values = context(deployment, case, event, language)
    try:
        rendered = text_env.get_template(names[0]).render(values)
        if names[0].endswith(".sms.txt"):
            return Notification(subject="", body=rendered.strip())
        subject, body = split_subject(rendered, names[0])
        if channel == "sms":
            return Notification(subject="", body=body.strip())
        html_name = f"{kind}.{language}.html"
        html = html_env.get_template(html_name).render(values) if (folder / html_name).is_file() else None
        return Notification(subject=subject, body=body, html=html)
    except (jinja2.TemplateError, ValueError) as exc:
        log.error("notification template %s of %s failed (%s); the core's default text is used",
                  names[0], deployment.profile.slug, exc)
        return None
