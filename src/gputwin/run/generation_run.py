"""Wiring of ``serving.generation``: build the services and requests, run the replicas,
summarise latency, GPU-seconds per second of video and cost per generated second.

The batch time of a shape comes from :func:`gputwin.perf.diffusion.estimate_generation_on`
(the same model as ``gputwin estimate video``), with the service's ``step_cache`` share of
DiT passes reused; requests arrive as a seeded Poisson stream per workload entry, shapes
drawn by weight. Energy and cost go through the serving run's ledger and price book
(:class:`gputwin.run.serving_energy.ExtraLoad`: each replica's GPUs for the whole run at
the accelerator activity of its busy share; a denoising step is compute-bound).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError
from gputwin.perf.diffusion import check_part, estimate_generation_on
from gputwin.run.serving_energy import ExtraLoad
from gputwin.scenario.generation import GenerationSection, GenerationService
from gputwin.serving.generation import GenerationRun, GenRequest, GenService, Shape
from gputwin.sim import RandomStreams
from gputwin.topology.hardware import HardwareSpec, resolve_hardware


@dataclass(frozen=True, slots=True)
class BuiltGeneration:
    services: list[GenService]
    hardware: dict[str, HardwareSpec]
    configs: dict[str, GenerationService]
    requests: list[GenRequest]


def _batch_time(cfg: GenerationService, hw: HardwareSpec) -> Any:
    @functools.lru_cache(maxsize=256)
    def time_s(shape: Shape, batch: int) -> float:
        f, h, w, steps = shape
        return estimate_generation_on(hw, cfg.model, frames=f, height=h, width=w,
                                      steps=steps, num_gpus=cfg.gpus_per_replica, batch=batch,
                                      step_cache_frac=cfg.step_cache,
                                      attention_kernel=cfg.attention_kernel,
                                      parallel_vae=cfg.parallel_vae,
                                      compiled=cfg.compiled).time_s
    return time_s


def build_generation(section: GenerationSection, catalog: Catalog,
                     streams: RandomStreams) -> BuiltGeneration:
    """Services and requests of ``serving.generation``. Raises InputError naming the
    field (an unknown GPU, a shape the VAE and patch size do not divide)."""
    hw: dict[str, HardwareSpec] = {}
    services: list[GenService] = []
    for i, cfg in enumerate(section.services):
        try:
            hw[cfg.name] = resolve_hardware(catalog, gpu=cfg.gpu)
            check_part(hw[cfg.name].accelerator, cfg.model, cfg.gpus_per_replica)
        except InputError as exc:  # the part, or too few GPUs to hold the weights
            field = "gpus_per_replica" if exc.where == "--num-gpus" else "gpu"
            raise InputError(exc.detail, where=f"serving.generation.services.{i}.{field}"
                             ) from None
        services.append(GenService(cfg.name, cfg.replicas, cfg.gpus_per_replica,
                                   cfg.max_batch, _batch_time(cfg, hw[cfg.name])))
    by_name = {s.name: s for s in services}
    configs = {c.name: c for c in section.services}
    requests: list[GenRequest] = []
    for i, wl in enumerate(section.workload):
        for j, sh in enumerate(wl.shapes):
            try:
                by_name[wl.service].batch_time_s((sh.frames, sh.height, sh.width, sh.steps), 1)
            except InputError as exc:
                raise InputError(exc.detail, where=f"serving.generation.workload.{i}.shapes.{j}"
                                 ) from None
        rng = streams.stream(f"generation/{i}/{wl.service}")
        arrivals = wl.start + np.cumsum(rng.exponential(1.0 / wl.rate, wl.num_requests))
        weights = np.array([s.weight for s in wl.shapes])
        picks = rng.choice(len(wl.shapes), size=wl.num_requests, p=weights / weights.sum())
        for t, k in zip(arrivals.tolist(), picks.tolist(), strict=True):
            sh = wl.shapes[k]
            requests.append(GenRequest(len(requests), wl.service, t,
                                       (sh.frames, sh.height, sh.width, sh.steps),
                                       sh.frames / sh.fps if sh.frames > 1 else 0.0))
    return BuiltGeneration(services, hw, configs, requests)


def generation_loads(built: BuiltGeneration, run: GenerationRun) -> list[ExtraLoad]:
    """Each replica's GPUs held over the run at the activity of its busy share."""
    loads = []
    for rep in run.replicas:
        a = min(1.0, rep.busy_s / run.end_s) if run.end_s > 0 else 0.0
        loads.append(ExtraLoad(rep.service, built.hardware[rep.service], rep.gpus, 0.0,
                               run.end_s, a))
    return loads


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def summarize_generation(built: BuiltGeneration, run: GenerationRun, name: str,
                         energy: dict[str, Any]) -> dict[str, Any]:
    """Latency, throughput, GPU-seconds per video second and cost of one service;
    ``energy``: its energy/cost fields (``serving_energy.energy_fields``)."""
    cfg = built.configs[name]
    reqs = [r for r in run.requests if r.service == name]
    done = [r for r in reqs if r.end_s == r.end_s]
    lat = np.array([r.end_s - r.arrival_s for r in done])
    wait = np.array([r.start_s - r.arrival_s for r in done])
    video_s = sum(r.video_s for r in done)
    images = sum(1 for r in done if r.video_s == 0)
    reps = [p for p in run.replicas if p.service == name]
    busy_gpu_s = sum(p.busy_s * p.gpus for p in reps)
    held_gpu_s = sum(p.gpus for p in reps) * run.end_s
    cost = energy.get("cost_usd")
    slo = cfg.slo.latency
    return {
        "kind": "generation", "model": cfg.model, "gpu": cfg.gpu, "replicas": cfg.replicas,
        "gpus_per_replica": cfg.gpus_per_replica, "max_batch": cfg.max_batch,
        "step_cache": cfg.step_cache, "num_requests": len(reqs), "finished": len(done),
        "latency_s": {"mean": float(lat.mean()) if lat.size else None, "p50": _pct(lat, 50),
                      "p90": _pct(lat, 90), "p99": _pct(lat, 99)},
        "queue_wait_s": {"mean": float(wait.mean()) if wait.size else None,
                         "p99": _pct(wait, 99)},
        "slo_attainment_frac": (float((lat <= slo).mean()) if slo is not None and lat.size
                                else None),
        "batch_mean": float(np.mean([r.batch for r in done])) if done else None,
        "video_seconds": video_s, "images": images,
        "gpu_utilisation_frac": busy_gpu_s / held_gpu_s if held_gpu_s > 0 else None,
        "gpu_seconds_per_video_second": busy_gpu_s / video_s if video_s > 0 else None,
        "gpu_seconds_held_per_video_second": held_gpu_s / video_s if video_s > 0 else None,
        **{k: v for k, v in energy.items() if "token" not in k},
        "cost_per_video_second_usd": (cost / video_s if cost is not None and video_s > 0
                                      and images == 0 else None),
        "cost_per_sample_usd": cost / len(done) if cost is not None and done else None,
    }
