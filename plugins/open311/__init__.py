"""The Open311 GeoReport v2 API under /open311/v2/, added to the web app as a built-in plugin."""

from civiccrm import hookimpl


@hookimpl
def register_web_blueprints(app):
    """Mount the Open311 blueprint, and answer routing errors under its prefix in Open311 form."""
    from civiccrm_plugins.open311.api import PREFIX, blueprint, routing_error
    from civiccrm.web import security

    security.csrf.exempt(blueprint)  # a machine API: clients prove themselves with an api_key, not a session cookie
    security.stateless(app, blueprint)  # nor does it read or write one
    app.register_blueprint(blueprint)
    for code in (404, 405):
        previous = app.error_handler_spec[None][code].get(None) if code in app.error_handler_spec[None] else None

        def handler(exc, previous=previous):
            from flask import request

            if request.path.startswith(PREFIX + "/"):
                return routing_error(exc)
            return previous(exc) if previous else exc

        app.register_error_handler(code, handler)
