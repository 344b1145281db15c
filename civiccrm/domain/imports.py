"""Bulk import of case history: a parsed record, a rejected row, and what an import did.

An importer plugin reads some format (a city's open-data CSV, another CRM's export)
and yields ``ImportRecord`` values for good rows and ``ImportReject`` values for rows
(or whole files) it could not use; ``civiccrm.services.imports.import_cases`` writes
them. Everything here is pure: no database, no files.
"""

import re
import unicodedata
from collections import Counter
from datetime import datetime

import attrs

from civiccrm.domain.cases import Location, Resolution, Status
from civiccrm.domain.timeutil import aware, require_aware
from civiccrm.errors import CivicError


def slugify(name: str) -> str:
    """A code for a name: ASCII, lowercase, runs of other characters become ``-``."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@attrs.frozen
class ImportReject:
    """A row (or a whole file, when ``line`` is None) that could not be imported, and why."""

    file: str
    line: int | None
    reason: str

    @property
    def whole_file(self) -> bool:
        return self.line is None

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}" if self.line is None else f"{self.file}:{self.line}: {self.reason}"


def _check_record(record: "ImportRecord") -> None:
    if not record.external_id:
        raise CivicError("no case identifier")
    if not record.request_type:
        raise CivicError("no request type")
    if record.status is Status.CLOSED:
        if record.resolution is None:
            raise CivicError("a closed case needs a resolution")
        if record.closed_at is None:
            raise CivicError("closed without a closed date")
    if record.closed_at is not None and record.closed_at < record.opened_at:
        raise CivicError(
            f"closed {record.closed_at.isoformat()} before it was created {record.opened_at.isoformat()}"
        )


@attrs.frozen
class ImportRecord:
    """Everything a case row needs, as the source system recorded it.

    Names (request type, department, work group) are the source's own; the importer
    maps them to the profile's codes. ``closed_at`` is only kept for a closed status.
    Construction raises CivicError when the record breaks a rule of the lifecycle
    (closed without a resolution or date, closed before it was created).
    """

    external_id: str
    """The case's identifier in the source system (unique per import origin)."""
    tracking_number: str
    """What the resident was given; for most sources the same as ``external_id``."""
    request_type: str
    """The source's name for the service type."""
    opened_at: datetime = attrs.field(validator=require_aware)
    status: Status = Status.OPEN
    resolution: Resolution | None = None
    closed_at: datetime | None = attrs.field(default=None, validator=aware)
    service_code: str | None = None
    """A service code, when the source has the profile's own codes."""
    category: str | None = None
    department: str | None = None
    """Department name or code as recorded; None to route by the service type."""
    work_group: str | None = None
    channel: str = "other"
    description: str = ""
    location: Location = attrs.field(factory=Location)
    city_exceeded_timeframe: bool | None = None
    """The source system's own on-time verdict (True = exceeded), kept beside the project's."""
    city_days_to_close: float | None = None
    source_file: str = ""
    source_line: int | None = None
    warnings: tuple[tuple[str, str], ...] = ()
    """(kind, value) the parser noticed but did not reject for, e.g. ``("unknown source", "XYZ")``."""

    def __attrs_post_init__(self):
        _check_record(self)


@attrs.define
class ImportSummary:
    """What one import did. ``read`` counts data rows; a skipped file adds no rows."""

    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    files_read: int = 0
    files_skipped: int = 0
    warnings: Counter = attrs.field(factory=Counter)
    """Rows per kind of warning (``unknown service type``, ``unknown source``, ...)."""
    warning_examples: dict = attrs.field(factory=dict)
    """Kind -> a few of the distinct values behind it."""
    hook_failures: int = 0
    duplicates: int = 0
    """Rows skipped because a newer row of the same case id was imported instead."""

    def as_dict(self) -> dict:
        return {
            "read": self.read, "imported": self.imported, "updated": self.updated,
            "unchanged": self.unchanged, "rejected": self.rejected,
            "files_read": self.files_read, "files_skipped": self.files_skipped,
            "warnings": dict(sorted(self.warnings.items())),
            "warning_examples": {k: list(v) for k, v in sorted(self.warning_examples.items())},
            "hook_failures": self.hook_failures, "duplicates": self.duplicates,
        }

    def line(self) -> str:
        return (f"read {self.read}, imported {self.imported}, updated {self.updated}, "
                f"unchanged {self.unchanged}, rejected {self.rejected}"
                + (f", duplicates skipped {self.duplicates}" if self.duplicates else ""))
