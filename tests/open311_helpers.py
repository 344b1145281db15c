"""Shared by the Open311 tests: a real gunicorn server on loopback over a fresh database."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``gunicorn civiccrm.web.wsgi:app`` in a subprocess with the shipped settings, as production runs it; with
    ``cli``, ``civiccrm serve`` as ``make run`` starts it (its own workers), in a process group of its own, so that a
    test can send it the terminal's Ctrl-C (``os.killpg``)."""

    def __init__(self, database_url: str, log_path: Path, workers: int = 2, extra_args: tuple[str, ...] = (),
                 env: dict | None = None, cli: bool = False):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.base}/open311/v2"
        self.log_path = log_path
        env = {**os.environ, "CIVICCRM_DATABASE_URL": database_url, "CIVICCRM_PUBLIC_URL": self.base, **(env or {})}
        self.log = open(log_path, "wb")
        if cli:
            command = [sys.executable, "-m", "civiccrm.cli", "--db", database_url, "serve", "--host", "127.0.0.1",
                       "--port", str(self.port), *extra_args]
        else:
            command = [sys.executable, "-m", "gunicorn", "-c", "python:civiccrm.web.gunicorn_conf",
                       "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), *extra_args, "civiccrm.web.wsgi:app"]
        self.group = cli
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=cli)
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.group:  # whatever of its group outlived it
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def start(database_url: str, tmp_dir: Path, env: dict | None = None):
    """Initialise a Kansas City deployment, issue an ``app`` key and start the server (``env`` added to its
    environment).

    Returns (deployment, server, api_key)."""
    from civiccrm.services import apikeys
    from civiccrm.services.deployment import init_deployment

    deployment = init_deployment(database_url, "kansas-city")
    _, key = apikeys.add(deployment, name="test app", channel="app")
    server = Server(database_url, tmp_dir / "gunicorn.log", env=env)
    return deployment, server, key


def count_cases(deployment) -> int:
    from civiccrm.store import repo

    with deployment.session() as s:
        return repo.count_cases(session=s)


def load_schemas(shared_data: Path):
    """The published GeoReport v2 JSON Schemas, with a registry so ``$ref: request.json`` resolves."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    folder = shared_data / "open311" / "schemas"
    resources = {}
    for name in ("request.json", "requests.json", "service.json", "services.json", "service-definition.json"):
        resources[name] = Resource.from_contents(json.loads((folder / name).read_text()), default_specification=DRAFT7)
    return Registry().with_resources(resources.items()), resources
