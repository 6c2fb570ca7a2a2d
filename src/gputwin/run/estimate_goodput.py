"""``estimate train --failures``: the training estimate plus expected interruptions and ETTR.

Wiring only: the job's span (GPUs, nodes, leaves) and its checkpoint write / load times
from the storage tier (the request's, else the ``restart.checkpoint_storage`` tier of
``reliability/data/faults.yaml``) go into :func:`gputwin.reliability.goodput.estimate_goodput`;
the Monte-Carlo optimum (:mod:`gputwin.reliability.optimum`) is reported beside Young/Daly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.model_math import total_params
from gputwin.catalog.schema import StorageTier
from gputwin.errors import InputError
from gputwin.perf.io import CHECKPOINT_BYTES_PER_PARAM
from gputwin.perf.training import TrainingEstimate
from gputwin.reliability import faults
from gputwin.reliability.goodput import GoodputEstimate, JobSpan, estimate_goodput
from gputwin.reliability.optimum import simulated_optimum
from gputwin.requests import TrainRequest
from gputwin.run.estimate_train import resolve_model, resolve_train_hardware
from gputwin.sim.rng import RandomStreams

__all__ = ["FailureOptions", "estimate_failures"]


@dataclass(frozen=True, slots=True)
class FailureOptions:
    """What ``--failures`` adds: the wall-clock window, async checkpoints, a rate scale and
    whether the given ``--checkpoint-interval`` is used (else Young/Daly), and the bytes per
    parameter of a checkpoint (default 14: bf16 weights, fp32 master weights, two fp32 Adam
    moments; 10 without master weights, as OPT-175B)."""

    duration_s: float | None = None
    async_checkpoint: bool = False
    rate_scale: float = 1.0
    interval_given: bool = False
    seed: int = 0
    checkpoint_bytes_per_param: float = CHECKPOINT_BYTES_PER_PARAM  # 14: mixed-precision Adam


def _tier_times_s(tier: StorageTier, ckpt_bytes: float, num_nodes: int) -> tuple[float, float]:
    """(write, read) seconds of one checkpoint spread over ``num_nodes`` nodes."""
    write = num_nodes * tier.write_bandwidth_bytes_per_s_per_node
    if tier.aggregate_write_bandwidth_bytes_per_s:
        write = min(write, tier.aggregate_write_bandwidth_bytes_per_s)
    read = num_nodes * tier.read_bandwidth_bytes_per_s_per_node
    if tier.aggregate_read_bandwidth_bytes_per_s:
        read = min(read, tier.aggregate_read_bandwidth_bytes_per_s)
    return ckpt_bytes / write + tier.latency_s, ckpt_bytes / read + tier.latency_s


def estimate_failures(request: TrainRequest, est: TrainingEstimate, options: FailureOptions,
                      *, catalog: Catalog | None = None) -> dict[str, Any]:
    """The ``failures`` section of ``estimate train --failures`` (JSON-ready).

    Raises :class:`InputError` when neither a duration nor tokens (time to train) is given,
    or for a window that is not > 0.
    """
    cat = catalog or default_catalog()
    hw = resolve_train_hardware(request, cat)
    spec, _ = resolve_model(request, cat)
    restart = faults.restart_defaults()
    tier = hw.storage or cat.storage_tier(restart.checkpoint_storage)
    num_nodes = -(-request.num_gpus // hw.gpus_per_node)
    leaves = request.num_leaves_spanned or -(-num_nodes // request.nodes_per_leaf)
    if not options.checkpoint_bytes_per_param > 0:
        raise InputError(f"expected checkpoint bytes per parameter > 0, got "
                         f"{options.checkpoint_bytes_per_param:g}",
                         where="--checkpoint-bytes-per-param")
    ckpt_bytes = options.checkpoint_bytes_per_param * total_params(spec)
    write_s, read_s = _tier_times_s(tier, ckpt_bytes, num_nodes)
    models = [faults.build(n, rate_scale=options.rate_scale) for n in faults.default_names()]
    span = JobSpan(request.num_gpus, num_nodes, leaves)
    restart_s = restart.reschedule_s + read_s + restart.warmup_s
    interval = request.checkpoint_interval_s if options.interval_given else None

    def goodput(duration_s: float) -> GoodputEstimate:
        return estimate_goodput(models, span, duration_s=duration_s,
                                checkpoint_write_s=write_s, restart_s=restart_s,
                                checkpoint_interval_s=interval,
                                async_checkpoint=options.async_checkpoint)

    ttt = est.time_to_train_s
    if options.duration_s is not None and options.duration_s <= 0:
        raise InputError(f"expected a wall-clock window > 0, got {options.duration_s:g} s",
                         where="--duration")
    if options.duration_s is None and ttt is None:
        raise InputError("--failures needs a wall-clock window: give --duration (e.g. 54d) "
                         "or --tokens (the time to train)", where="--duration")
    duration = options.duration_s
    if duration is None:
        assert ttt is not None
        first = goodput(1.0)  # ETTR does not depend on the window
        duration = ttt / first.ettr if first.ettr > 0 else math.inf
    result = goodput(duration)
    out = result.to_dict()
    out["checkpoint_storage"] = tier.name
    out["checkpoint_bytes"] = ckpt_bytes
    out["checkpoint_load_s"] = read_s
    out["time_to_train_with_failures_s"] = (None if ttt is None or result.ettr <= 0
                                            else ttt / result.ettr)
    out["simulated_optimum_interval_s"] = _simulated(result, options.seed)
    out["fault_rates"] = {"rate_scale": options.rate_scale, **faults.rates_used(models)}
    return out


def _simulated(g: GoodputEstimate, seed: int) -> float | None:
    """The Monte-Carlo optimum over a window of ``min(duration, 30 days)`` of training; none
    where faults stop all progress (ETTR 0: a simulated run would restart for ever)."""
    if (math.isinf(g.mtbf_s) or g.checkpoint_write_s <= 0 or g.async_checkpoint
            or g.ettr <= 0):
        return None
    work_s = min(g.duration_s, 30 * 86400.0) * max(g.ettr, 0.05)
    rng = RandomStreams(seed).stream("reliability/optimum")
    best, _ = simulated_optimum(work_s, g.checkpoint_write_s, g.mtbf_s,
                                g.detect_s + g.restart_s, rng, runs=3)
    return float(best)
