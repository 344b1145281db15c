"""Benchmark the e-mail channel and the delivery outbox, each beside a stdlib baseline in the same run.

    .venv/bin/python bench/channels.py [--messages 500] [--deliveries 500]

1. E-mails ingested per second through ``civiccrm email serve``'s SMTP listener (aiosmtpd on
   loopback) into cases: one smtplib connection sends ``--messages`` messages from distinct
   senders; each is parsed, classified, stored as a case with its customer and acknowledged
   (the acknowledgement written to the outbox). Beside it: the same messages parsed by the
   standard library alone (``email.message_from_bytes`` with the default policy, body read).
2. Outbox deliveries per second to a loopback SMTP sink (aiosmtpd): ``civiccrm deliver``'s
   loop (claim, lease, build, send, record the attempt) over ``--deliveries`` queued messages,
   beside ``smtplib`` sending the same messages directly over one connection.

Everything runs on a temporary SQLite database, removed afterwards.
"""

import argparse
import email
import email.policy
import os
import shutil
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

sys._civiccrm_test_run = True  # plugins installed in the environment stay out, as in the tests


class Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def messages(n: int) -> list[EmailMessage]:
    found = []
    for i in range(n):
        m = EmailMessage()
        m["From"] = f"Resident {i} <resident{i}@example.org>"
        m["To"] = "311@kcmo.test"
        m["Subject"] = "Graffiti on City Property" if i % 2 else f"Something near house {i}"
        m["Message-ID"] = f"<bench-{i}@example.org>"
        m.set_content(f"Paint on the wall at {100 + i} Main St. Please clean it.\n" * 3)
        found.append(m)
    return found


def ingest(deployment, mails) -> float:
    from civiccrm_plugins.email_inbound import make_controller

    port = free_port()
    controller = make_controller(deployment, "127.0.0.1", port)
    controller.start()
    try:
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for m in mails:
                smtp.send_message(m)
        return time.perf_counter() - start
    finally:
        controller.stop()


def parse_only(raws) -> float:
    start = time.perf_counter()
    for raw in raws:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        msg.get_body(preferencelist=("plain", "html")).get_content()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--deliveries", type=int, default=500)
    args = parser.parse_args(argv)

    from civiccrm.domain.outbox import MessagePayload
    from civiccrm.services import outbox
    from civiccrm.services.deployment import init_deployment
    from civiccrm_plugins.email_channel import build_message, smtp_settings

    folder = tempfile.mkdtemp(prefix="bench-channels-")
    sink = Sink()
    sink_port = free_port()
    sink_controller = Controller(sink, hostname="127.0.0.1", port=sink_port)
    sink_controller.start()
    os.environ.update(CIVICCRM_SMTP_HOST="127.0.0.1", CIVICCRM_SMTP_PORT=str(sink_port),
                      CIVICCRM_SMTP_FROM="311@kcmo.test")
    try:
        deployment = init_deployment(f"sqlite:///{folder}/bench.db", "kansas-city")
        deployment.profile.settings.setdefault("plugins", {})["inbound"] = {
            "triage_type": "action-center-escalation", "rate_limit": 10, "rate_window_seconds": 3600}
        mails = messages(args.messages)
        raws = [bytes(m) for m in mails]
        parsed = parse_only(raws)
        listened = ingest(deployment, mails)
        with deployment.engine.connect() as conn:
            made = conn.exec_driver_sql("SELECT count(*) FROM cases WHERE channel = 'email'").scalar()
        print(f"e-mail intake, {args.messages} messages ({made} cases made)")
        print(f"  SMTP listener -> cases      {args.messages / listened:10.1f} messages/s")
        print(f"  stdlib parsing alone        {args.messages / parsed:10.1f} messages/s   "
              f"(the listener is {listened / parsed:.0f}x its time)")

        with deployment.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM outbox_attempts")
            conn.exec_driver_sql("DELETE FROM outbox")
            for i in range(args.deliveries):
                outbox.enqueue_message(connection_or_session=conn, idempotency_key=f"bench:{i}", message=MessagePayload(
                    channel="email", address=f"resident{i}@example.org", subject=f"Your request {i}",
                    body="We received your request.\n" * 5))
        before = sink.count
        start = time.perf_counter()
        result = outbox.run(deployment, once=True, limit=50)
        delivered = time.perf_counter() - start
        assert result.sent == args.deliveries and sink.count - before == args.deliveries, result
        config = smtp_settings(deployment.profile)
        direct_messages = [build_message(config, MessagePayload(
            channel="email", address=f"resident{i}@example.org", subject=f"Your request {i}",
            body="We received your request.\n" * 5), f"direct:{i}") for i in range(args.deliveries)]
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", sink_port, timeout=60) as smtp:
            for m in direct_messages:
                smtp.send_message(m)
        direct = time.perf_counter() - start
        print(f"outbox delivery, {args.deliveries} messages to a loopback SMTP sink")
        print(f"  civiccrm deliver            {args.deliveries / delivered:10.1f} messages/s")
        print(f"  smtplib directly            {args.deliveries / direct:10.1f} messages/s   "
              f"(deliver is {delivered / direct:.1f}x its time: per message a lease and an attempt committed, one kept SMTP connection)")
        deployment.engine.dispose()
    finally:
        sink_controller.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
