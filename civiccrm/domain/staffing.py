"""Staffing per half-hour of the week from a centre's own calls, with Erlang C or Erlang A.

For each half-hour of a typical week: the arrival rate is the offered calls in that
half-hour over the period divided by the number of such half-hours; the handle time is the
handled calls' mean; the agents needed are the fewest that meet the goal (e.g. 80% within
20 s) under the model; staff to schedule are agents / (1 - shrinkage). Beside it, the rule
of thumb (calls / calls an agent handles in the half-hour). With a schedule, Erlang A
predicts the abandonment and service level of the staff actually scheduled.

Patience "auto" is the standard estimate for exponential patience (Brown et al. 2005):
abandoned calls / total time offered callers spent waiting, answered or not, i.e. the
maximum-likelihood rate when waits that ended in an answer are censored observations.
"""

import csv
import math
from pathlib import Path

import attrs
import numpy as np

from civiccrm.domain import erlang
from civiccrm.domain.calls import SLOTS_PER_DAY
from civiccrm.errors import CivicError

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def estimate_patience(*, abandoned: int, offered_wait_seconds: float) -> float:
    """Mean patience in seconds: total waiting time of offered callers / abandoned calls."""
    if abandoned <= 0 or offered_wait_seconds <= 0:
        raise CivicError("--patience auto: no abandoned calls with waits in the period to estimate patience from; "
                         "give --patience SECONDS")
    return offered_wait_seconds / abandoned


@attrs.frozen
class StaffingPlan:
    """Arrays of 7 x 48 (Monday first, half-hours from midnight)."""

    arrivals_per_hour: np.ndarray
    aht_seconds: np.ndarray
    agents: np.ndarray
    """Agents on the phones the goal needs."""
    staff: np.ndarray
    """Agents / (1 - shrinkage), rounded up: people to schedule."""
    rule_of_thumb: np.ndarray
    """Calls in the half-hour / (calls per agent-hour / 2), rounded up."""
    service_level: np.ndarray
    """Predicted service level with ``agents``."""
    abandonment: np.ndarray
    """Predicted abandonment with ``agents`` (0 under Erlang C)."""
    patience_seconds: float | None
    scheduled: np.ndarray | None = None
    scheduled_abandonment: np.ndarray | None = None
    scheduled_service_level: np.ndarray | None = None


def plan(*, offered, handled, handle_seconds, days_of_weekday, level: float, within_seconds: float,
         shrinkage: float, calls_per_agent_hour: float, patience_seconds: float | None,
         schedule: np.ndarray | None = None) -> StaffingPlan:
    """The staffing plan for a typical week from the period's totals per weekday and half-hour."""
    offered = np.asarray(offered, dtype=float)
    handled = np.asarray(handled, dtype=float)
    handle = np.asarray(handle_seconds, dtype=float)
    days = np.asarray(days_of_weekday, dtype=float)[:, None]
    per_half_hour = np.where(days > 0, offered / np.maximum(days, 1), 0.0)
    rate = per_half_hour * 2.0
    overall_aht = handle.sum() / handled.sum() if handled.sum() else 0.0
    if rate.any() and overall_aht <= 0:
        raise CivicError("staffing: no handled calls with a handle time in the period")
    aht = np.where(handled > 0, handle / np.maximum(handled, 1), overall_aht)
    aht = np.where(aht > 0, aht, overall_aht if overall_aht > 0 else 1.0)
    flat_rate, flat_aht = rate.ravel(), aht.ravel()
    agents = erlang.agents_needed(arrivals_per_hour=flat_rate, aht_seconds=flat_aht, service_level=level,
                                  answer_within_seconds=within_seconds, patience_seconds=patience_seconds)
    figures = erlang.queue_figures(arrivals_per_hour=flat_rate, aht_seconds=flat_aht, agents=agents,
                                   answer_within_seconds=within_seconds, patience_seconds=patience_seconds)
    shape = rate.shape
    staff = np.ceil(agents / (1.0 - shrinkage) - 1e-9).astype(int)
    thumb = np.ceil(per_half_hour / (calls_per_agent_hour / 2.0) - 1e-9).astype(int)
    extra = {}
    if schedule is not None:
        if patience_seconds is None:
            raise CivicError("--schedule: predicting abandonment needs a patience (Erlang A); give --patience")
        on_phones = np.floor(np.asarray(schedule, dtype=float) * (1.0 - shrinkage) + 1e-9).ravel()
        scheduled = erlang.erlang_a_figures(arrivals_per_hour=flat_rate, aht_seconds=flat_aht, agents=on_phones,
                                            patience_seconds=patience_seconds, answer_within_seconds=within_seconds)
        busy = flat_rate > 0
        extra = {
            "scheduled": np.asarray(schedule, dtype=int),
            "scheduled_abandonment": np.where(busy, scheduled.probability_abandon, 0.0).reshape(shape),
            "scheduled_service_level": np.where(busy, scheduled.service_level, 1.0).reshape(shape),
        }
    busy = flat_rate > 0
    return StaffingPlan(
        arrivals_per_hour=rate, aht_seconds=np.where(rate > 0, aht, 0.0), agents=agents.reshape(shape),
        staff=np.where(rate > 0, staff.reshape(shape), 0), rule_of_thumb=thumb,
        service_level=np.where(busy, figures.service_level, 1.0).reshape(shape),
        abandonment=np.where(busy, figures.probability_abandon, 0.0).reshape(shape),
        patience_seconds=patience_seconds, **extra,
    )


def read_schedule(path: str | Path) -> np.ndarray:
    """A schedule CSV (weekday, start, staff): people scheduled per half-hour; absent half-hours are 0."""
    grid = np.zeros((7, SLOTS_PER_DAY), dtype=int)
    names = {name.lower(): n for n, name in enumerate(WEEKDAY_NAMES)} | {name[:3].lower(): n for n, name in enumerate(WEEKDAY_NAMES)}
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CivicError(f"--schedule: cannot read {path} ({exc.strerror})") from None
    with handle:
        rows = csv.DictReader(handle)
        missing = [c for c in ("weekday", "start", "staff") if c not in (rows.fieldnames or ())]
        if missing:
            raise CivicError(f"{path}: line 1: missing column {missing[0]!r} (expected weekday,start,staff)")
        for row in rows:
            where = f"{path}: line {rows.line_num}"
            day = names.get((row["weekday"] or "").strip().lower())
            if day is None:
                raise CivicError(f"{where}: weekday {row['weekday']!r} is not a day name like Monday")
            try:
                hours, minutes = (int(p) for p in (row["start"] or "").strip().split(":"))
            except ValueError:
                raise CivicError(f"{where}: start {row['start']!r} is not a time like 07:30") from None
            if minutes not in (0, 30) or not 0 <= hours < 24:
                raise CivicError(f"{where}: start {row['start']!r} must be on the hour or half-hour")
            staff = (row["staff"] or "").strip()
            if not staff.isdigit():
                raise CivicError(f"{where}: staff {staff!r} is not a whole number of people")
            grid[day][hours * 2 + minutes // 30] = int(staff)
    return grid


def slot_label(slot: int) -> str:
    return f"{slot // 2:02d}:{30 * (slot % 2):02d}"


def daily_rule_of_thumb(calls_per_day: float, calls_per_shift: float) -> int:
    """Staff a day's calls need by the rule of thumb (e.g. 2,933 calls / 80 a shift -> 37)."""
    return math.ceil(calls_per_day / calls_per_shift - 1e-9)
