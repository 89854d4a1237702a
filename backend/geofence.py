"""Office geofence: where the phone said it was when it scanned, as a signal for reviewers.

An office may have a position and a radius. The phone asks for its position at scan time
(never waiting more than 3 s, never blocking the check-in) and sends it with the scan; the
server flags the record ``no_location``, ``low_accuracy`` (accuracy worse than 100 m) or
``outside_geofence``. Location is a signal, never proof: mock-location apps are common, so a
flag never changes a verdict. The position is kept with the record only for
``LOCATION_RETENTION_DAYS`` (``purge``) and shown only to roles that review.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend.db import checkins, utcnow
from backend.errors import ApiError

LOW_ACCURACY_M = 100.0
EARTH_RADIUS_M = 6_371_008.8
MAX_RADIUS_M = 50_000


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    accuracy: float  # metres, as the phone reported it


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError("invalid_request", detail=f"location.{name} must be a number")
    if not low <= value <= high:
        raise ApiError("invalid_request", detail=f"location.{name} must be in [{low}, {high}]")
    return float(value)


def parse_location(value: Any) -> Location | None:
    """The optional ``location`` of a check-in body: ``{latitude, longitude, accuracy}`` or
    null (the phone had no position in time, or was not allowed one)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError("invalid_request", detail="location must be an object or null")
    missing = [f for f in ("latitude", "longitude", "accuracy") if f not in value]
    if missing:
        raise ApiError("invalid_request", detail=f"location: missing {', '.join(missing)}")
    return Location(
        _number(value["latitude"], "latitude", -90, 90),
        _number(value["longitude"], "longitude", -180, 180),
        _number(value["accuracy"], "accuracy", 0, 1e7),
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def has_fence(place: Any) -> bool:
    return (
        place["latitude"] is not None
        and place["longitude"] is not None
        and place["radius_m"] is not None
    )


def flags(place: Any, location: Location | None) -> list[str]:
    """The geofence flags of a scan at an office (none when the office has no geofence).

    ``outside_geofence`` only when the phone is outside even allowing for the accuracy it
    reported, so a rough fix just past the edge is ``low_accuracy``, not an accusation."""
    if not has_fence(place):
        return []
    if location is None:
        return ["no_location"]
    found = []
    if location.accuracy > LOW_ACCURACY_M:
        found.append("low_accuracy")
    away = distance_m(location.latitude, location.longitude, place["latitude"], place["longitude"])
    if away - location.accuracy > place["radius_m"]:
        found.append("outside_geofence")
    return found


def record_values(location: Location | None) -> dict[str, Any]:
    """The checkins columns that keep the reported position."""
    if location is None:
        return {"latitude": None, "longitude": None, "accuracy_m": None}
    return {
        "latitude": location.latitude,
        "longitude": location.longitude,
        "accuracy_m": location.accuracy,
    }


async def purge(db: Database, retention_days: int, now: datetime | None = None) -> int:
    """Clear the positions of scans older than ``retention_days``; the number cleared."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    async with db.transaction():
        stale = (checkins.c.at < cutoff) & checkins.c.latitude.is_not(None)
        count = await db.fetch_val(sa.select(sa.func.count()).select_from(checkins).where(stale))
        await db.execute(
            checkins.update().where(stale).values(latitude=None, longitude=None, accuracy_m=None)
        )
    return int(count or 0)
