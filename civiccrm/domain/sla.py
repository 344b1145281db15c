"""SLA policies: effective-dated time-frames per service type, and due times on a calendar."""

import re
from datetime import date, datetime, timedelta

import attrs
import numpy as np

from civiccrm.domain.calendar import (
    BusinessCalendar,
    add_calendar_days_epoch1,
    add_calendar_days_epochs,
    from_epoch,
    to_epoch,
)
from civiccrm.domain.cases import Status
from civiccrm.domain.names import parse_name
from civiccrm.domain.taxonomy import SlaBasis
from civiccrm.errors import CivicError


class ClockStart:
    """When the SLA clock starts counting."""

    RECEIPT = "receipt"
    """At the instant the case was received."""
    NEXT_OPENING = "next_opening"
    """At the calendar's next opening (a case received at night starts in the morning)."""
    ALL = (RECEIPT, NEXT_OPENING)


DEFAULT_PAUSE_STATUSES = frozenset({"on_hold", "waiting"})
"""On hold and waiting for the resident stop the clock unless a profile or policy says otherwise."""

#: Escalation levels written by the breach scan, in order.
WARNING = "warning"
BREACHED = "breached"
LEVELS = (WARNING, BREACHED)


def check_target(value, *, where: str) -> float:
    """A target must be a finite number greater than zero."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CivicError(f"{where}: {value!r} is not a number; expected a target greater than 0") from None
    if not np.isfinite(number) or number <= 0:
        raise CivicError(f"{where}: {value!r}; expected a target greater than 0")
    return number


PAUSABLE = tuple(s.value for s in Status if s is not Status.CLOSED)
"""Statuses that may pause the clock (every one but closed)."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")


def parse_duration(text: str, *, where: str) -> timedelta:
    """``90m``, ``24h``, ``3d``, ``1w`` -> timedelta."""
    match = _DURATION.match(text or "")
    if not match:
        raise CivicError(f"{where}: {text!r} is not a duration like 90m, 24h, 3d or 1w")
    amount, unit = float(match.group(1)), match.group(2)
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})


def parse_pause_statuses(values, *, where: str) -> frozenset[str]:
    """Status names that pause the clock; closed cannot pause."""
    return frozenset(parse_name(Status, value, field=where, what="status that can pause the clock",
                                allowed=[s for s in Status if s.value in PAUSABLE]).value for value in values)


def parse_clock_start(value: str, *, where: str) -> str:
    if value not in ClockStart.ALL:
        raise CivicError(f"{where}: {value!r}; expected {' or '.join(ClockStart.ALL)}")
    return value


def parse_basis(value: str, *, where: str) -> str:
    if value not in SlaBasis.ALL:
        raise CivicError(f"{where}: {value!r}; expected one of {', '.join(SlaBasis.ALL)}")
    return value


@attrs.frozen
class SlaPolicy:
    """One version of a service type's time-frame, in force for cases opened from ``effective_from``."""

    service_code: str
    target: float
    """Resolution target, in units of ``basis``."""
    basis: str
    """``calendar_days``, ``business_days`` or ``business_hours``."""
    calendar: str
    """Code of the business calendar the target is counted on."""
    effective_from: date | None = None
    """Local date from which cases are held to this version; None: from the beginning."""
    first_response: float | None = None
    """Optional first-response target, in the same units and basis as ``target``."""
    pause_statuses: frozenset[str] = DEFAULT_PAUSE_STATUSES
    """Statuses during which the clock is paused."""
    clock_start: str = ClockStart.RECEIPT
    source: str = "profile"
    """Where the version was defined: a profile file and line, or ``cli``."""
    note: str | None = None

    @property
    def label(self) -> str:
        """``8 calendar_days from 2015-07-01`` style summary."""
        since = self.effective_from.isoformat() if self.effective_from else "the beginning"
        return f"{self.target:g} {self.basis} on {self.calendar} from {since}"


@attrs.frozen
class PolicyBook:
    """Every version of every service type's policy, plus the scan's warning window."""

    versions: dict[str, tuple[SlaPolicy, ...]] = attrs.field(factory=dict)
    """service code -> versions sorted by ``effective_from`` (None first)."""
    warning: timedelta = timedelta(hours=24)
    """How long before its due time an open case is escalated with a warning."""

    @classmethod
    def build(cls, policies, *, warning: timedelta = timedelta(hours=24)) -> "PolicyBook":
        """Group versions by service code; a later one with the same start replaces an earlier one."""
        grouped: dict[str, dict] = {}
        for policy in policies:
            grouped.setdefault(policy.service_code, {})[policy.effective_from] = policy
        versions = {
            code: tuple(sorted(by_date.values(), key=lambda p: p.effective_from or date.min))
            for code, by_date in grouped.items()
        }
        return cls(versions=versions, warning=warning)

    def with_versions(self, policies) -> "PolicyBook":
        """A book with ``policies`` added (stored versions after the profile's)."""
        return PolicyBook.build(
            [p for vs in self.versions.values() for p in vs] + list(policies), warning=self.warning,
        )

    def history(self, service_code: str) -> tuple[SlaPolicy, ...]:
        return self.versions.get(service_code, ())

    def in_force(self, service_code: str, day: date) -> SlaPolicy:
        """The version in force on local date ``day``, or a CivicError saying when versions start."""
        versions = self.versions.get(service_code)
        if not versions:
            raise CivicError(f"service type {service_code!r}: no SLA policy defined")
        found = None
        for policy in versions:
            if policy.effective_from is None or policy.effective_from <= day:
                found = policy
            else:
                break
        if found is None:
            first = versions[0]
            raise CivicError(
                f"service type {service_code!r}: no SLA policy version in force on {day.isoformat()}; "
                f"its first version starts on {first.effective_from.isoformat()} ({first.source}); "
                "expected a version with an earlier or empty effective_from"
            )
        return found


def clock_start(policy: SlaPolicy, calendar: BusinessCalendar, received: datetime) -> datetime:
    """When the clock starts for a case received at ``received``."""
    if policy.clock_start == ClockStart.NEXT_OPENING:
        return calendar.next_opening(received)
    return received


def add_target(policy: SlaPolicy, calendar: BusinessCalendar, start: datetime, amount: float) -> datetime:
    """``amount`` units of the policy's basis after ``start``."""
    if policy.basis == SlaBasis.CALENDAR_DAYS:
        return from_epoch(add_calendar_days_epoch1(to_epoch(start), amount, calendar.tz), start.tzinfo)
    if policy.basis == SlaBasis.BUSINESS_DAYS:
        return calendar.add_business_days(start, amount)
    return calendar.add_business_hours(start, amount)


def due_at(policy: SlaPolicy, calendar: BusinessCalendar, received: datetime) -> datetime:
    """The due time of a case received at ``received``, before any pause."""
    return add_target(policy, calendar, clock_start(policy, calendar, received), policy.target)


def first_response_due_at(policy: SlaPolicy, calendar: BusinessCalendar, received: datetime) -> datetime | None:
    if policy.first_response is None:
        return None
    return add_target(policy, calendar, clock_start(policy, calendar, received), policy.first_response)


def paused_counted(policy: SlaPolicy, calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Seconds a pause from ``start`` to ``end`` takes off the clock.

    Calendar-day targets count every elapsed second; business targets count only the
    calendar's opening time (a pause over a holiday or a night costs nothing).
    """
    if end <= start:
        return 0.0
    if policy.basis == SlaBasis.CALENDAR_DAYS:
        return (end - start).total_seconds()
    return calendar.open_seconds_between(start, end)


def extend_for_pause(policy: SlaPolicy, calendar: BusinessCalendar, due: datetime, paused_seconds: float) -> datetime:
    """Push a due time back by paused time counted as in :func:`paused_counted`."""
    if not paused_seconds:
        return due
    if policy.basis == SlaBasis.CALENDAR_DAYS:
        return due + timedelta(seconds=paused_seconds)
    return calendar.add_business_seconds(due, paused_seconds)


def due_epochs(policy: SlaPolicy, calendar: BusinessCalendar, received: np.ndarray,
               paused: np.ndarray | None = None, *, targets: np.ndarray | None = None) -> np.ndarray:
    """Vector :func:`due_at` (plus pause extension) over epoch seconds: one search per case.

    ``targets`` (one per case) stands in for ``policy.target``, so cases held to several
    policies that share a basis, calendar and clock start are computed in one call; it is
    refused for business days, whose arithmetic takes one target at a time.
    """
    received = np.asarray(received, dtype=np.float64)
    target = policy.target if targets is None else np.asarray(targets, dtype=np.float64)
    timeline = calendar.timeline
    starts = timeline.next_opening(received) if policy.clock_start == ClockStart.NEXT_OPENING else received
    if policy.basis == SlaBasis.CALENDAR_DAYS:
        due = add_calendar_days_epochs(starts, target, calendar.tz)
        return due if paused is None else due + paused
    if policy.basis == SlaBasis.BUSINESS_DAYS:
        if targets is not None:
            raise ValueError("due_epochs: per-case targets are not supported for business days")
        due = timeline.add_working_days(starts, policy.target)
        if paused is None or not np.any(paused):
            return due
        return np.where(paused > 0, timeline.add_open_seconds(due, paused), due)
    seconds = target * 3600.0
    if paused is not None:
        seconds = seconds + paused
    return timeline.add_open_seconds(starts, seconds)
