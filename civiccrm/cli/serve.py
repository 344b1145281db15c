"""``civiccrm serve``: the web app (Open311 API and other blueprints) under gunicorn."""

import os
import socket

import click

from civiccrm.cli import cli, pass_obj
from civiccrm.errors import CivicError
from civiccrm.serving import SERVE_HOST, SERVE_PORT


def _check_free(host: str, port: int) -> None:
    """Refuse at once, in one line, an address that cannot be listened on (gunicorn would retry noisily)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CivicError(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CivicError(f"--port: cannot listen on {host}:{port}: {exc.strerror}; choose another with --port") from None


@cli.command()
@click.option("--host", default=SERVE_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=SERVE_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=min(8, (os.cpu_count() or 1) + 1), show_default=True, type=click.IntRange(1, 64),
              help="Worker processes.")
@click.option("--worker-connections", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="Connections each worker holds at once, slow clients included.")
@pass_obj
def serve(obj, host, port, workers, worker_connections):
    """Serve the web app (public pages at /, Open311 API at /open311/v2/, staff admin at /admin/) with gunicorn
    until interrupted."""
    from civiccrm.services.deployment import open_deployment
    from civiccrm.store.db import database_url
    from civiccrm.web.server import gunicorn_application

    deployment = open_deployment(obj.db)
    deployment.engine.dispose()
    _check_free(host, port)
    url = database_url(obj.db)
    click.echo(f"Serving {deployment.profile.name} at http://{host}:{port}/open311/v2/ "
               f"(discovery: http://{host}:{port}/open311/v2/discovery.json), the residents' pages at "
               f"http://{host}:{port}/ and the staff admin at http://{host}:{port}/admin/; Ctrl-C stops")
    gunicorn_application(url, {"bind": f"{host}:{port}", "workers": workers,
                               "worker_connections": worker_connections}).run()
