"""Business calendars: opening hours, holidays and closures, and due-time arithmetic."""

from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import attrs
import holidays as holidays_lib

from civiccrm.errors import CivicError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holiday_cache(self) -> dict:
        return {}

    def is_holiday(self, day: date) -> bool:
        if day in self.closures:
            return True
        if self.holidays is None:
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
        return self.hours[day.weekday()]

    def _open_spans(self, start_day: date):
        """Yield (open, close) aware datetimes from ``start_day`` onwards, forever."""
        day = start_day
        empty_days = 0
        while True:
            spans = self.intervals_on(day)
            if spans:
                empty_days = 0
                for s, e in spans:
                    opens = datetime.combine(day, s, self.tz)
                    closes = (
                        datetime.combine(day + timedelta(days=1), time(0), self.tz)
                        if e == time.max
                        else datetime.combine(day, e, self.tz)
                    )
                    yield opens, closes
            else:
                empty_days += 1
                if empty_days > 366 * 2:
                    raise CivicError(f"calendar {self.code}: no opening hours in two years")
            day += timedelta(days=1)

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant ``hours`` of opening time after ``start``."""
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.tz)
        for opens, closes in self._open_spans(local.date() - timedelta(days=1)):
            if closes <= local:
                continue
            begin = max(opens, local)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= available
        raise AssertionError("unreachable")

    def add_business_days(self, start: datetime, days: float) -> datetime:
        """The same local time ``days`` working days later (a day with any opening hours counts)."""
        local = start.astimezone(self.tz)
        whole = int(days)
        day = local.date()
        counted = 0
        while counted < whole:
            day += timedelta(days=1)
            if self.intervals_on(day):
                counted += 1
        result = datetime.combine(day, local.timetz().replace(tzinfo=None), self.tz)
        fraction = days - whole
        if fraction:
            result += timedelta(days=fraction)
        return result.astimezone(start.tzinfo)


def add_calendar_days(start: datetime, days: float, tz: ZoneInfo) -> datetime:
    """``days`` calendar days after ``start``, keeping the local wall-clock time across DST."""
    local = start.astimezone(tz)
    whole = int(days)
    wall = local.replace(tzinfo=None) + timedelta(days=whole)
    result = wall.replace(tzinfo=tz) + timedelta(days=days - whole)
    return result.astimezone(start.tzinfo)
