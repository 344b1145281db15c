"""Business calendars: opening hours, holidays and closures, and due-time arithmetic.

Every calendar keeps a timeline: its open intervals over a span of years as sorted
arrays of epoch seconds, with the open seconds counted before each interval, and the
count of working days per local date. A due time is then a binary search
(``numpy.searchsorted``) for a million cases at once, or ``bisect`` on the same
values as Python lists for one case (a request's due time: numpy's per-call overhead
is most of the cost of one value). The scalar paths (``*1`` methods) repeat the vector
arithmetic step for step on the same float64 values, so both give identical results
(tests/test_sla_calendar.py compares them on random instants).
"""

import math
from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from zoneinfo import ZoneInfo

import attrs
import holidays as holidays_lib
import numpy as np

from civiccrm.errors import CivicError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def parse_interval(text: str, *, where: str) -> tuple[time, time]:
    """``"07:00-20:00"`` -> (07:00, 20:00); ``24:00`` is allowed as an end."""
    try:
        start_s, end_s = (part.strip() for part in text.split("-"))
        start = time.fromisoformat(start_s)
        end = time.max if end_s == "24:00" else time.fromisoformat(end_s)
    except ValueError:
        raise CivicError(f"{where}: {text!r} is not an interval like \"07:00-20:00\"") from None
    if end <= start:
        raise CivicError(f"{where}: {text!r} ends before it starts")
    return start, end


def parse_day_hours(raw: list[str], *, where: str) -> tuple[tuple[time, time], ...]:
    """A weekday's intervals (``["07:00-12:00", "13:00-17:00"]``), sorted, none overlapping."""
    intervals = sorted(parse_interval(t, where=where) for t in raw)
    for (s1, e1), (s2, e2) in zip(intervals, intervals[1:]):
        if s2 < e1:
            raise CivicError(f"{where}: intervals {s1:%H:%M}-{e1:%H:%M} and {s2:%H:%M}-{e2:%H:%M} overlap")
    return tuple(intervals)


def format_day_hours(intervals) -> str:
    """The inverse of :func:`parse_day_hours`, as one line: ``"07:00-12:00, 13:00-17:00"``."""
    return ", ".join(f"{s:%H:%M}-{'24:00' if e == time.max else f'{e:%H:%M}'}" for s, e in intervals)


def to_epoch(moment: datetime) -> float:
    """Seconds since 1970-01-01 UTC of an aware datetime."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: a timezone-aware instant is needed")
    return moment.timestamp()


def from_epoch(seconds: float, tz=timezone.utc) -> datetime:
    """The aware datetime of ``seconds`` since the epoch, in ``tz``."""
    return datetime.fromtimestamp(float(seconds), timezone.utc).astimezone(tz)


class TzOffsets:
    """UTC offsets of one timezone as arrays, for converting many instants at once."""

    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self.y0 = self.y1 = None

    def ensure(self, y0: int, y1: int) -> None:
        if self.y0 is not None and self.y0 <= y0 and y1 <= self.y1:
            return
        if self.y0 is not None:
            y0, y1 = min(y0, self.y0), max(y1, self.y1)
        y0, y1 = max(y0, 1971), min(y1, 9000)
        start = datetime(y0 - 1, 1, 1, tzinfo=timezone.utc)

        def offset(t: datetime) -> int:
            return int(t.astimezone(self.tz).utcoffset().total_seconds())

        times, offsets = [-np.inf], [offset(start)]
        day = start
        end = datetime(y1 + 2, 1, 1, tzinfo=timezone.utc)
        while day < end:
            nxt = day + timedelta(days=1)
            if offset(nxt) != offsets[-1]:
                lo, hi = day.timestamp(), nxt.timestamp()  # offset changes in (lo, hi]
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if offset(from_epoch(mid)) == offsets[-1]:
                        lo = mid
                    else:
                        hi = mid
                times.append(hi)
                offsets.append(offset(from_epoch(hi)))
            day = nxt
        self.times = np.array(times, dtype=np.float64)
        self.offsets = np.array(offsets, dtype=np.float64)
        self.times_list, self.offsets_list = self.times.tolist(), self.offsets.tolist()
        self.y0, self.y1 = y0, y1

    def ensure_epochs(self, epochs: np.ndarray) -> None:
        if epochs.size:
            self.ensure(_year_of(float(np.min(epochs))) - 1, _year_of(float(np.max(epochs))) + 1)

    def offset(self, epochs: np.ndarray) -> np.ndarray:
        """UTC offset in seconds at each instant."""
        return self.offsets[np.searchsorted(self.times, epochs, side="right") - 1]

    def local(self, epochs: np.ndarray) -> np.ndarray:
        """Wall-clock seconds (local time read as if it were UTC)."""
        return epochs + self.offset(epochs)

    def instant(self, walls: np.ndarray) -> np.ndarray:
        """The instant of each wall-clock time, resolved as ``zoneinfo`` does with fold=0.

        A time repeated when clocks go back is its first occurrence; a time skipped when
        they go forward is read with the offset before the change.
        """
        early = self.offset(walls - DAY)
        first = walls - early
        ok_first = self.offset(first) == early
        late = self.offset(first)
        second = walls - late
        ok_second = self.offset(second) == late
        return np.where(ok_first, first, np.where(ok_second, second, first))

    # Scalar forms of the above for one instant (see the module docstring).

    def ensure_epoch1(self, epoch: float) -> None:
        self.ensure(_year_of(epoch) - 1, _year_of(epoch) + 1)

    def offset1(self, epoch: float) -> float:
        return self.offsets_list[bisect_right(self.times_list, epoch) - 1]

    def local1(self, epoch: float) -> float:
        return epoch + self.offset1(epoch)

    def instant1(self, wall: float) -> float:
        early = self.offset1(wall - DAY)
        first = wall - early
        late = self.offset1(first)
        if late == early:
            return first
        second = wall - late
        return second if self.offset1(second) == late else first


_TZ_OFFSETS: dict[str, TzOffsets] = {}


def tz_offsets(tz: ZoneInfo) -> TzOffsets:
    """The shared offset table of a timezone."""
    key = str(tz.key)
    if key not in _TZ_OFFSETS:
        _TZ_OFFSETS[key] = TzOffsets(tz)
    return _TZ_OFFSETS[key]


def _year_of(epoch: float) -> int:
    return 1970 + int(epoch // (365.2425 * DAY))


@attrs.frozen
class HolidaySet:
    """Public holidays from the ``holidays`` package, by country and optional subdivision."""

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ()

    def check(self, *, where: str) -> None:
        try:
            self.for_years([2020])
        except (NotImplementedError, KeyError, ValueError) as exc:
            raise CivicError(
                f"{where}: the holidays package knows no holiday set for country={self.country!r} "
                f"subdivision={self.subdivision!r} categories={list(self.categories)!r} ({exc})"
            ) from None

    def for_years(self, years):
        kwargs = {"years": years}
        if self.subdivision:
            kwargs["subdiv"] = self.subdivision
        if self.categories:
            kwargs["categories"] = self.categories
        return holidays_lib.country_holidays(self.country, **kwargs)


class _Timeline:
    """A calendar's open intervals and working days over a span of years, as arrays."""

    def __init__(self, calendar: "BusinessCalendar"):
        self.calendar = calendar
        self.offsets = tz_offsets(calendar.tz)
        self.y0 = self.y1 = None

    def ensure(self, y0: int, y1: int) -> None:
        if self.y0 is not None and self.y0 <= y0 and y1 <= self.y1:
            return
        if self.y0 is not None:
            y0, y1 = min(y0, self.y0), max(y1, self.y1)
        self._build(max(y0, 1971), min(y1, 9000))

    def _build(self, y0: int, y1: int) -> None:
        cal = self.calendar
        tz = cal.tz
        starts, ends, working = [], [], []
        day = date(y0, 1, 1)
        last = date(y1, 12, 31)
        while day <= last:
            spans = cal.intervals_on(day)
            opened = False
            for s, e in spans:
                opens = datetime.combine(day, s, tz).timestamp()
                if e == time.max:
                    closes = datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()
                else:
                    closes = datetime.combine(day, e, tz).timestamp()
                if closes > opens:
                    starts.append(opens)
                    ends.append(closes)
                    opened = True
            working.append(opened)
            day += timedelta(days=1)
        if not starts:
            raise CivicError(f"calendar {cal.code}: no opening hours at all between {y0} and {y1}")
        self.starts = np.array(starts, dtype=np.float64)
        self.ends = np.array(ends, dtype=np.float64)
        lengths = self.ends - self.starts
        self.cum_end = np.cumsum(lengths)
        self.cum_before = self.cum_end - lengths
        self.day0 = date(y0, 1, 1).toordinal() - _EPOCH_ORDINAL
        self.working_count = np.cumsum(np.array(working, dtype=np.int64))
        self.lists = (self.starts.tolist(), self.ends.tolist(), self.cum_end.tolist(),
                      self.cum_before.tolist(), self.working_count.tolist())
        self.offsets.ensure(y0, y1)
        self.y0, self.y1 = y0, y1  # last: another thread that sees the years covered reads the offsets too

    def ensure_epochs(self, epochs: np.ndarray, *, ahead: int = 1) -> None:
        if epochs.size:
            self.ensure(_year_of(float(np.min(epochs))) - 1, _year_of(float(np.max(epochs))) + ahead)

    def _grow(self, shortfall_seconds: float) -> None:
        per_year = max(self.cum_end[-1] / (self.y1 - self.y0 + 1), 1.0)
        self.ensure(self.y0, self.y1 + 1 + int(shortfall_seconds // per_year) + 1)

    def counted(self, epochs: np.ndarray) -> np.ndarray:
        """Open seconds from the start of the timeline up to each instant."""
        i = np.searchsorted(self.starts, epochs, side="right") - 1
        safe = np.maximum(i, 0)
        inside = np.clip(epochs - self.starts[safe], 0.0, self.ends[safe] - self.starts[safe])
        return np.where(i >= 0, self.cum_before[safe] + inside, 0.0)

    def add_open_seconds(self, epochs: np.ndarray, seconds) -> np.ndarray:
        """The instant at which ``seconds`` of opening time have passed after each instant."""
        self.ensure_epochs(epochs)
        while True:
            goal = self.counted(epochs) + seconds
            top = float(np.max(goal)) if goal.size else 0.0
            if top <= self.cum_end[-1]:
                break
            self._grow(top - self.cum_end[-1])
        j = np.searchsorted(self.cum_end, goal, side="left")
        return self.starts[j] + (goal - self.cum_before[j])

    def next_opening(self, epochs: np.ndarray) -> np.ndarray:
        """Each instant if the calendar is open then, else the next opening."""
        self.ensure_epochs(epochs)
        while True:
            i = np.searchsorted(self.ends, epochs, side="right")
            if not i.size or int(np.max(i)) < self.starts.size:
                break
            self._grow(0)
        return np.maximum(self.starts[i], epochs)

    def add_working_days(self, epochs: np.ndarray, days) -> np.ndarray:
        """The same local time ``days`` working days later; a fraction adds that share of 24 h."""
        days = np.broadcast_to(np.asarray(days, dtype=np.float64), epochs.shape)
        whole = np.floor(days)
        fraction = days - whole
        self.ensure_epochs(epochs)
        while True:
            walls = self.offsets.local(epochs)
            day = np.floor(walls / DAY)
            index = (day - self.day0).astype(np.int64)
            goal = self.working_count[index] + whole.astype(np.int64)
            if not goal.size or int(np.max(goal)) <= int(self.working_count[-1]):
                break
            self._grow(0)
        target = np.where(whole > 0, np.searchsorted(self.working_count, goal, side="left"), index)
        new_walls = (self.day0 + target) * float(DAY) + (walls - day * DAY) + fraction * DAY
        self.offsets.ensure_epochs(new_walls)
        return self.offsets.instant(new_walls)

    # Scalar forms of the above for one instant (see the module docstring).

    def ensure_epoch1(self, epoch: float, *, ahead: int = 1) -> None:
        self.ensure(_year_of(epoch) - 1, _year_of(epoch) + ahead)

    def counted1(self, epoch: float) -> float:
        starts, ends, _, cum_before, _ = self.lists
        i = bisect_right(starts, epoch) - 1
        if i < 0:
            return 0.0
        return cum_before[i] + min(max(epoch - starts[i], 0.0), ends[i] - starts[i])

    def add_open_seconds1(self, epoch: float, seconds: float) -> float:
        self.ensure_epoch1(epoch)
        while True:
            goal = self.counted1(epoch) + seconds
            if goal <= self.lists[2][-1]:
                break
            self._grow(goal - self.lists[2][-1])
        starts, _, cum_end, cum_before, _ = self.lists
        j = bisect_left(cum_end, goal)
        return starts[j] + (goal - cum_before[j])

    def next_opening1(self, epoch: float) -> float:
        self.ensure_epoch1(epoch)
        while True:
            i = bisect_right(self.lists[1], epoch)
            if i < len(self.lists[0]):
                break
            self._grow(0)
        return max(self.lists[0][i], epoch)

    def add_working_days1(self, epoch: float, days: float) -> float:
        days = float(days)
        whole = float(math.floor(days))
        fraction = days - whole
        self.ensure_epoch1(epoch)
        while True:
            walls = self.offsets.local1(epoch)
            day = float(math.floor(walls / DAY))
            index = int(day - self.day0)
            goal = self.lists[4][index] + int(whole)
            if goal <= self.lists[4][-1]:
                break
            self._grow(0)
        target = bisect_left(self.lists[4], goal) if whole > 0 else index
        new_wall = (self.day0 + target) * float(DAY) + (walls - day * DAY) + fraction * DAY
        self.offsets.ensure_epoch1(new_wall)
        return self.offsets.instant1(new_wall)


@attrs.frozen
class BusinessCalendar:
    """When a team works: hours per weekday in a timezone, less holidays and closures."""

    code: str
    name: str
    timezone: str
    hours: tuple[tuple[tuple[time, time], ...], ...]
    """Seven entries, Monday first; each a sorted tuple of (start, end) local times."""
    holidays: HolidaySet | None = None
    closures: frozenset[date] = frozenset()
    """Local dates the team does not work beyond the public holidays (a storm day)."""
    worked: frozenset[date] = frozenset()
    """Public holidays the team works all the same (set in the admin); a closure still wins."""
    hours_from: tuple[tuple[date, tuple[tuple[tuple[time, time], ...], ...]], ...] = ()
    """Later weekly hours, each (first local date, seven days like ``hours``), oldest first."""

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holiday_cache(self) -> dict:
        return {}

    @cached_property
    def timeline(self) -> _Timeline:
        """The calendar's open intervals as arrays (built by year, as needed)."""
        return _Timeline(self)

    def is_holiday(self, day: date) -> bool:
        if day in self.closures:
            return True
        if self.holidays is None or day in self.worked:
            return False
        year_set = self._holiday_cache.get(day.year)
        if year_set is None:
            year_set = frozenset(self.holidays.for_years([day.year]).keys())
            self._holiday_cache[day.year] = year_set
        return day in year_set

    def intervals_on(self, day: date) -> tuple[tuple[time, time], ...]:
        """Opening intervals on a local date (none on holidays and closures)."""
        if self.is_holiday(day):
            return ()
        return self.hours_on(day)[day.weekday()]

    def hours_on(self, day: date) -> tuple[tuple[tuple[time, time], ...], ...]:
        """The weekly hours in force on a local date: the latest of ``hours_from`` begun by then, else ``hours``."""
        week = self.hours
        for first, later in self.hours_from:
            if first > day:
                break
            week = later
        return week

    def is_open(self, moment: datetime) -> bool:
        """Whether the team is working at ``moment``."""
        return self.next_opening(moment) == moment

    def next_opening(self, moment: datetime) -> datetime:
        """``moment`` if the calendar is open then, else when it next opens."""
        epoch = to_epoch(moment)
        result = self.timeline.next_opening1(epoch)
        return moment if result == epoch else from_epoch(result, moment.tzinfo)

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of opening time between two instants (0 if ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        a, b = to_epoch(start), to_epoch(end)
        timeline = self.timeline
        timeline.ensure(_year_of(a) - 1, _year_of(b) + 1)
        return float(timeline.counted1(b) - timeline.counted1(a))

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of opening time after ``start``."""
        result = self.timeline.add_open_seconds1(to_epoch(start), float(seconds))
        return from_epoch(result, start.tzinfo)

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant ``hours`` of opening time after ``start``."""
        return self.add_business_seconds(start, hours * 3600)

    def add_business_days(self, start: datetime, days: float) -> datetime:
        """The same local time ``days`` working days later (a day with any opening hours counts)."""
        result = self.timeline.add_working_days1(to_epoch(start), days)
        return from_epoch(result, start.tzinfo)


def add_calendar_days(start: datetime, days: float, tz: ZoneInfo) -> datetime:
    """``days`` calendar days after ``start``, keeping the local wall-clock time across DST."""
    return from_epoch(add_calendar_days_epoch1(to_epoch(start), days, tz), start.tzinfo)


def add_calendar_days_epoch1(epoch: float, days: float, tz: ZoneInfo) -> float:
    """Scalar form of :func:`add_calendar_days_epochs` for one instant."""
    offsets = tz_offsets(tz)
    offsets.ensure_epoch1(epoch)
    wall = offsets.local1(epoch) + float(days) * DAY
    offsets.ensure_epoch1(wall)
    return offsets.instant1(wall)


def add_calendar_days_epochs(epochs: np.ndarray, days, tz: ZoneInfo) -> np.ndarray:
    """Vector form of :func:`add_calendar_days` over epoch seconds."""
    offsets = tz_offsets(tz)
    offsets.ensure_epochs(epochs)
    walls = offsets.local(epochs) + np.asarray(days, dtype=np.float64) * DAY
    offsets.ensure_epochs(walls)
    return offsets.instant(walls)
