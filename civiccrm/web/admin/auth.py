"""Logging staff in and out, who the request's actor is, and the permission checks of the screens."""

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from civiccrm import hookimpl
from civiccrm.web import get_deployment
from civiccrm.web.i18n import gettext as _

TOKEN_KEY = "staff_token"
LANGUAGE_KEY = "language"
MUST_CHANGE_KEY = "must_change_password"


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=100)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def _rules():
    from civiccrm.services.users import SessionRules

    config = current_app.config
    return SessionRules(idle_seconds=config["ADMIN_IDLE_SECONDS"],
                        lifetime_seconds=config["ADMIN_SESSION_LIFETIME_SECONDS"])


def _limits():
    from civiccrm.services.users import LoginLimits

    config = current_app.config
    return LoginLimits(per_account=config["LOGIN_LIMIT_PER_ACCOUNT"], per_address=config["LOGIN_LIMIT_PER_ADDRESS"],
                       window_seconds=config["LOGIN_LIMIT_WINDOW_SECONDS"])


@hookimpl
def actor_from_request(deployment, request):
    """The staff user whose live session token the request's session cookie carries (else None: the core
    then looks for an API key)."""
    from flask import has_request_context, session

    from civiccrm.services import users

    if not has_request_context():  # a request built outside Flask has no session cookie to read
        return None
    token = session.get(TOKEN_KEY)
    if not token:
        return None
    user = users.resolve_session(deployment, token, rules=_rules())
    if user is None:
        session.pop(TOKEN_KEY, None)
        return None
    return users.actor_for(user)


def current_actor():
    """The Actor of this request (cached on ``g``), or None when nobody is logged in."""
    if "actor" not in g:
        deployment = get_deployment()
        g.actor = deployment.pm.hook.actor_from_request(deployment=deployment, request=request)
    return g.actor


def allowed(action: str, resource=None) -> bool:
    """Whether the request's actor may do ``action`` (on ``resource``), as the permission_allowed hook says."""
    deployment = get_deployment()
    answer = deployment.pm.hook.permission_allowed(deployment=deployment, actor=current_actor(), action=str(action),
                                                   resource=resource)
    return answer is True


def require(action: str, resource=None, *, hide: bool = False) -> None:
    """403 unless allowed; with ``hide`` 404, so a case one may not see looks like no case at all."""
    if not allowed(action, resource):
        abort(404 if hide else 403)


def permission(action: str):
    """A view decorator: the actor must be allowed ``action`` (403 otherwise)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            require(action)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def safe_next(target: str | None) -> str:
    """Only a path inside the admin: never another site (open redirect)."""
    default = url_for("admin.queue")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/") or target.startswith("//"):
        return default
    return target


def login():
    from civiccrm.services import users

    form = LoginForm()
    next_url = request.args.get("next")
    if request.method == "GET":
        if current_actor() is not None:
            return redirect(safe_next(next_url))
        return render_template("admin/login.html", form=form, next=next_url)
    if not form.validate():
        return render_template("admin/login.html", form=form, next=next_url,
                               error=_("Enter your username and password.")), 400
    try:
        user, token = users.login(get_deployment(), form.username.data, form.password.data,
                                  address=request.remote_addr or "unknown", limits=_limits())
    except users.TooManyAttempts as exc:
        response = current_app.make_response((render_template(
            "admin/login.html", form=form, next=next_url,
            error=_("Too many login attempts. Try again in %(seconds)s seconds.", seconds=int(exc.retry_after))), 429))
        response.headers["Retry-After"] = str(int(exc.retry_after))
        return response
    except users.LoginRefused:
        return render_template("admin/login.html", form=form, next=next_url,
                               error=_("Wrong username or password.")), 401
    session.clear()  # a new session: nothing from before the login (CSRF secret included) carries over
    session[TOKEN_KEY] = token
    session[LANGUAGE_KEY] = user.language
    if user.must_change_password:
        session[MUST_CHANGE_KEY] = True
        return redirect(url_for("admin.account"))
    return redirect(safe_next(next_url))


def logout():
    from civiccrm.services import users

    token = session.get(TOKEN_KEY)
    if token:
        users.logout(get_deployment(), token)
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("admin.login"))


def require_login():
    """Before every admin view: the login page is open, everything else needs a live session."""
    if request.endpoint in ("admin.login", "admin.static"):
        return None
    if current_actor() is None:
        if request.method == "GET":
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        abort(401)
    if session.get(MUST_CHANGE_KEY) and request.endpoint not in ("admin.account", "admin.logout"):
        return redirect(url_for("admin.account"))
    return None
