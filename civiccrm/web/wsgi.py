"""The WSGI application for servers: ``gunicorn civiccrm.web.wsgi:app`` (database from
``CIVICCRM_DATABASE_URL``)."""

from civiccrm.web.server import build

app = build()
