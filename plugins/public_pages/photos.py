"""The report form's photo: read from the upload, kept through services/photos.py, served at /photos/<token>.jpg."""

import re

from flask import current_app, request

from civiccrm.errors import NotFound
from civiccrm.services import photos as photo_service
from civiccrm.services import public_reports
from civiccrm_plugins.public_pages import bp

TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
BODY_MARGIN = 256 * 1024
"""What the rest of the report form may add to the photo's size in the request body."""


def body_limit(deployment) -> int:
    """The largest request body the report form takes: the photo limit and the rest of the form."""
    return public_reports.settings(deployment.profile)["photo_max_bytes"] + BODY_MARGIN


def accept(deployment, upload) -> photo_service.Photo | None:
    """The uploaded photo, checked and stored; None when none was sent."""
    if upload is None or not upload.filename:
        return None
    limit = public_reports.settings(deployment.profile)["photo_max_bytes"]
    return photo_service.keep(deployment, upload.read(limit + 1), max_bytes=limit)


def url(photo: photo_service.Photo) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + f"/photos/{photo.token}.jpg"


def attach(deployment, photo, case) -> None:
    photo_service.attach(deployment, photo, case.id)


def discard(deployment, photo) -> None:
    photo_service.discard(deployment, photo)


@bp.get("/photos/<token>.jpg")
def photo(token: str):
    from civiccrm.web import get_deployment

    if not TOKEN.match(token):
        raise NotFound("photo: no such photo", field="photo")
    response = current_app.make_response(photo_service.load(get_deployment(), token))
    response.headers["Content-Type"] = photo_service.CONTENT_TYPE
    response.headers["Content-Disposition"] = 'inline; filename="photo.jpg"'
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def raise_body_limit():
    """Before the CSRF check reads the form: the report form may carry a photo larger than the app's 1 MiB."""
    if request.method == "POST" and request.endpoint == "public.submit":
        from civiccrm.web import get_deployment

        request.max_content_length = body_limit(get_deployment())
