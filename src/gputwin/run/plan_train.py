"""``plan train``: resolve a :class:`TrainPlanRequest`, search the layouts, report them.

Also the one place where estimates that were given no layout get one
(:func:`planned_estimate`): ``estimate energy``, cluster-simulation jobs and ``compare``
call it, and say the layout was planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.energy.accounting import allocation_rates
from gputwin.energy.tco import owned_power_usd_per_gpu_hour
from gputwin.errors import InputError
from gputwin.perf.training import TrainingEstimate
from gputwin.perf.training_layout import parallel_fields
from gputwin.plan.train import (
    Candidate,
    SearchResult,
    TrainSearch,
    search_dtypes,
    search_layouts,
)
from gputwin.requests import TrainLayout, TrainPlanRequest, TrainRequest
from gputwin.run.estimate_train import (
    _with_overrides,
    estimate_train,
    resolve_train_hardware,
)
from gputwin.topology.hardware import HardwareSpec

#: breakdown keys a losing layout can lose on, with the words shown for them
_LOSSES = {"bubble_s": "pipeline bubble", "tp_comm_s": "TP comm", "cp_comm_s": "CP comm",
           "ep_comm_s": "EP all-to-all", "pp_comm_s": "PP p2p", "dp_comm_s": "DP/FSDP comm",
           "compute_s": "compute", "stage_imbalance_s": "stage imbalance",
           "optimizer_s": "optimizer"}


@dataclass(frozen=True, slots=True)
class TrainPlan:
    """The ranked layouts of one search (best first) and the search's bookkeeping."""

    request: TrainPlanRequest
    result: SearchResult
    seq_len: int
    price_basis: str | None

    @property
    def shown(self) -> list[Candidate]:
        return self.result.candidates[: self.request.top]

    def loses_on(self, cand: Candidate) -> str:
        """The part of the step where ``cand`` spends the most more time per token than the
        best layout, as a share of the best layout's time per token ("" for the best)."""
        best = self.result.best.estimate
        est = cand.estimate
        if cand is self.result.best:
            return ""

        def per_token(e: TrainingEstimate, key: str) -> float:
            return e.breakdown.get(key, 0.0) / (e.tokens_per_s * e.step_time_s)

        gaps = {k: (per_token(est, k) - per_token(best, k)) * best.tokens_per_s
                for k in _LOSSES}
        key = max(gaps, key=lambda k: gaps[k])
        return f"{_LOSSES[key]} (+{gaps[key]:.0%})" if gaps[key] > 0.005 else "ties"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.request.model,
            "seq_len": self.seq_len,
            "objective": self.request.objective,
            "price_basis": self.price_basis,
            "num_layouts": self.result.num_layouts,
            "num_timed": len(self.result.candidates),
            "rejected": dict(self.result.rejected),
            "candidates": [candidate_dict(c, self.loses_on(c)) for c in self.shown],
        }


def candidate_dict(c: Candidate, loses_on: str = "") -> dict[str, Any]:
    est = c.estimate
    out: dict[str, Any] = {
        "num_gpus": c.num_gpus, "layout": c.layout(),
        "global_batch_size": c.config.global_batch_size,
        "step_time_s": est.step_time_s, "mfu": est.mfu, "tokens_per_s": est.tokens_per_s,
        "memory_per_gpu_bytes": est.memory_per_gpu_bytes,
        "memory_capacity_bytes": est.memory_capacity_bytes,
        "score": c.score, "loses_on": loses_on, "breakdown": dict(est.breakdown),
    }
    if est.time_to_train_s is not None:
        out["time_to_train_s"] = est.time_to_train_s
        out["energy_j"] = est.energy_j
    return out


def _usd_per_gpu_hour(request: TrainPlanRequest, hw: HardwareSpec
                      ) -> tuple[float | None, str | None]:
    """The price of a GPU-hour of training: a rental's (it pays for the power), or the
    owned rate plus the power bill it leaves apart (at full activity, ``tco.yaml``)."""
    acc = hw.accelerator
    try:
        rates = allocation_rates(acc.name, acc.tdp_w, provider=request.provider,
                                 pricing=request.pricing)
    except InputError:
        if request.objective == "cost":
            raise
        return None, None
    usd_h = rates.compute_usd_per_gpu_s * 3600.0
    if rates.energy_in_price:
        return usd_h, rates.cost_basis
    power_usd_h, power_basis = owned_power_usd_per_gpu_hour(acc, hw.system)
    return (usd_h + power_usd_h,
            rates.cost_basis.replace(", energy billed apart", "") + f"; + {power_basis}")


def plan_train(request: TrainPlanRequest, *, catalog: Catalog | None = None) -> TrainPlan:
    """Search every supported layout; raises :class:`DoesNotFitError` when none fits."""
    cat = catalog or default_catalog()
    spec = _with_overrides(cat.model(request.model, where="--model"), request.model_overrides)
    seq = request.seq_len or spec.training_seq_len
    if request.global_batch_size is not None and request.global_batch_tokens is not None:
        raise InputError("give only one of --global-batch-size (sequences) or "
                         "--global-batch-tokens (tokens), not both", where="--global-batch-size")
    probe = TrainRequest(model=request.model, num_gpus=request.num_gpus[0], gpu=request.gpu,
                         system=request.system, fabric=request.fabric,
                         storage=request.storage, oversubscription=request.oversubscription,
                         nodes_per_leaf=request.nodes_per_leaf)
    hw = resolve_train_hardware(probe, cat)
    price, basis = _usd_per_gpu_hour(request, hw)
    search = TrainSearch(
        model=spec, hw=hw, num_gpus=tuple(request.num_gpus), seq_len=seq,
        global_batch_size=request.global_batch_size,
        global_batch_tokens=request.global_batch_tokens,
        dtypes=search_dtypes(request.dtypes, hw),
        max_tp=request.max_tp, allow_offload=request.allow_offload,
        objective=request.objective, tokens=request.tokens, usd_per_gpu_hour=price,
        keep=request.top, ep_dispatcher=request.ep_dispatcher,
        ep_dispatch_fp8=request.ep_dispatch_fp8, moe_a2a_overlap=request.moe_a2a_overlap,
        try_dualpipe=request.try_dualpipe)
    return TrainPlan(request, search_layouts(search), seq, basis)


def layout_of(c: Candidate) -> TrainLayout:
    cfg = c.config
    return TrainLayout(**parallel_fields(c.parallel), micro_batch_size=cfg.micro_batch_size,
                       recompute=cfg.recompute, dtype=cfg.dtype,
                       recompute_modules=(None if cfg.recompute_modules is None
                                          else list(cfg.recompute_modules)),
                       recompute_num_layers=cfg.recompute_num_layers)


def planned_estimate(request: TrainRequest, *, catalog: Catalog | None = None
                     ) -> tuple[TrainingEstimate, TrainRequest]:
    """The estimate of ``request`` on the planner's best layout (its own layout ignored,
    except its dtype); returns the estimate and the request with that layout."""
    plan = plan_train(TrainPlanRequest(
        model=request.model, num_gpus=[request.num_gpus], gpu=request.gpu,
        system=request.system, global_batch_size=request.global_batch_size,
        global_batch_tokens=request.global_batch_tokens, seq_len=request.seq_len,
        dtypes=[request.layout.dtype], tokens=request.tokens, fabric=request.fabric,
        storage=request.storage, oversubscription=request.oversubscription,
        nodes_per_leaf=request.nodes_per_leaf, model_overrides=request.model_overrides,
        top=1), catalog=catalog)
    best = plan.result.best
    chosen = request.model_copy(update={
        "layout": layout_of(best), "global_batch_size": best.config.global_batch_size,
        "global_batch_tokens": None, "seq_len": plan.seq_len})
    return estimate_train(chosen, catalog=catalog), chosen
