"""sites.rollout: distribution-time bounds, waves, retries, halting."""

from __future__ import annotations

import numpy as np
import pytest

from gputwin.sites.model import SiteSpec
from gputwin.sites.rollout import RolloutSpec, run_rollout, wave_download_s

GB = 1e9


def _site(name: str, bw: float = 1.25e9) -> SiteSpec:
    return SiteSpec(name, "edge", 0.0, 0.0, "GB", 1e6, bw, 0.0, 0.0)


def _spec(**kw: object) -> RolloutSpec:
    base: dict[str, object] = dict(
        version="v2", artifact_bytes=10 * GB, start_s=0.0, distribution="origin",
        origin_bytes_per_s=1.25e9, cache_bytes_per_s=12.5e9, waves=(1.0,), install_s=10.0,
        health_check_s=20.0, failure_prob=0.0, max_retries=2, retry_delay_s=5.0,
        halt_failure_frac=0.5)
    base.update(kw)
    return RolloutSpec(**base)  # type: ignore[arg-type]


def test_distribution_bounds_follow_the_textbook_formulas() -> None:
    sites = [_site(f"s{i}") for i in range(10)]
    f, us = 10 * GB, 1.25e9
    # client-server: the origin uploads N copies
    assert wave_download_s(_spec(), sites) == pytest.approx(10 * f / us)
    # regional cache: one fill from the origin, then N copies at the cache's rate
    assert wave_download_s(_spec(distribution="regional-cache"), sites) == pytest.approx(
        f / us + max(10 * f / 12.5e9, f / 1.25e9))
    # P2P: N F / (u_s + sum u_i) = 10 F / (11 us); bounded below by F / d_min = F / us
    p2p = wave_download_s(_spec(distribution="p2p"), sites)
    assert p2p == pytest.approx(max(f / us, 10 * f / (11 * us)))
    assert p2p < wave_download_s(_spec(distribution="regional-cache"), sites) \
        < wave_download_s(_spec(), sites)


def test_waves_run_one_after_another_and_every_site_switches() -> None:
    sites = [_site(f"s{i}") for i in range(10)]
    out = run_rollout(_spec(waves=(0.1, 0.5, 1.0)), sites, np.random.default_rng(0))
    assert [s.wave for s in out.sites] == [0] + [1] * 4 + [2] * 5
    assert all(s.switched_s is not None for s in out.sites)
    # wave 1 starts when wave 0's site is healthy
    assert out.sites[1].download_start_s == pytest.approx(out.sites[0].switched_s)
    tl = out.timeline()
    assert tl[-1]["sites_new"] == 10
    assert [p["t_s"] for p in tl] == sorted(p["t_s"] for p in tl)


def test_failures_retry_then_halt_the_rollout() -> None:
    sites = [_site(f"s{i}") for i in range(4)]
    out = run_rollout(_spec(waves=(0.5, 1.0), failure_prob=0.999, max_retries=1), sites,
                      np.random.default_rng(1))
    assert out.halted_at_wave == 0
    assert len(out.sites) == 2 and all(s.failed and s.attempts == 2 for s in out.sites)
    assert not out.version_at("s0", 1e9)
