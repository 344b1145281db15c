"""The tokenised survey page: a requester opens the link from the invitation and answers once."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, render_template_string, request
from flask_wtf.csrf import CSRFError

from civiccrm import hookimpl
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment, limits

bp = Blueprint("surveys", __name__)

LIMIT = ("SURVEY_LIMIT", 30)
"""Survey page requests (views, answers, opt-outs) per client address per window."""
WINDOW = ("SURVEY_LIMIT_WINDOW_SECONDS", 600)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>{{ title }}</h1>
{% if error %}<p role="alert"><strong>{{ error }}</strong></p>{% endif %}
{% if message %}<p>{{ message }}</p>{% endif %}
{% if invitation %}
<p>About your request {{ invitation.tracking_number }}{% if invitation.request_type %} ({{ invitation.request_type }}){% endif %}.</p>
<form method="post">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
{% for q in questions %}
<fieldset><legend>{{ loop.index }}. {{ q.text }}{% if q.required %} (required){% endif %}</legend>
{% if q.type.value == "text" %}<textarea name="{{ q.code }}" rows="3" cols="60" maxlength="2000"></textarea>
{% else %}{% for value, label in q.points %}
<label><input type="radio" name="{{ q.code }}" value="{{ value }}"{% if q.required %} required{% endif %}> {{ label }}</label>
{% endfor %}{% endif %}
</fieldset>
{% endfor %}
<button type="submit">Send my answers</button>
</form>
<form method="post" action="{{ opt_out_url }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}"><button type="submit">No more surveys</button></form>
{% endif %}
</body></html>"""


def _error(exc: CivicError):
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return limits.with_retry_after(current_app.make_response(
            (jsonify({"error": str(exc), "field": exc.field}), exc.http_status)), exc)
    return limits.with_retry_after(current_app.make_response(
        (render_template_string(_PAGE, title="Survey", error=str(exc)), exc.http_status)), exc)


@bp.errorhandler(CivicError)
def _civic_error(exc: CivicError):
    return _error(exc)


@bp.before_request
def _rate_limit():
    """Count each survey request against the client's address; past the limit, 429 with Retry-After."""
    wait = limits.wait(get_deployment(), scope="survey", key=limits.client_address(), limit=LIMIT, window=WINDOW)
    if wait is not None:
        raise limits.TooManyRequests(f"Too many requests from your address. Try again in {int(wait)} seconds.", wait)


def _same_origin_post() -> None:
    """A form POST comes from this site's own page: its Origin (when the browser sends one) is this
    service's, and it carries the page's csrf_token. A JSON POST (never sent cross-site by a browser
    without CORS, which this service does not grant) needs no token, but its Origin is checked too."""
    origin = request.headers.get("Origin")
    if origin is not None:
        allowed = {_origin(current_app.config["PUBLIC_URL"]), _origin(request.host_url)}
        if _origin(origin) not in allowed:
            raise CivicError(f"Origin: {origin!r} is not this site; answer from the page the survey link opens",
                             field="Origin")
    if request.is_json:
        return
    from civiccrm.web.security import csrf

    try:
        csrf.protect()
    except CSRFError as exc:
        raise CivicError(f"csrf_token: {exc.description} Open the survey link again and send the form from that page.",
                         field="csrf_token") from None


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}"


@bp.get("/survey/<token>")
def show(token):
    from civiccrm.services.surveys import answers as survey_answers

    try:
        invitation = survey_answers.open_invitation(get_deployment(), token)
    except CivicError as exc:
        return _error(exc)
    from flask import url_for

    return render_template_string(
        _PAGE, title=invitation.instrument.name, invitation=invitation,
        questions=invitation.instrument.questions_for(invitation.department),
        opt_out_url=url_for("surveys.opt_out", token=token),
    )


@bp.post("/survey/<token>")
def submit(token):
    from civiccrm.services.surveys import answers as survey_answers

    _same_origin_post()
    answers = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if isinstance(answers, dict) and not request.is_json:
        answers.pop("csrf_token", None)
    if not isinstance(answers, dict):
        return _error(CivicError("answers: send a form or a JSON object of item code -> answer"))
    try:
        response = survey_answers.answer(get_deployment(), token, answers)
    except CivicError as exc:
        return _error(exc)
    if request.is_json:
        return jsonify({"response": response.id, "instrument": response.instrument}), 201
    return render_template_string(_PAGE, title="Thank you", message="Your answers have been recorded."), 201


@bp.post("/survey/<token>/opt-out")
def opt_out(token):
    from civiccrm.services.surveys import answers as survey_answers

    _same_origin_post()
    try:
        survey_answers.opt_out_by_token(get_deployment(), token)
    except CivicError as exc:
        return _error(exc)
    return render_template_string(_PAGE, title="Unsubscribed", message="You will not be sent surveys again.")


@hookimpl
def register_web_blueprints(app):
    from civiccrm.web.security import csrf

    csrf.exempt(bp)  # the secret token in the link authorises the answer; no session is involved
    app.register_blueprint(bp)
