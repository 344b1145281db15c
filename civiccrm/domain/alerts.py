"""Service alerts by area: which subscriptions (a district, or a radius around a point) an alert reaches."""

import attrs
from shapely.geometry import Point
from shapely.ops import nearest_points

from civiccrm.domain.geo import distance_metres
from civiccrm.errors import CivicError

MIN_RADIUS_M, MAX_RADIUS_M = 50.0, 20_000.0


@attrs.frozen
class Area:
    """The whole city (nothing set), one council district, or a circle of ``radius_m`` metres."""

    district: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_m: float | None = None

    def __attrs_post_init__(self):
        circle = (self.latitude, self.longitude, self.radius_m)
        if any(v is not None for v in circle) and any(v is None for v in circle):
            raise CivicError("area: a circle needs latitude, longitude and radius_m together", field="radius_m")
        if self.district is not None and self.latitude is not None:
            raise CivicError("area: a district or a circle, not both", field="district")
        if self.radius_m is not None and not MIN_RADIUS_M <= self.radius_m <= MAX_RADIUS_M:
            raise CivicError(f"radius_m: {self.radius_m:g} m; between {MIN_RADIUS_M:g} and {MAX_RADIUS_M:g} "
                             "metres expected", field="radius_m")

    @property
    def is_city(self) -> bool:
        return self.district is None and self.latitude is None

    @property
    def is_circle(self) -> bool:
        return self.latitude is not None


def check_area(area: Area, city_map) -> Area:
    """A district the city has, or a circle whose centre is inside the city limits."""
    if area.district is not None and not any(d.id == area.district for d in city_map.districts):
        known = ", ".join(d.id for d in city_map.districts) or "none"
        raise CivicError(f"district: {area.district!r} is not a council district; the districts are {known}",
                         field="district")
    if area.is_circle and not city_map.contains(area.latitude, area.longitude):
        raise CivicError(f"location: ({area.latitude}, {area.longitude}) is outside the city limits", field="lat")
    return area


def _to_district(latitude: float, longitude: float, geometry) -> float:
    """Metres from the point to the district (0 inside it)."""
    point = Point(longitude, latitude)
    if geometry.covers(point):
        return 0.0
    nearest = nearest_points(geometry, point)[0]
    return distance_metres(latitude, longitude, nearest.y, nearest.x)


def reaches(alert: Area, subscription: Area, city_map) -> bool:
    """Whether an alert for ``alert`` concerns someone subscribed to ``subscription``."""
    if alert.is_city or subscription.is_city:
        return True
    districts = {d.id: d.geometry for d in city_map.districts}
    if alert.district is not None and subscription.district is not None:
        return alert.district == subscription.district
    if alert.is_circle and subscription.is_circle:
        apart = distance_metres(alert.latitude, alert.longitude, subscription.latitude, subscription.longitude)
        return apart <= alert.radius_m + subscription.radius_m
    circle, district = (alert, subscription.district) if alert.is_circle else (subscription, alert.district)
    geometry = districts.get(district)
    return geometry is not None and _to_district(circle.latitude, circle.longitude, geometry) <= circle.radius_m
