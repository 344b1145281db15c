"""The WSGI application for servers: ``gunicorn civiccrm.web.wsgi:app`` (database from
``CIVICCRM_DATABASE_URL``)."""

import gc

from civiccrm.web.server import build

app = build()

# What the app holds from here on (the profile, its city map and calendars, the plugins, SQLAlchemy's
# tables) lives as long as the process: out of the collector's sight, so that a full collection stops
# walking it. It walked about 160,000 objects in 160-190 ms, and every request in the worker waited: that
# was intake's p99 (193 ms at 26 POSTs a second against a p50 of 15 ms).
gc.freeze()
