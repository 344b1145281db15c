"""What residents may read of the knowledge base (/help, /help/<service_code>): the public articles only,
read-only, no login; the public pages link here."""

from flask import Blueprint, abort, render_template, request

from civiccrm.errors import CivicError
from civiccrm.web import get_deployment

bp = Blueprint("help", __name__, url_prefix="/help")


@bp.get("/")
def index():
    """Every public article (or those matching ``q``), general ones and per service type."""
    from civiccrm.services import knowledge

    deployment = get_deployment()
    query = (request.args.get("q") or "").strip()
    error, articles = None, []
    try:
        articles = knowledge.search(deployment, query, public_only=True)
    except CivicError as exc:
        error = str(exc)
    return render_template("help/index.html", articles=articles, q=query, error=error,
                           taxonomy=deployment.profile.taxonomy, city=deployment.profile.name), 400 if error else 200


@bp.get("/<service_code>")
def service(service_code):
    """The public article of one service type; 404 when the type has none (or only a staff one)."""
    from civiccrm.services import knowledge

    deployment = get_deployment()
    service_type = deployment.profile.taxonomy.service_types.get(service_code)
    found = knowledge.for_type(deployment, service_code, public_only=True) if service_type else None
    if found is None:
        abort(404)
    return render_template("help/article.html", article=found, service_type=service_type,
                           city=deployment.profile.name)
