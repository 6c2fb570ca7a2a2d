"""Serving power and energy through the shared power model and ledger (issue 9, item 6)."""

from __future__ import annotations

from typing import Any

import pytest
from serving_builders import real_perf

from gputwin.catalog.loader import default_catalog
from gputwin.perf.power import default_power_coefficients
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario

CAT = default_catalog()


def _scenario(prompt: int, output: int, rate: float, n: int = 600, **service: Any
              ) -> ServingScenario:
    svc = {"name": "c", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb", **service}
    return ServingScenario.model_validate({"name": "e", "serving": {
        "services": [svc],
        "workload": [{"kind": "synthetic", "service": "c", "num_requests": n,
                      "arrival": {"process": "poisson", "rate": rate},
                      "prompt": {"dist": "fixed", "value": prompt},
                      "output": {"dist": "fixed", "value": output}}]}})


def _it_w_per_gpu(res: Any) -> float:
    gpu_s = sum(r.gpus * (r.end_s - r.start_s) for r in res.replicas)
    return float(res.summary["energy_j"]) / gpu_s


def _gpu_w(res: Any) -> float:
    gpu_s = sum(r.gpus * (r.end_s - r.start_s) for r in res.replicas)
    return float(res.summary["gpu_energy_j"]) / gpu_s


def test_prefill_heavy_serving_draws_more_than_decode_heavy() -> None:
    """Prefill is compute-bound (near TDP); decode streams HBM below it (ML.ENERGY v3.0:
    a vLLM server of Llama 3.1 8B on H100 draws 513-688 W; perf/power.yaml)."""
    acc, system = CAT.accelerator("h100-sxm-80gb"), CAT.system("dgx-h100")
    k = default_power_coefficients()
    host_lo = system.host_power_w * k.host_idle_frac / system.num_accelerators
    host_hi = system.host_power_w * k.host_active_frac / system.num_accelerators
    prefill_run = simulate_serving(_scenario(4000, 16, 12))
    decode_run = simulate_serving(_scenario(128, 1024, 8))
    prefill, decode = _it_w_per_gpu(prefill_run), _it_w_per_gpu(decode_run)
    assert acc.idle_w + host_lo < decode < prefill <= acc.tdp_w + host_hi
    assert 300.0 < _gpu_w(decode_run) < 0.8 * acc.tdp_w
    assert _gpu_w(prefill_run) > 0.75 * acc.tdp_w
    # the GPU share is below the IT energy (which adds the host share)
    assert decode_run.summary["gpu_energy_j"] < decode_run.summary["energy_j"]


def test_busy_activity_is_compute_share_plus_host_wait_plus_memory_bound_rest() -> None:
    perf = real_perf()
    k = default_power_coefficients()
    assert perf.busy_activity_frac(0, 10.0) == 0.0 and perf.busy_activity_frac(100, 0) == 0.0
    low = perf.busy_activity_frac(1_000, 10.0)  # almost all memory-bound
    assert low == pytest.approx(k.memory_activity_frac, rel=0.02)
    assert perf.busy_activity_frac(1e12, 1.0) == pytest.approx(1.0)  # saturated
    assert low < perf.busy_activity_frac(1e5, 10.0) < 1.0
    # steps whose host overhead fills the busy time: the GPU mostly waits on the host
    steps = int(10.0 / perf._step_oh)
    waiting = perf.busy_activity_frac(1_000, 10.0, num_steps=steps)
    assert waiting == pytest.approx(k.host_wait_activity_frac, rel=0.05)
    half = perf.busy_activity_frac(1_000, 10.0, num_steps=steps // 2)
    assert waiting < half < low


@pytest.mark.parametrize("extra", [
    {"disaggregation": {"prefill_replicas": 1, "decode_replicas": 2}},
    {"replicas": 1, "autoscaler": {"metric": "queue", "target": 2, "interval": "5s",
                                   "min_replicas": 1, "max_replicas": 3,
                                   "storage": "object-store"}},
])
def test_every_replica_life_is_accounted(extra: dict[str, Any]) -> None:
    res = simulate_serving(_scenario(1500, 200, 25, n=800, **extra))
    s = res.summary
    gpu_s = sum(r.gpus * (r.end_s - r.start_s) for r in res.replicas)
    assert s["gpu_hours"] == pytest.approx(gpu_s / 3600)
    assert 0 < s["energy_j"] <= s["energy_facility_j"]
    assert s["co2e_g"] >= s["co2e_operational_g"] > 0 and s["water_l"] > 0
    assert s["total_energy_j"] == pytest.approx(s["energy_j"])
    idle = CAT.accelerator("h100-sxm-80gb").idle_w
    assert s["energy_j"] > idle * gpu_s
