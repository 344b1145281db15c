"""Users and roles (/admin/users) and API keys (/admin/api-keys): what `civiccrm user` and
`civiccrm apikey` do, for administrators."""

from flask import flash, make_response, redirect, render_template, request, url_for

from civiccrm.domain.users import Permission, Role, parse_role
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import current_actor, permission
from civiccrm.web.i18n import gettext as _


@bp.route("/users", methods=["GET", "POST"])
@permission(Permission.USERS_MANAGE)
def staff():
    from civiccrm.services import users

    deployment = get_deployment()
    error, created = None, None
    if request.method == "POST":
        form = request.form
        try:
            action = form.get("action")
            username = (form.get("username") or "").strip()
            if action == "add":
                password = users.generate_password()
                users.add_user(deployment, username, password, parse_role(form.get("role", "")),
                               departments=form.getlist("department"), work_groups=form.getlist("work_group"),
                               language=form.get("language") or "en", one_time=True)
                created = (username, password)
            elif action == "disable":
                if username == current_actor().name:
                    raise CivicError(_("You cannot disable yourself."), field="username")
                users.disable_user(deployment, username)
                flash(_("%(name)s is disabled and logged out.", name=username), "info")
            elif action == "enable":
                users.enable_user(deployment, username)
                flash(_("%(name)s may log in again.", name=username), "info")
            elif action == "role":
                users.set_role(deployment, username, parse_role(form.get("role", "")),
                               departments=form.getlist("department"), work_groups=form.getlist("work_group"))
                flash(_("%(name)s has a new role.", name=username), "info")
            else:
                raise CivicError(f"action: {action!r}; expected add, disable, enable or role", field="action")
        except CivicError as exc:
            error = str(exc)
        else:
            if created is None:
                return redirect(url_for("admin.staff"))
    return _secret_page(render_template("admin/users.html", users=users.list_users(deployment), roles=list(Role),
                                        error=error, created=created, taxonomy=deployment.profile.taxonomy),
                        400 if error else 200)


@bp.route("/api-keys", methods=["GET", "POST"])
@permission(Permission.USERS_MANAGE)
def api_keys():
    from civiccrm.services import apikeys

    deployment = get_deployment()
    error, secret = None, None
    if request.method == "POST":
        try:
            if request.form.get("action") == "revoke":
                key_id = (request.form.get("key_id") or "").strip()
                if not key_id.isdigit():
                    raise CivicError(f"key_id: {key_id[:20]!r} is not a key number", field="key_id")
                key = apikeys.revoke(deployment, int(key_id))
                flash(_("API key %(id)s is revoked.", id=key.id), "info")
                return redirect(url_for("admin.api_keys"))
            _key, secret = apikeys.add(deployment, name=request.form.get("name", ""),
                                       channel=request.form.get("channel", ""), scope=request.form.get("scope", "own"))
        except CivicError as exc:
            error = str(exc)
    return _secret_page(render_template("admin/api_keys.html", keys=apikeys.list_keys(deployment), secret=secret,
                                        error=error, channels=deployment.profile.channels), 400 if error else 200)


def _secret_page(html: str, status: int):
    """A page that may show a one-time password or a new key: never kept in a cache."""
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response
