"""The Open311 GeoReport v2 API under /open311/v2/, added to the web app as a built-in plugin."""

from civiccrm import hookimpl


@hookimpl
def register_admin_blueprints(app):
    """Mount the Open311 blueprint on the app."""
    from civiccrm.web.open311.api import blueprint

    app.register_blueprint(blueprint)
