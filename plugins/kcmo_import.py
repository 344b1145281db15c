"""Import of Kansas City open-data 311 CSV exports (`civiccrm import kcmo`).

Reads the export of data.kcmo.org's "311 Call Center Service Requests" (30 columns,
plus ``nbh_id``/``nbh_name`` where a third party added them) one row at a time and
hands parsed records to ``civiccrm.services.imports.import_cases``. How codes map
onto CivicCRM comes from the city profile, not from this file:
``[import.kcmo.sources]`` (SOURCE -> channel) and ``[import.kcmo.statuses]``
(STATUS -> [status, resolution]). ``docs/import-kcmo.md`` describes the rules.

Times: CREATION DATE + CREATION TIME are local wall-clock times in the profile's
timezone. A wall time that does not exist (the hour skipped when clocks go forward)
or happens twice (the hour repeated when they go back) is read with ``fold=0``: the
offset in force before the change, so 02:30 on a spring-forward night is 02:30 CST
(= 03:30 CDT), and 01:30 on a fall-back night is the first 01:30 (CDT). Values are
converted to UTC at once, so comparisons on re-import are exact.

CLOSED DATE has no time of day: a case closed on a later day than it was created is
taken as closed at the start (00:00 local) of its closed day; one closed the same day
as closed at its opening time (zero days). The project's ``days_to_close`` and on-time
verdict follow from that; the city's own DAYS TO CLOSE and EXCEEDED EST TIMEFRAME are
kept beside them unchanged.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path

from civiccrm import hookimpl
from civiccrm.registries import Importer
from civiccrm.domain.cases import Location, Status, parse_resolution, parse_status
from civiccrm.domain.imports import ImportRecord, ImportReject, ImportSummary
from civiccrm.domain.mapping import CP1252_FALLBACK
from civiccrm.errors import CivicError

NAME = "kcmo"
ORIGIN = f"import:{NAME}"

#: The city's own columns (the export has these 30 in this order).
CITY_COLUMNS = (
    "CASE ID", "SOURCE", "DEPARTMENT", "WORK GROUP", "REQUEST TYPE", "CATEGORY", "TYPE", "DETAIL",
    "CREATION DATE", "CREATION TIME", "CREATION MONTH", "CREATION YEAR", "STATUS",
    "EXCEEDED EST TIMEFRAME", "CLOSED DATE", "CLOSED MONTH", "CLOSED YEAR", "DAYS TO CLOSE",
    "STREET ADDRESS", "ADDRESS WITH GEOCODE", "ZIP CODE", "NEIGHBORHOOD", "COUNTY",
    "COUNCIL DISTRICT", "POLICE DISTRICT", "PARCEL ID NO", "LATITUDE", "LONGITUDE", "CASE URL",
    "30-60-90 Days Open Window",
)
#: Added by the extractor of the neighbourhood files; used when present, not required.
EXTRA_COLUMNS = ("nbh_id", "nbh_name")

PROGRESS_EVERY = 256
"""Rows between two progress reports (bytes read so far)."""

_UTC = timezone.utc


class KcmoFormat:
    """The profile's mapping tables, checked once before any row is read."""

    def __init__(self, profile):
        table = profile.settings.get("import", {}).get(NAME)
        where = f"{profile.path}/profile.toml [import.{NAME}]"
        if not table:
            raise CivicError(f"city profile {profile.slug!r} has no [import.{NAME}] table: "
                             "it does not say how Kansas City's codes map onto this city")
        self.tz = profile.tz
        self.sources: dict[str, str] = {}
        for code, channel in (table.get("sources") or {}).items():
            if channel not in profile.channels:
                raise CivicError(f"{where}.sources: {code} = {channel!r} is not one of the city's channels "
                                 f"({', '.join(profile.channels)})")
            self.sources[code.strip().upper()] = channel
        self.statuses: dict[str, tuple] = {}
        for code, value in (table.get("statuses") or {}).items():
            if not (isinstance(value, list) and len(value) == 2):
                raise CivicError(f"{where}.statuses: {code} must be [status, resolution], got {value!r}")
            status = parse_status(value[0], field=f"{where}.statuses.{code}")
            resolution = parse_resolution(value[1], field=f"{where}.statuses.{code}") if value[1] else None
            if (status is Status.CLOSED) != (resolution is not None):
                raise CivicError(f"{where}.statuses: {code}: a closed status needs a resolution and only it has one")
            self.statuses[code.strip().upper()] = (status, resolution)
        if not self.statuses:
            raise CivicError(f"{where}.statuses is empty: no STATUS code could be imported")
        self.expected_statuses = ", ".join(self.statuses)
        self._dates: dict[str, date] = {}
        self._times: dict[str, tuple[int, int]] = {}

    def day(self, text: str, column: str) -> date:
        found = self._dates.get(text)
        if found is None:
            try:
                month, dom, year = text.split("/")
                found = date(int(year), int(month), int(dom))
            except ValueError:
                raise CivicError(f"{column} {text!r} is not a date like 11/16/2019") from None
            if len(self._dates) < 50_000:
                self._dates[text] = found
        return found

    def time(self, text: str) -> tuple[int, int]:
        found = self._times.get(text)
        if found is None:
            try:
                clock, half = text.strip().split()
                hour_s, minute_s = clock.split(":")
                hour, minute, half = int(hour_s), int(minute_s), half.upper()
                if not (1 <= hour <= 12 and 0 <= minute <= 59 and half in ("AM", "PM")):
                    raise ValueError
            except ValueError:
                raise CivicError(f"CREATION TIME {text!r} is not a time like 02:55 PM") from None
            found = (hour % 12 + (12 if half == "PM" else 0), minute)
            self._times[text] = found
        return found


def _intlike(text: str | None) -> str | None:
    """``"64109.0"`` -> ``"64109"``; blank -> None (the export writes some integers as floats)."""
    text = (text or "").strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


def _float(text: str, column: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise CivicError(f"{column} {text!r} is not a number") from None


_EXCEEDED = {"Y": True, "N": False, "": None}


def parse_row(row: dict, fmt: KcmoFormat, file: str, line: int) -> ImportRecord:
    """One CSV row -> an ImportRecord; raises CivicError with the reason for a bad row."""
    warnings = []
    case_id = _intlike(row["CASE ID"])
    if not case_id:
        raise CivicError("CASE ID is blank")
    code = row["STATUS"].strip().upper()
    mapped = fmt.statuses.get(code)
    if mapped is None:
        raise CivicError(f"STATUS {row['STATUS']!r} is unknown; expected one of {fmt.expected_statuses}")
    status, resolution = mapped
    opened_day = fmt.day(row["CREATION DATE"].strip(), "CREATION DATE")
    hour, minute = fmt.time(row["CREATION TIME"])
    # fold=0: a skipped or repeated wall time takes the offset in force before the change.
    opened_at = datetime(opened_day.year, opened_day.month, opened_day.day, hour, minute,
                         tzinfo=fmt.tz).astimezone(_UTC)
    closed_text = row["CLOSED DATE"].strip()
    closed_at = None
    if closed_text:
        closed_day = fmt.day(closed_text, "CLOSED DATE")
        if closed_day < opened_day:
            raise CivicError(f"closed before it was created: CLOSED DATE {closed_text} is before "
                             f"CREATION DATE {row['CREATION DATE'].strip()}")
        if status is Status.CLOSED:
            closed_at = opened_at if closed_day == opened_day else datetime(
                closed_day.year, closed_day.month, closed_day.day, tzinfo=fmt.tz).astimezone(_UTC)
        else:
            warnings.append(("closed date on an open case", code))
    elif status is Status.CLOSED:
        raise CivicError(f"STATUS {code} means closed, but CLOSED DATE is blank")
    source = row["SOURCE"].strip().upper()
    channel = fmt.sources.get(source)
    if channel is None:
        channel = "other"
        warnings.append(("unknown source", source or "(blank)"))
    exceeded_text = row["EXCEEDED EST TIMEFRAME"].strip().upper()
    if exceeded_text not in _EXCEEDED:
        raise CivicError(f"EXCEEDED EST TIMEFRAME {exceeded_text!r}; expected Y, N or blank")
    city_days = _float(row["DAYS TO CLOSE"], "DAYS TO CLOSE")
    latitude = _float(row["LATITUDE"], "LATITUDE")
    longitude = _float(row["LONGITUDE"], "LONGITUDE")
    if not latitude or not longitude:  # blank or 0: the city had no point
        latitude = longitude = None
    zip_code = _intlike(row["ZIP CODE"])
    if zip_code is not None and len(zip_code) > 10:
        warnings.append(("bad ZIP CODE", zip_code))
        zip_code = None
    address = row["STREET ADDRESS"].strip() or None
    district = _intlike(row["COUNCIL DISTRICT"])
    neighborhood = row["NEIGHBORHOOD"].strip() or (row.get("nbh_name") or "").strip() or None
    try:
        location = Location(address=address, latitude=latitude, longitude=longitude, zip_code=zip_code,
                            council_district=district, neighborhood=neighborhood)
    except CivicError as exc:
        warnings.append(("bad coordinates", str(exc)))
        location = Location(address=address, zip_code=zip_code, council_district=district, neighborhood=neighborhood)
    request_type = row["REQUEST TYPE"].strip()
    detail = row["DETAIL"].strip()
    return ImportRecord(
        external_id=case_id,
        tracking_number=case_id,  # the number the resident was given
        request_type=request_type,
        opened_at=opened_at,
        status=status,
        resolution=resolution,
        closed_at=closed_at,
        category=row["CATEGORY"].strip() or None,
        department=row["DEPARTMENT"].strip() or None,
        work_group=row["WORK GROUP"].strip() or None,
        channel=channel,
        # The export carries no free text from the resident: the request type and its
        # detail are the best description there is.
        description=f"{request_type}: {detail}" if detail else request_type,
        location=location,
        city_exceeded_timeframe=_EXCEEDED[exceeded_text],
        city_days_to_close=city_days,
        source_file=file,
        source_line=line,
        warnings=tuple(warnings),
    )


def read_file(path: Path, fmt: KcmoFormat, *, progress: Callable[[int], None] | None = None,
              counts: dict | None = None) -> Iterator[ImportRecord | ImportReject]:
    """Stream one export file: a record or a reject per row, or one whole-file reject."""
    file = str(path)
    try:
        # A byte that is not UTF-8 is read as Windows-1252 (what spreadsheet exports use), so
        # one stray accented letter costs neither the row nor the rest of the file.
        handle = open(path, newline="", encoding="utf-8-sig", errors=CP1252_FALLBACK)
    except OSError as exc:
        yield ImportReject(file, None, f"cannot read: {exc.strerror}")
        return
    with handle:
        raw = handle.buffer
        reported = 0
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            yield ImportReject(file, None, f"unreadable header: {exc}")
            return
        if not header:
            yield ImportReject(file, None, "empty file: no header line")
            return
        missing = [c for c in CITY_COLUMNS if c not in header]
        if missing:
            yield ImportReject(file, None, (
                f"not a Kansas City 311 export: missing column(s) {', '.join(missing)} "
                f"(expected the {len(CITY_COLUMNS)} columns CASE ID, SOURCE, ..., 30-60-90 Days Open Window)"
            ))
            return
        if counts is not None:
            counts["files_read"] = counts.get("files_read", 0) + 1
        width = len(header)
        rows = 0
        while True:
            line = reader.line_num + 1  # the record's first line (a quoted field may span several)
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield ImportReject(file, line, f"unreadable CSV: {exc}")
                continue
            rows += 1
            if None in row or (len(row) == width and row[header[-1]] is None):
                found = width + len(row.get(None) or ()) if None in row else sum(v is not None for v in row.values())
                yield ImportReject(file, line, f"{found} fields; the header has {width}")
            else:
                try:
                    yield parse_row(row, fmt, file, line)
                except CivicError as exc:
                    yield ImportReject(file, line, str(exc))
            if progress is not None and rows % PROGRESS_EVERY == 0:
                position = raw.tell()
                progress(position - reported)
                reported = position
        if progress is not None:
            end = raw.tell()
            progress(end - reported)


def read_files(paths: Iterable, fmt: KcmoFormat, *, progress=None, counts=None):
    for path in paths:
        yield from read_file(Path(path), fmt, progress=progress, counts=counts)


def run(deployment, files, *, batch_size: int = 1000, actor: str = "import",
        on_error: Callable[[ImportReject], None] | None = None,
        progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Import Kansas City export files; ``progress`` gets the bytes read since its last call."""
    from civiccrm.services.imports import import_cases

    fmt = KcmoFormat(deployment.profile)
    counts: dict = {"files_read": 0}
    summary = import_cases(deployment, read_files(files, fmt, progress=progress, counts=counts),
                           origin=ORIGIN, batch_size=batch_size, actor=actor, on_error=on_error)
    summary.files_read = counts["files_read"]
    return summary


@hookimpl
def register_importers(register):
    register(Importer(name=NAME, run=run, help="Kansas City open-data 311 service requests (CSV export of data.kcmo.org)."))
