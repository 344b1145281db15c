"""Parsing helpers for command-line values: local dates, named periods, time left."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from civiccrm.errors import CivicError


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CivicError(f"{option}: {text!r} is not a date like 2020-01-31") from None


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in the city's timezone."""
    return datetime.combine(day, time(0), tz)


def inclusive_range(start: str | None, end: str | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """``--from``/``--to`` dates, both inclusive, as [start, end) instants in the city's timezone."""
    lo = parse_date(start, "--from") if start else None
    hi = parse_date(end, "--to") if end else None
    if lo and hi and hi < lo:
        raise CivicError(f"--to: {hi} is before --from {lo}")
    return (
        local_day_start(lo, tz) if lo else None,
        local_day_start(hi + timedelta(days=1), tz) if hi else None,
    )


def format_remaining(delta: timedelta) -> str:
    """``2d 3h left`` or ``5h overdue``."""
    seconds = int(delta.total_seconds())
    label = "left" if seconds >= 0 else "overdue"
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    if not days:
        parts.append(f"{minutes}m")
    return f"{' '.join(parts)} {label}"


def named_period(month: str | None, fiscal_year: int | None, fiscal_year_start: tuple[int, int]) -> tuple[str, str]:
    """``--month 2019-12`` or ``--fiscal-year 2020`` as inclusive (from, to) dates.

    A fiscal year is named by the calendar year it ends in: with a May 1 start, fiscal
    year 2020 runs from 2019-05-01 to 2020-04-30.
    """
    if month and fiscal_year:
        raise CivicError("--month and --fiscal-year: give one period, not both")
    if month:
        try:
            year, number = (int(part) for part in month.strip().split("-"))
            first = date(year, number, 1)
        except ValueError:
            raise CivicError(f"--month: {month!r} is not a month like 2019-12") from None
        following = date(year + number // 12, number % 12 + 1, 1)
        return first.isoformat(), (following - timedelta(days=1)).isoformat()
    start_month, start_day = fiscal_year_start
    first = date(fiscal_year - (0 if (start_month, start_day) == (1, 1) else 1), start_month, start_day)
    following = date(first.year + 1, start_month, start_day)
    return first.isoformat(), (following - timedelta(days=1)).isoformat()


def period_options(date_from, date_to, month, fiscal_year, fiscal_year_start):
    """The --from/--to a command should use, given the optional --month/--fiscal-year shorthands."""
    if not (month or fiscal_year):
        return date_from, date_to
    if date_from or date_to:
        raise CivicError("--month/--fiscal-year: give either a named period or --from/--to, not both")
    return named_period(month, fiscal_year, fiscal_year_start)
