"""``POST /integrations/<destination>/updates``: a destination system pushes status updates (signed)."""

from flask import Blueprint, jsonify, request

from civiccrm.errors import CivicError, NotFound
from civiccrm.web import get_deployment

blueprint = Blueprint("integrations", __name__, url_prefix="/integrations")


@blueprint.post("/<name>/updates")
def updates(name: str):
    from civiccrm.services import integrations

    try:
        results = integrations.receive(get_deployment(), name, request)
    except CivicError as exc:
        status = getattr(exc, "http_status", None) or (404 if isinstance(exc, NotFound) else 400)
        return jsonify({"error": str(exc), "field": exc.field}), status
    return jsonify({"results": [{"outcome": r.outcome, "reason": r.reason, "service_request_id": r.tracking_number}
                                for r in results]})
