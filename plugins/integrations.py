"""Built-in integrations plumbing: the outbox deliverer of integration calls and the endpoint for pushed updates."""

from civiccrm import hookimpl


@hookimpl
def register_deliverers(register):
    from civiccrm.services.integrations import DELIVERER

    register(DELIVERER)


@hookimpl
def register_web_blueprints(app):
    from civiccrm.web.integrations import blueprint
    from civiccrm.web.security import csrf

    csrf.exempt(blueprint)  # department systems sign their updates (HMAC); no session is involved
    app.register_blueprint(blueprint)
