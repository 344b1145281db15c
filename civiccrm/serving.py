"""Where the web app listens by default: kept apart from the services so the command line reads it
without importing the database layer (``civiccrm --help`` and ``civiccrm serve --help`` stay quick)."""

SERVE_HOST = "127.0.0.1"
SERVE_PORT = 8311
"""Where ``civiccrm serve`` (and so ``make run``) listens unless told otherwise."""
DEFAULT_BASE_URL = f"http://{SERVE_HOST}:{SERVE_PORT}"
"""The web app's public address when the deployment's configuration names none: the one ``make run`` serves."""
