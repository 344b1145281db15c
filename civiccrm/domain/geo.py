"""City limits and council districts: which district a point falls in."""

import json
import math
from pathlib import Path

import attrs
import numpy as np
import shapely
from shapely.geometry import shape

from civiccrm.errors import CivicError


@attrs.frozen
class District:
    id: str
    name: str
    geometry: object = attrs.field(repr=False, eq=False)


def _load_features(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CivicError(f"{path}: not a readable GeoJSON file ({exc})") from None
    if data.get("type") == "FeatureCollection":
        return data.get("features", [])
    if data.get("type") == "Feature":
        return [data]
    return [{"type": "Feature", "properties": {}, "geometry": data}]


@attrs.define
class CityMap:
    """The city's boundary and districts. A point on a shared edge goes to the lowest district id.

    The geometries are prepared (GEOS builds their edge index once) and asked with ``shapely.intersects_xy``,
    which for a point is "covered by" (the edge included) without making a Point: every intake asks both."""

    boundary: object | None = None
    districts: list[District] = attrs.field(factory=list)
    _geometries: np.ndarray = attrs.field(init=False, repr=False)
    """The districts' geometries in their order, asked in one call."""

    def __attrs_post_init__(self):
        self._geometries = np.array([d.geometry for d in self.districts], dtype=object)
        shapely.prepare(self._geometries)
        if self.boundary is not None:
            shapely.prepare(self.boundary)

    @classmethod
    def from_files(cls, boundary: Path | None, districts: Path | None, id_property: str = "district_id"):
        boundary_geom = None
        if boundary is not None:
            from shapely.ops import unary_union

            boundary_geom = unary_union([shape(f["geometry"]) for f in _load_features(boundary)])
        found = []
        if districts is not None:
            for n, feature in enumerate(_load_features(districts), start=1):
                props = feature.get("properties") or {}
                if id_property not in props:
                    raise CivicError(f"{districts}: feature {n} has no property {id_property!r}")
                district_id = str(props[id_property]).strip()
                if district_id.endswith(".0"):
                    district_id = district_id[:-2]
                geometry = shape(feature["geometry"])
                if not geometry.is_valid:
                    from shapely import make_valid

                    geometry = make_valid(geometry)
                found.append(District(id=district_id, name=str(props.get("name") or f"District {district_id}"), geometry=geometry))
        found.sort(key=lambda d: (len(d.id), d.id))
        return cls(boundary=boundary_geom, districts=found)

    def contains(self, latitude: float, longitude: float) -> bool:
        """True when the point is inside the city limits (or no limits are known)."""
        if self.boundary is None:
            return True
        return bool(shapely.intersects_xy(self.boundary, longitude, latitude))

    def district_at(self, latitude: float, longitude: float) -> str | None:
        inside = shapely.intersects_xy(self._geometries, longitude, latitude)
        return self.districts[int(inside.argmax())].id if inside.any() else None


METRES_PER_DEGREE = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator)."""


def distance_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) between two WGS84 points, in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))
