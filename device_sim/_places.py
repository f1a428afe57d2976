"""Real European places the simulated fleet lives between: customer cities, returns hubs
and rental depots, plus the distance helper that routes are built from."""

from __future__ import annotations

import math
from dataclasses import dataclass

_EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Place:
    """A named point, WGS84 degrees."""

    name: str
    lat: float
    lon: float


# Mainland cities only, so that a straight route to the nearest hub stays on land
# (or crosses a bridge/ferry line), which keeps the simulated tracks believable.
CITIES: tuple[Place, ...] = (
    Place("Berlin", 52.5200, 13.4050),
    Place("Hamburg", 53.5511, 9.9937),
    Place("Munich", 48.1351, 11.5820),
    Place("Cologne", 50.9375, 6.9603),
    Place("Frankfurt", 50.1109, 8.6821),
    Place("Stuttgart", 48.7758, 9.1829),
    Place("Düsseldorf", 51.2277, 6.7735),
    Place("Paris", 48.8566, 2.3522),
    Place("Lyon", 45.7640, 4.8357),
    Place("Marseille", 43.2965, 5.3698),
    Place("Amsterdam", 52.3676, 4.9041),
    Place("Rotterdam", 51.9244, 4.4777),
    Place("Brussels", 50.8503, 4.3517),
    Place("Vienna", 48.2082, 16.3738),
    Place("Zurich", 47.3769, 8.5417),
    Place("Milan", 45.4642, 9.1900),
    Place("Turin", 45.0703, 7.6869),
    Place("Madrid", 40.4168, -3.7038),
    Place("Barcelona", 41.3874, 2.1686),
    Place("Lisbon", 38.7223, -9.1393),
    Place("Warsaw", 52.2297, 21.0122),
    Place("Prague", 50.0755, 14.4378),
    Place("Budapest", 47.4979, 19.0402),
    Place("Copenhagen", 55.6761, 12.5683),
)

# Where return shipments go: large European returns/logistics centres.
HUBS: tuple[Place, ...] = (
    Place("Returns hub Venlo", 51.3704, 6.1724),
    Place("Returns hub Bad Hersfeld", 50.8685, 9.7077),
    Place("Returns hub Stryków", 51.9036, 19.6036),
    Place("Returns hub Zaragoza", 41.6488, -0.8891),
    Place("Returns hub Saint-Quentin-Fallavier", 45.6436, 5.1122),
    Place("Returns hub Piacenza", 45.0526, 9.6930),
)

# Where rented assets are returned to.
DEPOTS: tuple[Place, ...] = (
    Place("Rental depot Dortmund", 51.5136, 7.4653),
    Place("Rental depot Leipzig", 51.3397, 12.3731),
    Place("Rental depot Lille", 50.6292, 3.0573),
    Place("Rental depot Linz", 48.3069, 14.2858),
    Place("Rental depot Bologna", 44.4949, 11.3426),
    Place("Rental depot Valencia", 39.4699, -0.3763),
)


def distance_km(a: Place, b: Place) -> float:
    """Great-circle (haversine) distance between two places."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest(origin: Place, candidates: tuple[Place, ...], *, min_km: float = 0.0) -> Place:
    """The candidate closest to origin that is at least min_km away (else the closest)."""
    ranked = sorted(candidates, key=lambda p: distance_km(origin, p))
    for place in ranked:
        if distance_km(origin, place) >= min_km:
            return place
    return ranked[0]
