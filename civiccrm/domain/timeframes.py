"""Time-frames for service types, derived from a city's own history (the method of ``profile draft``).

The export decides the method: its own on-time verdicts where it has any, else its own due
dates where it has any, else the distribution of days to close. Per service type:

1. ``verdicts``: the city's own on-time verdicts. The integer threshold T >= 1 (days) that
   disagrees with the fewest verdicts -- a case "exceeded" when its days to close > T --
   ties to the smallest T. Fitted on the cases opened on or after ``fit_since`` when the
   type has at least ``min_verdicts`` there (the time-frame in force now), else on all.
   Accepted when the window has ``min_verdicts`` verdicts, one on-time verdict at least, and
   T agrees with ``min_agreement`` of them. (Kansas City's shipped time-frames are this.)
2. ``due-dates``: the city's own due dates: the median of due minus opened, in whole days
   rounded up, over at least ``min_verdicts`` cases.
3. ``days-to-close``: the ``close_quantile`` of the days to close of at least
   ``min_verdicts`` closed cases, rounded up.
4. ``default``: the (lower) median of the derived time-frames of the types in the same
   department if it has ``min_peers`` of them, else of the same category, else of all
   derived types (``default_days`` when there are none).
"""

import math
import statistics
from collections import Counter

from civiccrm.domain.mapping import DraftSettings


def fit_threshold(obs: list[tuple[float, bool]]) -> tuple[int, int]:
    """(T, errors) for (days, exceeded) observations: T >= 1 minimising disagreements, ties to the smallest."""
    on_time_by_day = Counter(math.ceil(d) if d != int(d) else int(d) for d, y in obs if not y)
    late_by_day = Counter(math.ceil(d) if d != int(d) else int(d) for d, y in obs if y)
    top = max([1] + [int(math.ceil(d)) for d, _ in obs])
    err_on_time = sum(on_time_by_day.values()) - sum(n for d, n in on_time_by_day.items() if d <= 0)
    err_late = sum(n for d, n in late_by_day.items() if d <= 0)
    best = None
    for t in range(1, top + 1):
        err_on_time -= on_time_by_day[t]
        err_late += late_by_day[t]
        if best is None or err_on_time + err_late < best[1]:
            best = (t, err_on_time + err_late)
    return best


def agreement(obs, t: int) -> int:
    return sum(1 for d, y in obs if (d > t) == y)


METHODS = ("verdicts", "due-dates", "days-to-close")


def method_for(histories) -> str:
    """The method for a whole export: verdicts if it has any, else due dates if any, else days to close."""
    histories = list(histories)
    if any(h["verdicts"] for h in histories):
        return "verdicts"
    if any(h["due_days"] for h in histories):
        return "due-dates"
    return "days-to-close"


def derive(history, settings: DraftSettings, method: str) -> dict:
    """One type's time-frame by ``method`` from its history. ``history`` has ``verdicts`` (opened day,
    days, exceeded), ``due_days`` and ``close_days`` lists. Returns a dict with ``days``, ``method``,
    ``window``, ``observations`` and ``agreement`` (share of verdicts T agrees with); ``days`` is None
    and ``method`` ``default`` when the type has too little history for it."""
    verdicts = history["verdicts"]
    if method == "verdicts" and verdicts:
        recent = [(d, y) for day, d, y in verdicts if settings.fit_since is not None and day >= settings.fit_since]
        if settings.fit_since is not None and len(recent) >= settings.min_verdicts:
            window, obs = f"since-{settings.fit_since:%Y-%m}", recent
        else:
            window, obs = "all", [(d, y) for _, d, y in verdicts]
        t, errors = fit_threshold(obs)
        share = (len(obs) - errors) / len(obs)
        if len(obs) >= settings.min_verdicts and any(not y for _, y in obs) and share >= settings.min_agreement:
            return {"days": t, "method": "verdicts", "window": window, "observations": len(obs), "agreement": share}
    if method == "due-dates" and len(history["due_days"]) >= settings.min_verdicts:
        days = max(1, math.ceil(statistics.median(history["due_days"])))
        return {"days": days, "method": "due-dates", "window": "all", "observations": len(history["due_days"]),
                "agreement": None}
    closes = sorted(history["close_days"])
    if method == "days-to-close" and len(closes) >= settings.min_verdicts:
        index = min(len(closes) - 1, max(0, math.ceil(settings.close_quantile * len(closes)) - 1))
        return {"days": max(1, math.ceil(closes[index])), "method": "days-to-close", "window": "all",
                "observations": len(closes), "agreement": None}
    return {"days": None, "method": "default", "window": "", "observations": 0, "agreement": None}


def fill_defaults(types: list[dict], settings: DraftSettings) -> Counter:
    """Give every type without a derived time-frame its peers' median; returns how many by which peers."""
    by_dept: dict = {}
    by_cat: dict = {}
    derived = []
    for st in types:
        if st["sla_days"] is not None:
            by_dept.setdefault(st["department"], []).append(st["sla_days"])
            by_cat.setdefault(st["category"], []).append(st["sla_days"])
            derived.append(st["sla_days"])
    overall = statistics.median_low(derived) if derived else settings.default_days
    basis = Counter()
    for st in types:
        if st["sla_days"] is None:
            if len(by_dept.get(st["department"], ())) >= settings.min_peers:
                st["sla_days"] = statistics.median_low(by_dept[st["department"]])
                basis["department"] += 1
            elif len(by_cat.get(st["category"], ())) >= settings.min_peers:
                st["sla_days"] = statistics.median_low(by_cat[st["category"]])
                basis["category"] += 1
            else:
                st["sla_days"] = overall
                basis["overall"] += 1
        st["sla_days"] = max(1, int(st["sla_days"]))
    basis["overall_days"] = overall
    return basis
