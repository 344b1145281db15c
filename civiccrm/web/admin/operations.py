"""Operations (/admin/operations): failed deliveries and failed plugin hooks with their reasons and a
retry button, the integrations' status, cases whose SLA is at risk, and the loaded plugins. The screen
calls the outbox, hook-retry and integrations services, as `civiccrm outbox|integrations` do."""

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import current_actor, permission
from civiccrm.web.i18n import gettext as _
from civiccrm.web.i18n import ngettext

SHOWN = 200
MAX_WITHIN_HOURS = 168


def _within(args) -> int:
    text = (args.get("within") or "24").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_WITHIN_HOURS:
        raise CivicError(f"within: {text[:20]!r}; expected a whole number of hours from 1 to {MAX_WITHIN_HOURS}",
                         field="within")
    return int(text)


@bp.get("/operations")
@permission(Permission.OPERATIONS)
def operations():
    from civiccrm import plugins
    from civiccrm.services import hook_retry, integrations, outbox
    from civiccrm.store import operations as store

    deployment = get_deployment()
    error, within = None, 24
    try:
        within = _within(request.args)
    except CivicError as exc:
        error = str(exc)
    now = deployment.clock()
    with deployment.engine.connect() as connection:
        deliveries = store.failing_deliveries(connection=connection, limit=SHOWN)
        at_risk = store.sla_at_risk(connection=connection, now=now, within=timedelta(hours=within))
    failures = hook_retry.pending_failures(deployment, limit=SHOWN)
    return render_template(
        "admin/operations.html", deliveries=deliveries, counts=outbox.counts(deployment), failures=failures,
        failing_plugins=sorted({f.plugin for f in failures}), integrations=integrations.status(deployment),
        at_risk=at_risk, within=within, error=error, plugins=plugins.describe_plugins(), shown=SHOWN,
        work_groups=deployment.profile.taxonomy.work_groups,
    ), 400 if error else 200


def _done(ids: list[int]):
    flash(ngettext("%(num)s delivery will be tried again now.", "%(num)s deliveries will be tried again now.",
                   len(ids)), "info")
    return redirect(url_for("admin.operations"))


@bp.post("/operations/deliveries/<int:outbox_id>/retry")
@permission(Permission.OPERATIONS)
def retry_delivery(outbox_id):
    """A dead or failing delivery made due now with a fresh set of tries (``civiccrm outbox retry ID``)."""
    from civiccrm.services import outbox

    return _done(outbox.retry(get_deployment(), outbox_id=outbox_id, actor=current_actor().name))


@bp.post("/operations/deliveries/retry-dead")
@permission(Permission.OPERATIONS)
def retry_dead_deliveries():
    """Every dead delivery (``civiccrm outbox retry --dead``)."""
    from civiccrm.services import outbox

    return _done(outbox.retry(get_deployment(), dead=True, actor=current_actor().name))


@bp.post("/operations/integrations/<name>/retry")
@permission(Permission.OPERATIONS)
def retry_integration(name):
    """The dead calls of one integration destination (``civiccrm integrations retry NAME``)."""
    from civiccrm.services import integrations

    return _done(integrations.retry(get_deployment(), name, actor=current_actor().name))


@bp.post("/operations/hooks/retry")
@permission(Permission.OPERATIONS)
def retry_hooks():
    """Call the failed event hooks again (of one ``plugin``, or all)."""
    from civiccrm.services import hook_retry

    plugin = (request.form.get("plugin") or "").strip() or None
    result = hook_retry.retry_failures(get_deployment(), plugin=plugin)
    flash(_("Retried: %(ok)s succeeded, %(failed)s failed again.", ok=result.retried, failed=result.failed_again),
          "error" if result.failed_again else "info")
    for reason in result.skipped[:5]:
        flash(reason, "error")
    return redirect(url_for("admin.operations"))
