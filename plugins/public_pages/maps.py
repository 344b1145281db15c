"""The city drawn as inline SVG for the report form: its limits and districts, no tiles, no network.

The drawing carries its projection (``data-*`` attributes), so the page's script turns a click
into latitude and longitude; without JavaScript the form's own fields give the point."""

import math

import attrs

from civiccrm.web.admin.maps import _path

WIDTH = 640
SIMPLIFY_DEGREES = 0.0008
"""About 80 m: enough to see which district a street is in."""


@attrs.frozen
class Projection:
    """Equirectangular, longitudes shrunk by the cosine of the middle latitude."""

    west: float
    north: float
    shrink: float
    scale: float
    margin: float = 10.0

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        return (self.margin + (lon - self.west) * self.shrink * self.scale,
                self.margin + (self.north - lat) * self.scale)


@attrs.frozen
class CitySvg:
    width: int
    height: int
    projection: Projection
    boundary: str
    """SVG path data of the city limits (empty when the profile has none)."""
    districts: tuple[tuple[str, str, str, float, float], ...]
    """(id, name, path data, label x, label y) of every district."""


def _frame(geometries) -> tuple[float, float, float, float]:
    bounds = [g.bounds for g in geometries]
    return (min(b[0] for b in bounds), min(b[1] for b in bounds), max(b[2] for b in bounds),
            max(b[3] for b in bounds))


def _drawing(city_map) -> CitySvg | None:
    shapes = [d.geometry for d in city_map.districts]
    if city_map.boundary is not None:
        shapes.append(city_map.boundary)
    if not shapes:
        return None
    west, south, east, north = _frame(shapes)
    shrink = math.cos(math.radians((south + north) / 2))
    scale = (WIDTH - 20) / max((east - west) * shrink, 1e-9)
    projection = Projection(west=west, north=north, shrink=shrink, scale=scale)
    height = int((north - south) * scale) + 20
    boundary = ""
    if city_map.boundary is not None:
        boundary = _path(city_map.boundary.simplify(SIMPLIFY_DEGREES, preserve_topology=True), projection.point)
    districts = []
    for district in city_map.districts:
        simplified = district.geometry.simplify(SIMPLIFY_DEGREES, preserve_topology=True)
        label = district.geometry.representative_point()
        x, y = projection.point(label.x, label.y)
        districts.append((district.id, district.name, _path(simplified, projection.point), x, y))
    return CitySvg(width=WIDTH, height=height, projection=projection, boundary=boundary, districts=tuple(districts))


_drawings: dict[int, tuple[object, CitySvg | None]] = {}


def city_svg(city_map) -> CitySvg | None:
    """The drawing of the city (made once per loaded map), or None when the profile has no map."""
    cached = _drawings.get(id(city_map))
    if cached is None or cached[0] is not city_map:
        cached = _drawings[id(city_map)] = (city_map, _drawing(city_map))
    return cached[1]
