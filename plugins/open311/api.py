"""The Open311 GeoReport v2 endpoints (with the page, extensions, updated_* and mySociety
servicerequestupdates extensions), as a Flask blueprint."""

import functools
import json
import logging
from datetime import datetime

from flask import Blueprint, current_app, g, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from civiccrm.domain.attributes import validate_attributes
from civiccrm.domain.cases import CaseDraft, Customer, Location, Status
from civiccrm.domain.duplicates import describe
from civiccrm.errors import CivicError, NotFound
from civiccrm.services import apikeys, idempotency
from civiccrm.services import cases as case_service
from civiccrm.services import duplicates
from civiccrm.store import open311 as queries
from civiccrm.store.db import end_read, read_connection
from civiccrm.store.queries import CaseFilter
from civiccrm.web import get_deployment, limits
from civiccrm_plugins.open311 import params
from civiccrm_plugins.open311.formats import FORMATS, error_response, respond

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
blueprint = Blueprint("open311", __name__, url_prefix=PREFIX)

OPEN_STATUSES = tuple(s.value for s in Status if s is not Status.CLOSED)
#: Internal status or resolution -> the status word of mySociety's servicerequestupdates.
UPDATE_STATUS = {
    "new": "open", "open": "open", "reopened": "open", "in_progress": "in_progress", "on_hold": "action_scheduled",
    "waiting": "open",
    "fixed": "fixed", "duplicate": "duplicate", "not_city": "not_councils_responsibility",
    "no_action": "no_further_action", "referred": "internal_referral", "cancelled": "closed",
}
STATUS_NOTES = {"new": "Received", "open": "Open", "in_progress": "In progress",
                "on_hold": "On hold", "waiting": "Waiting for the resident", "reopened": "Reopened"}
NOTE_TYPES = {"created": "opened", "status_changed": "status_changed", "closed": "closed", "merged": "closed",
              "reopened": "reopened", "public_note": "comment"}


# --- helpers -------------------------------------------------------------------------


def _format(name: str) -> str:
    """Split ``requests.json`` style names; the format is kept for error responses too."""
    stem, dot, fmt = name.rpartition(".")
    g.open311_format = fmt if fmt in FORMATS else "xml"
    if not dot or not stem or fmt not in FORMATS:
        raise NotFound(f"{request.path}: no such resource; add .json or .xml to the resource name")
    return stem


def _check_jurisdiction(deployment) -> None:
    given = params.optional(request.values, "jurisdiction_id")
    if given is None:
        return
    known = [deployment.profile.slug]
    configured = deployment.profile.settings.get("open311", {}).get("jurisdiction_id")
    if configured:
        known.append(configured)
    if given.lower() not in [k.lower() for k in known]:
        raise NotFound(f"jurisdiction_id: {given!r} not found; this endpoint serves {' or '.join(known)}",
                       field="jurisdiction_id")


def _api_key(action: str):
    """The key of a write, taken from the POST body only (as the specification says): a key in the
    URL would be written to every access log on the way."""
    if "api_key" in request.args:
        raise CivicError("api_key: send the key in the POST body, not in the URL (URLs are logged)", field="api_key")
    return apikeys.authenticate(_deployment(), request.form.get("api_key"), action=action,
                                max_age=float(current_app.config["API_KEY_CACHE_SECONDS"]))


@blueprint.before_request
def _check_body_encoding():
    """A form body must be UTF-8 (declared or not); anything else is refused, never half-read."""
    g.open311_format = "json" if request.path.endswith(".json") else "xml"
    if request.method != "POST" or not request.content_length:
        return
    charset = (request.mimetype_params.get("charset") or "utf-8").lower()
    if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        raise CivicError(f"Content-Type: charset {charset!r} is not accepted; send the form as UTF-8",
                         field="charset")
    try:
        request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CivicError(f"body: not valid UTF-8 (byte {exc.start}); send the form encoded as UTF-8",
                         field="charset") from None


#: Resources a client may POST to; every other one is read-only (GET, with HEAD and OPTIONS).
WRITABLE = ("requests", "servicerequestupdates")
READ_ONLY_METHODS = ("GET", "HEAD", "OPTIONS")


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods the resource at ``path`` answers: POST only on requests.xxx and servicerequestupdates.xxx
    (Flask's own Allow would list POST everywhere, since one ``/<name>`` rule takes both)."""
    rest = path[len(PREFIX):].strip("/")
    if "/" not in rest and rest.rpartition(".")[0] in WRITABLE:
        return READ_ONLY_METHODS + ("POST",)
    return READ_ONLY_METHODS


@blueprint.after_request
def _allow_header(response):
    if request.method == "OPTIONS" or response.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request.path))
    return response


#: Method -> (rate-limit scope, config key, default hits per API key per window).
LIMITS = {"POST": ("open311:post", "OPEN311_POST_LIMIT", 300), "GET": ("open311:get", "OPEN311_GET_LIMIT", 1200)}
WINDOW = ("OPEN311_LIMIT_WINDOW_SECONDS", 60)
ANONYMOUS_GET = ("OPEN311_ANONYMOUS_GET_LIMIT", 0)
"""GETs without a key per address per window, counted here only when set above 0: by default the shipped
proxy limits every address (deploy/nginx.conf), since a database write per read halves GET throughput."""


@blueprint.before_request
def _rate_limit():
    """Count the request against its API key (a keyless GET against its address, if so configured); past
    the limit, 429 with Retry-After. A POST of a new request (without an idempotency key) is counted later,
    inside intake's own write transaction (``_count_pending``), or by the error handlers when it fails first."""
    if request.method not in LIMITS:
        return
    method = request.method
    scope, config_key, default = LIMITS[method]
    presented = (request.form if method == "POST" else request.args).get("api_key", "").strip()
    if presented:
        key, limit = limits.api_key_id(presented), (config_key, default)
    elif method == "POST" or not int(current_app.config.get(*ANONYMOUS_GET)):
        return  # a POST without a key is refused (403) anyway; a keyless GET is the proxy's to limit
    else:
        key, limit = "address:" + limits.client_address(), ANONYMOUS_GET
    g.open311_limit = {"scope": scope, "key": key, "limit": limit, "window": WINDOW}
    if not _counted_at_intake():
        _count_pending()


def _counted_at_intake() -> bool:
    """True for a POST of a new request without an idempotency key: intake counts it in its own transaction."""
    return (request.endpoint == "open311.create" and request.view_args["name"].rpartition(".")[0] == "requests"
            and not (request.headers.get("Idempotency-Key") or request.form.get("idempotency_key")))


def _count_pending(connection=None) -> None:
    """Count the request's hit if it is not counted yet: in ``connection``'s transaction when given (the caller
    commits), else in one of its own. Past the limit, TooManyRequests."""
    pending = g.pop("open311_limit", None)
    if pending is None:
        return
    if connection is None:
        wait = limits.wait(get_deployment(), **pending)
    else:
        wait = limits.count(connection, **pending)
    if wait is not None:
        who = "your address" if pending["key"].startswith("address:") else "this api_key"
        raise limits.TooManyRequests(f"api_key: too many requests from {who}; try again in {int(wait)} seconds "
                                     "(ask the city for a higher limit)", wait)


def _limited_instead(exc: Exception) -> Exception:
    """The error to answer: a request refused before intake counted it is counted now, and past the limit the
    answer is 429 (as if it had been counted first), not the error it ran into."""
    try:
        _count_pending()
    except limits.TooManyRequests as limited:
        return limited
    return exc


def _deployment():
    deployment = get_deployment()
    _check_jurisdiction(deployment)
    return deployment


def _iso(deployment, value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(deployment.profile.tz).isoformat(timespec="seconds")


def _service_notice(deployment, service_type) -> str | None:
    if service_type is None:
        return None
    return _notice(deployment.profile.name, service_type.name, service_type.sla_basis, service_type.sla_target)


@functools.lru_cache(maxsize=1024)
def _notice(city: str, service: str, basis: str, target: float) -> str:
    """The sentence of a type's time-frame, made once per (city, type, time-frame), not once per listed row."""
    return f"{city} aims to resolve {service} requests within {target:g} {basis.replace('_', ' ')}."


CLOSED = Status.CLOSED.value


def _status_notes(row: dict) -> str:
    if row["status"] != CLOSED:
        return STATUS_NOTES.get(row["status"], row["status"])
    if row["resolution"] == "duplicate" and row["duplicate_of"]:
        return f"Closed as a duplicate of {row['duplicate_of']}"
    return f"Closed: {(row['resolution'] or 'closed').replace('_', ' ')}"


def _summary(event: dict) -> tuple[str, str | None]:
    changes = json.loads(event["changes"] or "{}")
    kind = event["kind"]
    if kind == "created":
        return "Request opened", None
    if kind == "public_note":
        return "Comment", event["note"]
    if kind == "reopened":
        return "Request reopened", None
    if kind == "merged":
        return "Request closed", f"Duplicate of {changes.get('duplicate_of', [None, ''])[1]}"
    if kind == "closed":
        resolution = (changes.get("resolution") or [None, None])[1] or "closed"
        return "Request closed", f"Resolution: {resolution.replace('_', ' ')}"
    status = (changes.get("status") or [None, ""])[1] or ""
    return "Status changed", f"Status: {status.replace('_', ' ')}"


def _request(deployment, row: dict, *, extensions: bool, attributes=None, history=None) -> dict:
    profile = deployment.profile
    tz = profile.tz
    service_type = profile.taxonomy.service_types.get(row["service_code"])
    department = profile.taxonomy.departments.get(row["department"]) if row["department"] else None
    opened, updated, due = row["opened_at"], row["closed_at"] or row["updated_at"], row["due_at"]
    data = {
        "service_request_id": row["tracking_number"],
        "status": "closed" if row["status"] == CLOSED else "open",
        "status_notes": _status_notes(row),
        # A case nobody has typed yet (the triage queue) is still the resident's request: it is listed, with
        # an empty code and name (the spec returns both fields always; no code of GET services fits it).
        "service_name": service_type.name if service_type else (row["request_type"] or ""),
        "service_code": row["service_code"] or "",
        "description": row["description"] or None,
        "agency_responsible": department.name if department else row["department"],
        "service_notice": _service_notice(deployment, service_type),
        "requested_datetime": None if opened is None else opened.astimezone(tz).isoformat(timespec="seconds"),
        "updated_datetime": None if updated is None else updated.astimezone(tz).isoformat(timespec="seconds"),
        "expected_datetime": None if due is None else due.astimezone(tz).isoformat(timespec="seconds"),
        "address": row["address"],
        "address_id": None,
        "zipcode": row["zip_code"],
        "lat": row["latitude"],
        "long": row["longitude"],
        "media_url": row["media_url"],
    }
    if extensions:
        data["extended_attributes"] = {
            "channel": row["channel"],
            "council_district": row["council_district"],
            "duplicate_of": row["duplicate_of"],
            "parent_service_request_id": row["duplicate_of"],
            "attributes": [{"code": code, "value": value} for code, value in (attributes or [])],
        }
        notes = []
        for event in history or []:
            summary, description = _summary(event)
            note = {"datetime": _iso(deployment, event["at"]), "summary": summary, "type": NOTE_TYPES[event["kind"]]}
            if description:
                note["description"] = description
            notes.append(note)
        data["notes"] = notes
    return data


def _requests(deployment, fmt: str, rows: list[dict], extensions: bool):
    attributes = history = {}
    if extensions and rows:
        ids = [r["id"] for r in rows]
        with read_connection(deployment.engine) as connection:
            attributes = queries.attributes_of(connection, ids)
            history = queries.public_history(connection, ids)
    data = [_request(deployment, r, extensions=extensions, attributes=attributes.get(r["id"]),
                     history=history.get(r["id"])) for r in rows]
    return respond(fmt, "service_requests", data)


# --- errors --------------------------------------------------------------------------


def _answer_format() -> str:
    """The format to answer an error in: the one the view took, else the path's (an error raised before any
    Open311 code ran, such as the database being down in the app's own before_request, still says .json)."""
    return g.get("open311_format") or ("json" if request.path.endswith(".json") else "xml")


@blueprint.errorhandler(OperationalError)
def _database_unavailable(exc: OperationalError):
    """The database is down or refused the statement: 503 in the request's format, as the app answers it
    elsewhere (the hit is not counted: the counter is in that database)."""
    log.error("Open311 request %s %s: database unavailable: %s", request.method, request.path, exc)
    return error_response(_answer_format(), 503, "the database is unavailable; try again shortly")


@blueprint.errorhandler(CivicError)
def _civic_error(exc: CivicError):
    exc = _limited_instead(exc)
    return limits.with_retry_after(error_response(_answer_format(), exc.http_status, str(exc)), exc)


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    limited = _limited_instead(exc)
    if limited is not exc:
        return _civic_error(limited)
    return error_response(_answer_format(), exc.code or 400, exc.description or exc.name)


def routing_error(exc: HTTPException):
    """404 and 405 raised before any Open311 view ran (the URL matched no route)."""
    response = error_response(_answer_format(), exc.code, f"{request.method} {request.path}: {exc.name}")
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("Open311 request %s %s failed", request.method, request.path)
    _limited_instead(exc)  # the hit is counted; the answer stays the 500
    return error_response(_answer_format(), 500,
                          "General service error: the request could not be processed; please tell the city")


# --- endpoints -----------------------------------------------------------------------


@blueprint.get("/<name>")
def resource(name: str):
    stem = _format(name)
    views = {"discovery": discovery, "services": services, "requests": list_requests,
             "servicerequestupdates": list_updates}
    if stem not in views:
        raise NotFound(f"{request.path}: no such resource")
    return views[stem](g.open311_format)


@blueprint.post("/<name>")
def create(name: str):
    stem = _format(name)
    views = {"requests": post_request, "servicerequestupdates": post_update}
    if stem in ("discovery", "services"):
        raise MethodNotAllowed(READ_ONLY_METHODS)  # answered by routing_error, Allow by _allow_header
    if stem not in views:
        raise NotFound(f"{request.path}: no such resource to POST to")
    return views[stem](g.open311_format)


def discovery(fmt: str):
    deployment = get_deployment()
    changeset = "2026-11-26T00:00:00Z"
    return respond(fmt, "discovery", {
        "changeset": changeset,
        "contact": f"{deployment.profile.name} 311",
        "key_service": "Ask the city's 311 centre for an API key (issued with `civiccrm apikey add`).",
        "endpoints": [{
            "specification": SPECIFICATION, "url": current_app.config["PUBLIC_URL"].rstrip("/") + PREFIX,
            "changeset": changeset, "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    })


def services(fmt: str):
    deployment = _deployment()
    profile = deployment.profile
    data = [
        {
            "service_code": st.code, "service_name": st.name, "description": st.description,
            "metadata": bool(profile.service_attributes.get(st.code)), "type": "realtime",
            "keywords": ", ".join(st.keywords) or None, "group": st.category,
        }
        for st in sorted(profile.taxonomy.service_types.values(), key=lambda s: ((s.category or ""), s.name))
        if st.active
    ]
    return respond(fmt, "services", data)


@blueprint.get("/services/<path:name>")
def service_definition(name: str):
    code = _format(name)
    deployment = _deployment()
    if code not in deployment.profile.taxonomy.service_types:
        raise NotFound(f"service_code: {code!r} not found (GET services lists them)", field="service_code")
    attributes = deployment.profile.service_attributes.get(code, ())
    return respond(g.open311_format, "service_definition", {
        "service_code": code,
        "attributes": [
            {
                "variable": a.variable, "code": a.code, "datatype": a.datatype, "required": a.required,
                "datatype_description": a.datatype_description, "order": a.order, "description": a.description,
                "values": [{"key": v.key, "name": v.name} for v in a.values],
            }
            for a in attributes
        ],
    })


def list_requests(fmt: str):
    deployment = _deployment()
    values = request.args
    limit, offset = params.page(values)
    extensions = params.flag(values, "extensions")
    ids = params.comma_list(values, "service_request_id")
    # The filters are checked even when service_request_id overrides them: a mistake is named, not ignored.
    statuses = params.comma_list(values, "status")
    unknown = [s for s in statuses if s.lower() not in ("open", "closed")]
    if unknown:
        raise CivicError(f"status: {unknown[0]!r} is not a status; use open, closed or open,closed", field="status")
    internal = set()
    for s in statuses:
        internal.update(OPEN_STATUSES if s.lower() == "open" else (Status.CLOSED.value,))
    updated_after = params.when(values, "updated_after")
    updated_before = params.when(values, "updated_before")
    if updated_after and updated_before and updated_before < updated_after:
        raise CivicError("updated_before: it is before updated_after", field="updated_before")
    start, end = params.date_range(values, "start_date", "end_date", deployment.clock(),
                                   default=not (updated_after or updated_before))
    if ids:
        query = CaseFilter(tracking_numbers=ids, limit=limit, offset=offset)
    else:
        query = CaseFilter(
            service_codes=params.comma_list(values, "service_code"),
            statuses=tuple(sorted(internal)) if len(internal) < len(Status) else (),
            opened_from=start, opened_to=end, updated_after=updated_after, updated_before=updated_before,
            limit=limit, offset=offset,
        )
    return _requests(deployment, fmt, queries.requests_matching(deployment.engine, query), extensions)


@blueprint.get("/requests/<path:name>")
def get_request(name: str):
    tracking_number = _format(name)
    deployment = _deployment()
    extensions = params.flag(request.args, "extensions")
    row = queries.request_by_number(deployment.engine, tracking_number)
    if row is None:
        raise NotFound(f"Service request not found with id {tracking_number}", field="service_request_id")
    return _requests(deployment, g.open311_format, [row], extensions)


@blueprint.get("/tokens/<path:name>")
def token(name: str):
    """Requests are realtime: the token of a request is its service_request_id."""
    token_id = _format(name)
    deployment = _deployment()
    with read_connection(deployment.engine) as connection:
        row = queries.find_request(connection, token_id)
    if row is None:
        raise NotFound(f"token: no service request with token {token_id}", field="token")
    return respond(g.open311_format, "service_requests",
                   [{"service_request_id": row["tracking_number"], "token": token_id}])


def post_request(fmt: str):
    deployment = _deployment()
    values = request.form
    key = _api_key("create_request")
    idem = idempotency.check_key(request.headers.get("Idempotency-Key") or values.get("idempotency_key"))
    if idem is None:
        return respond(fmt, "service_requests", [_create_request(deployment, key, values)])
    fields = [(k, v) for k, v in values.items(multi=True) if k not in ("api_key", "idempotency_key")]
    created = idempotency.once(deployment, api_key_id=key.id, key=idem, fields_hash=idempotency.fingerprint(fields),
                               handle=lambda: _create_request(deployment, key, values))
    return respond(fmt, "service_requests", [created])


def _create_request(deployment, key, values) -> dict:
    """Make the case a POST asks for; the answer's fields."""
    code = params.optional(values, "service_code")
    if code is None:
        raise CivicError("service_code: missing; GET services lists the codes", field="service_code")
    service_type = deployment.profile.taxonomy.service_types.get(code)
    if service_type is None:
        raise NotFound(f"service_code: {code!r} not found (GET services lists them)", field="service_code")
    lat, lng = params.coordinate(values, "lat", 90), params.coordinate(values, "long", 180)
    if (lat is None) != (lng is None):
        given, missing = ("lat", "long") if lat is not None else ("long", "lat")
        raise CivicError(f"{missing}: {given} was given without {missing}; send both", field=missing)
    address = params.text(values, "address_string", 300)
    address_id = params.text(values, "address_id", 100)
    if lat is None and not address and not address_id:
        raise CivicError("location: missing; send lat and long, address_string or address_id", field="lat")
    # The spec makes description optional; a request sent without one is described by its service.
    description = params.text(values, "description", case_service.MAX_DESCRIPTION, multiline=True) or service_type.name
    names = [params.text(values, f, 100) for f in ("first_name", "last_name")]
    email = params.text(values, "email", 320)
    if email and ("@" not in email or " " in email):
        raise CivicError(f"email: {email!r} is not an e-mail address", field="email")
    phone = params.text(values, "phone", 40)
    for name in ("device_id", "account_id"):
        params.text(values, name, 200)
    media_url = params.text(values, "media_url", case_service.MAX_MEDIA_URL)
    answers = validate_attributes(deployment.profile.service_attributes.get(code, ()), params.attributes(values),
                                  service_code=code)
    draft = CaseDraft(
        service_code=code, description=description, channel=key.channel,
        location=Location(address=address or address_id, latitude=lat, longitude=lng),
        customer=Customer(name=" ".join(n for n in names if n) or None, email=email, phone=phone),
        attributes=answers, media_url=media_url,
    )
    with deployment.engine.connect() as connection:  # one connection per POST: the case's writes, then the lookup
        case = case_service.intake(deployment, draft, actor=apikeys.actor(key), in_transaction=_count_pending,
                                   connection=connection, attributes_checked=True)
        candidates = duplicates.for_case(deployment, case, connection=connection)
        end_read(connection)
    notice = _service_notice(deployment, service_type)
    if candidates:
        notice = f"{notice} Possible duplicate of {'; '.join(describe(c) for c in candidates)}."
    created = {"service_request_id": case.tracking_number, "service_notice": notice, "account_id": None}
    if params.flag(request.values, "extensions"):
        created["possible_duplicates"] = [{
            "service_request_id": c.tracking_number, "service_code": c.service_code, "service_name": c.request_type,
            "requested_datetime": _iso(deployment, c.opened_at), "distance_m": c.distance_m,
        } for c in candidates]
    return created


def list_updates(fmt: str):
    deployment = _deployment()
    values = request.args
    limit, offset = params.page(values)
    start, end = params.date_range(values, "start_date", "end_date", deployment.clock())
    with read_connection(deployment.engine) as connection:
        rows = queries.public_updates(connection, start=start, end=end, limit=limit, offset=offset)
    data = []
    for row in rows:
        changes = json.loads(row["changes"] or "{}")
        if "status" in changes:
            status, resolution = changes["status"][1], (changes.get("resolution") or [None, None])[1]
        else:
            status, resolution = row["status"], row["resolution"]
        word = UPDATE_STATUS.get(resolution or status, "closed" if status == Status.CLOSED.value else "open")
        summary, description = _summary(row)
        data.append({
            "update_id": str(row["id"]), "service_request_id": row["tracking_number"], "status": word,
            "updated_datetime": _iso(deployment, row["at"]), "description": description or summary,
            "media_url": None,
        })
    return respond(fmt, "service_request_updates", data)


def post_update(fmt: str):
    """A comment from the requester's app: a public note; ``open`` on a closed request reopens it."""
    deployment = _deployment()
    values = request.form
    key = _api_key("create_update")
    tracking_number = params.optional(values, "service_request_id")
    if tracking_number is None:
        raise CivicError("service_request_id: missing", field="service_request_id")
    status = (params.optional(values, "status") or "open").lower()
    if status not in ("open", "closed", "fixed"):
        raise CivicError(f"status: {status!r}; expected OPEN or CLOSED", field="status")
    description = params.text(values, "description", case_service.MAX_DESCRIPTION, multiline=True)
    if description is None:
        raise CivicError("description: missing; say what changed", field="description")
    params.when(values, "updated_datetime")
    for name in ("update_id", "first_name", "last_name", "email", "phone", "account_id", "title"):
        params.text(values, name, 320)
    params.text(values, "media_url", case_service.MAX_MEDIA_URL)

    def may_update(session, case):
        apikeys.check_may_update(key, case=case, created_by=queries.created_by(session.connection(), case.id))

    event = case_service.resident_update(deployment, tracking_number, description, actor=apikeys.actor(key),
                                         reopen=status == "open", guard=may_update)
    return respond(fmt, "service_request_updates", [{"update_id": str(event.id)}])


@blueprint.route("/<path:rest>", methods=["GET", "POST"])
def unknown(rest: str):
    g.open311_format = "json" if rest.endswith(".json") else "xml"
    if request.method == "POST" and rest.split("/", 1)[0] in ("services", "requests", "tokens") and "/" in rest:
        raise MethodNotAllowed(READ_ONLY_METHODS)  # answered by routing_error, Allow by _allow_header
    raise NotFound(f"{request.path}: no such Open311 resource")
