"""One HTTP client per process and timeout for the calls integrations make to other systems.

Building an ``httpx.Client`` loads the certificate store into a new TLS context (about 0.2 s of
CPU); a client per call made the delivery worker spend nearly all its time there, and it also
gave up keep-alive to a destination it calls again a moment later. A client is safe to share
between threads; a forked worker builds its own (a pool's sockets must not cross a fork).

httpx is imported by the first call: it brings rich and pygments with it, which every process that
loads the plugins (each web worker, each CLI command) would pay for without making a call."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
                import httpx

                found = _clients[key] = httpx.Client(timeout=timeout)
    return found
