"""Possible duplicates at intake: per-type thresholds, distance on the earth, and the ranking."""

import heapq
import math
from datetime import datetime, timedelta

import attrs

from civiccrm.domain.timeutil import require_aware
from civiccrm.errors import CivicError

EARTH_RADIUS_M = 6_371_008.8
"""Mean earth radius (IUGG), in metres."""
METRES_PER_DEGREE_LATITUDE = math.pi * EARTH_RADIUS_M / 180


def _positive(instance, attribute, value):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise CivicError(f"{attribute.name}: {value!r}; expected a number of at least 0", field=attribute.name)


@attrs.frozen
class DuplicateRule:
    """How far and how far back to look for a service type's possible duplicates."""

    radius_m: float = attrs.field(default=100.0, validator=_positive)
    """Open cases within this distance (metres) of the new one are candidates; 0 turns the check off."""
    window_days: float = attrs.field(default=30.0, validator=_positive)
    """Only cases opened at most this many days before the new one count."""
    group: str | None = None
    """Types naming the same group are compared with each other (e.g. every street-light type)."""

    @property
    def enabled(self) -> bool:
        return self.radius_m > 0 and self.window_days > 0

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)


@attrs.frozen
class DuplicatePolicy:
    """A city's duplicate check: a default rule, per-type rules and how many candidates to offer."""

    default: DuplicateRule = attrs.field(factory=DuplicateRule)
    rules: dict[str, DuplicateRule] = attrs.field(factory=dict)
    """Service code -> its own rule (from the profile's rules CSV)."""
    limit: int = 5
    """At most this many candidates are offered, best first."""
    scan: int = 200
    """At most this many open cases near the point, newest first, are scored: a burst of hundreds of
    reports of one spot (a storm, a water main) keeps each intake's check bounded."""

    def rule_for(self, service_code: str) -> DuplicateRule:
        return self.rules.get(service_code, self.default)

    def related_codes(self, service_code: str) -> tuple[str, ...]:
        """The service codes a new case of ``service_code`` is compared with: itself and its group."""
        group = self.rule_for(service_code).group
        if group is None:
            return (service_code,)
        return tuple(sorted({service_code} | {c for c, r in self.rules.items() if r.group == group}))


@attrs.frozen
class DuplicateCandidate:
    """An open case that may be the same problem as a new contact."""

    tracking_number: str
    service_code: str
    request_type: str
    status: str
    opened_at: datetime = attrs.field(validator=require_aware)
    distance_m: float
    """Metres between the two points."""
    age: timedelta
    """How long before the new contact the candidate was opened."""
    address: str | None = None
    score: float = 0.0
    """Distance as a share of the radius plus age as a share of the window: lower is a closer match."""


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(latitude: float, longitude: float, radius_m: float) -> tuple[float, float, float, float]:
    """(south, north, west, east) in degrees of a box that holds every point within ``radius_m``.

    The database narrows candidates to this box by index before distances are computed."""
    dlat = radius_m / METRES_PER_DEGREE_LATITUDE
    cos_lat = max(math.cos(math.radians(min(89.9, abs(latitude) + dlat))), 1e-6)
    dlon = min(180.0, dlat / cos_lat)
    return latitude - dlat, latitude + dlat, longitude - dlon, longitude + dlon


def rank(new_point: tuple[float, float], at: datetime, rule: DuplicateRule, rows, *, limit: int
         ) -> list[DuplicateCandidate]:
    """Candidates from ``rows`` (with tracking_number, service_code, request_type, status, opened_at,
    latitude, longitude, address) that lie within the rule's radius and window, best first.

    Scores are computed for every row; a candidate is built only for the ``limit`` best."""
    window = rule.window.total_seconds()
    radius = rule.radius_m
    scored = []
    for row in rows:
        distance = distance_m(new_point[0], new_point[1], row.latitude, row.longitude)
        if distance > radius:
            continue
        age = (at - row.opened_at).total_seconds()
        if age > window or age < 0:
            continue
        scored.append((round(distance / radius + age / window, 4), round(distance, 1), row.tracking_number, row))
    best = heapq.nsmallest(limit, scored, key=lambda item: item[:3])
    return [
        DuplicateCandidate(
            tracking_number=row.tracking_number, service_code=row.service_code, request_type=row.request_type,
            status=row.status, opened_at=row.opened_at, distance_m=distance, age=at - row.opened_at,
            address=row.address, score=score,
        )
        for score, distance, _, row in best
    ]


def describe(candidate: DuplicateCandidate) -> str:
    """One line for a person: ``KC-2026-000012 (Pothole, 40 m away, opened 2 days ago)``."""
    hours = candidate.age.total_seconds() / 3600
    when = f"{hours:.0f} hours ago" if hours < 48 else f"{hours / 24:.0f} days ago"
    return f"{candidate.tracking_number} ({candidate.request_type}, {candidate.distance_m:.0f} m away, opened {when})"
