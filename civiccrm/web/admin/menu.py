"""The admin menu (the core's links and those of the ``menu_links`` hook) and template helpers."""

from flask import url_for

from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin.auth import allowed, current_actor
from civiccrm.web.i18n import gettext as _

def _core_links() -> list[dict]:
    links = [("admin.queue", _("Work queue"), Permission.CASE_VIEW),
             ("admin.intake", _("Take a call"), Permission.CASE_CREATE),
             ("admin.knowledge_base", _("Knowledge base"), Permission.CASE_VIEW),
             ("admin.surveys", _("Surveys"), Permission.SURVEYS_VIEW),
             ("admin.reports", _("Reports"), Permission.REPORTS_VIEW),
             ("admin.operations", _("Operations"), Permission.OPERATIONS),
             ("admin.config", _("Configuration"), Permission.CONFIG_EDIT),
             ("admin.staff", _("Users"), Permission.USERS_MANAGE),
             ("admin.api_keys", _("API keys"), Permission.USERS_MANAGE)]
    return [{"href": url_for(endpoint), "label": label} for endpoint, label, action in links if allowed(action)]


def links_from(results, hook: str) -> list[dict]:
    """Flatten what the plugins answered (lists of {"href", "label"}); refuse anything else by name."""
    found = []
    for answer in results:
        for link in answer or ():
            if not (isinstance(link, dict) and isinstance(link.get("href"), str) and isinstance(link.get("label"), str)):
                raise CivicError(f"{hook}: a plugin returned {link!r}; expected {{'href': str, 'label': str}}")
            found.append({"href": link["href"], "label": link["label"]})
    return found


def admin_menu() -> list[dict]:
    deployment = get_deployment()
    actor = current_actor()
    extra = deployment.pm.hook.menu_links(deployment=deployment, actor=actor)
    return _core_links() + links_from(extra, "menu_links")


def template_helpers() -> dict:
    from civiccrm.web.admin.options import options

    return {"actor": current_actor(), "allowed": allowed, "admin_menu": admin_menu, "options": options}
