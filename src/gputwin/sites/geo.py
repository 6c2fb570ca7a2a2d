"""Bundled geography (``sites/data/geography.yaml``) and great-circle distance.

A *place* is a named point: a cloud region (``aws/us-east-1``, ``gcp/europe-west4``,
``azure/eastus``) or a metro (``metro/new-york``) with its latitude, longitude and, where
we have it, the electricity zone of the grid it draws from. Coordinates are the metro's
(providers do not publish campus locations): distances are good to about ±50 km.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from gputwin.errors import InputError, UnknownNameError

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    lat_deg: float
    lon_deg: float
    kind: str  # "cloud" | "metro"
    grid: str | None  # electricity zone (energy/data), None when not bundled
    city: str
    source: str


def _load(name: str) -> Any:
    text = resources.files("gputwin.sites").joinpath("data", name).read_text("utf-8")
    return yaml.safe_load(text)


@functools.cache
def places() -> dict[str, Place]:
    """Every bundled place by name."""
    data = _load("geography.yaml")
    sources: dict[str, str] = data["sources"]
    return {name: Place(name, float(p["lat"]), float(p["lon"]), p["kind"], p["grid"],
                        p["city"], sources[p["src"]])
            for name, p in data["places"].items()}


def place(name: str, *, where: str | None = None) -> Place:
    """The bundled place ``name``; raises :class:`UnknownNameError` (close matches)."""
    found = places().get(name)
    if found is None:
        raise UnknownNameError("location", name, sorted(places()), where=where)
    return found


def check_lat_lon(lat_deg: float, lon_deg: float, where: str | None = None) -> None:
    if not (-90.0 <= lat_deg <= 90.0 and -180.0 <= lon_deg <= 180.0):
        raise InputError(f"latitude must be in [-90, 90] and longitude in [-180, 180], got "
                         f"({lat_deg}, {lon_deg})", where=where)


def great_circle_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Haversine distance on a sphere of radius :data:`EARTH_RADIUS_M` (error < 0.5 %
    against the ellipsoid), metres."""
    p1, p2 = math.radians(lat1_deg), math.radians(lat2_deg)
    dp = p2 - p1
    dl = math.radians(lon2_deg - lon1_deg)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@functools.cache
def network_constants() -> dict[str, Any]:
    """``sites/data/network.yaml`` (every value with its source)."""
    data: dict[str, Any] = _load("network.yaml")
    return data
