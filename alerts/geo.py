"""Geofence geometry: point-in-polygon through shapely, circles by great-circle distance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shapely import Point, prepare
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from alerts.domain import Geofence

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on the mean Earth radius: within 0.5 % of the ellipsoid, which is
    far below a tag's GPS accuracy."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def polygon_geometry(geojson: dict[str, Any]) -> BaseGeometry:
    """A GeoJSON Polygon or MultiPolygon (or a Feature of one) as a valid shapely geometry;
    raises ValueError with a reason a person can read."""
    if geojson.get("type") == "Feature":
        geojson = geojson.get("geometry") or {}
    if geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("geometry: must be a GeoJSON Polygon or MultiPolygon")
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"geometry: not a valid GeoJSON polygon: {exc}") from None
    if geometry.is_empty or not geometry.is_valid:
        raise ValueError("geometry: the polygon is empty or crosses itself")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError("geometry: positions must be [lon, lat] within WGS84 ranges")
    return geometry


@dataclass(frozen=True)
class Zone:
    """A geofence ready for many containment checks."""

    fence: Geofence
    polygon: BaseGeometry | None

    @classmethod
    def of(cls, fence: Geofence) -> Zone:
        polygon = None
        if fence.geometry is not None:
            polygon = polygon_geometry(fence.geometry)
            prepare(polygon)
        return cls(fence, polygon)

    def contains(self, lat: float, lon: float) -> bool:
        if self.polygon is not None:
            return bool(self.polygon.covers(Point(lon, lat)))
        circle = self.fence.circle
        assert circle is not None
        return distance_m(circle.lat, circle.lon, lat, lon) <= circle.radius_m
