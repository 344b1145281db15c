"""Synthetic call records with known seasonality and arrival parameters (tests, demo, benchmark).

The city publishes call volumes only as charts, so tests and the demo need calls whose
true parameters are known: arrivals are a Poisson process whose rate is constant within
each half-hour (calls per day x weekday factor x share of the day's calls in that
half-hour x storm multiplier); handle times are exponential with mean ``aht_seconds``;
callers' patience is exponential with mean ``patience_seconds``; and the calls are
served first come, first served by the agents the schedule puts on the phones in each
half-hour, so waits, abandonments and service levels come out of a real queue.
"""

import heapq
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import numpy as np

from civiccrm.domain.calls import ABANDONED, ANSWERED, SLOTS_PER_DAY

WEEKDAY_FACTORS = (1.45, 1.15, 1.05, 1.0, 0.95, 0.35, 0.25)
"""Calls on each weekday (Monday first) relative to a Thursday: Mondays peak, weekends are quiet."""

WRAP_UPS = (
    ("trash-recycling", 0.24), ("water-billing", 0.16), ("streets-potholes", 0.13), ("property-nuisance", 0.11),
    ("animal-control", 0.08), ("status-check", 0.12), ("information-only", 0.10), ("transfer-other-agency", 0.06),
)
"""Wrap-up codes and their shares; a call with a code in CASE_CODES creates a case."""

CASE_CODES = frozenset({"trash-recycling", "water-billing", "streets-potholes", "property-nuisance", "animal-control"})


def _day_shape(open_slot: int, close_slot: int, peak_slot: int) -> np.ndarray:
    """Share of a day's calls per half-hour: a smooth bump between opening and closing."""
    slots = np.arange(SLOTS_PER_DAY, dtype=float)
    shape = np.exp(-0.5 * ((slots - peak_slot) / 6.0) ** 2) + 0.25
    shape[(slots < open_slot) | (slots >= close_slot)] = 0.0
    return shape / shape.sum()


@attrs.frozen
class CallPattern:
    """The true parameters of the synthetic calls."""

    calls_per_day: float = 1100.0
    """Expected calls on a Thursday (weekday factor 1.0) that is not a storm day."""
    weekday_factors: tuple[float, ...] = WEEKDAY_FACTORS
    weekday_hours: tuple[int, int] = (14, 40)
    """Opening half-hours Monday to Friday (07:00 to 20:00)."""
    weekend_hours: tuple[int, int] = (16, 34)
    """Opening half-hours on Saturday and Sunday (08:00 to 17:00)."""
    peak_slot: int = 20
    """The half-hour calls peak in (10:00)."""
    storm_days: tuple[date, ...] = ()
    storm_factor: float = 2.7
    aht_seconds: float = 240.0
    patience_seconds: float = 150.0
    queue: str = "311"

    def shape(self, weekday: int) -> np.ndarray:
        open_slot, close_slot = self.weekday_hours if weekday < 5 else self.weekend_hours
        return _day_shape(open_slot, close_slot, self.peak_slot)

    def rate(self, day: date, slot: int) -> float:
        """Expected calls in one half-hour of one day."""
        factor = self.storm_factor if day in self.storm_days else 1.0
        return self.calls_per_day * self.weekday_factors[day.weekday()] * self.shape(day.weekday())[slot] * factor

    def week_rates(self) -> np.ndarray:
        """Expected calls per half-hour of an ordinary week: 7 x 48, Monday first."""
        return np.array([self.calls_per_day * self.weekday_factors[d] * self.shape(d) for d in range(7)])

    def schedule(self, *, agents_per_call: float = 0.052, minimum: int = 2) -> np.ndarray:
        """A plausible schedule: the same agents every weekday (sized to an average weekday) and
        at weekends, so Mondays and storm days are understaffed as they are in a real centre."""
        week = self.week_rates()
        weekday = week[:5].mean(axis=0)
        weekend = week[5:].mean(axis=0)
        staff = np.zeros((7, SLOTS_PER_DAY), dtype=int)
        for d in range(7):
            base = weekday if d < 5 else weekend
            staff[d] = np.where(base > 0, np.maximum(minimum, np.round(base * agents_per_call * self.aht_seconds / 60)), 0)
        return staff


def generate_calls(pattern: CallPattern, *, start: date, days: int, timezone: str, seed: int = 0,
                   schedule: np.ndarray | None = None, callers: int | None = None) -> Iterator[dict]:
    """Rows of the generic call format (``[calls.formats.generic]``), in order of arrival."""
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(timezone)
    staff = pattern.schedule() if schedule is None else schedule
    pool = callers or max(100, int(pattern.calls_per_day * days * 0.6))
    codes = [c for c, _ in WRAP_UPS]
    shares = np.array([s for _, s in WRAP_UPS])
    servers: list[float] = []  # free-at times (epoch seconds) of the agents on the phones
    number = 0
    for offset in range(days):
        day = start + timedelta(days=offset)
        midnight = datetime.combine(day, time(0), tz)
        for slot in range(SLOTS_PER_DAY):
            slot_start = (midnight + timedelta(minutes=30 * slot)).timestamp()
            on_phones = int(staff[day.weekday()][slot])
            # agents joining start free at the slot's start; agents leaving finish their call first
            if len(servers) < on_phones:
                servers.extend([slot_start] * (on_phones - len(servers)))
                heapq.heapify(servers)
            elif len(servers) > on_phones:
                servers = heapq.nsmallest(on_phones, servers)
                heapq.heapify(servers)
            expected = pattern.rate(day, slot)
            count = rng.poisson(expected) if expected > 0 else 0
            if not count:
                continue
            arrivals = np.sort(rng.uniform(slot_start, slot_start + 1800.0, count))
            patience = rng.exponential(pattern.patience_seconds, count)
            service = rng.exponential(pattern.aht_seconds, count)
            wrap = rng.choice(len(codes), size=count, p=shares)
            caller = rng.integers(0, pool, count)
            talk_share = rng.uniform(0.75, 0.9, count)
            for i in range(count):
                number += 1
                arrived = float(arrivals[i])
                free = servers[0] if servers else float("inf")
                wait = max(0.0, free - arrived)
                answered = wait <= patience[i]
                if answered:
                    heapq.heapreplace(servers, arrived + wait + float(service[i]))
                else:
                    wait = float(patience[i])
                handle = float(service[i]) if answered else 0.0
                code = codes[wrap[i]] if answered else ""
                yield {
                    "call_id": f"SIM-{seed}-{number:09d}",
                    "queue": pattern.queue,
                    "started_at": datetime.fromtimestamp(arrived, tz).isoformat(timespec="seconds"),
                    "outcome": ANSWERED if answered else ABANDONED,
                    "wait_seconds": f"{wait:.1f}",
                    "talk_seconds": f"{handle * talk_share[i]:.1f}",
                    "hold_seconds": f"{handle * (1 - talk_share[i]) * 0.3:.1f}",
                    "acw_seconds": f"{handle * (1 - talk_share[i]) * 0.7:.1f}",
                    "wrap_up": code,
                    "agent": "",
                    "caller": f"816555{int(caller[i]):04d}"[-10:] if pool <= 10_000 else f"81{int(caller[i]):08d}",
                    "case_number": "",
                }


GENERIC_HEADER = ("call_id", "queue", "started_at", "outcome", "wait_seconds", "talk_seconds", "hold_seconds",
                  "acw_seconds", "wrap_up", "agent", "caller", "case_number")
