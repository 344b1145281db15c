"""A mapping of a city's open-data export onto cases: which column says what, and how to read it.

A mapping is a TOML document (``docs/import-mapping.md`` is its reference). This module
checks one (``Mapping.from_toml``) and turns one row of an export -- a list of field
strings -- into an ``ImportRecord`` (``RowReader.record``), handling the mess real
exports carry: text decoded twice (mojibake), dates in several formats, floats written
for integers, coordinates of 0 or far outside the city, closed before created. Pure:
no files and no database; the reading of CSV files is ``civiccrm.services.csv_import``.
"""

import re
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from civiccrm.domain.cases import Location, Resolution, Status, parse_resolution, parse_status
from civiccrm.domain.imports import ImportRecord
from civiccrm.errors import CivicError

#: Fields a mapping may name a column (or a list of columns) for.
FIELDS = {
    "id": "the case's identifier in the export (required; idempotency key)",
    "tracking_number": "the number the resident was given (default: id)",
    "name": "the service type's name (default: category / type / detail joined)",
    "category": "first level of the city's taxonomy",
    "type": "second level of the city's taxonomy (or the only one)",
    "detail": "third level of the city's taxonomy",
    "service_code": "a service code of the profile, when the export has them",
    "department": "department name or code",
    "work_group": "work group name or code",
    "channel": "how the request came in (mapped by [values.channel])",
    "status": "status code (mapped by [values.status]; absent: closed when there is a closed date)",
    "resolution": "resolution code (mapped by [values.resolution])",
    "opened": "when the case was opened (required)",
    "closed": "when the case was closed",
    "due": "when the city said the case was due",
    "updated": "when the row was last changed (decides which duplicate is newest)",
    "address": "street address",
    "zip": "ZIP code",
    "latitude": "WGS84 latitude",
    "longitude": "WGS84 longitude",
    "district": "council district",
    "neighborhood": "neighbourhood name",
    "exceeded": "the city's own verdict: did the case exceed its time-frame (mapped by [values.exceeded])",
    "on_time": "the city's own verdict the other way round: was the case on time",
    "days_to_close": "the city's own days to close",
    "description": "free text describing the request",
}
DATE_FIELDS = ("opened", "closed", "due", "updated")
_TOP = {"mapping", "fields", "dates", "values", "unknown", "coordinates", "draft"}
_MAPPING_KEYS = {"name", "title", "origin", "timezone", "header", "columns", "optional", "delimiter", "encoding",
                 "repair_mojibake", "type_separator", "public_source"}
_DATE_KEYS = {"formats", "timezone", "date_only"}
_VALUE_TABLES = {"status", "resolution", "channel", "exceeded", "on_time"}
_UNKNOWN = {
    "type": ("add", ("reject", "default", "add")),
    "department": ("add", ("reject", "default", "add")),
    "work_group": ("add", ("reject", "default", "add")),
    "channel": ("default", ("reject", "default")),
    "status": ("reject", ("reject", "default")),
    "resolution": ("default", ("reject", "default")),
}
_COORD_KEYS = {"bounds", "margin"}
_DRAFT_KEYS = {"fit_since", "min_verdicts", "min_agreement", "min_peers", "close_quantile", "default_days"}
_BOOLEANS = {"y": True, "yes": True, "true": True, "t": True, "1": True,
             "n": False, "no": False, "false": False, "f": False, "0": False}
_UTC = timezone.utc

# Characters that UTF-8 text read as Windows-1252 starts its pairs with.
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152-\u0192\u02c6\u02dc\u2013-\u2122]")


_NUMERIC_DIRECTIVES = {"Y": r"(\d{4})", "m": r"(\d{1,2})", "d": r"(\d{1,2})", "H": r"(\d{1,2})",
                       "I": r"(\d{1,2})", "M": r"(\d{1,2})", "S": r"(\d{1,2})", "f": r"(\d{1,6})",
                       "p": r"([AaPp][Mm])"}


def date_parser(fmt: str):
    """A function reading ``fmt`` (a strptime format) into a naive datetime, raising ValueError.

    Formats made only of ``%Y %m %d %H %I %M %S %f %p`` and literal text are matched with one
    regular expression and read with ``int`` (several times faster than ``strptime``, which
    exports of millions of rows feel); anything the fast path does not take -- another
    directive, a value out of range -- goes to ``datetime.strptime``, so the result is always
    what ``strptime`` gives.
    """
    parts, order, n = [], [], 0
    while n < len(fmt):
        ch = fmt[n]
        if ch == "%":
            code = fmt[n + 1:n + 2]
            if code == "%":
                parts.append("%")
            elif code in _NUMERIC_DIRECTIVES and code not in order:
                parts.append(_NUMERIC_DIRECTIVES[code])
                order.append(code)
            else:
                return lambda text: datetime.strptime(text, fmt)
            n += 2
        else:
            parts.append(r"\s+" if ch.isspace() else re.escape(ch))
            n += 1
    pattern = re.compile("".join(parts))

    def parse(text: str) -> datetime:
        found = pattern.fullmatch(text)
        if found is not None:
            v = dict(zip(order, found.groups()))
            hour = int(v.get("H", 0))
            if "I" in v:
                hour = int(v["I"])
                if not 1 <= hour <= 12:
                    return datetime.strptime(text, fmt)  # raises as strptime does
                pm = v.get("p", "am").lower() == "pm"
                hour = hour % 12 + (12 if pm else 0)
            elif "p" in v:
                return datetime.strptime(text, fmt)
            try:
                return datetime(int(v.get("Y", 1900)), int(v.get("m", 1)), int(v.get("d", 1)), hour,
                                int(v.get("M", 0)), int(v.get("S", 0)), int(v["f"].ljust(6, "0")) if "f" in v else 0)
            except ValueError:
                pass
        return datetime.strptime(text, fmt)

    return parse


def repair_mojibake(text: str) -> str:
    """``"CafÃ©"`` -> ``"Café"``: undo UTF-8 bytes decoded as Windows-1252; other text unchanged."""
    if text.isascii() or not _MOJIBAKE.search(text):
        return text
    try:
        # cp1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); decoders pass those
        # through as U+0081..., which Latin-1 turns back into the byte.
        raw = b"".join(c.encode("latin-1") if "\x80" <= c <= "\x9f" else c.encode("cp1252") for c in text)
        return raw.decode("utf-8")
    except UnicodeError:
        return text


def intlike(text: str) -> str:
    """``"64109.0"`` -> ``"64109"`` (exports write some integers as floats); other text unchanged."""
    if text.endswith(".0") and text[:-2].isdigit():
        return text[:-2]
    return text


def _where(source: str, key: str) -> str:
    return f"{source} [{key}]" if key else source


def _table(data: dict, key: str, source: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CivicError(f"{source}: [{key}] must be a table")
    return value


def _check_keys(table: dict, allowed, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise CivicError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(allowed))}")


def _columns(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    raise CivicError(f"{where}: expected a column name or a list of column names, got {value!r}")


@attrs.frozen
class Unknown:
    """What to do with a value the profile does not know: ``reject`` the row, use a ``default``, or ``add`` it."""

    policy: str
    value: object = None


@attrs.frozen
class DraftSettings:
    """How ``civiccrm profile draft`` derives time-frames from this export (see docs/import-mapping.md)."""

    fit_since: date | None = None
    """Fit a type's time-frame on cases from this day on when it has enough of them there."""
    min_verdicts: int = 5
    min_agreement: float = 0.90
    min_peers: int = 3
    close_quantile: float = 0.80
    """Without due dates or verdicts: the time-frame is this quantile of the days to close."""
    default_days: int = 7


@attrs.frozen
class Mapping:
    """One export format, checked: columns, date formats, value maps and unknown-value policies."""

    name: str
    origin: str
    """Import origin without the ``import:`` prefix (cases are idempotent per origin and id)."""
    fields: dict[str, tuple[str, ...]]
    """Field -> the column(s) it is read from."""
    header: bool = True
    columns: tuple[str, ...] = ()
    """Column names by position, for files without a header row."""
    optional: frozenset[str] = frozenset()
    """Mapped columns a file may lack (read as blank there)."""
    title: str = ""
    timezone: str | None = None
    """Timezone of dates without an offset; None: the profile's."""
    delimiter: str = ","
    encoding: str = "utf-8"
    repair: bool = True
    type_separator: str = " - "
    date_formats: tuple[str, ...] = ("iso",)
    date_only: str = "start_of_day"
    values: dict[str, dict[str, object]] = attrs.field(factory=dict)
    """Value-map table -> normalised source code -> mapped value."""
    codes: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Value-map table -> the source codes as the mapping spells them (for messages)."""
    unknown: dict[str, Unknown] = attrs.field(factory=dict)
    bounds: tuple[float, float, float, float] | None = None
    """(west, south, east, north) coordinates must fall in; None: the profile's boundary."""
    margin: float = 0.25
    """Degrees added around the profile's boundary when ``bounds`` is not given."""
    draft: DraftSettings = DraftSettings()
    public_source: str = ""
    """Where the column list was published (documentation only)."""

    @classmethod
    def from_toml(cls, data: dict, *, source: str, channels=None) -> "Mapping":
        """Check a parsed mapping file; ``source`` names it in errors, ``channels`` are the city's."""
        _check_keys(data, _TOP, source)
        head = _table(data, "mapping", source)
        _check_keys(head, _MAPPING_KEYS, _where(source, "mapping"))
        name = head.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CivicError(f"{_where(source, 'mapping')}: name is required (a short code like \"nyc-311\")")
        origin = head.get("origin", name)
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,31}", origin):
            raise CivicError(f"{_where(source, 'mapping')}: origin {origin!r} must be a short lowercase code")
        header = head.get("header", True)
        if not isinstance(header, bool):
            raise CivicError(f"{_where(source, 'mapping')}: header must be true or false")
        columns = tuple(head.get("columns", ()))
        if not header and not columns:
            raise CivicError(f"{_where(source, 'mapping')}: header = false needs columns = [...] "
                             "naming the columns by position")
        tz = head.get("timezone")
        if tz is not None:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise CivicError(f"{_where(source, 'mapping')}: timezone {tz!r} is not an IANA timezone") from None
        delimiter = head.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise CivicError(f"{_where(source, 'mapping')}: delimiter must be one character")

        raw_fields = _table(data, "fields", source)
        fields = {}
        for key, value in raw_fields.items():
            if key not in FIELDS:
                raise CivicError(f"{_where(source, 'fields')}: unknown field {key!r}; expected one of "
                                 f"{', '.join(FIELDS)}")
            fields[key] = _columns(value, f"{_where(source, 'fields')} {key}")
        for required in ("id", "opened"):
            if required not in fields:
                raise CivicError(f"{_where(source, 'fields')}: {required} is required ({FIELDS[required]})")
        if not any(k in fields for k in ("name", "type", "category", "detail", "service_code")):
            raise CivicError(f"{_where(source, 'fields')}: say which column holds the service type "
                             "(name, or category / type / detail)")
        if "latitude" in fields and "longitude" not in fields or "longitude" in fields and "latitude" not in fields:
            raise CivicError(f"{_where(source, 'fields')}: latitude and longitude go together")
        if columns:
            named = set(columns)
            for key, cols in fields.items():
                for col in cols:
                    if col not in named:
                        raise CivicError(f"{_where(source, 'fields')} {key}: column {col!r} is not one of "
                                         "[mapping] columns")

        dates = _table(data, "dates", source)
        _check_keys(dates, _DATE_KEYS, _where(source, "dates"))
        formats = dates.get("formats", ["iso"])
        if isinstance(formats, str):
            formats = [formats]
        if not formats or not all(isinstance(f, str) for f in formats):
            raise CivicError(f"{_where(source, 'dates')}: formats must be a list of strptime formats or \"iso\"")
        for fmt in formats:
            if fmt != "iso" and "%" not in fmt:
                raise CivicError(f"{_where(source, 'dates')}: format {fmt!r} is neither \"iso\" nor a strptime "
                                 "format like \"%m/%d/%Y %I:%M %p\"")
        if "timezone" in dates:
            tz = dates["timezone"]
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                raise CivicError(f"{_where(source, 'dates')}: timezone {tz!r} is not an IANA timezone") from None
        date_only = dates.get("date_only", "start_of_day")
        if date_only not in ("start_of_day", "end_of_day"):
            raise CivicError(f"{_where(source, 'dates')}: date_only must be \"start_of_day\" or \"end_of_day\"")

        raw_values = _table(data, "values", source)
        _check_keys(raw_values, _VALUE_TABLES, _where(source, "values"))
        values: dict[str, dict] = {}
        for table, entries in raw_values.items():
            if not isinstance(entries, dict):
                raise CivicError(f"{_where(source, 'values.' + table)}: must be a table of code = value")
            values[table] = {
                _norm(code): _check_value(table, code, v, f"{_where(source, 'values.' + table)} {code}", channels)
                for code, v in entries.items()
            }

        raw_unknown = _table(data, "unknown", source)
        _check_keys(raw_unknown, _UNKNOWN, _where(source, "unknown"))
        unknown = {}
        for key, (default, allowed) in _UNKNOWN.items():
            spec = raw_unknown.get(key, default)
            where = f"{_where(source, 'unknown')} {key}"
            if isinstance(spec, str):
                policy, value = spec, None
            elif isinstance(spec, dict) and set(spec) <= {"policy", "value"}:
                policy, value = spec.get("policy"), spec.get("value")
            else:
                raise CivicError(f"{where}: expected \"reject\", \"add\" or {{ policy = \"default\", value = ... }}")
            if policy not in allowed:
                raise CivicError(f"{where}: policy {policy!r}; expected one of {', '.join(allowed)}")
            if policy == "default":
                if value is None:
                    value = {"channel": "other", "resolution": "fixed"}.get(key)
                if value is None:
                    raise CivicError(f"{where}: policy \"default\" needs a value")
                if key in ("status", "resolution", "channel"):
                    value = _check_value(key, "(default)", value, where, channels)
            unknown[key] = Unknown(policy, value)

        coords = _table(data, "coordinates", source)
        _check_keys(coords, _COORD_KEYS, _where(source, "coordinates"))
        bounds = coords.get("bounds")
        if bounds is not None:
            if not (isinstance(bounds, list) and len(bounds) == 4 and all(isinstance(b, (int, float)) for b in bounds)
                    and bounds[0] < bounds[2] and bounds[1] < bounds[3]):
                raise CivicError(f"{_where(source, 'coordinates')}: bounds must be [west, south, east, north] "
                                 "in degrees")
            bounds = tuple(float(b) for b in bounds)

        raw_draft = _table(data, "draft", source)
        _check_keys(raw_draft, _DRAFT_KEYS, _where(source, "draft"))
        draft_args = dict(raw_draft)
        if "fit_since" in draft_args:
            since = draft_args["fit_since"]
            if isinstance(since, str):
                try:
                    since = date.fromisoformat(since)
                except ValueError:
                    raise CivicError(f"{_where(source, 'draft')}: fit_since {since!r} is not a date like "
                                     "2015-07-01") from None
            if not isinstance(since, date):
                raise CivicError(f"{_where(source, 'draft')}: fit_since must be a date like 2015-07-01")
            draft_args["fit_since"] = since
        return cls(
            name=name, origin=origin, fields=fields, header=header, columns=columns,
            optional=frozenset(head.get("optional", ())), title=head.get("title", ""),
            timezone=dates.get("timezone", tz), delimiter=delimiter,
            encoding=head.get("encoding", "utf-8"), repair=bool(head.get("repair_mojibake", True)),
            type_separator=head.get("type_separator", " - "), date_formats=tuple(formats), date_only=date_only,
            values=values, codes={t: tuple(entries) for t, entries in raw_values.items()}, unknown=unknown,
            bounds=bounds, margin=float(coords.get("margin", 0.25)),
            draft=DraftSettings(**draft_args), public_source=head.get("public_source", ""),
        )

    @property
    def needed_columns(self) -> tuple[str, ...]:
        seen = []
        for cols in self.fields.values():
            for col in cols:
                if col not in seen:
                    seen.append(col)
        return tuple(seen)


def _norm(code) -> str:
    return " ".join(str(code).split()).casefold()


def _check_value(table: str, code, value, where: str, channels):
    """A value-map entry, checked: a (Status, Resolution|None), a Resolution, a channel or a bool."""
    if table == "status":
        if isinstance(value, str):
            value = [value, ""]
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise CivicError(f"{where}: expected a status or [status, resolution], got {value!r}")
        status = parse_status(value[0], field=where)
        resolution = parse_resolution(value[1], field=where) if value[1] else None
        if resolution is not None and status is not Status.CLOSED:
            raise CivicError(f"{where}: only a closed status has a resolution")
        return status, resolution
    if table == "resolution":
        if not isinstance(value, str):
            raise CivicError(f"{where}: expected a resolution, got {value!r}")
        return parse_resolution(value, field=where)
    if table == "channel":
        if not isinstance(value, str):
            raise CivicError(f"{where}: expected a channel code, got {value!r}")
        if channels is not None and value not in channels:
            raise CivicError(f"{where}: {value!r} is not one of the city's channels ({', '.join(channels)})")
        return value
    if not isinstance(value, bool):
        raise CivicError(f"{where}: expected true or false, got {value!r}")
    return value


class RowReader:
    """Reads rows of one export with a mapping, for one city (its timezone, channels and area).

    ``bind(header)`` fixes the column positions of a file; ``record(fields, file, line)`` then
    turns one row into an ``ImportRecord`` or raises CivicError with the reason.
    """

    def __init__(self, mapping: Mapping, *, timezone_name: str, channels, bounds=None):
        self.mapping = mapping
        self.tz = ZoneInfo(mapping.timezone or timezone_name)
        self.channels = frozenset(channels)
        self.bounds = mapping.bounds or bounds
        self._formats = list(mapping.date_formats)
        self._parsers = {f: date_parser(f) for f in self._formats if f != "iso"}
        self._date_cache: dict[str, tuple[datetime, bool]] = {}
        self._index: dict[str, tuple[int, ...]] = {}
        self._columns: frozenset[str] = frozenset()
        self.width = 0

    def bind(self, header: list[str]) -> None:
        """Column positions for a file with this header; raises CivicError naming missing columns."""
        positions = {}
        for n, col in enumerate(header):
            positions.setdefault(col.strip().lstrip("\ufeff"), n)
        optional = self.mapping.optional
        missing = [c for c in self.mapping.needed_columns if c not in positions and c not in optional]
        if missing:
            raise CivicError(f"not a {self.mapping.name} export: missing column(s) {', '.join(missing)}")
        index = {f: tuple(positions[c] for c in cols if c in positions) for f, cols in self.mapping.fields.items()}
        self._index = {f: idx for f, idx in index.items() if idx}
        self._columns = frozenset(positions)
        self.width = len(header)

    # --- reading single fields ---------------------------------------------------

    def _text(self, row: list[str], field: str) -> str:
        """The first non-blank of the field's columns, stripped (mojibake repaired); "" when none."""
        idx = self._index.get(field)
        if idx is None:
            return ""
        for i in idx:
            value = row[i].strip()
            if value:
                return repair_mojibake(value) if self.mapping.repair else value
        return ""

    def _joined(self, row: list[str], field: str) -> str:
        idx = self._index.get(field)
        if idx is None:
            return ""
        return " ".join(part for i in idx if (part := row[i].strip()))

    def parse_datetime(self, text: str, field: str) -> tuple[datetime, bool]:
        """(aware UTC datetime, had a time of day) for ``text`` in any of the mapping's formats."""
        found = self._date_cache.get(text)
        if found is not None:
            return found
        for n, fmt in enumerate(self._formats):
            try:
                if fmt == "iso":
                    value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
                    timed = len(text) > 10
                else:
                    value = self._parsers[fmt](text)
                    timed = any(d in fmt for d in ("%H", "%I", "%M", "%S", "%X", "%c"))
            except ValueError:
                continue
            if n:  # the format that worked is tried first from now on (files rarely mix much)
                self._formats.insert(0, self._formats.pop(n))
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.tz)
            found = (value.astimezone(_UTC), timed)
            if len(self._date_cache) < 100_000:
                self._date_cache[text] = found
            return found
        shown = ", ".join(self.mapping.date_formats)
        raise CivicError(f"{field} {text!r} is not a date in any of the mapping's formats ({shown})")

    def _local_day_start(self, value: datetime, *, end: bool = False) -> datetime:
        day = value.astimezone(self.tz).date()
        moment = datetime.combine(day, time(23, 59, 59) if end else time(0), tzinfo=self.tz)
        return moment.astimezone(_UTC)

    def _date(self, row, field) -> tuple[datetime, bool] | None:
        text = self._joined(row, field)
        if not text:
            return None
        idx = self._index[field]
        if len(idx) == 1:
            return self.parse_datetime(text, self.mapping.fields[field][0])
        try:
            return self.parse_datetime(text, "")
        except CivicError:
            # A date and a time in columns of their own: name each with its value.
            columns = [c for c in self.mapping.fields[field] if c in self._columns]
            shown = ", ".join(f"{c} {row[i].strip()!r}" for c, i in zip(columns, idx))
            raise CivicError(f"{shown} is not a date in any of the mapping's formats "
                             f"({', '.join(self.mapping.date_formats)})") from None

    def _map(self, table: str, text: str):
        return self.mapping.values.get(table, {}).get(_norm(text))

    def _float(self, row, field) -> float | None:
        text = self._text(row, field)
        if not text:
            return None
        try:
            return float(text.replace(",", ""))
        except ValueError:
            raise CivicError(f"{self.mapping.fields[field][0]} {text!r} is not a number") from None

    # --- one row -----------------------------------------------------------------

    def record(self, row: list[str], file: str, line: int) -> ImportRecord:
        """One row -> ImportRecord; raises CivicError with the reason for a row that cannot be a case."""
        m = self.mapping
        warnings: list[tuple[str, str]] = []
        case_id = intlike(self._text(row, "id"))
        if not case_id:
            raise CivicError(f"{m.fields['id'][0]} is blank")
        tracking = intlike(self._text(row, "tracking_number")) or case_id

        category, typ, detail = self._text(row, "category"), self._text(row, "type"), self._text(row, "detail")
        name = self._text(row, "name") or m.type_separator.join(p for p in (category, typ, detail) if p)
        service_code = self._text(row, "service_code") or None
        if not name:
            name = service_code or ""
        if not name:
            raise CivicError("the service type is blank")

        opened = self._date(row, "opened")
        if opened is None:
            raise CivicError(f"{m.fields['opened'][0]} is blank")
        opened_at = opened[0]

        status, resolution = self._status(row, warnings)
        closed_at = None
        closed = self._date(row, "closed")
        if closed is not None:
            closed_at, timed = closed
            if not timed:
                # A day without a time: its start (or end), and never before the opening on that day.
                closed_at = self._local_day_start(closed_at, end=m.date_only == "end_of_day")
                if closed_at < opened_at and closed_at >= self._local_day_start(opened_at):
                    closed_at = opened_at
            if closed_at < opened_at:
                raise CivicError(f"closed before it was created: {m.fields['closed'][0]} {self._joined(row, 'closed')}"
                                 f" is before {m.fields['opened'][0]} {self._joined(row, 'opened')}")
            if status is None:
                status, resolution = Status.CLOSED, resolution
            elif status is not Status.CLOSED:
                warnings.append(("closed date on an open case", status.value))
                closed_at = None
        elif status is None:
            status = Status.OPEN
        if status is Status.CLOSED:
            if closed_at is None:
                raise CivicError(f"the status says closed, but {m.fields.get('closed', ('the closed date',))[0]} "
                                 "is blank")
            if resolution is None:
                resolution = self._resolution(row, warnings)
        else:
            resolution = None

        channel = self._channel(row, warnings)
        verdict = self._verdict(row)
        due_at = self.due_at(row)
        if verdict is None and due_at is not None and closed_at is not None:
            verdict = closed_at > due_at
        location = self._location(row, warnings)
        description = self._text(row, "description")
        if not description and "description" not in m.fields:
            description = f"{name}: {detail}" if detail else name
        return ImportRecord(
            external_id=case_id, tracking_number=tracking, request_type=name, opened_at=opened_at,
            status=status, resolution=resolution, closed_at=closed_at, service_code=service_code,
            category=category or None, department=self._text(row, "department") or None,
            work_group=self._text(row, "work_group") or None, channel=channel, description=description,
            location=location, city_exceeded_timeframe=verdict, city_days_to_close=self._float(row, "days_to_close"),
            source_file=file, source_line=line, warnings=tuple(warnings),
        )

    def _status(self, row, warnings) -> tuple[Status | None, Resolution | None]:
        if "status" not in self.mapping.fields:
            return None, None
        text = self._text(row, "status")
        mapped = self._map("status", text)
        if mapped is None and "status" not in self.mapping.values:
            try:
                mapped = (parse_status(text, field=self.mapping.fields["status"][0]), None)
            except CivicError:
                mapped = None
        if mapped is not None:
            return mapped
        policy = self.mapping.unknown["status"]
        if policy.policy == "reject":
            known = ", ".join(self.mapping.codes.get("status", ())) or "a CivicCRM status"
            raise CivicError(f"{self.mapping.fields['status'][0]} {text!r} is unknown; expected one of {known}")
        warnings.append(("unknown status", text or "(blank)"))
        return policy.value

    def _resolution(self, row, warnings) -> Resolution:
        text = self._text(row, "resolution")
        if text:
            mapped = self._map("resolution", text)
            if mapped is None and "resolution" not in self.mapping.values:
                try:
                    mapped = parse_resolution(text)
                except CivicError:
                    mapped = None
            if mapped is not None:
                return mapped
        policy = self.mapping.unknown["resolution"]
        if policy.policy == "reject":
            col = self.mapping.fields.get("resolution", ("resolution",))[0]
            raise CivicError(f"{col} {text!r} is not a resolution the mapping knows")
        if text:
            warnings.append(("unknown resolution", text))
        return policy.value

    def _channel(self, row, warnings) -> str:
        if "channel" not in self.mapping.fields:
            return self.mapping.unknown["channel"].value or "other"
        text = self._text(row, "channel")
        mapped = self._map("channel", text)
        if mapped is None and text.lower() in self.channels and "channel" not in self.mapping.values:
            mapped = text.lower()
        if mapped is not None:
            return mapped
        policy = self.mapping.unknown["channel"]
        if policy.policy == "reject":
            raise CivicError(f"{self.mapping.fields['channel'][0]} {text!r} is not a channel the mapping knows")
        warnings.append(("unknown channel", text or "(blank)"))
        return policy.value

    def _verdict(self, row) -> bool | None:
        for field, flip in (("exceeded", False), ("on_time", True)):
            if field not in self.mapping.fields:
                continue
            text = self._text(row, field)
            if not text:
                return None
            mapped = self._map(field, text)
            if mapped is None:
                mapped = _BOOLEANS.get(text.casefold())
            if mapped is None:
                raise CivicError(f"{self.mapping.fields[field][0]} {text!r}; expected one of "
                                 f"{', '.join(self.mapping.codes.get(field) or ('Y', 'N'))} or blank")
            return (not mapped) if flip else mapped
        return None

    def _location(self, row, warnings) -> Location:
        address = self._text(row, "address") or None
        zip_code = intlike(self._text(row, "zip")) or None
        if zip_code is not None and len(zip_code) > 10:
            warnings.append(("bad ZIP", zip_code))
            zip_code = None
        district = intlike(self._text(row, "district")) or None
        neighborhood = self._text(row, "neighborhood") or None
        latitude = longitude = None
        if "latitude" in self.mapping.fields:
            try:
                latitude, longitude = self._float(row, "latitude"), self._float(row, "longitude")
            except CivicError as exc:
                warnings.append(("bad coordinates", str(exc)))
            if not latitude or not longitude:  # blank or 0: no point
                latitude = longitude = None
            elif not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
                warnings.append(("bad coordinates", f"{latitude}, {longitude}"))
                latitude = longitude = None
            elif self.bounds is not None:
                west, south, east, north = self.bounds
                if not (west <= longitude <= east and south <= latitude <= north):
                    warnings.append(("coordinates outside the city", f"{latitude}, {longitude}"))
                    latitude = longitude = None
        return Location(address=address, latitude=latitude, longitude=longitude, zip_code=zip_code,
                        council_district=district, neighborhood=neighborhood)

    def parts(self, row: list[str]) -> tuple[str, str, str]:
        """(category, type, detail) of the row as written ("" for each the export lacks)."""
        return self._text(row, "category"), self._text(row, "type"), self._text(row, "detail")

    def has_closed(self, row: list[str]) -> bool:
        """Whether the row has a closed date at all (whatever its status says)."""
        return bool(self._joined(row, "closed"))

    def due_at(self, row: list[str]) -> datetime | None:
        due = self._date(row, "due")
        if due is None:
            return None
        return due[0] if due[1] else self._local_day_start(due[0], end=True)

    def case_id(self, row: list[str]) -> str:
        """The row's case id as ``record`` reads it ("" when blank)."""
        return intlike(self._text(row, "id"))

    def newest_key(self, row: list[str]) -> tuple:
        """What decides which of two rows with the same id is newest: updated, else closed, else opened."""
        for field in ("updated", "closed", "opened"):
            if field in self._index:
                text = self._joined(row, field)
                if text:
                    try:
                        return (self.parse_datetime(text, field)[0].timestamp(),)
                    except CivicError:
                        return (float("-inf"),)
        return (float("-inf"),)
