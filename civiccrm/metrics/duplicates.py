"""How well the duplicate rule finds the duplicates a city marked itself (e.g. Kansas City's DUP status).

Each case with a point is replayed at the moment it was opened: the rule looks at the cases of the
same type (or group) that were open then, opened within the window before it, inside the radius.
A case the city closed as a duplicate that has such a candidate is *found*; any other case that has
one is a *false alarm* (the call taker would have been offered a duplicate the city did not see).
The replay uses the same ranking as intake (``domain.duplicates.rank``), one pass per type group.
"""

from collections import defaultdict

import attrs

from civiccrm.domain.cases import Resolution
from civiccrm.domain.duplicates import DuplicatePolicy, DuplicateRule, bounding_box, rank
from civiccrm.store import duplicates as store


@attrs.frozen
class Evaluation:
    """The rule measured against the duplicates recorded in the database."""

    label: str
    cases: int
    """Cases with a point (the rule needs one)."""
    city_duplicates: int
    """Of those, cases the city closed as duplicates."""
    found: int
    """City duplicates for which the rule offered at least one candidate."""
    false_alarms: int
    """Other cases for which the rule offered a candidate."""

    @property
    def recall(self) -> float | None:
        return self.found / self.city_duplicates if self.city_duplicates else None

    @property
    def false_alarm_rate(self) -> float | None:
        others = self.cases - self.city_duplicates
        return self.false_alarms / others if others else None

    @property
    def precision(self) -> float | None:
        flagged = self.found + self.false_alarms
        return self.found / flagged if flagged else None

    def as_dict(self) -> dict:
        return {"rule": self.label, "cases": self.cases, "city_duplicates": self.city_duplicates,
                "found": self.found, "false_alarms": self.false_alarms, "recall": self.recall,
                "false_alarm_rate": self.false_alarm_rate, "precision": self.precision}


def uniform(policy: DuplicatePolicy, radius_m: float, window_days: float) -> DuplicatePolicy:
    """``policy`` with every type held to one radius and window (its groups kept)."""
    return attrs.evolve(
        policy, default=DuplicateRule(radius_m=radius_m, window_days=window_days),
        rules={code: attrs.evolve(rule, radius_m=radius_m, window_days=window_days)
               for code, rule in policy.rules.items()})


def evaluate(deployment, policy: DuplicatePolicy | None = None, *, label: str = "profile") -> Evaluation:
    """Replay every case with a point against ``policy`` (by default the profile's)."""
    policy = policy or deployment.profile.duplicates
    with deployment.engine.connect() as connection:
        rows = list(store.closed_and_open_with_points(connection))
    partitions = defaultdict(list)
    for row in rows:
        partitions[policy.rule_for(row.service_code).group or row.service_code].append(row)
    found = false_alarms = duplicates = 0
    for members in partitions.values():  # each already in order of opening
        for i, case in enumerate(members):
            is_duplicate = case.resolution == Resolution.DUPLICATE.value
            duplicates += is_duplicate
            rule = policy.rule_for(case.service_code)
            if not rule.enabled:
                continue
            south, north, west, east = bounding_box(case.latitude, case.longitude, rule.radius_m)
            earliest = case.opened_at - rule.window
            earlier = []
            for j in range(i - 1, -1, -1):
                other = members[j]
                if other.opened_at < earliest:
                    break
                if (south <= other.latitude <= north and west <= other.longitude <= east
                        and (other.closed_at is None or other.closed_at > case.opened_at)):
                    earlier.append(other)
            if rank((case.latitude, case.longitude), case.opened_at, rule, earlier, limit=1):
                if is_duplicate:
                    found += 1
                else:
                    false_alarms += 1
    return Evaluation(label=label, cases=len(rows), city_duplicates=duplicates, found=found,
                      false_alarms=false_alarms)
