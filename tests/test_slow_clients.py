"""A slow or idle client never holds the service: 200 half-sent requests while others are answered."""

import socket

import pytest
import requests

from open311_helpers import Server, start

SLOW = 200


def hold_slow_connections(port: int, count: int) -> list[socket.socket]:
    """Connections that send the start of a request and then nothing (a slowloris)."""
    held = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        held.append(s)
    return held


def answered_while_held(server: Server, tracking_number: str) -> list[int]:
    held = hold_slow_connections(server.port, SLOW)
    try:
        codes = []
        for _ in range(10):
            codes.append(requests.get(f"{server.base}/healthz", timeout=10).status_code)
            codes.append(requests.get(f"{server.api}/requests/{tracking_number}.json", timeout=10).status_code)
        return codes
    finally:
        for s in held:
            s.close()


@pytest.fixture
def served(tmp_path):
    deployment, server, key = start(f"sqlite:///{tmp_path / 'civiccrm.db'}", tmp_path)
    posted = requests.post(f"{server.api}/requests.json", data={
        "api_key": key, "service_code": "trash-missed-by-city", "description": "Cart not emptied",
        "lat": "39.102738", "long": "-94.600134", "attribute[CONTAINER]": "cart"}, timeout=10)
    assert posted.status_code == 200, posted.text
    yield server, posted.json()[0]["service_request_id"]
    server.stop()
    deployment.engine.dispose()


def test_requests_are_answered_while_200_slow_clients_hold_connections(served):
    """Under the former sync workers six such connections stalled /healthz (fails there)."""
    server, tracking_number = served
    assert answered_while_held(server, tracking_number) == [200] * 20


def test_no_server_software_banner(served):
    server, _ = served
    response = requests.get(f"{server.base}/healthz", timeout=10)
    assert "gunicorn" not in response.headers.get("Server", "").lower()
