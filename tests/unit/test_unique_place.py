"""The tests' `unique_place` (tests/conftest.py): places no other test's request or area can reach."""

from __future__ import annotations

import math

from tests.conftest import SHARED_PLACES, unique_place

EARTH_RADIUS_M = 6_371_000.0
# What two places must keep between them: each one's 2 km coverage area, and the 5 km around a point within which the
# pricing counts requests (Settings.demand_radius_m).
REACH_M = 2_000.0 + 5_000.0


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    (lat1, lng1), (lat2, lng2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def test_unique_places_are_out_of_reach_of_each_other_and_of_every_shared_place() -> None:
    # Given the places a long run's tests draw (a run draws a few dozen)
    places = [unique_place() for _ in range(300)]
    points = [(point["lat"], point["lng"]) for point, _ in places]
    # Then each comes with its own 2 km area, no two are within reach of each other, and none is near a shared place
    assert all(area == (lat, lng, 2_000.0) for (lat, lng), (_, area) in zip(points, places, strict=True))
    closest = min(distance_m(a, b) for i, a in enumerate(points) for b in points[i + 1 :])
    assert closest > 2 * REACH_M
    for lat, lng, radius in SHARED_PLACES:
        assert min(distance_m((lat, lng), p) for p in points) > radius + REACH_M
