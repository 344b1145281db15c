"""Saved work-queue filters: a user keeps the queue's filters under a name, shown as links beside the
filter form (POST /admin/queue/filters to save, /admin/queue/filters/<id>/delete to remove)."""

from urllib.parse import urlencode

from flask import abort, flash, redirect, request, url_for

from civiccrm.domain.attributes import check_plain_text
from civiccrm.domain.queue import QueueFilter
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import current_actor, permission
from civiccrm.web.i18n import gettext as _

MAX_NAME = 100
MAX_PER_USER = 50


def saved_filters() -> list:
    """The actor's saved filters (id, name, query), by name; for the queue page."""
    from civiccrm.store import saved_filters as store

    actor = current_actor()
    if actor is None or actor.kind != "user":
        return []
    with get_deployment().engine.connect() as connection:
        return store.list_filters(connection=connection, user_id=actor.id)


@bp.context_processor
def _helpers():
    return {"saved_filters": saved_filters}


def _name(form) -> str:
    name = " ".join((form.get("name") or "").split())
    if not name:
        raise CivicError("name: give the filter a name", field="name")
    if len(name) > MAX_NAME:
        raise CivicError(f"name: {len(name)} characters; at most {MAX_NAME}", field="name")
    return check_plain_text(name, "name", multiline=False)


@bp.post("/queue/filters")
@permission(Permission.CASE_VIEW)
def save_filter():
    """Save the queue filters given in the form (the queue's own field names) as ``name``; the same name
    again replaces that filter."""
    from civiccrm.store import repo
    from civiccrm.store import saved_filters as store

    deployment = get_deployment()
    actor = current_actor()
    name = _name(request.form)
    query = urlencode(QueueFilter.from_query(request.form).query())
    with repo.write_transaction(deployment.engine) as connection:
        names = {row.name for row in store.list_filters(connection=connection, user_id=actor.id)}
        if name not in names and len(names) >= MAX_PER_USER:
            raise CivicError(f"name: at most {MAX_PER_USER} saved filters; delete one first", field="name")
        store.save_filter(connection=connection, user_id=actor.id, name=name, query=query, now=deployment.clock())
        connection.commit()
    flash(_("Filter “%(name)s” saved.", name=name), "info")
    return redirect(url_for("admin.queue") + (f"?{query}" if query else ""))


@bp.post("/queue/filters/<int:filter_id>/delete")
@permission(Permission.CASE_VIEW)
def delete_filter(filter_id):
    """Delete one of the actor's own filters (404 for anyone else's)."""
    from civiccrm.store import repo
    from civiccrm.store import saved_filters as store

    deployment = get_deployment()
    with repo.write_transaction(deployment.engine) as connection:
        removed = store.delete_filter(connection=connection, user_id=current_actor().id, filter_id=filter_id)
        connection.commit()
    if not removed:
        abort(404)
    flash(_("Filter deleted."), "info")
    return redirect(url_for("admin.queue"))
