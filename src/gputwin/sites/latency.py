"""Network latency between user populations and sites, and between sites.

One-way delay from a user population to a site (constants: ``sites/data/network.yaml``)::

    one_way = access_rtt / 2 + route_factor · d / v_fibre + hops(d) · per_hop
    hops(d) = base_hops + hops_per_1000_km · d / 1e6 m

with ``d`` the great-circle distance. Site to site (backhaul) has no access term. RTT is
twice the one-way delay. What the user waits for a streamed answer: the request goes one
way, the first token comes back one way (TTFT + RTT) and the last token one way after it
left the site (end-to-end + RTT): the network adds one RTT to both.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.errors import InputError
from gputwin.sites.geo import great_circle_m, network_constants

ACCESS_NETWORKS = ("fibre", "cable", "dsl", "4g", "5g")


@dataclass(frozen=True, slots=True)
class NetworkModel:
    """The constants of the latency model (SI units)."""

    fibre_speed_m_per_s: float
    route_factor: float
    per_hop_s: float
    hops_per_1000_km: float
    base_hops: float
    access_rtt_s: dict[str, float]
    text_bytes_per_token: float
    stream_bytes_per_output_token: float

    @classmethod
    def bundled(cls) -> NetworkModel:
        c = network_constants()

        def v(key: str) -> float:
            return float(c[key]["value"])

        return cls(v("fibre_speed_m_per_s"), v("route_factor"), v("per_hop_s"),
                   v("hops_per_1000_km"), v("base_hops"),
                   {k: float(e["value"]) for k, e in c["access_rtt_s"].items()},
                   v("text_bytes_per_token"), v("stream_bytes_per_output_token"))

    def path_one_way_s(self, distance_m: float) -> float:
        """Fibre propagation plus router hops over ``distance_m`` of great circle."""
        hops = self.base_hops + self.hops_per_1000_km * distance_m / 1e6
        return self.route_factor * distance_m / self.fibre_speed_m_per_s + hops * self.per_hop_s

    def access_one_way_s(self, access: str) -> float:
        try:
            return self.access_rtt_s[access] / 2.0
        except KeyError:
            raise InputError(f"unknown access network {access!r}; expected one of "
                             f"{', '.join(self.access_rtt_s)}") from None

    def user_rtt_s(self, access: str, lat1: float, lon1: float, lat2: float,
                   lon2: float) -> float:
        """RTT from a user on ``access`` at (lat1, lon1) to a site at (lat2, lon2)."""
        d = great_circle_m(lat1, lon1, lat2, lon2)
        return 2.0 * (self.access_one_way_s(access) + self.path_one_way_s(d))

    def site_rtt_s(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        """RTT between two sites over their backhaul (no access network)."""
        return 2.0 * self.path_one_way_s(great_circle_m(lat1, lon1, lat2, lon2))

    def request_bytes(self, prompt_tokens: int) -> float:
        return prompt_tokens * self.text_bytes_per_token

    def response_bytes(self, output_tokens: int) -> float:
        return output_tokens * self.stream_bytes_per_output_token
