"""Outbound e-mail channel: sends messages through an SMTP server with smtplib.

Outbox rows of kind ``message:email`` are delivered here: each message carries a Message-ID
made from its idempotency key (a repeat after a crash is the same message to the receiver),
``Auto-Submitted: auto-generated`` and our ``X-Loop`` so replies from robots are recognised.

Settings, each from the environment first, then ``[plugins.email]`` in the profile:
``CIVICCRM_SMTP_HOST`` / ``host`` (default localhost), ``CIVICCRM_SMTP_PORT`` / ``port``
(default 25), ``CIVICCRM_SMTP_FROM`` / ``from`` (default ``311@<host>``),
``CIVICCRM_SMTP_USER`` and ``CIVICCRM_SMTP_PASSWORD`` (log in after STARTTLS when set).
"""

import hashlib
import os
import smtplib
import threading
from email.message import EmailMessage
from email.utils import make_msgid

from civiccrm import hookimpl
from civiccrm.domain.outbox import Deliverer, DeliveryRefused, MessagePayload, message_kind
from civiccrm.errors import CivicError
from civiccrm.profiles.settings import plugin_settings
from civiccrm.registries import Channel


DEFAULTS = {"host": "localhost", "port": 25, "from": None, "user": None}
"""SMTP settings; a profile overrides them under ``[plugins.email]``, the environment overrides both."""
ENV = {"host": "CIVICCRM_SMTP_HOST", "port": "CIVICCRM_SMTP_PORT", "from": "CIVICCRM_SMTP_FROM",
       "user": "CIVICCRM_SMTP_USER"}


def smtp_settings(profile) -> dict:
    """Host, port, sender and login; the password comes from ``CIVICCRM_SMTP_PASSWORD`` only."""
    found = plugin_settings(profile, "email", DEFAULTS, env=ENV)
    try:
        found["port"] = int(found["port"])
    except (TypeError, ValueError):
        raise CivicError(f"CIVICCRM_SMTP_PORT: {found['port']!r} is not a port number") from None
    found["from"] = found["from"] or f"311@{found['host']}"
    found["password"] = os.environ.get("CIVICCRM_SMTP_PASSWORD")
    return found


def send(deployment, address, subject, body):
    """Send one message through the SMTP server of the settings; the Message-ID is the receipt."""
    config = smtp_settings(deployment.profile)
    message = EmailMessage()
    message["From"] = config["from"]
    message["To"] = address
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=config["host"])
    message.set_content(body)
    _submit(config, message)
    return message["Message-ID"]


def _connect(config: dict) -> smtplib.SMTP:
    smtp = smtplib.SMTP(config["host"], config["port"], timeout=20)
    if config["user"]:
        smtp.starttls()
        smtp.login(config["user"], config["password"] or "")
    return smtp


def _submit(config: dict, email: EmailMessage) -> None:
    """Hand one message to the SMTP server (logging in after STARTTLS when a user is set)."""
    with _connect(config) as smtp:
        smtp.send_message(email)


_kept = threading.local()
"""The delivery worker's open SMTP connection (per thread): one connection serves a batch."""


def _submit_kept(config: dict, email: EmailMessage) -> None:
    """Send over the connection kept from the last delivery to the same server, or a new one. A kept
    connection the server has closed meanwhile (idle timeout) is replaced once; the message is sent
    at most once per call (a refusal is not retried here: the outbox decides)."""
    key = (config["host"], config["port"], config["user"])
    smtp = getattr(_kept, "connections", {}).get(key)
    if smtp is not None:
        try:
            smtp.noop()
        except (smtplib.SMTPException, OSError):
            _drop(key)
            smtp = None
    if smtp is None:
        smtp = _connect(config)
        _kept.__dict__.setdefault("connections", {})[key] = smtp
    try:
        smtp.send_message(email)
    except (smtplib.SMTPServerDisconnected, OSError):
        _drop(key)
        raise
    except smtplib.SMTPException:
        try:
            smtp.rset()  # the refused message is forgotten; the connection serves the next one
        except (smtplib.SMTPException, OSError):
            _drop(key)
        raise


def _drop(key) -> None:
    smtp = _kept.__dict__.get("connections", {}).pop(key, None)
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass


def message_id(idempotency_key: str, domain: str) -> str:
    """The same Message-ID for every try of one outbox row."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def sender_domain(config: dict) -> str:
    return config["from"].rpartition("@")[2].strip(">") or config["host"]


def build_message(config: dict, message: MessagePayload, idempotency_key: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = config["from"]
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Message-ID"] = message_id(idempotency_key, sender_domain(config))
    email["Auto-Submitted"] = "auto-generated"
    email["X-Loop"] = config["from"]
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.language:  # after the content: set_content replaces the Content-* headers
        email["Content-Language"] = message.language
    return email


def _permanent(exc: smtplib.SMTPException) -> bool:
    """A 5xx answer about this message or recipient: trying again cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
        return exc.smtp_code >= 500
    return False


def deliver_email(deployment, item) -> str:
    """Send one ``message:email`` outbox row; its Message-ID is the receipt."""
    message = MessagePayload.from_dict(item.payload)
    config = smtp_settings(deployment.profile)
    email = build_message(config, message, item.idempotency_key)
    try:
        _submit_kept(config, email)
    except smtplib.SMTPException as exc:
        if _permanent(exc):
            raise DeliveryRefused(f"SMTP server {config['host']}:{config['port']} refused it: {exc}") from None
        raise
    return email["Message-ID"]


@hookimpl
def register_deliverers(register):
    register(Deliverer(message_kind("email"), deliver_email, "E-mail through the SMTP server of [plugins.email]"))


EMAIL = Channel("email", "E-mail", outbound=True, description="A message to the centre's mailbox.", send=send)


@hookimpl
def register_channels(register):
    """The ``email`` channel, with a sender (the standard list has it without one)."""
    register(EMAIL)
