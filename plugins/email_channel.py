"""Outbound e-mail channel: sends messages through an SMTP server with smtplib.

Settings, each from the environment first, then ``[plugins.email]`` in the profile:
``CIVICCRM_SMTP_HOST`` / ``host`` (default localhost), ``CIVICCRM_SMTP_PORT`` / ``port``
(default 25), ``CIVICCRM_SMTP_FROM`` / ``from`` (default ``311@<host>``),
``CIVICCRM_SMTP_USER`` and ``CIVICCRM_SMTP_PASSWORD`` (log in after STARTTLS when set).
"""

import os
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from civiccrm import hookimpl
from civiccrm.errors import CivicError


def smtp_settings(profile) -> dict:
    table = profile.settings.get("plugins", {}).get("email", {}) if profile is not None else {}
    host = os.environ.get("CIVICCRM_SMTP_HOST") or table.get("host") or "localhost"
    raw_port = os.environ.get("CIVICCRM_SMTP_PORT") or table.get("port") or 25
    try:
        port = int(raw_port)
    except (TypeError, ValueError):
        raise CivicError(f"CIVICCRM_SMTP_PORT: {raw_port!r} is not a port number") from None
    return {
        "host": host, "port": port,
        "from": os.environ.get("CIVICCRM_SMTP_FROM") or table.get("from") or f"311@{host}",
        "user": os.environ.get("CIVICCRM_SMTP_USER") or table.get("user"),
        "password": os.environ.get("CIVICCRM_SMTP_PASSWORD"),
    }


@hookimpl
def send_message(channel, address, subject, body, profile):
    """Send on the ``email`` channel; other channels are left to other plugins."""
    if channel != "email":
        return None
    config = smtp_settings(profile)
    message = EmailMessage()
    message["From"] = config["from"]
    message["To"] = address
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=config["host"])
    message.set_content(body)
    with smtplib.SMTP(config["host"], config["port"], timeout=20) as smtp:
        if config["user"]:
            smtp.starttls()
            smtp.login(config["user"], config["password"] or "")
        smtp.send_message(message)
    return message["Message-ID"]
