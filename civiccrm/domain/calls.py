"""Call records, interval rows and the call-centre settings of a city profile.

A *call record* is one call offered to a queue of the centre (per-call exports such as
Amazon Connect contact trace records). An *interval row* is what an ACD's interval
report gives instead (Cisco UCCX "Contact Service Queue Activity": per queue and
half-hour, calls presented, handled, abandoned, average times). Export files are read
through *formats*: header maps kept in the city profile, so a new ACD needs a new table
in ``profile.toml``, not code.
"""

import math
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs

from civiccrm.domain.timeutil import require_aware
from civiccrm.errors import CivicError

ANSWERED = "answered"
ABANDONED = "abandoned"
OUTCOMES = (ANSWERED, ABANDONED)

SLOTS_PER_DAY = 48
"""Half-hours in a day: staffing and local-time grouping work on half-hour slots."""

CALL_FIELDS = ("id", "started", "queue", "outcome", "answered_at", "updated", "wait", "talk", "hold",
               "acw", "wrap_up", "agent", "caller", "case_number")
"""Fields a per-call format may map to a column (``[calls.formats.<name>.columns]``)."""

INTERVAL_FIELDS = ("queue", "start", "end", "offered", "handled", "abandoned", "short_abandoned",
                   "answered_within_t", "wait", "avg_wait", "handle", "avg_handle", "agents")
"""Fields an interval format may map to a column."""

LAYOUTS = ("calls", "intervals")

SETTINGS_KEYS = {
    "short_abandon_seconds": (int, float), "service_level_seconds": (int, float), "target": str,
    "shrinkage": (int, float), "first_contact_days": (int, float), "calls_per_agent_hour": (int, float),
    "calls_per_shift": (int, float), "formats": dict,
}
"""Keys of ``[calls]`` in profile.toml."""

FORMAT_KEYS = {
    "layout": str, "description": str, "columns": dict, "outcomes": dict, "only": dict, "time_format": str,
    "timezone": str, "interval_minutes": int, "service_level_seconds": (int, float),
    "short_abandon_seconds": (int, float),
}
"""Keys of ``[calls.formats.<name>]``."""


@attrs.frozen
class CallRecord:
    """One call offered to a queue."""

    call_id: str
    """The export's own id of the call (Amazon Connect: the contact id)."""
    queue: str
    started_at: datetime = attrs.field(validator=require_aware)
    """When the call entered the queue."""
    outcome: str = attrs.field(validator=attrs.validators.in_(OUTCOMES))
    """answered or abandoned (a short abandon is an abandoned call with a short wait)."""
    wait_seconds: float = 0.0
    """Time in queue: until answered, or until the caller hung up."""
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    acw_seconds: float = 0.0
    """After-call work (wrap-up) by the agent."""
    wrap_up: str | None = None
    """The wrap-up code the agent chose: what the call was about."""
    agent: str | None = None
    caller: str | None = None
    """The caller's number as exported; stored only as a keyed hash (first-contact resolution)."""
    case_number: str | None = None
    """The tracking number (or the city's own case id) of the case the call created."""
    updated_at: datetime | None = attrs.field(default=None, validator=attrs.validators.optional(require_aware))
    """The export's last update of this record: of two versions of a call, the later wins."""

    @property
    def handle_seconds(self) -> float:
        return self.talk_seconds + self.hold_seconds + self.acw_seconds


@attrs.frozen
class IntervalRow:
    """One queue's figures for one interval, as an ACD's interval report gives them."""

    queue: str
    start: datetime = attrs.field(validator=require_aware)
    length_seconds: int
    offered: int
    handled: int = 0
    abandoned: int = 0
    """Abandoned after the short-abandon threshold (the ACD's own count)."""
    short_abandoned: int = 0
    answered_within_t: int | None = None
    """Answered within the format's service-level threshold; None when the export does not say."""
    wait_seconds: float = 0.0
    """Total wait of the handled calls (average speed of answer x handled)."""
    handle_seconds: float = 0.0
    """Total handle time (talk, hold and after-call work) of the handled calls."""
    agents: float | None = None
    """Agents staffed (logged in) on average over the interval, if exported."""


@attrs.frozen
class CallFormat:
    """How one kind of export file maps onto call records or interval rows."""

    name: str
    layout: str
    columns: dict[str, str]
    """Field -> header of the column holding it."""
    outcomes: dict[str, str] = attrs.field(factory=dict)
    """Value of the outcome column -> answered | abandoned."""
    only: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Header -> the values a row must have there to be read (others are skipped, e.g. outbound calls)."""
    time_format: str | None = None
    """strptime pattern of timestamps; None: ISO 8601."""
    timezone: str | None = None
    """Zone of timestamps written without an offset; None: the city's timezone."""
    interval_minutes: int = 30
    service_level_seconds: float | None = None
    """Interval exports: the threshold the ACD counted answered_within_t with."""
    short_abandon_seconds: float | None = None
    """Interval exports: the threshold the ACD counted short abandons with."""
    description: str = ""


@attrs.frozen
class CallSettings:
    """The call-centre settings of a city (``[calls]`` in profile.toml)."""

    short_abandon_seconds: float = 5.0
    """A caller who hangs up within this many seconds is neither offered nor abandoned."""
    service_level_seconds: float = 20.0
    """T: service level = answered within T / offered."""
    target_level: float = 0.8
    """The staffing goal's share answered within T (80 of 80/20)."""
    shrinkage: float = 0.3
    """Share of paid time an agent is not on the phones (breaks, training, absence)."""
    first_contact_days: float = 7.0
    """A call is resolved at first contact when the same number calls about the same code no sooner than this."""
    calls_per_agent_hour: float = 12.0
    """The rule of thumb: calls one call taker handles in an hour."""
    calls_per_shift: float = 80.0
    """The rule of thumb: calls one call taker handles in a shift."""
    formats: dict[str, CallFormat] = attrs.field(factory=dict)

    def format(self, name: str) -> CallFormat:
        if name not in self.formats:
            known = ", ".join(sorted(self.formats)) or "none"
            raise CivicError(f"--format: no call export format {name!r} in the city profile; known: {known}",
                             field="format")
        return self.formats[name]


def parse_target(text: str, *, where: str = "--target") -> tuple[float, float]:
    """``80/20`` -> (0.8, 20.0): the share answered within the seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*", text or "")
    if not match or not 0 < float(match[1]) < 100:
        raise CivicError(f"{where}: {text!r} is not a goal like 80/20 (percent answered / within seconds)")
    return float(match[1]) / 100.0, float(match[2])


def _check(table: dict, allowed: dict, where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise CivicError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(allowed))}")
        types = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        if not isinstance(value, types) or isinstance(value, bool):
            raise CivicError(f"{where}.{key} must be a {' or '.join(t.__name__ for t in types)}, got {value!r}")


def _parse_format(name: str, table: dict, where: str) -> CallFormat:
    _check(table, FORMAT_KEYS, where)
    layout = table.get("layout", "calls")
    if layout not in LAYOUTS:
        raise CivicError(f"{where}.layout: {layout!r}; expected one of {', '.join(LAYOUTS)}")
    fields = CALL_FIELDS if layout == "calls" else INTERVAL_FIELDS
    columns = table.get("columns", {})
    for field, header in columns.items():
        if field not in fields:
            raise CivicError(f"{where}.columns: unknown field {field!r}; a {layout} format maps {', '.join(fields)}")
        if not isinstance(header, str) or not header:
            raise CivicError(f"{where}.columns.{field} must be a column header, got {header!r}")
    required = ("id", "started", "queue") if layout == "calls" else ("queue", "start", "offered")
    for field in required:
        if field not in columns:
            raise CivicError(f"{where}.columns: missing {field!r} (a {layout} format needs {', '.join(required)})")
    if layout == "calls" and "outcome" not in columns and "answered_at" not in columns:
        raise CivicError(f"{where}.columns: a calls format needs 'outcome' or 'answered_at' to tell answered from abandoned")
    outcomes = table.get("outcomes", {})
    for value, outcome in outcomes.items():
        if outcome not in OUTCOMES:
            raise CivicError(f"{where}.outcomes.{value}: {outcome!r}; expected answered or abandoned")
    only = {}
    for header, values in table.get("only", {}).items():
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise CivicError(f"{where}.only.{header} must be a list of values")
        only[header] = tuple(values)
    zone = table.get("timezone")
    if zone is not None and zone.upper() != "UTC":
        try:
            ZoneInfo(zone)
        except (ValueError, KeyError, OSError):
            raise CivicError(f"{where}.timezone: {zone!r} is not an IANA timezone") from None
    minutes = table.get("interval_minutes", 30)
    if minutes <= 0 or (24 * 60) % minutes:
        raise CivicError(f"{where}.interval_minutes must divide a day, got {minutes}")
    return CallFormat(
        name=name, layout=layout, columns=dict(columns), outcomes=dict(outcomes), only=only,
        time_format=table.get("time_format"), timezone=zone, interval_minutes=minutes,
        service_level_seconds=table.get("service_level_seconds"),
        short_abandon_seconds=table.get("short_abandon_seconds"), description=table.get("description", ""),
    )


def parse_settings(table: dict, *, where: str) -> CallSettings:
    """Check ``[calls]`` of a profile (``where`` names the file) and build the settings."""
    _check(table, SETTINGS_KEYS, f"{where}: calls")
    values = {}
    for key in ("short_abandon_seconds", "service_level_seconds", "first_contact_days"):
        if key in table:
            if not math.isfinite(table[key]) or table[key] < 0:
                raise CivicError(f"{where}: calls.{key} must be 0 or more, got {table[key]}")
            values[key] = float(table[key])
    for key in ("calls_per_agent_hour", "calls_per_shift"):
        if key in table:
            if not math.isfinite(table[key]) or table[key] <= 0:
                raise CivicError(f"{where}: calls.{key} must be greater than 0, got {table[key]}")
            values[key] = float(table[key])
    if "shrinkage" in table:
        if not 0 <= table["shrinkage"] < 1:
            raise CivicError(f"{where}: calls.shrinkage must be a share from 0 up to (not including) 1, got {table['shrinkage']}")
        values["shrinkage"] = float(table["shrinkage"])
    if "target" in table:
        level, seconds = parse_target(table["target"], where=f"{where}: calls.target")
        values["target_level"] = level
        if "service_level_seconds" not in table:
            values["service_level_seconds"] = seconds
    formats = {}
    for name, spec in table.get("formats", {}).items():
        if not isinstance(spec, dict):
            raise CivicError(f"{where}: calls.formats.{name} must be a table")
        formats[name] = _parse_format(name, spec, f"{where}: calls.formats.{name}")
    return CallSettings(formats=formats, **values)


_HMS = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)$")


def parse_seconds(text: str, *, field: str) -> float:
    """A duration as seconds (``83``, ``83.5``) or clock time (``1:23``, ``0:01:23``); empty is 0."""
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None and math.isfinite(value) and value >= 0:
        return value
    text = text.strip()
    if not text:
        return 0.0
    match = _HMS.match(text)
    if match:
        hours, minutes, seconds = match.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    try:
        value = float(text)
    except ValueError:
        raise CivicError(f"{field}: {text!r} is not a duration (seconds, or H:MM:SS)", field=field) from None
    if not math.isfinite(value) or value < 0:
        raise CivicError(f"{field}: {text!r} must be 0 seconds or more", field=field)
    return value


def parse_count(text: str, *, field: str) -> int:
    text = (text or "").strip().replace(",", "")
    if not text:
        return 0
    if not text.isdigit():
        raise CivicError(f"{field}: {text!r} is not a whole number of calls", field=field)
    return int(text)


class RowReader:
    """Turns the rows of one export (lists of cells, as ``csv.reader`` gives them) into call records
    or interval rows. ``check_header`` must see the file's header first: it finds each mapped column."""

    def __init__(self, fmt: CallFormat, city_timezone: str):
        self.format = fmt
        zone = fmt.timezone or city_timezone
        self.tz = timezone.utc if zone.upper() == "UTC" else ZoneInfo(zone)
        self.columns = fmt.columns
        self._width = 0
        self._at: dict[str, int] = {}
        self._only: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
        self._call_at: tuple[int, ...] = ()

    def check_header(self, header) -> None:
        """Refuse a file whose header lacks a mapped column, naming the first missing; else learn
        where each mapped column is (a field the format does not map reads as empty)."""
        header = list(header or ())
        present = set(header)
        missing = [h for h in list(self.columns.values()) + list(self.format.only) if h not in present]
        if missing:
            raise CivicError(f"header: missing column {missing[0]!r} (format {self.format.name!r} maps it)")
        position = {h: header.index(h) for h in present}
        self._width = len(header)
        # An unmapped field points one past the last column: every row gets an empty cell there.
        self._at = {field: position[h] for field, h in self.columns.items()}
        self._only = tuple((position[h], h, values) for h, values in self.format.only.items())
        self._call_at = tuple(self._at.get(f, self._width) for f in CALL_FIELDS)

    @property
    def width(self) -> int:
        """Columns of the header ``check_header`` saw."""
        return self._width

    def cells(self, row: list) -> list:
        """``row`` with as many cells as the header, plus the empty one unmapped fields read."""
        if len(row) != self._width:
            row = (row + [""] * self._width)[:self._width]
        row.append("")
        return row

    def skipped(self, row: list) -> str | None:
        """Why a row (from ``cells``) is not a call offered to a queue (None: it is)."""
        for at, header, values in self._only:
            if row[at] not in values:
                return f"{header} is not {' or '.join(values)}"
        if self.format.layout == "calls" and not self._get(row, "queue"):
            return f"not offered to a queue ({self.columns['queue']} is empty)"
        return None

    def _get(self, row: list, field: str) -> str:
        return row[self._at.get(field, self._width)].strip()

    def _instant(self, text: str, field: str) -> datetime:
        if not text:
            header = self.columns[field]
            raise CivicError(f"{header}: empty; expected a date and time", field=header)
        try:
            if self.format.time_format:
                value = datetime.strptime(text, self.format.time_format)
            else:
                value = datetime.fromisoformat(text)
        except ValueError:
            header = self.columns[field]
            expected = self.format.time_format or "ISO 8601 like 2026-06-22T13:05:00Z"
            raise CivicError(f"{header}: {text!r} is not a date and time ({expected})", field=header) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(timezone.utc)

    def call_fields(self, row: list) -> tuple:
        """The fields of ``CallRecord`` (in its order) of one row from ``cells``, checked as it checks
        them; CivicError names the column that is wrong. (The import's fast path: no object per row.)"""
        (i_id, i_started, i_queue, i_outcome, i_answered, i_updated, i_wait, i_talk, i_hold, i_acw,
         i_wrap, i_agent, i_caller, i_case) = self._call_at
        call_id = row[i_id].strip()
        if not call_id:
            raise CivicError(f"{self.columns['id']}: empty; every call needs its id", field="id")
        if "outcome" in self._at:
            raw = row[i_outcome].strip()
            outcome = self.format.outcomes.get(raw) or raw.lower()
            if outcome not in OUTCOMES:
                known = ", ".join(sorted(self.format.outcomes) or OUTCOMES)
                raise CivicError(f"{self.columns['outcome']}: {raw!r}; expected one of {known}", field="outcome")
        else:
            outcome = ANSWERED if row[i_answered].strip() else ABANDONED
        columns = self.columns
        wait = parse_seconds(row[i_wait], field=columns.get("wait", "wait"))
        talk = parse_seconds(row[i_talk], field=columns.get("talk", "talk"))
        hold = parse_seconds(row[i_hold], field=columns.get("hold", "hold"))
        acw = parse_seconds(row[i_acw], field=columns.get("acw", "acw"))
        updated = row[i_updated].strip()
        return (call_id, row[i_queue].strip(), self._instant(row[i_started].strip(), "started"), outcome,
                wait, talk, hold, acw, row[i_wrap].strip() or None, row[i_agent].strip() or None,
                row[i_caller].strip() or None, row[i_case].strip() or None,
                self._instant(updated, "updated") if updated else None)

    def call(self, row: list) -> CallRecord:
        """The call record of one row from ``cells``; CivicError names the column that is wrong."""
        return CallRecord(*self.call_fields(row))

    def interval(self, row: list) -> IntervalRow:
        """The interval row of one row (from ``cells``) of an interval export."""
        get, cols = self._get, self.columns
        queue = get(row, "queue")
        if not queue:
            raise CivicError(f"{cols['queue']}: empty; expected the queue (CSQ) name", field="queue")
        start = self._instant(get(row, "start"), "start")
        length = self.format.interval_minutes * 60
        if get(row, "end"):
            length = int((self._instant(get(row, "end"), "end") - start).total_seconds())
            if length <= 0:
                raise CivicError(f"{cols['end']}: the interval ends before it starts", field="end")
        counts = {name: parse_count(get(row, name), field=cols.get(name, name))
                  for name in ("offered", "handled", "abandoned", "short_abandoned")}
        within = parse_count(get(row, "answered_within_t"), field=cols["answered_within_t"]) \
            if "answered_within_t" in cols else None
        if counts["handled"] + counts["abandoned"] > counts["offered"] + counts["short_abandoned"]:
            raise CivicError(f"{cols['offered']}: {counts['offered']} offered but {counts['handled']} handled and "
                             f"{counts['abandoned']} abandoned", field="offered")

        def total(name):
            if name in cols:
                return parse_seconds(get(row, name), field=cols[name])
            if f"avg_{name}" in cols:
                return parse_seconds(get(row, f"avg_{name}"), field=cols[f"avg_{name}"]) * counts["handled"]
            return 0.0

        agents = get(row, "agents")
        try:
            staffed = float(agents) if agents else None
        except ValueError:
            raise CivicError(f"{cols['agents']}: {agents!r} is not a number of agents", field="agents") from None
        return IntervalRow(
            queue=queue, start=start, length_seconds=length, offered=counts["offered"], handled=counts["handled"],
            abandoned=counts["abandoned"], short_abandoned=counts["short_abandoned"], answered_within_t=within,
            wait_seconds=total("wait"), handle_seconds=total("handle"), agents=staffed,
        )


def local_slot(instant: datetime, tz: ZoneInfo) -> tuple[str, int, int]:
    """(local date ``YYYY-MM-DD``, half-hour slot 0..47, weekday 0=Monday) of an instant in the city."""
    local = instant.astimezone(tz)
    return local.date().isoformat(), local.hour * 2 + local.minute // 30, local.weekday()


class LocalSlots:
    """``local_slot`` for many instants: one zone conversion per quarter-hour of UTC time.

    Every instant of a UTC quarter-hour has the same local date, half-hour and weekday when the
    quarter-hour's first and last microsecond do (true of every zone whose offset is a whole number
    of quarter-hours); a quarter-hour where they differ (a historical offset) is converted per instant."""

    QUARTER = 900

    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self._known: dict[int, tuple[str, int, int] | None] = {}

    def of(self, instant: datetime, epoch: int) -> tuple[str, int, int]:
        """The slot of ``instant``, whose Unix seconds (rounded down) are ``epoch``."""
        quarter = epoch // self.QUARTER
        known = self._known.get(quarter, False)
        if known:
            return known
        if known is None:
            return local_slot(instant, self.tz)
        first = datetime.fromtimestamp(quarter * self.QUARTER, timezone.utc)
        slot = local_slot(first, self.tz)
        if local_slot(first + timedelta(seconds=self.QUARTER, microseconds=-1), self.tz) != slot:
            slot = None
        if len(self._known) > 100_000:
            self._known.clear()
        self._known[quarter] = slot
        return slot or local_slot(instant, self.tz)


def weekday_counts(start: date, end: date) -> list[int]:
    """How many of each weekday (Monday first) fall in ``start``..``end`` inclusive."""
    days = (end - start).days + 1
    counts = [days // 7] * 7
    for offset in range(days % 7):
        counts[(start + timedelta(days=offset)).weekday()] += 1
    return counts
