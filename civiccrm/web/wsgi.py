"""The WSGI application for servers: ``gunicorn civiccrm.web.wsgi:app`` (database from
``CIVICCRM_DATABASE_URL``)."""

from civiccrm.web import create_app

app = create_app()
