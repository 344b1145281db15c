"""The tokenised survey page: a requester opens the link from the invitation and answers once."""

from flask import Blueprint, jsonify, render_template_string, request

from civiccrm import hookimpl
from civiccrm.errors import CivicError

bp = Blueprint("surveys", __name__)

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
<form method="post" action="{{ opt_out_url }}"><button type="submit">No more surveys</button></form>
{% endif %}
</body></html>"""


def _error(exc: CivicError):
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify({"error": str(exc), "field": exc.field}), exc.http_status
    return render_template_string(_PAGE, title="Survey", error=str(exc)), exc.http_status


@bp.get("/survey/<token>")
def show(token):
    from civiccrm.services.surveys import answers as survey_answers
    from civiccrm.web import get_deployment

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
    from civiccrm.web import get_deployment

    answers = request.get_json(silent=True) if request.is_json else request.form.to_dict()
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
    from civiccrm.web import get_deployment

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
