"""Knowledge-base articles: what a call taker tells a caller, what to ask, the time-frame; kept in versions."""

from datetime import datetime

import attrs

from civiccrm.domain.attributes import check_plain_text
from civiccrm.errors import CivicError

MAX_TITLE = 200
MAX_TEXT = 20_000


class StaleVersion(CivicError):
    """Someone saved a newer version of the article after the one being edited."""

    http_status = 409


@attrs.frozen
class ArticleVersion:
    """One version of an article; a change is a new version, never an edit of an old one."""

    article_id: int
    number: int
    """1 for the first version, then 2, 3, ..."""
    title: str
    answer: str
    """What to tell the caller."""
    questions: str
    """What to ask the caller."""
    timeframe: str
    """The time-frame to read back, in the city's words (blank: the SLA policy's)."""
    public: bool
    """Shown to residents by the public pages."""
    author: str
    created_at: datetime


@attrs.frozen
class Article:
    """An article with its latest version: for one service type, or a general FAQ (no service type)."""

    id: int
    service_code: str | None
    department: str | None
    """The department whose designated editors may change it (None: supervisors and administrators)."""
    current: ArticleVersion


def check_text(value: str | None, field: str, limit: int, *, required: bool = False, multiline: bool = True) -> str:
    """``value`` stripped, with Windows line ends made plain; refused (naming ``field``) when required and
    blank, longer than ``limit``, or not plain text (control characters, markup)."""
    value = (value or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise CivicError(f"{field}: required", field=field)
    if len(value) > limit:
        raise CivicError(f"{field}: {len(value)} characters; at most {limit}", field=field)
    return check_plain_text(value, field, multiline=multiline)


@attrs.frozen
class ArticleScope:
    """What the permission rules look at for an article not written yet: the department that will own it."""

    department: str | None
