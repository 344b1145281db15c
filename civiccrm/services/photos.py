"""Photos residents send with a report: checked (size, type, pixels), re-encoded and kept in the database.

Only what Pillow decodes as a JPEG, PNG or WebP picture is taken, and it is stored re-encoded as
a fresh JPEG (at most 2048 px a side): whatever else the file carried (EXIF with the phone's GPS
position, a script hidden in a comment, a second file appended) is not kept."""

import secrets
import warnings
from io import BytesIO

import attrs
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, select, update

from civiccrm.domain.timeutil import utcnow
from civiccrm.errors import CivicError, NotFound
from civiccrm.store import repo
from civiccrm.store.tables import public_photos_table as table

FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 40_000_000
"""More pixels than any phone camera takes; a larger picture is refused before it is decoded."""
MAX_SIDE = 2048
CONTENT_TYPE = "image/jpeg"


@attrs.frozen
class Photo:
    token: str
    """Random, URL-safe: the photo's public name (``/photos/<token>.jpg``)."""
    width: int
    height: int
    size: int


def prepare(data: bytes, *, max_bytes: int) -> tuple[bytes, int, int]:
    """The picture re-encoded as JPEG, with its width and height; CivicError (field ``photo``) otherwise."""
    if not data:
        raise CivicError("photo: the file is empty", field="photo")
    if len(data) > max_bytes:
        raise CivicError(f"photo: {len(data):,} bytes; at most {max_bytes:,} are accepted", field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data))
            if image.format not in FORMATS:
                raise CivicError(f"photo: a {image.format} file; a JPEG, PNG or WebP picture is expected",
                                 field="photo")
            if image.width * image.height > MAX_PIXELS:
                raise CivicError(f"photo: {image.width}x{image.height} pixels; at most {MAX_PIXELS:,} pixels",
                                 field="photo")
            image.load()
            image = ImageOps.exif_transpose(image).convert("RGB")
    except CivicError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        raise CivicError("photo: not a readable JPEG, PNG or WebP picture", field="photo") from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue(), image.width, image.height


def keep(deployment, data: bytes, *, max_bytes: int) -> Photo:
    """Check and store a photo, not yet attached to a case (``attach`` does, once the case exists)."""
    jpeg, width, height = prepare(data, max_bytes=max_bytes)
    token = secrets.token_urlsafe(24)
    with repo.write_transaction(deployment.engine) as connection:
        connection.execute(table.insert().values(token=token, content_type=CONTENT_TYPE, data=jpeg, size=len(jpeg),
                                                 width=width, height=height, created_at=utcnow()))
        connection.commit()
    return Photo(token=token, width=width, height=height, size=len(jpeg))


def attach(deployment, photo: Photo, case_id: int) -> None:
    with repo.write_transaction(deployment.engine) as connection:
        connection.execute(update(table).where(table.c.token == photo.token).values(case_id=case_id))
        connection.commit()


def discard(deployment, photo: Photo) -> None:
    """Forget a photo whose report was refused."""
    with repo.write_transaction(deployment.engine) as connection:
        connection.execute(delete(table).where(table.c.token == photo.token, table.c.case_id.is_(None)))
        connection.commit()


def load(deployment, token: str) -> bytes:
    """The JPEG of an attached photo; NotFound for any other token."""
    with deployment.engine.connect() as connection:
        data = connection.execute(select(table.c.data).where(table.c.token == token,
                                                             table.c.case_id.is_not(None))).scalar()
    if data is None:
        raise NotFound("photo: no such photo", field="photo")
    return data


def tokens_of(deployment, case_id: int) -> tuple[str, ...]:
    """The tokens of the photos sent with a case, oldest first."""
    with deployment.engine.connect() as connection:
        return tuple(connection.execute(select(table.c.token).where(table.c.case_id == case_id)
                                        .order_by(table.c.id)).scalars())
