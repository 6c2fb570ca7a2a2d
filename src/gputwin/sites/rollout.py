"""Edge fleet rollouts: a new model version pushed to edge sites in waves.

The spec (an infrastructure-as-code style ``rollout:`` section) names the artifact
(version, size), the target sites, how the artifact travels and the wave plan. Each wave
starts when the previous one is finished; its sites download concurrently, then install
and pass a health check (each attempt fails with ``failure_prob``; a failed site retries
after ``retry_delay_s`` up to ``max_retries`` times, then stays on the old version). A
wave whose failed share exceeds ``halt_failure_frac`` halts the rollout.

Download time of a wave of ``N`` sites for an artifact of ``F`` bytes (Kurose & Ross,
*Computer Networking: A Top-Down Approach*, 8th ed., §2.5: distribution-time bounds of
client-server and P2P file distribution), with origin upload ``u_s``, site download
``d_i`` (its backhaul) and, for peer-to-peer, site upload ``u_i`` (the same backhaul)::

    origin:          T = max(N·F / u_s, F / min d_i)
    regional-cache:  T = F / u_s + max(N·F / u_c, F / min d_i)   (cache filled once)
    p2p:             T = max(F / u_s, F / min d_i, N·F / (u_s + Σ u_i))

The bounds are achievable by ideal scheduling; real transfers are slower by their
protocol efficiency (TCP, chunking), which ``efficiency`` (default 1) scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gputwin.errors import InputError
from gputwin.sites.model import SiteSpec

DISTRIBUTIONS = ("origin", "regional-cache", "p2p")


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    version: str
    artifact_bytes: float
    start_s: float
    distribution: str
    origin_bytes_per_s: float
    cache_bytes_per_s: float
    waves: tuple[float, ...]  # cumulative fractions of the targets, ending at 1
    install_s: float
    health_check_s: float
    failure_prob: float
    max_retries: int
    retry_delay_s: float
    halt_failure_frac: float
    efficiency: float = 1.0


@dataclass(slots=True)
class SiteRollout:
    site: str
    wave: int
    download_start_s: float = float("nan")
    download_end_s: float = float("nan")
    switched_s: float | None = None  # serving the new version from here
    attempts: int = 0
    failed: bool = False


@dataclass(slots=True)
class RolloutOutcome:
    sites: list[SiteRollout]
    halted_at_wave: int | None
    waves_end_s: list[float] = field(default_factory=list)

    def version_at(self, site: str, t_s: float) -> bool:
        """Whether ``site`` serves the new version at ``t_s``."""
        for s in self.sites:
            if s.site == site:
                return s.switched_s is not None and t_s >= s.switched_s
        return False

    def timeline(self) -> list[dict[str, float]]:
        """``{t_s, sites_new, sites_failed}`` at every change."""
        events = sorted([(s.switched_s, 1, 0) for s in self.sites if s.switched_s is not None]
                        + [(s.download_end_s + 0.0, 0, 1) for s in self.sites if s.failed])
        new = failed = 0
        out = [{"t_s": 0.0, "sites_new": 0, "sites_failed": 0}]
        for t, dn, df in events:
            new, failed = new + dn, failed + df
            out.append({"t_s": float(t), "sites_new": new, "sites_failed": failed})
        return out


def wave_download_s(spec: RolloutSpec, sites: list[SiteSpec]) -> float:
    """Seconds for a wave of ``sites`` to receive the artifact (module docstring)."""
    n, f = len(sites), spec.artifact_bytes
    if n == 0:
        return 0.0
    d_min = min(s.backhaul_bytes_per_s for s in sites)
    us = spec.origin_bytes_per_s
    if spec.distribution == "origin":
        t = max(n * f / us, f / d_min)
    elif spec.distribution == "regional-cache":
        t = f / us + max(n * f / spec.cache_bytes_per_s, f / d_min)
    elif spec.distribution == "p2p":
        t = max(f / us, f / d_min, n * f / (us + sum(s.backhaul_bytes_per_s for s in sites)))
    else:
        raise InputError(f"unknown distribution {spec.distribution!r}; expected one of "
                         f"{', '.join(DISTRIBUTIONS)}", where="rollout.distribution")
    return t / spec.efficiency


def run_rollout(spec: RolloutSpec, targets: list[SiteSpec],
                rng: np.random.Generator) -> RolloutOutcome:
    """Plan the rollout over ``targets`` (in the given order), drawing health-check
    failures from ``rng``. Deterministic for a given generator state."""
    n = len(targets)
    bounds = [0] + [min(n, max(1, round(f * n))) for f in spec.waves]
    out = RolloutOutcome([], None)
    t = spec.start_s
    for w in range(len(spec.waves)):
        wave = targets[bounds[w]:bounds[w + 1]]
        if not wave:
            continue
        done = t + wave_download_s(spec, wave)
        end = done
        for site in wave:
            rec = SiteRollout(site.name, w, t, done)
            ready = done
            while True:
                rec.attempts += 1
                ready += spec.install_s + spec.health_check_s
                if rng.random() >= spec.failure_prob:
                    rec.switched_s = ready
                    break
                if rec.attempts > spec.max_retries:
                    rec.failed = True
                    break
                ready += spec.retry_delay_s
            end = max(end, ready)
            out.sites.append(rec)
        out.waves_end_s.append(end)
        failed = sum(1 for s in out.sites if s.wave == w and s.failed)
        t = end
        if failed / len(wave) > spec.halt_failure_frac:
            out.halted_at_wave = w
            break
    return out
