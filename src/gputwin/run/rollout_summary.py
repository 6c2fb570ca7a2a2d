"""Wire a scenario's ``rollout:`` onto :mod:`gputwin.sites.rollout` and summarise it:
progress over time (sites on the new version, failed sites), each target's download,
switch and attempts, version skew, and the requests and tokens each version served
(a request is served by the new version when its site had switched by its first token)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gputwin.run.serving_results import RequestTable
from gputwin.scenario.serving import ServingScenario
from gputwin.scenario.sites_check import rollout_targets
from gputwin.sim.rng import RandomStreams
from gputwin.sites.model import GeoWorld
from gputwin.sites.rollout import RolloutOutcome, RolloutSpec, run_rollout


def plan_rollout(sc: ServingScenario, world: GeoWorld,
                 streams: RandomStreams) -> RolloutOutcome | None:
    r = sc.rollout
    if r is None:
        return None
    st, d = r.strategy, r.distribution
    spec = RolloutSpec(r.artifact.version, r.artifact.size, r.start, d.mode,
                       d.origin_bandwidth, d.cache_bandwidth, tuple(st.waves), st.install,
                       st.health_check, st.failure_prob, st.max_retries, st.retry_delay,
                       st.halt_failure_frac, d.efficiency)
    return run_rollout(spec, rollout_targets(sc, world), streams.stream("rollout"))


def rollout_summary(sc: ServingScenario, world: GeoWorld, outcome: RolloutOutcome,
                    site_of_request: np.ndarray, table: RequestTable) -> dict[str, Any]:
    assert sc.rollout is not None
    names = [s.name for s in world.sites]
    switch = np.full(len(names) + 1, np.inf)
    for s in outcome.sites:
        if s.switched_s is not None:
            switch[names.index(s.site)] = s.switched_s
    idx = np.where(site_of_request >= 0, site_of_request, len(names))
    t = np.where(np.isnan(table.first_token_s), np.inf, table.first_token_s)
    new = (t >= switch[idx]) & np.isfinite(t)
    fin = table.status == 0
    old_v = "previous"
    switched = [s.switched_s for s in outcome.sites if s.switched_s is not None]
    return {
        "version": sc.rollout.artifact.version,
        "distribution": sc.rollout.distribution.mode,
        "targets": len(rollout_targets(sc, world)),
        "sites_updated": len(switched),
        "sites_failed": sum(1 for s in outcome.sites if s.failed),
        "halted_at_wave": outcome.halted_at_wave,
        "completed_s": max(outcome.waves_end_s) if outcome.waves_end_s else None,
        "version_skew_s": (max(switched) - min(switched)) if switched else 0.0,
        "timeline": outcome.timeline(),
        "sites": [{"site": s.site, "wave": s.wave, "download_start_s": s.download_start_s,
                   "download_end_s": s.download_end_s, "switched_s": s.switched_s,
                   "attempts": s.attempts, "failed": s.failed} for s in outcome.sites],
        "traffic_by_version": {
            sc.rollout.artifact.version: {"requests": int((new & fin).sum()),
                                          "output_tokens": int(table.output_tokens[new & fin]
                                                               .sum())},
            old_v: {"requests": int((~new & fin).sum()),
                    "output_tokens": int(table.output_tokens[~new & fin].sum())},
        },
    }
