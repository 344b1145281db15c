"""The Flask application factory: the Open311 API, public pages and admin screens."""

import os

from flask import Flask, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from civiccrm.errors import CivicError


class Config:
    """Defaults; any key can be overridden by ``CIVICCRM_<KEY>`` in the environment."""

    DATABASE_URL = None
    PUBLIC_URL = "http://127.0.0.1:8311"
    """Where residents and apps reach this service (``CIVICCRM_PUBLIC_URL``): links and discovery
    use it, never the request's Host header."""
    JSON_SORT_KEYS = False
    MAX_CONTENT_LENGTH = 1 * 1024 * 1024


def get_deployment():
    """The Deployment this app serves (opened lazily, once per process)."""
    from flask import current_app

    state = current_app.extensions["civiccrm"]
    if state.get("deployment") is None:
        from civiccrm.services.deployment import open_deployment

        state["deployment"] = open_deployment(current_app.config["DATABASE_URL"])
    return state["deployment"]


def create_app(config: dict | None = None, *, deployment=None) -> Flask:
    """Build the app. ``deployment`` may be given directly (tests); otherwise it is opened from
    ``DATABASE_URL`` (config, ``CIVICCRM_DATABASE_URL``, or the default SQLite file)."""
    app = Flask(__name__)
    app.config.from_object(Config)
    app.config["DATABASE_URL"] = os.environ.get("CIVICCRM_DATABASE_URL")
    app.config.from_prefixed_env("CIVICCRM")
    if config:
        app.config.update(config)
    app.extensions["civiccrm"] = {"deployment": deployment}

    @app.errorhandler(CivicError)
    def civic_error(exc):
        return jsonify({"error": str(exc), "field": exc.field}), exc.http_status

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
