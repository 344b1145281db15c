"""A small map of a case as inline SVG: its council district's outline and the point (no tiles, no network)."""

import functools
import math

import attrs

WIDTH = 320


@attrs.frozen
class SvgMap:
    width: int
    height: int
    outline: str
    """SVG path data of the district (empty when the case has no district)."""
    x: float | None
    y: float | None
    district: str | None


def _path(geometry, project) -> str:
    polygons = getattr(geometry, "geoms", [geometry])
    parts = []
    for polygon in polygons:
        for ring in [polygon.exterior, *polygon.interiors]:
            points = [project(lon, lat) for lon, lat in ring.coords]
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) + " Z")
    return " ".join(parts)


@functools.lru_cache(maxsize=256)
def _district_frame(city_map_id: int, district_id: str, geometry):
    simplified = geometry.simplify(0.0005, preserve_topology=True)
    minx, miny, maxx, maxy = simplified.bounds
    return simplified, (minx, miny, maxx, maxy)


def case_map(city_map, district_id: str | None, latitude: float | None, longitude: float | None) -> SvgMap | None:
    """The SVG drawing of the district (simplified to ~50 m) with the case's point, or None without either."""
    district = next((d for d in city_map.districts if d.id == district_id), None) if district_id else None
    if district is None and latitude is None:
        return None
    if district is not None:
        geometry, (minx, miny, maxx, maxy) = _district_frame(id(city_map), district.id, district.geometry)
    else:
        geometry, (minx, miny, maxx, maxy) = None, (longitude - 0.01, latitude - 0.01, longitude + 0.01, latitude + 0.01)
    if latitude is not None:
        minx, maxx = min(minx, longitude), max(maxx, longitude)
        miny, maxy = min(miny, latitude), max(maxy, latitude)
    shrink = math.cos(math.radians((miny + maxy) / 2))
    span_x = max((maxx - minx) * shrink, 1e-6)
    span_y = max(maxy - miny, 1e-6)
    scale = (WIDTH - 20) / max(span_x, span_y)
    height = int(span_y * scale) + 20

    def project(lon, lat):
        return 10 + (lon - minx) * shrink * scale, 10 + (maxy - lat) * scale

    outline = _path(geometry, project) if geometry is not None else ""
    x, y = project(longitude, latitude) if latitude is not None else (None, None)
    return SvgMap(width=WIDTH, height=height, outline=outline, x=x, y=y, district=district.id if district else None)
