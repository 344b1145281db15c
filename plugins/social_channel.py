"""Social media posts and direct messages, provider-neutral, in the same shape as the SMS channel.

``POST /social/<provider>`` takes a post or a direct message; the answer carries the reply
the provider posts back (the tracking number). A post naming a place ("pothole at 12th and
Main", "on 938 Mulberry St") is geocoded through the ``geocode`` hook. Providers: ``loopback``
(JSON ``{"id", "author", "text", "direct"}`` signed with HMAC-SHA256 of the body in
``X-Loopback-Signature``; outbound ``message:social`` rows are appended to a JSON lines file).
A network's plugin adds its provider here. Settings in ``[plugins.social]``: ``provider``,
``loopback_file``; the token is ``CIVICCRM_SOCIAL_AUTH_TOKEN``.
"""

import hashlib
import hmac
import json
import os
import re
from pathlib import Path

from civiccrm import hookimpl
from civiccrm.domain.messages import InboundMessage
from civiccrm.domain.outbox import Deliverer, MessagePayload, message_kind
from civiccrm.errors import CivicError
from civiccrm.services import inbound
from civiccrm_plugins.sms_channel import Loopback

#: "at 12th and Main", "on Main St", "near 938 Mulberry St": the place a post names.
PLACE = re.compile(r"\b(?:at|on|near|by|corner of)\s+((?:\d+\s+)?[A-Z0-9][\w.'-]*(?:\s+(?:and|&|[A-Z0-9][\w.'-]*))*)")


def social_settings(deployment) -> dict:
    table = deployment.profile.settings.get("plugins", {}).get("social", {})
    return {
        "provider": table.get("provider", "loopback"),
        "auth_token": os.environ.get("CIVICCRM_SOCIAL_AUTH_TOKEN", ""),
        "loopback_file": os.environ.get("CIVICCRM_SOCIAL_LOOPBACK_FILE") or table.get("loopback_file",
                                                                                     "var/social-loopback.jsonl"),
    }


def places_named(text: str) -> list[str]:
    """The places a post names, in order ("on City Property at 12th and Main": two)."""
    return [m.group(1).strip(" .,") for m in PLACE.finditer(text or "")]


def locate(deployment, text: str):
    """The first place the post names that the ``geocode`` hook can find, or None."""
    for place in places_named(text):
        location = deployment.pm.hook.geocode(deployment=deployment, address=place)
        if location is not None:
            return location
    return None


def signature(token: str, body: bytes) -> str:
    """The loopback provider signs as the SMS one does: HMAC-SHA256 of the body."""
    return Loopback.signature(token, body)


def handle_post(deployment, data: dict) -> inbound.Received:
    if not isinstance(data, dict) or not data.get("author") or not str(data.get("text", "")).strip():
        raise CivicError("post: a JSON object with author and text is expected", field="text")
    text = str(data["text"]).strip()
    message = InboundMessage(channel="social", sender=str(data["author"])[:320], subject=None, body=text,
                             received_at=deployment.clock(), message_id=str(data["id"]) if data.get("id") else None)
    received = inbound.receive(deployment, message, location=locate(deployment, text))
    if received.tracking_number and received.outcome in ("case", "triage"):
        return inbound.Received(outcome=received.outcome, tracking_number=received.tracking_number,
                                reason=received.reason,
                                reply=f"Thank you: {deployment.profile.name} 311 opened request "
                                      f"{received.tracking_number}.")
    return received


def deliver_social(deployment, item) -> str:
    message = MessagePayload.from_dict(item.payload)
    config = social_settings(deployment)
    path = Path(config["loopback_file"])
    path.parent.mkdir(parents=True, exist_ok=True)
    post_id = "SP" + hashlib.sha256(item.idempotency_key.encode()).hexdigest()[:30]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": post_id, "to": message.address, "text": message.body}) + "\n")
    return post_id


def blueprint():
    from flask import Blueprint, abort, jsonify, request

    from civiccrm.web import get_deployment

    bp = Blueprint("social", __name__, url_prefix="/social")

    @bp.post("/<name>")
    def webhook(name):
        deployment = get_deployment()
        config = social_settings(deployment)
        if name != config["provider"]:
            abort(404)
        given = request.headers.get("X-Loopback-Signature", "")
        if not config["auth_token"] or not hmac.compare_digest(signature(config["auth_token"], request.get_data()),
                                                               given):
            return jsonify({"error": "signature check failed"}), 403
        received = handle_post(deployment, request.get_json(silent=True))
        return jsonify({"outcome": received.outcome, "tracking_number": received.tracking_number,
                        "reply": received.reply})

    return bp


def configured(deployment) -> bool:
    """Replies are posted only where the city set a provider up (``[plugins.social]``)."""
    return "social" in deployment.profile.settings.get("plugins", {})


@hookimpl
def register_deliverers(register):
    register(Deliverer(message_kind("social"), deliver_social, "Replies on social media (loopback provider)",
                       available=configured))


@hookimpl
def register_web_blueprints(app):
    """The inbound webhook, ``POST /social/<provider>`` (checked by its signature, not a CSRF token)."""
    from civiccrm.web.security import csrf

    bp = blueprint()
    csrf.exempt(bp)
    app.register_blueprint(bp)
