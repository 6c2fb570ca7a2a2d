"""Geo-distributed serving: places, user populations, network latency, routing across sites,
placement policies and edge fleet rollouts (docs/sites.md).

Pure domain code: :mod:`gputwin.sites.geo` (bundled geography, great-circle distance),
:mod:`gputwin.sites.latency` (the RTT model), :mod:`gputwin.sites.routing` (which site a
request goes to), :mod:`gputwin.sites.placement` (which models run where),
:mod:`gputwin.sites.rollout` (a model version rolled out to edge sites). The composition
root wires them onto the serving fleet (:mod:`gputwin.run.simulate_sites`).
"""
