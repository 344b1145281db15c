"""A real SMTP server on loopback (aiosmtpd) for tests that send or receive e-mail."""

import asyncio
import signal
import time
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """Keeps every message it is given; ``refuse`` holds recipients answered with 550, ``delay`` slows DATA."""

    def __init__(self, *, delay: float = 0.0):
        self.messages = []
        self.arrived = threading.Event()
        self.refuse: set[str] = set()
        self.delay = delay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.arrived.set()
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]


class SmtpServer:
    """An aiosmtpd Controller on 127.0.0.1 with a free port; ``with`` starts and stops it."""

    def __init__(self, handler, port: int | None = None):
        self.handler = handler
        self.port = port or free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def use_smtp(monkeypatch, port: int, sender: str = "311@kcmo.test") -> None:
    """Point the e-mail channel at the SMTP server on ``port``."""
    monkeypatch.setenv("CIVICCRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CIVICCRM_SMTP_PORT", str(port))
    monkeypatch.setenv("CIVICCRM_SMTP_FROM", sender)


@pytest.fixture
def sink(monkeypatch):
    """An SMTP sink on loopback that the e-mail channel sends to (import it into a test module to use it)."""
    handler = SmtpSink()
    with SmtpServer(handler) as server:
        use_smtp(monkeypatch, server.port)
        yield handler


def kill_after(worker, sink: SmtpSink, messages: int, *, seconds: float = 60) -> None:
    """SIGKILL the ``civiccrm deliver`` process ``worker`` once ``sink`` holds ``messages`` messages (mid-batch)."""
    deadline = time.monotonic() + seconds
    while len(sink.messages) < messages and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    time.sleep(0.2)  # a DATA the sink was still answering
