"""Send a rendered report pack by e-mail through the delivery outbox (``civiccrm report send``)."""

import hashlib
import re
from datetime import datetime, timedelta

from civiccrm.domain.outbox import MessagePayload
from civiccrm.errors import CivicError
from civiccrm.services.outbox import enqueue_message

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def send_report(deployment, *, pack, start: datetime, end: datetime, address: str) -> int:
    """Render ``pack`` as HTML for [start, end) and enqueue it as an e-mail to ``address``; the outbox row id.

    The same report (same pack, period, address and content) sent twice is enqueued once:
    the idempotency key carries a digest of the rendered page.
    """
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise CivicError(f"--to: {address!r} is not an e-mail address like mayor@example.org", field="to")
    address = address.strip()
    if "html" not in pack.formats:
        raise CivicError(f"report send: pack {pack.name!r} renders no html ({', '.join(pack.formats)})", field="pack")
    rendered = pack.render_report(deployment, start=start, end=end, format="html")
    profile = deployment.profile
    first = start.astimezone(profile.tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(profile.tz).date()
    subject = f"{pack.name}: {profile.name}, {first} to {last}"
    body = (f"{pack.description}\n\n{profile.name}, {first} to {last}. The report is the HTML part of this "
            f"message; `civiccrm report render {pack.name}` gives it as PDF, CSV or JSON.")
    digest = hashlib.sha256(rendered.content).hexdigest()[:20]
    message = MessagePayload(channel="email", address=address, subject=subject, body=body,
                             html=rendered.content.decode("utf-8"), notification="report")
    with deployment.engine.begin() as conn:
        return enqueue_message(connection_or_session=conn, message=message, subject=f"report:{pack.name}",
                               idempotency_key=f"report:{pack.name}:{first}:{last}:{address}:{digest}")
