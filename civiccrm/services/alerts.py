"""Service alerts by area: e-mail subscriptions with double opt-in, one-click unsubscribe, and alerts
the city posts, each e-mailed through the delivery outbox in the transaction that records it.

The words of the e-mails are the caller's (``render``): the public pages plugin writes them in
the subscriber's language."""

import secrets
from collections.abc import Callable
from datetime import datetime

import attrs
from sqlalchemy import select, update

from civiccrm.domain.alerts import Area, check_area, reaches
from civiccrm.domain.cases import EMAIL_ADDRESS
from civiccrm.domain.outbox import MessagePayload
from civiccrm.errors import CivicError, NotFound
from civiccrm.services import outbox
from civiccrm.store import repo
from civiccrm.store.tables import alert_subscriptions_table as subscriptions
from civiccrm.store.tables import service_alerts_table as alerts

MAX_TITLE, MAX_BODY = 200, 4000
LANGUAGES = ("en", "es")


@attrs.frozen
class Subscription:
    id: int
    email: str
    language: str
    area: Area
    token: str


@attrs.frozen
class ServiceAlert:
    id: int
    title: str
    body: str
    area: Area
    posted_at: datetime
    posted_by: str
    recipients: int


Render = Callable[..., tuple[str, str]]
"""``render(kind, subscription=..., alert=..., link=...) -> (subject, body)``; kind is ``confirm`` or ``alert``."""


def _area(row) -> Area:
    return Area(district=row.district, latitude=row.latitude, longitude=row.longitude, radius_m=row.radius_m)


def _subscription(row) -> Subscription:
    return Subscription(id=row.id, email=row.email, language=row.language, area=_area(row), token=row.token)


def check_email(email: str | None) -> str:
    email = (email or "").strip()
    if not email or len(email) > 320 or not EMAIL_ADDRESS.match(email):
        raise CivicError(f"email: {email[:80]!r} is not an e-mail address like someone@example.org", field="email")
    return email


def _area_values(area: Area) -> dict:
    return {"district": area.district, "latitude": area.latitude, "longitude": area.longitude,
            "radius_m": area.radius_m}


def subscribe(deployment, *, email: str, area: Area, language: str, link: Callable[[str, str], str],
              render: Render) -> None:
    """A pending subscription and its confirmation e-mail (through the outbox); the same answer whether
    or not the address is already subscribed, so the form tells no one who is."""
    email = check_email(email)
    if area.is_city:
        raise CivicError("area: choose a council district, or a point and a radius", field="district")
    check_area(area, deployment.profile.city_map)
    language = language if language in LANGUAGES else "en"
    now = deployment.clock()
    with repo.write_transaction(deployment.engine) as connection:
        active = connection.execute(select(subscriptions.c.id).where(
            subscriptions.c.email == email, subscriptions.c.confirmed_at.is_not(None),
            subscriptions.c.unsubscribed_at.is_(None),
            *[subscriptions.c[k].is_(None) if v is None else subscriptions.c[k] == v
              for k, v in _area_values(area).items()])).first()
        if active is None:
            token = secrets.token_urlsafe(24)
            row_id = connection.execute(subscriptions.insert().values(
                email=email, language=language, token=token, created_at=now, **_area_values(area))).inserted_primary_key[0]
            subscription = Subscription(id=row_id, email=email, language=language, area=area, token=token)
            subject, body = render("confirm", subscription=subscription, link=link("confirm", token))
            outbox.enqueue_message(connection_or_session=connection, idempotency_key=f"alert-confirm:{row_id}",
                                   subject=f"alert-subscription:{row_id}", now=now, message=MessagePayload(
                                       channel="email", address=email, subject=subject, body=body, language=language,
                                       notification="alert_confirmation"))
        connection.commit()


def _by_token(connection, token: str):
    if not token or len(token) > 64:
        raise NotFound("token: no such subscription", field="token")
    row = connection.execute(select(subscriptions).where(subscriptions.c.token == token)).first()
    if row is None:
        raise NotFound("token: no such subscription", field="token")
    return row


def subscription(deployment, token: str) -> Subscription:
    with deployment.engine.connect() as connection:
        return _subscription(_by_token(connection, token))


def confirm(deployment, token: str) -> Subscription:
    """Confirm a subscription (again is harmless); an unsubscribed one stays unsubscribed."""
    with repo.write_transaction(deployment.engine) as connection:
        row = _by_token(connection, token)
        if row.unsubscribed_at is not None:
            raise CivicError("token: this subscription was cancelled; subscribe again", field="token")
        if row.confirmed_at is None:
            connection.execute(update(subscriptions).where(subscriptions.c.id == row.id)
                               .values(confirmed_at=deployment.clock()))
        connection.commit()
    return _subscription(row)


def unsubscribe(deployment, token: str) -> Subscription:
    """Stop a subscription at once (again is harmless)."""
    with repo.write_transaction(deployment.engine) as connection:
        row = _by_token(connection, token)
        if row.unsubscribed_at is None:
            connection.execute(update(subscriptions).where(subscriptions.c.id == row.id)
                               .values(unsubscribed_at=deployment.clock()))
        connection.commit()
    return _subscription(row)


def post(deployment, *, title: str, body: str, area: Area, actor: str, link: Callable[[str, str], str],
         render: Render) -> ServiceAlert:
    """Record an alert and queue one e-mail to every confirmed subscription it reaches, in one transaction."""
    title, body = (title or "").strip(), (body or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise CivicError(f"title: 1 to {MAX_TITLE} characters expected, got {len(title)}", field="title")
    if not body or len(body) > MAX_BODY:
        raise CivicError(f"body: 1 to {MAX_BODY} characters expected, got {len(body)}", field="body")
    city_map = deployment.profile.city_map
    check_area(area, city_map)
    now = deployment.clock()
    with repo.write_transaction(deployment.engine) as connection:
        alert_id = connection.execute(alerts.insert().values(
            title=title, body=body, posted_at=now, posted_by=actor, **_area_values(area))).inserted_primary_key[0]
        alert = ServiceAlert(id=alert_id, title=title, body=body, area=area, posted_at=now, posted_by=actor,
                             recipients=0)
        active = connection.execute(select(subscriptions).where(
            subscriptions.c.confirmed_at.is_not(None), subscriptions.c.unsubscribed_at.is_(None))
            .order_by(subscriptions.c.id))
        sent = 0
        for row in active:
            found = _subscription(row)
            if not reaches(area, found.area, city_map):
                continue
            unsubscribe_url = link("unsubscribe", found.token)
            subject, text = render("alert", subscription=found, alert=alert, link=unsubscribe_url)
            outbox.enqueue_message(
                connection_or_session=connection, idempotency_key=f"alert:{alert_id}:{found.id}",
                subject=f"alert:{alert_id}", now=now, message=MessagePayload(
                    channel="email", address=found.email, subject=subject, body=text, language=found.language,
                    notification="service_alert",
                    headers={"List-Unsubscribe": f"<{unsubscribe_url}>",
                             "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}))
            sent += 1
        connection.execute(update(alerts).where(alerts.c.id == alert_id).values(recipients=sent))
        connection.commit()
    return attrs.evolve(alert, recipients=sent)


def recent(deployment, *, limit: int = 20) -> list[ServiceAlert]:
    """The latest alerts, newest first."""
    with deployment.engine.connect() as connection:
        rows = connection.execute(select(alerts).order_by(alerts.c.posted_at.desc(), alerts.c.id.desc()).limit(limit))
        return [ServiceAlert(id=r.id, title=r.title, body=r.body, area=_area(r), posted_at=r.posted_at,
                             posted_by=r.posted_by, recipients=r.recipients) for r in rows]
