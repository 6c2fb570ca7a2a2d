"""Validation cases that run the serving *simulator* end to end (case kind ``serving_sim``).

A case's ``inputs`` name one service (``model``, ``gpu``/``system``, ``tp``, ``engine``,
``weights``, ``kv_cache``, ``replicas`` and optional engine limits) and a workload:

- ``offline: {num_requests, input_tokens, output_tokens[, repeat]}``: every request at
  t = 0 (trtllm-bench ``throughput``, MLPerf Offline), lengths fixed or ``{mean, median}``
  as below; ``repeat`` sends each distinct prompt that many times (prefix caching);
- ``poisson: {rate, num_requests, input, output}``: Poisson arrivals; ``input``/``output``
  are a fixed length, ``{mean, median}`` of a lognormal (ShareGPT-like) with an
  optional ``max``, or ``{low, high}`` (uniform);
- ``closed: {concurrency, num_requests, input, output[, warmup]}``: closed-loop clients (a
  benchmark's maximum concurrency: each client sends its next request when one
  completes); the first ``warmup`` of the ``num_requests`` are a warm-up left out of
  the metrics (AIPerf ``--warmup-request-count``).

The result's metrics are the run summary's numbers, nested keys joined by dots
(``output_tokens_per_s``, ``ttft_s.p50``, ``tpot_s.mean``), plus
``output_tokens_per_s_per_gpu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gputwin.errors import InputError

_SERVICE_KEYS = ("model", "gpu", "system", "tp", "pp", "ep", "dp_attention", "replicas")
_ENGINE_KEYS = ("max_num_seqs", "max_num_batched_tokens", "block_size",
                "gpu_memory_utilization", "enable_prefix_caching", "enable_chunked_prefill",
                "skip_decode_steps", "num_scheduler_steps", "adp_enable_balance",
                "adp_timeout_iters", "adp_batching_wait_iters", "batch_wait_timeout_iters",
                "batch_wait_max_tokens_ratio", "enable_mixed_chunk",
                "prefill_min_free_kv_frac", "capacity_policy",
                "cuda_graph_padding", "frontend_latency")


@dataclass(frozen=True, slots=True)
class SimulatedServe:
    """Flattened summary of one simulated run."""

    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.metrics)


def _length(raw: Any, key: str) -> dict[str, Any]:
    if isinstance(raw, int) and raw > 0:
        return {"dist": "fixed", "value": raw}
    if isinstance(raw, dict) and {"mean", "median"} <= set(raw):
        out: dict[str, Any] = {"dist": "lognormal", "mean": float(raw["mean"]),
                               "median": float(raw["median"])}
        if "max" in raw:
            out["high"] = int(raw["max"])
        return out
    if isinstance(raw, dict) and set(raw) == {"low", "high"}:
        return {"dist": "uniform", "low": int(raw["low"]), "high": int(raw["high"])}
    raise InputError(f"expected a token count, {{mean, median[, max]}} or {{low, high}}, got "
                     f"{raw!r}", where=key)


def _workload(inputs: dict[str, Any]) -> dict[str, Any]:
    if "offline" in inputs:
        o = inputs["offline"]
        # all at t = 0: a fixed-interval process with an interval far below any step
        return {"kind": "synthetic", "num_requests": int(o["num_requests"]),
                "arrival": {"process": "fixed", "rate": 1e12},
                "prompt": _length(o["input_tokens"], "offline.input_tokens"),
                "output": _length(o["output_tokens"], "offline.output_tokens"),
                "repeat": int(o.get("repeat", 1))}
    if "poisson" in inputs:
        p = inputs["poisson"]
        return {"kind": "synthetic", "num_requests": int(p["num_requests"]),
                "arrival": {"process": "poisson", "rate": float(p["rate"])},
                "prompt": _length(p["input"], "poisson.input"),
                "output": _length(p["output"], "poisson.output")}
    if "closed" in inputs:
        c = inputs["closed"]
        return {"kind": "synthetic", "num_requests": int(c["num_requests"]),
                "concurrency": int(c["concurrency"]),
                "warmup_requests": int(c.get("warmup", 0)),
                "prompt": _length(c["input"], "closed.input"),
                "output": _length(c["output"], "closed.output")}
    raise InputError("a serving_sim case needs an `offline`, a `poisson` or a `closed` "
                     "workload", where="inputs")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def simulate_case(**inputs: Any) -> SimulatedServe:
    """Run the case's scenario through :func:`simulate_serving`; raises InputError."""
    from pydantic import ValidationError

    from gputwin.run.simulate_serve import simulate_serving
    from gputwin.scenario.serving import ServingScenario
    from gputwin.yaml_io import validation_error_to_input_error

    unknown = sorted(set(inputs) - {*_SERVICE_KEYS, *_ENGINE_KEYS, "engine", "weights",
                                    "kv_cache", "offline", "poisson", "closed", "seed"})
    if unknown:
        raise InputError(f"unknown input(s) {', '.join(unknown)}", where="inputs")
    service: dict[str, Any] = {k: inputs[k] for k in _SERVICE_KEYS if k in inputs}
    service["weights_dtype"] = inputs.get("weights", "bf16")
    service["kv_cache_dtype"] = inputs.get("kv_cache")
    service["engine"] = {"name": inputs.get("engine", "vllm"),
                         **{k: inputs[k] for k in _ENGINE_KEYS if k in inputs}}
    data = {"name": "validate", "seed": int(inputs.get("seed", 0)),
            "serving": {"services": [service], "workload": [_workload(inputs)]}}
    try:
        sc = ServingScenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, "inputs") from None
    summary = simulate_serving(sc).summary
    metrics = _flatten({k: v for k, v in summary.items() if k != "services"})
    gpus = (int(service.get("tp", 1)) * int(service.get("pp", 1))
            * int(service.get("dp_attention", 1)) * int(service.get("replicas", 1)))
    metrics["output_tokens_per_s_per_gpu"] = metrics.get("output_tokens_per_s", 0.0) / gpus
    return SimulatedServe(metrics)
