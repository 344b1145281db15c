"""Inbound e-mail: ``civiccrm email serve`` (an SMTP listener, aiosmtpd) and ``civiccrm email poll``
(a Maildir folder or an IMAP mailbox). Each message becomes a case or a note on the case it answers;
robots, loops and bounces never do (a bounce marks the address as bouncing).

Settings in ``[plugins.email_inbound]``: ``address`` (the centre's mailbox; also our X-Loop mark),
``max_attachment_bytes``, ``max_attachments``, ``max_message_bytes``.
"""

import asyncio
import imaplib
import logging
import mailbox
import os
import urllib.parse
from pathlib import Path

import click

from civiccrm import hookimpl
from civiccrm.domain.log_safe import contact_ref
from civiccrm.domain.messages import InboundMessage, guess_language
from civiccrm.errors import CivicError
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services import inbound
from civiccrm_plugins.email_channel import smtp_settings
from civiccrm_plugins.email_parse import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, Mail, read_mail, reply_text

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 25 * 1024 * 1024


DEFAULTS = {"address": None, "max_attachment_bytes": MAX_ATTACHMENT_BYTES, "max_attachments": MAX_ATTACHMENTS,
            "max_message_bytes": MAX_MESSAGE_BYTES}
"""``[plugins.email_inbound]``; ``CIVICCRM_EMAIL_ADDRESS`` overrides ``address`` (default: the SMTP sender)."""


def email_settings(deployment) -> dict:
    """The centre's address (also our X-Loop mark) and the size limits, checked."""
    found = plugin_settings(deployment.profile, "email_inbound", DEFAULTS, env={"address": "CIVICCRM_EMAIL_ADDRESS"})
    smtp = smtp_settings(deployment.profile)
    for key in ("max_attachment_bytes", "max_attachments", "max_message_bytes"):
        try:
            found[key] = int(found[key])
        except (TypeError, ValueError):
            raise CivicError(f"plugins.email_inbound.{key}: {found[key]!r}; a whole number is expected",
                             field=key) from None
    found["address"] = (found["address"] or smtp["from"]).lower()
    found["from"] = smtp["from"].lower()
    return found


def to_inbound(deployment, mail: Mail) -> InboundMessage:
    body = reply_text(mail.body) if mail.in_reply_to or mail.subject.lower().startswith(("re:", "aw:", "rv:")) \
        else mail.body
    languages = deployment.profile.languages
    language = mail.language if mail.language in languages else guess_language(f"{mail.subject}\n{body}", languages)
    return InboundMessage(
        channel="email", sender=mail.sender, subject=mail.subject or None, body=body,
        received_at=deployment.clock(), language=language, sender_name=mail.sender_name or None,
        message_id=mail.message_id, in_reply_to=mail.in_reply_to, notes=mail.notes,
        attachments=mail.attachments,
    )


def receive_bytes(deployment, raw: bytes, *, envelope_from: str | None = None) -> inbound.Received:
    """Read one raw message and act on it; never raises for what the message holds."""
    config = email_settings(deployment)
    mail = read_mail(raw, own_addresses={config["address"], config["from"]}, envelope_from=envelope_from,
                     max_attachment_bytes=config["max_attachment_bytes"], max_attachments=config["max_attachments"])
    probe = InboundMessage(channel="email", sender=mail.sender or (envelope_from or "unknown"), subject=mail.subject,
                           body="", received_at=deployment.clock(), message_id=mail.message_id)
    if mail.kind == "bounce":
        for bounce in mail.bounces:
            inbound.mark_bouncing(deployment, address=bounce.address, channel="email",
                                  reason=f"{bounce.status} {bounce.diagnostic}".strip())
        return inbound.ignore(deployment, probe, "bounce", mail.reason)
    if mail.kind == "robot":
        return inbound.ignore(deployment, probe, "ignored", mail.reason)
    if mail.kind == "refused":
        return inbound.ignore(deployment, probe, "refused", mail.reason)
    try:
        return inbound.receive(deployment, to_inbound(deployment, mail))
    except CivicError as exc:  # e.g. a description the case rules refuse: kept in the log with the reason
        return inbound.ignore(deployment, probe, "refused", str(exc))


# --- the SMTP listener --------------------------------------------------------------------


class Listener:
    """aiosmtpd handler: accepts mail for the centre, files it in a worker thread (the database is blocking)."""

    def __init__(self, deployment):
        self.deployment = deployment
        self.config = email_settings(deployment)

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        try:
            received = await loop.run_in_executor(None, lambda: receive_bytes(
                self.deployment, envelope.original_content or envelope.content,
                envelope_from=envelope.mail_from if envelope.mail_from is not None else None))
        except Exception:  # a database outage or a bug: the sender's server keeps the message and retries
            log.exception("inbound e-mail from %s could not be filed", contact_ref(envelope.mail_from))
            return "451 4.3.0 Could not file the message now; try again later"
        if received.outcome == "limited":
            return f"450 4.7.1 {received.reason}"
        if received.outcome == "refused":
            return f"550 5.6.0 {received.reason[:200]}"
        detail = f" {received.tracking_number}" if received.tracking_number else ""
        return f"250 OK {received.outcome}{detail}"


def make_controller(deployment, host: str, port: int):
    from aiosmtpd.controller import Controller

    config = email_settings(deployment)
    # aiosmtpd logs each sender and recipient at INFO and every line of a message at DEBUG: residents'
    # addresses and words. Its logger stays at WARNING whatever the root level (docs/email.md).
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    return Controller(Listener(deployment), hostname=host, port=port, data_size_limit=config["max_message_bytes"],
                      decode_data=False, server_hostname=config["address"].rpartition("@")[2] or None)


# --- polling a mailbox --------------------------------------------------------------------


def poll_maildir(deployment, folder: Path) -> list[inbound.Received]:
    """File every new message of a Maildir (oldest name first) and move it to ``cur`` marked seen."""
    if not (folder / "new").is_dir():
        raise CivicError(f"--maildir: {folder} is not a Maildir (no new/ folder)", field="maildir")
    box = mailbox.Maildir(folder, factory=None, create=False)
    results = []
    for key in sorted(k for k in box.keys() if box.get_message(k).get_subdir() == "new"):
        with box.get_file(key) as handle:
            raw = handle.read()
        results.append(receive_bytes(deployment, raw))
        message = box.get_message(key)
        message.set_subdir("cur")
        message.add_flag("S")
        box[key] = message
    return results


IMAP_TIMEOUT = 60.0
"""Seconds an IMAP command may wait on the server before the poll gives up (no hang from cron)."""


def _imap_words(exc: Exception) -> str:
    """The server's or the socket's words, without a bytes repr."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    text = exc.args[0] if exc.args else exc
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def poll_imap(deployment, url: str, *, folder: str = "INBOX") -> list[inbound.Received]:
    """File the unseen messages of an IMAP mailbox (``imaps://user@host[:port]``, password from
    ``CIVICCRM_IMAP_PASSWORD``) oldest first and mark each one ``\\Seen`` once it is filed.

    A message that cannot be filed now (the database is down, a bug) stays unseen for the next poll and
    the others go on; one filed twice (a poll stopped between filing and marking) is a ``duplicate`` by
    its Message-ID, not a second case."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise CivicError(f"--imap: {url!r}; expected imaps://user@host[:port] or imap://user@host[:port]",
                         field="imap")
    password = parts.password or os.environ.get("CIVICCRM_IMAP_PASSWORD")
    if not password:
        raise CivicError("--imap: no password; set CIVICCRM_IMAP_PASSWORD", field="imap")
    client_class = imaplib.IMAP4_SSL if parts.scheme == "imaps" else imaplib.IMAP4
    try:
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
    except ValueError:
        raise CivicError(f"--imap: {url!r}: the port is not a number from 1 to 65535", field="imap") from None
    where = f"{parts.scheme}://{parts.hostname}:{port}"
    results = []
    try:
        with client_class(parts.hostname, port, timeout=IMAP_TIMEOUT) as client:
            try:
                client.login(urllib.parse.unquote(parts.username), password)
            except imaplib.IMAP4.error as exc:
                raise CivicError(f"--imap: {where}: login as {urllib.parse.unquote(parts.username)} refused: "
                                 f"{_imap_words(exc)}", field="imap") from None
            status, data = client.select(_quoted(folder))
            if status != "OK":
                raise CivicError(f"--folder: {where} has no folder {folder!r} ({_imap_words(Exception(*data))})",
                                 field="folder")
            status, found = client.uid("SEARCH", None, "UNSEEN")
            if status != "OK":
                raise CivicError(f"--imap: {where}: SEARCH UNSEEN failed: {_imap_words(Exception(*found))}")
            for uid in (found[0] or b"").split():
                _, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((item[1] for item in data if isinstance(item, tuple)), None)
                if raw is None:  # expunged by another client meanwhile
                    continue
                try:
                    results.append(receive_bytes(deployment, raw))
                except Exception as exc:  # left unseen: the next poll tries it again
                    log.exception("IMAP message %s of %s could not be filed", uid.decode(), where)
                    results.append(inbound.Received(outcome="failed", reason=f"message UID {uid.decode()}: "
                                                    f"{type(exc).__name__}: {exc}; left unseen for the next poll"))
                    continue
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    except (imaplib.IMAP4.error, OSError) as exc:
        raise CivicError(f"--imap: {where}: {_imap_words(exc)}", field="imap") from None
    return results


def summary(results: list[inbound.Received]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing new"


@hookimpl
def register_commands(cli):
    from civiccrm.cli import pass_obj

    @cli.group()
    def email():
        """Inbound e-mail: an SMTP listener, or polling a Maildir or IMAP mailbox."""

    @email.command()
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", type=click.IntRange(1, 65535), default=2525, show_default=True, help="SMTP port.")
    @pass_obj
    def serve(obj, host, port):
        """Receive mail over SMTP; each message becomes a case or a note (Ctrl-C stops it)."""
        import threading

        controller = make_controller(obj.deployment, host, port)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise CivicError(f"--port: cannot listen on {host}:{port}: {exc}") from None
        click.echo(f"E-mail listener: smtp://{host}:{port} for {email_settings(obj.deployment)['address']} "
                   "(Ctrl-C stops it)")
        stop = threading.Event()
        from civiccrm.services.outbox import stop_on_signals

        stop_on_signals(stop)
        try:
            stop.wait()
        finally:
            controller.stop()

    @email.command()
    @click.option("--maildir", type=click.Path(path_type=Path, file_okay=False), help="A Maildir folder.")
    @click.option("--imap", "imap_url", metavar="URL", help="imaps://user@host[:port] (CIVICCRM_IMAP_PASSWORD).")
    @click.option("--folder", default="INBOX", show_default=True, help="IMAP folder.")
    @pass_obj
    def poll(obj, maildir, imap_url, folder):
        """File the new messages of a mailbox once (run it from cron)."""
        if (maildir is None) == (imap_url is None):
            raise CivicError("email poll: give --maildir PATH or --imap URL")
        results = poll_maildir(obj.deployment, maildir) if maildir else poll_imap(obj.deployment, imap_url,
                                                                                  folder=folder)
        click.echo(f"{len(results)} message(s): {summary(results)}")
        for r in results:
            if r.outcome in ("refused", "limited", "failed"):
                click.echo(f"  {r.outcome}: {r.reason}", err=True)
        if any(r.outcome == "failed" for r in results):
            raise CivicError("email poll: some messages could not be filed now; they are left for the next poll")
