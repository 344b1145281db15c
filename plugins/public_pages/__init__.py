"""The residents' pages, without login: report a problem (/), follow a request (/status/<number>)
and service alerts by area (/alerts); a built-in plugin adding its blueprint to the web app."""

from flask import Blueprint, current_app, g, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError

from civiccrm import hookimpl
from civiccrm.errors import CivicError
from civiccrm.services import public_reports
from civiccrm.web import get_deployment, limits
from civiccrm.web.i18n import LANGUAGES

bp = Blueprint("public", __name__, template_folder="templates", static_folder="static",
               static_url_path="/public/static")

LIMITS = {"POST": ("public:post", "PUBLIC_POST_LIMIT", 20), "GET": ("public:get", "PUBLIC_GET_LIMIT", 300)}
"""Method -> (rate-limit scope, config key, default hits per address per window)."""
WINDOW_KEY, WINDOW_DEFAULT = "PUBLIC_LIMIT_WINDOW_SECONDS", 600
LANGUAGE_KEY = "language"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


@bp.before_request
def _language():
    """``?lang=es`` chooses the language for this visit (kept in the session); else Accept-Language."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session[LANGUAGE_KEY] = chosen
        g.language = chosen


@bp.before_request
def _rate_limit():
    """Count each request against the address; past the limit, 429 with Retry-After."""
    if request.endpoint == "public.static" or request.method not in LIMITS:
        return
    scope, key, default = LIMITS[request.method]
    wait = limits.wait(get_deployment(), scope=scope, key=limits.client_address(), limit=(key, default),
                       window=(WINDOW_KEY, WINDOW_DEFAULT))
    if wait is not None:
        from civiccrm.web.i18n import gettext as _

        raise limits.TooManyRequests(_("Too many requests from your address. Try again in %(seconds)s seconds.",
                                seconds=int(wait)), wait)


def _error_page(message: str, status: int):
    return current_app.make_response((render_template("public/error.html", message=message, status=status), status))


@bp.errorhandler(CivicError)
def _civic_error(exc: CivicError):
    return limits.with_retry_after(_error_page(str(exc), exc.http_status), exc)


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError):
    from civiccrm.web.i18n import gettext as _

    return _error_page(_("The form expired or was not sent from this site (csrf_token: %(reason)s). "
                         "Go back, reload the page and send it again.", reason=exc.description), 400)


@bp.errorhandler(413)
def _too_large(exc):
    from civiccrm.web.i18n import gettext as _

    size = public_reports.settings(get_deployment().profile)["photo_max_bytes"] / 1_000_000
    return _error_page(_("The form is too large to send: the photo may be at most %(size)s MB.",
                         size=f"{size:.1f}"), 413)


@bp.app_context_processor
def _helpers():
    return {"language_names": LANGUAGE_NAMES, "public_help_url": _help_url()}


def _help_url() -> str | None:
    """The knowledge base's public pages (the admin's ``help`` blueprint), when it is served."""
    return url_for("help.index") if "help" in current_app.blueprints else None


from civiccrm_plugins.public_pages import alerts, photos, report, status  # noqa: E402,F401  (views register on bp)


@hookimpl
def register_web_blueprints(app):
    app.register_blueprint(bp)
    # First of all, before the CSRF check parses the body: the report form may carry a photo.
    app.before_request_funcs.setdefault(None, []).insert(0, photos.raise_body_limit)


@hookimpl
def register_commands(cli):
    """``civiccrm alerts post | list``."""
    alerts.register_alert_commands(cli)
