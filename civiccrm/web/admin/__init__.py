"""The staff admin under /admin/: a built-in plugin adding its blueprint to the web app."""

from flask import Blueprint, redirect, url_for

from civiccrm import hookimpl
from civiccrm.web.admin import auth
from civiccrm.web.admin.auth import actor_from_request  # noqa: F401  (the staff session's answer to the hook)

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(auth.require_login)
bp.add_url_rule("/login", "login", auth.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", "logout", auth.logout, methods=["POST"])


@bp.get("/")
def index():
    return redirect(url_for("admin.queue"))


from civiccrm.web.admin import (  # noqa: E402,F401  (views register on bp)
    account, cases, config, intake, knowledge, menu, operations, queue, reports, saved_filters, staff, surveys,
    taxonomy,
)

bp.context_processor(menu.template_helpers)


@hookimpl
def register_web_blueprints(app):
    from civiccrm.web import help

    app.register_blueprint(bp)
    app.register_blueprint(help.bp)
