"""Reading inbound e-mail with the standard library: the message, or why it is a robot's or a bounce.

``read_mail(raw)`` never raises on bad input: malformed MIME, an unknown charset, no body or an
attachment over the limit are kept with a reason or refused with one.
"""

import email
import email.policy
import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

import attrs

from civiccrm.domain.messages import Attachment

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 10

#: Precedence values of bulk mail, lists and robots (RFC 3834 section 3.1.8 lists the usual ones).
ROBOT_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}


@attrs.frozen
class Bounce:
    """One recipient of ours a delivery report (RFC 3464) says failed."""

    address: str
    status: str
    diagnostic: str = ""


@attrs.frozen
class Mail:
    """What an inbound e-mail is: ``kind`` message, robot (auto-reply, list, loop), bounce or refused."""

    kind: str
    reason: str = ""
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    body: str = ""
    html: str | None = None
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    """In-Reply-To then References, nearest first."""
    language: str | None = None
    date: datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    notes: tuple[str, ...] = ()
    """What was dropped or repaired while reading it (an attachment over the limit, a bad charset)."""
    bounces: tuple[Bounce, ...] = ()


class _Text(HTMLParser):
    """HTML to plain text: the text of the page, a line break per block, no scripts or styles."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self.skip:
            self.skip -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _text_of(part, notes: list[str]) -> str:
    """A text part's content; an unknown or lying charset is read as UTF-8 with replacements, and said."""
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, ValueError) as exc:
        notes.append(f"{part.get_content_type()} part: charset {part.get_content_charset()!r} unreadable "
                     f"({type(exc).__name__}); read as UTF-8 with replacements")
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _is_robot(msg: EmailMessage, own_addresses: set[str]) -> str | None:
    """Why a message comes from a machine (so it must never get a case or a reply), or None."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ROBOT_PRECEDENCE:
        return f"Precedence: {precedence}"
    if msg.get("X-Auto-Response-Suppress"):
        return f"X-Auto-Response-Suppress: {msg['X-Auto-Response-Suppress']}"
    if msg.get("List-Unsubscribe") or msg.get("List-Id"):
        return "a mailing list (List-Unsubscribe / List-Id)"
    loops = {parseaddr(v)[1].lower() or v.strip().lower() for v in msg.get_all("X-Loop") or ()}
    if loops & own_addresses:
        return f"X-Loop: our own ({', '.join(sorted(loops & own_addresses))})"
    return None


def _dsn_bounces(msg: EmailMessage) -> list[Bounce]:
    """Failed recipients of an RFC 3464 report (multipart/report; report-type=delivery-status)."""
    bounces = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        # the per-recipient groups are parsed by the email package as sub-messages of headers
        groups = part.get_payload() if part.is_multipart() else []
        for group in groups:
            action = (group.get("Action") or "").strip().lower()
            recipient = group.get("Final-Recipient") or group.get("Original-Recipient") or ""
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            if action == "failed" and address:
                bounces.append(Bounce(address=address, status=(group.get("Status") or "").strip(),
                                      diagnostic=(group.get("Diagnostic-Code") or "").strip()[:300]))
    return bounces


def read_mail(raw: bytes, *, own_addresses: set[str] = frozenset(), envelope_from: str | None = None,
              max_attachment_bytes: int = MAX_ATTACHMENT_BYTES, max_attachments: int = MAX_ATTACHMENTS) -> Mail:
    """Parse one message (its bytes as received); never raises."""
    own = {a.lower() for a in own_addresses}
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return _read(msg, own, envelope_from, max_attachment_bytes, max_attachments)
    except Exception as exc:  # the email package can still trip on a pathological message: refuse, never crash
        return Mail(kind="refused", reason=f"unreadable message ({type(exc).__name__}: {str(exc)[:200]})",
                    sender=(envelope_from or "").lower())


def _read(msg, own, envelope_from, max_attachment_bytes, max_attachments) -> Mail:
    name, sender = parseaddr(str(msg.get("From") or ""))
    sender = (sender or envelope_from or "").strip().lower()
    notes = [f"header defect: {type(d).__name__}" for d in msg.defects][:5]
    common = {"sender": sender, "sender_name": name, "subject": " ".join(str(msg.get("Subject") or "").split()),
              "message_id": (_ids(msg.get("Message-ID")) or [None])[0]}
    references = _ids(msg.get("In-Reply-To")) + list(reversed(_ids(msg.get("References"))))
    common["in_reply_to"] = tuple(dict.fromkeys(references))
    if msg.get_content_type() == "multipart/report" and \
            (msg.get_param("report-type") or "").lower() == "delivery-status":
        bounces = _dsn_bounces(msg)
        return Mail(kind="bounce", reason=f"delivery report for {', '.join(b.address for b in bounces) or 'nobody'}",
                    bounces=tuple(bounces), **common)
    null_sender = envelope_from is not None and not envelope_from.strip("<> ")
    if null_sender or sender.startswith(("mailer-daemon@", "postmaster@")):
        return Mail(kind="bounce", reason="from the mail system (null sender or MAILER-DAEMON) without a report",
                    **common)
    robot = _is_robot(msg, own)
    if robot:
        return Mail(kind="robot", reason=robot, **common)
    if not sender or "@" not in sender:
        return Mail(kind="refused", reason="no sender address (From)", **common)
    body_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    body = _text_of(body_part, notes).strip() if body_part is not None else ""
    markup = _text_of(html_part, notes) if html_part is not None else None
    if not body and markup:
        body = html_to_text(markup)
    attachments = []
    for part in msg.iter_attachments():
        filename = part.get_filename() or f"attachment-{len(attachments) + 1}"
        data = part.get_payload(decode=True) or b""
        if len(attachments) >= max_attachments:
            notes.append(f"attachment {filename!r} dropped: more than {max_attachments} attachments")
        elif len(data) > max_attachment_bytes:
            notes.append(f"attachment {filename!r} dropped: {len(data):,} bytes, over the limit of "
                         f"{max_attachment_bytes:,}")
        else:
            attachments.append(Attachment(filename=filename[:200], content_type=part.get_content_type(),
                                          size=len(data), data=data))
    if not body and not common["subject"]:
        return Mail(kind="refused", reason="no subject and no text", notes=tuple(notes), **common)
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg.get("Date") else None
        date = date if date is not None and date.utcoffset() is not None else None
    except (TypeError, ValueError):
        date = None
    language = (str(msg.get("Content-Language") or "").split(",")[0].strip().lower()[:2]) or None
    return Mail(kind="message", body=body, html=markup, language=language,
                date=date, attachments=tuple(attachments), notes=tuple(notes), **common)


QUOTE_HEADER = re.compile(r"^(On .{5,200} wrote:|El .{5,200} escribió:|-{2,} ?Original Message ?-{2,})\s*$",
                          re.IGNORECASE)


def reply_text(body: str) -> str:
    """The new text of a reply: the quoted lines and what follows a quote header are dropped."""
    kept = []
    for line in body.splitlines():
        if QUOTE_HEADER.match(line.strip()):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept).strip() or body.strip()
