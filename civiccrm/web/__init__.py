"""The Flask application factory: the Open311 API, public pages and admin screens."""

import os
import time

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from civiccrm.errors import CivicError


class Config:
    """Production defaults; any key can be overridden by ``CIVICCRM_<KEY>`` in the environment
    (``CIVICCRM_SECRET_KEY``; without one, a key is generated into the instance folder on first run)."""

    DATABASE_URL = None
    PUBLIC_URL = "http://127.0.0.1:8311"
    """Where residents and apps reach this service (``CIVICCRM_PUBLIC_URL``): links and discovery
    use it, never the request's Host header."""
    JSON_SORT_KEYS = False
    MAX_CONTENT_LENGTH = 1 * 1024 * 1024
    SECRET_KEY = None
    INSTANCE_PATH = None
    """Where the generated secret key is kept (default: Flask's instance folder)."""
    PROXIES = 0
    """How many reverse proxies in front set X-Forwarded-For/-Proto (0: trust none)."""
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    """Secure cookies are also sent whenever a request came over HTTPS."""
    SESSION_COOKIE_NAME = "civiccrm_session"
    WTF_CSRF_TIME_LIMIT = None
    """A CSRF token lives as long as the session that holds it."""
    ADMIN_IDLE_SECONDS = 30 * 60
    ADMIN_SESSION_LIFETIME_SECONDS = 12 * 3600
    LOGIN_LIMIT_PER_ACCOUNT = 10
    LOGIN_LIMIT_PER_ADDRESS = 50
    LOGIN_LIMIT_WINDOW_SECONDS = 15 * 60
    API_KEY_CACHE_SECONDS = 5.0
    """How long a worker believes an Open311 API key it found active without reading it again (0: every
    request): a key revoked through another worker or the CLI is refused at most this many seconds later."""
    CONFIG_CHECK_SECONDS = 1.0
    """How often a worker looks whether the stored configuration changed (one read of two small counts at the
    start of a request at most this often; 0: every request); a change made through another worker or the CLI
    is used from then on."""


class DevelopmentConfig(Config):
    DEBUG = True


class TestingConfig(Config):
    TESTING = True
    CONFIG_CHECK_SECONDS = 0.0  # a change made through another app instance is seen by the next request
    API_KEY_CACHE_SECONDS = 0.0  # likewise a key revoked through another app instance


CONFIGS = {"production": Config, "development": DevelopmentConfig, "testing": TestingConfig}


class CivicFlask(Flask):
    """Flask, remembering which hooks and views are plain functions: Flask asks ``ensure_sync`` of every one on
    every request (nine for an Open311 GET), and ``inspect.iscoroutinefunction`` costs about 1 us each time."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plain_functions: set = set()

    def ensure_sync(self, func):
        try:
            if func in self._plain_functions:
                return func
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            self._plain_functions.add(func)
        return wrapped


def get_deployment():
    """The Deployment this app serves (opened lazily, once per process)."""
    state = current_app.extensions["civiccrm"]
    if state.get("deployment") is None:
        from civiccrm.services.deployment import open_deployment

        state["deployment"] = open_deployment(current_app.config["DATABASE_URL"])
    return state["deployment"]


def wants_html() -> bool:
    """True when the client prefers an HTML page to JSON (a browser rather than an API client)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and not request.is_json


def error_response(message: str, status: int, *, field: str | None = None):
    """An error as an HTML page for browsers, as JSON ``{"error", "field"}`` otherwise."""
    if wants_html():
        return render_template("error.html", message=message, status=status), status
    return jsonify({"error": message, "field": field}), status


def create_app(config: dict | None = None, *, deployment=None) -> Flask:
    """Build the app. ``deployment`` may be given directly (tests); otherwise it is opened from
    ``DATABASE_URL`` (config, ``CIVICCRM_DATABASE_URL``, or the default SQLite file). The config
    class is chosen by ``CIVICCRM_ENV`` (production, development or testing)."""
    app = CivicFlask(__name__)
    environment = (config or {}).get("ENV") or os.environ.get("CIVICCRM_ENV") or "production"
    app.config.from_object(CONFIGS.get(environment, Config))
    app.config["DATABASE_URL"] = os.environ.get("CIVICCRM_DATABASE_URL")
    app.config.from_prefixed_env("CIVICCRM")
    if config:
        app.config.update(config)
    app.extensions["civiccrm"] = {"deployment": deployment}

    from civiccrm.web import i18n, labels, security

    security.init_app(app)
    i18n.init_app(app)
    labels.init_app(app)

    @app.before_request
    def current_configuration():
        """Reload SLA versions, calendars and taxonomy when another process changed them."""
        state = app.extensions["civiccrm"]
        now = time.monotonic()
        if now - state.get("config_checked", float("-inf")) >= app.config["CONFIG_CHECK_SECONDS"]:
            from civiccrm.services import config_changes, sla

            if config_changes.refresh(get_deployment()) and state.get("warm"):
                sla.warm(get_deployment())  # the reloaded calendars' timelines, as build() made the first ones
            state["config_checked"] = now

    @app.errorhandler(CivicError)
    def civic_error(exc):
        return error_response(str(exc), exc.http_status, field=exc.field)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return error_response(f"csrf_token: {exc.description}", 400, field="csrf_token")

    @app.errorhandler(OperationalError)
    def database_unavailable(exc):
        current_app.logger.error("database unavailable: %s", exc)
        return jsonify({"error": "the database is unavailable; try again shortly"}), 503

    @app.get("/healthz")
    def healthz():
        """200 when the app can reach its database (for load balancers and monitors)."""
        with get_deployment().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    from civiccrm import plugins

    plugins.load_plugins().hook.register_web_blueprints(app=app)
    return app
