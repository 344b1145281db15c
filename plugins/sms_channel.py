"""Text messages (SMS), provider-neutral: a webhook for inbound texts, a deliverer for outbound ones.

Providers: ``twilio`` (Twilio's form-encoded webhook with its X-Twilio-Signature check; outbound
through its REST API) and ``loopback`` (for tests and trials: the webhook checks an HMAC of the
body, outbound texts are appended as JSON lines to a file). Settings in ``[plugins.sms]``:
``provider``, ``number`` (the city's), ``webhook_url`` (the public URL the provider calls, for the
signature; default the request's own), ``api_base`` and ``account_sid`` (Twilio), ``loopback_file``.
Secrets come from the environment: ``CIVICCRM_SMS_AUTH_TOKEN``.

Keywords: STOP (and UNSUBSCRIBE, CANCEL, END, QUIT, STOPALL) opts out of every text, START
opts in again, HELP says what the number is for. A text from someone with one open case is
added to it; with several, they are asked which by number; ``NEW ...`` always opens a new case.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

import attrs

from civiccrm import hookimpl
from civiccrm.domain.messages import InboundMessage
from civiccrm.domain.outbox import Deliverer, DeliveryRefused, MessagePayload, message_kind
from civiccrm.errors import CivicError
from civiccrm.services import inbound
from civiccrm.store import contacts

STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"}
START_WORDS = {"start", "unstop", "yes"}
HELP_WORDS = {"help", "info"}
MAX_TEXT = 1600


def sms_settings(deployment) -> dict:
    table = deployment.profile.settings.get("plugins", {}).get("sms", {})
    return {
        "provider": os.environ.get("CIVICCRM_SMS_PROVIDER") or table.get("provider", "loopback"),
        "number": table.get("number", ""),
        "webhook_url": table.get("webhook_url"),
        "api_base": (os.environ.get("CIVICCRM_SMS_API_BASE") or table.get("api_base")
                     or "https://api.twilio.com").rstrip("/"),
        "account_sid": os.environ.get("CIVICCRM_SMS_ACCOUNT_SID") or table.get("account_sid", ""),
        "auth_token": os.environ.get("CIVICCRM_SMS_AUTH_TOKEN", ""),
        "loopback_file": os.environ.get("CIVICCRM_SMS_LOOPBACK_FILE") or table.get("loopback_file",
                                                                                  "var/sms-loopback.jsonl"),
    }


def normal_number(text: str) -> str:
    """+18165550100 from '(816) 555-0100' or '+1 816 555 0100' (North American numbers get +1)."""
    digits = re.sub(r"[^\d+]", "", text or "")
    if digits.startswith("+"):
        return digits
    if len(digits) == 10:
        return f"+1{digits}"
    if len(digits) == 11 and digits.startswith("1"):
        return f"+{digits}"
    return digits


@attrs.frozen
class InboundText:
    sender: str
    body: str
    message_id: str | None


class Twilio:
    """Twilio's webhook (form fields From, Body, MessageSid) and REST API."""

    name = "twilio"

    @staticmethod
    def signature(token: str, url: str, form: dict) -> str:
        data = url + "".join(f"{key}{form[key]}" for key in sorted(form))
        return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()

    def verify(self, config, request) -> bool:
        token = config["auth_token"]
        given = request.headers.get("X-Twilio-Signature", "")
        url = config["webhook_url"] or request.url
        form = {key: request.form.get(key) for key in request.form}
        return bool(token) and hmac.compare_digest(self.signature(token, url, form), given)

    def parse(self, request) -> InboundText:
        sender = request.form.get("From", "")
        if not sender:
            raise CivicError("From: the webhook gave no sender number", field="From")
        return InboundText(sender=normal_number(sender), body=request.form.get("Body", ""),
                           message_id=request.form.get("MessageSid") or None)

    def reply(self, text: str | None) -> tuple[str, str]:
        inner = f"<Message>{escape(text)}</Message>" if text else ""
        return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', "text/xml"

    def send(self, config, to: str, body: str, key: str) -> str:
        sid = config["account_sid"]
        if not sid or not config["auth_token"]:
            raise DeliveryRefused("[plugins.sms] account_sid and CIVICCRM_SMS_AUTH_TOKEN are needed to send with Twilio")
        request = urllib.request.Request(
            f"{config['api_base']}/2010-04-01/Accounts/{sid}/Messages.json",
            data=urllib.parse.urlencode({"To": to, "From": config["number"], "Body": body}).encode(),
            headers={"Authorization": "Basic " + base64.b64encode(f"{sid}:{config['auth_token']}".encode()).decode(),
                     "I-Twilio-Idempotency-Token": key[:64]})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                return json.load(answer).get("sid", "")
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code != 429:
                raise DeliveryRefused(f"Twilio refused the text to {to}: HTTP {exc.code}") from None
            raise


class Loopback:
    """For tests and trials: a JSON webhook signed with HMAC-SHA256 of the body; texts go to a file."""

    name = "loopback"

    @staticmethod
    def signature(token: str, body: bytes) -> str:
        return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()

    def verify(self, config, request) -> bool:
        token = config["auth_token"]
        return bool(token) and hmac.compare_digest(self.signature(token, request.get_data()),
                                                   request.headers.get("X-Loopback-Signature", ""))

    def parse(self, request) -> InboundText:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not data.get("from"):
            raise CivicError("from: a JSON object with from, body and id is expected", field="from")
        return InboundText(sender=normal_number(str(data["from"])), body=str(data.get("body", "")),
                           message_id=str(data["id"]) if data.get("id") else None)

    def reply(self, text: str | None) -> tuple[str, str]:
        return json.dumps({"reply": text}), "application/json"

    def send(self, config, to: str, body: str, key: str) -> str:
        path = Path(config["loopback_file"])
        path.parent.mkdir(parents=True, exist_ok=True)
        sid = "LB" + hashlib.sha256(key.encode()).hexdigest()[:30]
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"sid": sid, "to": to, "from": config["number"], "body": body}) + "\n")
        return sid


PROVIDERS = {provider.name: provider for provider in (Twilio(), Loopback())}


def provider(config):
    name = config["provider"]
    if name not in PROVIDERS:
        raise CivicError(f"[plugins.sms] provider: {name!r}; expected one of {', '.join(PROVIDERS)}", field="provider")
    return PROVIDERS[name]


def deliver_sms(deployment, item) -> str:
    message = MessagePayload.from_dict(item.payload)
    config = sms_settings(deployment)
    return provider(config).send(config, normal_number(message.address), message.body[:MAX_TEXT],
                                 item.idempotency_key)


def choice_text(numbers: list[str], language: str | None) -> str:
    lines = [f"{i}) {n}" for i, n in enumerate(numbers, start=1)]
    if language == "es":
        return "¿Sobre cuál solicitud? Responda con el número: " + "; ".join(lines) + "; 0) una solicitud nueva"
    return "Which request is this about? Reply with its number: " + "; ".join(lines) + "; 0) a new request"


def handle_text(deployment, text: InboundText) -> inbound.Received:
    """What a text means: a keyword, the answer to a numbered choice, a reply to a case, or a new case."""
    words = text.body.strip()
    keyword = words.lower().strip(".! ")
    city = deployment.profile.name
    message = InboundMessage(channel="sms", sender=text.sender, subject=None, body=words,
                             received_at=deployment.clock(), message_id=text.message_id)
    if keyword in STOP_WORDS:
        inbound.set_opt_out(deployment, address=text.sender, channel="sms", opted_out=True, reason=f"texted {words}")
        inbound.log_outcome(deployment, message, "answered", reason="opted out")
        return inbound.Received(outcome="answered", reason="opted out", reply=(
            f"{city} 311: you will get no more texts from this number. Reply START to receive them again."))
    if keyword in START_WORDS:
        inbound.set_opt_out(deployment, address=text.sender, channel="sms", opted_out=False, reason=f"texted {words}")
        inbound.log_outcome(deployment, message, "answered", reason="opted in")
        return inbound.Received(outcome="answered", reason="opted in",
                                reply=f"{city} 311: texts are on again. Reply STOP to stop them.")
    if keyword in HELP_WORDS:
        inbound.log_outcome(deployment, message, "answered", reason="help")
        return inbound.Received(outcome="answered", reason="help", reply=(
            f"{city} 311: text us a problem (what and where) to open a request; replies are added to your open "
            "request. Start with NEW for another one. Reply STOP to opt out. Emergencies: call 911."))
    with deployment.engine.connect() as connection:
        pending = contacts.awaiting_choice(connection=connection, channel="sms", sender=text.sender,
                                           since=deployment.clock() - inbound.choice_window(deployment))
    if pending is not None and keyword.isdigit():
        return _chosen(deployment, message, pending, int(keyword))
    if keyword.startswith("new ") or keyword == "new":
        return inbound.receive(deployment, attrs.evolve(message, body=words[3:].strip() or words))
    numbers = inbound.open_cases(deployment, message)
    if len(numbers) == 1:
        received = inbound.add_reply(deployment, message, numbers[0], words)
        return attrs.evolve(received, reply=f"{city} 311: added to your request {numbers[0]}.")
    if len(numbers) > 1:
        inbound.log_outcome(deployment, message, "awaiting_choice", reason=f"open cases: {', '.join(numbers)}",
                            pending_body=words)
        return inbound.Received(outcome="awaiting_choice", reply=choice_text(numbers, None))
    return inbound.receive(deployment, message)


def _chosen(deployment, message: InboundMessage, pending, number: int) -> inbound.Received:
    city = deployment.profile.name
    numbers = (pending.reason or "").split(": ", 1)[-1].split(", ")
    original = attrs.evolve(message, body=pending.pending_body)
    if number == 0:
        received = inbound.open_case(deployment, original)
    elif 1 <= number <= len(numbers):
        received = inbound.add_reply(deployment, original, numbers[number - 1], pending.pending_body)
        received = attrs.evolve(received, reply=f"{city} 311: added to your request {numbers[number - 1]}.")
    else:
        return inbound.Received(outcome="awaiting_choice", reply=choice_text(numbers, None))
    with deployment.engine.begin() as connection:
        contacts.settle_choice(connection=connection, inbound_id=pending.id, outcome="answered",
                               case_id=None, reason=f"answered with {number}")
    return received


def blueprint():
    from flask import Blueprint, Response, abort, request

    from civiccrm.web import get_deployment

    bp = Blueprint("sms", __name__, url_prefix="/sms")

    @bp.post("/<name>")
    def webhook(name):
        deployment = get_deployment()
        config = sms_settings(deployment)
        chosen = PROVIDERS.get(name)
        if chosen is None or chosen.name != config["provider"]:
            abort(404)
        if not chosen.verify(config, request):
            return Response("signature check failed", status=403, mimetype="text/plain")
        received = handle_text(deployment, chosen.parse(request))
        body, media_type = chosen.reply(received.reply)
        return Response(body, mimetype=media_type)

    return bp


def configured(deployment) -> bool:
    """Texts are sent only where the city set a provider up (``[plugins.sms]`` or ``CIVICCRM_SMS_PROVIDER``)."""
    return "sms" in deployment.profile.settings.get("plugins", {}) or bool(os.environ.get("CIVICCRM_SMS_PROVIDER"))


@hookimpl
def register_deliverers(register):
    register(Deliverer(message_kind("sms"), deliver_sms, "Text messages through the [plugins.sms] provider",
                       available=configured))


@hookimpl
def register_web_blueprints(app):
    """The inbound webhook, ``POST /sms/<provider>`` (checked by the provider's signature, not a CSRF token)."""
    from civiccrm.web.security import csrf

    bp = blueprint()
    csrf.exempt(bp)
    app.register_blueprint(bp)
