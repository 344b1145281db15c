"""Serving the web app in production: build it with its deployment open, run it under gunicorn."""

from civiccrm.web import create_app, get_deployment


def build(config: dict | None = None):
    """``create_app()`` with the deployment opened now, so no request pays for loading the profile or for
    building the calendars' timelines that due times need (``sla.warm``)."""
    from civiccrm.services import sla

    app = create_app(config)
    with app.app_context():
        sla.warm(get_deployment())
    app.extensions["civiccrm"]["warm"] = True
    return app


def gunicorn_application(database_url: str | None, options: dict):
    """A gunicorn application that builds the app in each worker process (``options`` over
    the settings of ``civiccrm.web.gunicorn_conf``)."""
    from gunicorn.app.base import BaseApplication

    from civiccrm.web import gunicorn_conf

    class CivicApplication(BaseApplication):
        def load_config(self):
            shipped = {key: getattr(gunicorn_conf, key) for key in self.cfg.settings if hasattr(gunicorn_conf, key)}
            for key, value in {**shipped, **options}.items():
                self.cfg.set(key, value)

        def load(self):
            return build({"DATABASE_URL": database_url} if database_url else None)

    return CivicApplication()
