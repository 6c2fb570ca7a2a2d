"""sites.geo and sites.latency: distances, the RTT model and the bundled data."""

from __future__ import annotations

import pytest

from gputwin.energy.regions import known_regions
from gputwin.errors import InputError, UnknownNameError
from gputwin.sites.geo import great_circle_m, network_constants, place, places
from gputwin.sites.latency import NetworkModel


def test_great_circle_matches_published_city_distances() -> None:
    # New York - London great-circle ~5,570 km; Dallas - Houston ~362 km (standard tables)
    ny, lon = place("metro/new-york"), place("metro/london")
    assert great_circle_m(ny.lat_deg, ny.lon_deg, lon.lat_deg, lon.lon_deg) == pytest.approx(
        5.57e6, rel=0.01)
    d, h = place("metro/dallas"), place("metro/houston")
    assert great_circle_m(d.lat_deg, d.lon_deg, h.lat_deg, h.lon_deg) == pytest.approx(
        3.62e5, rel=0.02)
    assert great_circle_m(10, 20, 10, 20) == 0.0


def test_every_place_has_a_source_and_a_known_grid_or_none() -> None:
    zones = set(known_regions())
    for p in places().values():
        assert p.source and p.city
        assert p.grid is None or p.grid in zones, p.name
        assert -90 <= p.lat_deg <= 90 and -180 <= p.lon_deg <= 180


def test_every_network_constant_cites_a_source() -> None:
    c = network_constants()
    for key, entry in c.items():
        entries = entry.values() if key == "access_rtt_s" else [entry]
        for e in entries:
            assert e["source"], key


def test_unknown_place_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match="aws/us-east-1"):
        place("aws/us-east-9", where="x.yaml:3: sites[0].location")


def test_transatlantic_rtt_is_in_the_measured_range() -> None:
    # New York - London RTT on the public Internet is ~70-80 ms (WonderNetwork ping tables;
    # the c-in-fibre floor is ~56 ms): the model must land in that band.
    net = NetworkModel.bundled()
    ny, lon = place("metro/new-york"), place("metro/london")
    rtt = net.site_rtt_s(ny.lat_deg, ny.lon_deg, lon.lat_deg, lon.lon_deg)
    assert 0.065 <= rtt <= 0.095


def test_a_metro_edge_is_within_10ms_on_fibre_and_a_far_region_is_not() -> None:
    # The premise of the measurements (~58 % of users reach an edge server within
    # 10 ms, ~29 % a cloud region): an in-metro edge on fibre is under 10 ms; a region
    # 1,900 km away is not.
    net = NetworkModel.bundled()
    d, va = place("metro/dallas"), place("aws/us-east-1")
    assert net.user_rtt_s("fibre", d.lat_deg, d.lon_deg, d.lat_deg + 0.1, d.lon_deg) < 0.010
    assert net.user_rtt_s("fibre", d.lat_deg, d.lon_deg, va.lat_deg, va.lon_deg) > 0.030


def test_access_networks_order_and_unknown_access() -> None:
    net = NetworkModel.bundled()
    rtts = [net.user_rtt_s(a, 0, 0, 0, 0) for a in ("fibre", "cable", "dsl", "4g")]
    assert rtts == sorted(rtts)
    assert net.user_rtt_s("5g", 0, 0, 0, 0) < net.user_rtt_s("4g", 0, 0, 0, 0)
    with pytest.raises(InputError, match="access network"):
        net.user_rtt_s("carrier-pigeon", 0, 0, 0, 0)
