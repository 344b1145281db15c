"""One HTTP client per process and timeout for the calls integrations make to other systems.

Building an ``httpx.Client`` loads the certificate store into a new TLS context (about 0.2 s of
CPU); a client per call made the delivery worker spend nearly all its time there, and it also
gave up keep-alive to a destination it calls again a moment later. A client is safe to share
between threads; a forked worker builds its own (a pool's sockets must not cross a fork)."""

import os
import threading

import httpx

_clients: dict[tuple[int, float], httpx.Client] = {}
_lock = threading.Lock()


def client(timeout: float) -> httpx.Client:
    """The shared client of this process for ``timeout`` seconds (do not close it)."""
    key = (os.getpid(), float(timeout))
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = httpx.Client(timeout=timeout)
    return found
