"""My account (/admin/account): change my password (required after a one-time password) and language."""

from flask import flash, redirect, render_template, request, session, url_for

from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import LANGUAGE_KEY, MUST_CHANGE_KEY, TOKEN_KEY, current_actor
from civiccrm.web.i18n import LANGUAGES
from civiccrm.web.i18n import gettext as _

LANGUAGE_NAMES = {"en": "English", "es": "Español"}


@bp.route("/account", methods=["GET", "POST"])
def account():
    from civiccrm.services import users

    deployment = get_deployment()
    user = users.get_user(deployment, current_actor().name)
    error = None
    if request.method == "POST":
        form = request.form
        try:
            if form.get("action") == "language":
                users.set_language(deployment, user.username, form.get("language", ""))
                session[LANGUAGE_KEY] = form.get("language")
                flash(_("Language saved."), "info")
                return redirect(url_for("admin.account"))
            if form.get("password") != form.get("password_again"):
                raise CivicError(_("The two new passwords differ."), field="password_again")
            token = users.change_own_password(deployment, user, form.get("current_password", ""),
                                              form.get("password", ""))
        except CivicError as exc:
            error = str(exc)
        else:
            session.clear()
            session[TOKEN_KEY] = token
            session[LANGUAGE_KEY] = user.language
            flash(_("Password changed; your other sessions are logged out."), "info")
            return redirect(url_for("admin.queue"))
    return render_template("admin/account.html", user=user, error=error, languages=LANGUAGES,
                           language_names=LANGUAGE_NAMES, must_change=session.get(MUST_CHANGE_KEY, False)), \
        400 if error else 200
