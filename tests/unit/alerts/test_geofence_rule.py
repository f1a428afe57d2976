"""geofence: leaving the allowed area opens, coming back resolves; polygons and circles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.domain import Circle, Geofence, GeofenceKind, Location
from alerts.geo import Zone, distance_m, polygon_geometry
from alerts.rules import Action, Transition
from alerts.rules.geofence import GeofenceState, judge

T0 = datetime(2026, 11, 29, tzinfo=UTC)
# A square around Berlin, [lon, lat] as GeoJSON has it.
BERLIN = Zone.of(Geofence("berlin", "Berlin", GeofenceKind.AREA, geometry={
    "type": "Polygon", "coordinates": [[[13, 52], [14, 52], [14, 53], [13, 53], [13, 52]]]}))


def run(zone: Zone, points: list[tuple[float, float]]) -> list[Transition]:
    state, found = GeofenceState(), []
    for minute, (lat, lon) in enumerate(points):
        state, transitions = judge(zone, state, Location(lat, lon, T0 + timedelta(minutes=minute)))
        found += transitions
    return found


def announced(found: list[Transition]) -> list[Action]:
    return [t.action for t in found if t.action is not Action.REFRESH]


def test_staying_inside_raises_nothing() -> None:
    assert run(BERLIN, [(52.5, 13.4), (52.6, 13.5)]) == []


def test_leaving_opens_once_and_coming_back_resolves() -> None:
    found = run(BERLIN, [(52.5, 13.4), (51.9, 13.4), (51.5, 13.0), (52.5, 13.4)])
    assert announced(found) == [Action.OPEN, Action.RESOLVE]
    assert found[0].details["geofence"] == "Berlin"
    assert found[-1].details["outside_s"] == 120


def test_the_boundary_counts_as_inside() -> None:
    assert run(BERLIN, [(52.0, 13.5), (53.0, 14.0)]) == []


def test_circles_use_the_distance_in_metres() -> None:
    hub = Zone.of(Geofence("hub", "Hub", GeofenceKind.HUB, circle=Circle(52.52, 13.405, 1000)))
    assert hub.contains(52.52 + 0.0089, 13.405)  # about 990 m north
    assert not hub.contains(52.52 + 0.0091, 13.405)  # about 1012 m north


def test_distance_matches_a_known_pair() -> None:
    assert distance_m(52.5200, 13.4050, 48.1372, 11.5756) == pytest.approx(504_000, rel=0.01)


@pytest.mark.parametrize("bad", [
    {"type": "Point", "coordinates": [13, 52]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[200, 0], [201, 0], [201, 1], [200, 0]]]},
    {"type": "Polygon", "coordinates": "nonsense"},
])
def test_bad_geometries_are_refused_with_a_reason(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="geometry"):
        polygon_geometry(bad)


def test_a_geojson_feature_is_accepted() -> None:
    feature = {"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[13, 52], [14, 52], [14, 53], [13, 52]]]}}
    assert polygon_geometry(feature).area > 0
