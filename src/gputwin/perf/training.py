"""Training step-time, memory, throughput and energy model (the heart of gputwin's fidelity).

Public API (stable, used by the CLI, the validation suite and the simulator):

- ``ParallelConfig``, ``TrainingConfig``: what to run and how it is split (defined, with
  the checks a layout must pass, in :mod:`gputwin.perf.training_layout`).
- ``estimate_training(model, hw, num_gpus, parallel, config, *, tokens=None,
  num_leaves_spanned=None, check_memory=True) -> TrainingEstimate``.

The step is ``m·t_max + (p−1)/v·t_avg + exposed PP/DP communication + optimizer``, where
``t`` is one micro-batch on one pipeline stage (compute plus the exposed TP/CP/EP
communication of its layers). See docs/training-model.md for the equations and sources.

Raises :class:`gputwin.errors.InputError` for impossible splits and
:class:`gputwin.errors.DoesNotFitError` when memory per GPU exceeds the accelerator's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from gputwin.catalog.schema import Accelerator, ModelSpec
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf import communication as comm
from gputwin.perf.activations import fully_recomputed_frac, offload_bytes_per_microbatch
from gputwin.perf.calibration import AcceleratorCoefficients, Calibration, default_calibration
from gputwin.perf.compute import LayerTime, layer_times, logits_time_s, optimizer_time_s
from gputwin.perf.energy import gpu_power_w, run_energy_j
from gputwin.perf.flops import (
    hardware_flops_per_token,
    model_flops_per_token,
    total_params,
)
from gputwin.perf.io import IoEstimate, io_estimate
from gputwin.perf.memory import MemoryBreakdown, PlanMemory, plan_memory, stage_params
from gputwin.perf.pipeline import bubble_s, dualpipe_bubble_s
from gputwin.perf.plan import Plan
from gputwin.perf.training_layout import ParallelConfig as ParallelConfig
from gputwin.perf.training_layout import Recompute as Recompute
from gputwin.perf.training_layout import TrainingConfig as TrainingConfig
from gputwin.perf.training_layout import a2a_overlap_problem as a2a_overlap_problem
from gputwin.perf.training_layout import check_layout
from gputwin.perf.training_layout import dualpipe_problem as dualpipe_problem
from gputwin.perf.training_layout import make_plan as make_plan
from gputwin.topology.hardware import HardwareSpec
from gputwin.units import format_bytes


@dataclass(frozen=True, slots=True)
class TrainingEstimate:
    step_time_s: float
    mfu: float
    hfu: float
    tokens_per_s: float
    tflops_per_gpu: float
    memory: MemoryBreakdown
    breakdown: dict[str, float]
    num_gpus: int
    dp: int
    model_flops_per_step: float
    time_to_train_s: float | None = None
    energy_j: float | None = None
    num_steps: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    hw_tflops_per_gpu: float = 0.0
    memory_capacity_bytes: float = 0.0

    @property
    def memory_per_gpu_bytes(self) -> float:
        return self.memory.total_bytes

    @property
    def tokens_per_s_per_gpu(self) -> float:
        return self.tokens_per_s / self.num_gpus

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (SI units; keys name their unit)."""
        out: dict[str, Any] = {
            "step_time_s": self.step_time_s,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu,
            "tflops_per_gpu": self.tflops_per_gpu,
            "hw_tflops_per_gpu": self.hw_tflops_per_gpu,
            "memory_per_gpu_bytes": self.memory_per_gpu_bytes,
            "memory_capacity_bytes": self.memory_capacity_bytes,
            "memory_margin_bytes": self.memory_capacity_bytes - self.memory_per_gpu_bytes,
            "host_activations_bytes": self.memory.host_activations_bytes,
            "memory": {
                "weights_bytes": self.memory.weights_bytes,
                "gradients_bytes": self.memory.gradients_bytes,
                "optimizer_bytes": self.memory.optimizer_bytes,
                "activations_bytes": self.memory.activations_bytes,
                "other_bytes": self.memory.other_bytes,
            },
            "breakdown": dict(self.breakdown),
            "num_gpus": self.num_gpus,
            "dp": self.dp,
            "model_flops_per_step": self.model_flops_per_step,
            **self.extra,
        }
        if self.num_steps is not None:
            out["num_steps"] = self.num_steps
            out["time_to_train_s"] = self.time_to_train_s
            out["energy_j"] = self.energy_j
        return out


@dataclass(frozen=True, slots=True)
class MicrobatchTimes:
    """One micro-batch (forward + backward) through the pipeline's stages, in seconds."""

    fwd: float  # forward compute of the busiest stage
    bwd: float  # backward compute (with recomputation) of the busiest stage
    tp_s: float  # exposed TP / CP / EP communication of the busiest stage
    cp_s: float
    ep_s: float
    ep_total_s: float  # the busiest stage's EP all-to-all before any overlap
    t_max: float  # the slowest stage (sets the steady-state pace)
    t_avg: float  # the average stage (sets the fill and drain)
    compute_avg: float  # compute of the average stage


def layer_bwd_s(lt: LayerTime, plan: Plan) -> float:
    """One layer's backward under the plan's recomputation: selective re-runs the
    checkpointed modules; full re-runs the forward of the share of each pipeline chunk's
    layers it covers (all, or the first ``recompute_num_layers``)."""
    return lt.bwd_s(plan.recompute, plan.recompute_modules, fully_recomputed_frac(plan))


def _microbatch_times(plan: Plan, accel: Accelerator, coeff: AcceleratorCoefficients,
                      c: Calibration, ctx: comm.CommContext) -> MicrobatchTimes:
    """Per-layer times scaled by each stage's layers; the last stage adds the logits."""
    fwd = bwd = attn = 0.0
    for lt, share in layer_times(plan, accel, coeff, c):
        fwd += share * lt.fwd_s
        bwd += share * layer_bwd_s(lt, plan)
        attn += share * lt.attn_total_s
    tp = comm.tp_exposed_per_layer(plan, ctx, c)
    cp = comm.cp_exposed_per_layer(plan, ctx, c, attn)
    ep = plan.moe_layer_frac * comm.ep_exposed_per_moe_layer(plan, ctx, c, fwd, bwd)
    per_layer = fwd + bwd + tp + cp + ep
    logits = logits_time_s(plan, accel, coeff, c)
    counts = plan.stage_layer_counts
    stage_s = [n * per_layer for n in counts]
    stage_s[-1] += logits
    busiest = float(max(counts))
    mean_layers = plan.arch.num_layers / plan.pp
    ep_total = plan.moe_layer_frac * sum(comm.ep_times_per_moe_layer(plan, ctx))
    return MicrobatchTimes(
        fwd=busiest * fwd, bwd=busiest * bwd, tp_s=busiest * tp, cp_s=busiest * cp,
        ep_s=busiest * ep, ep_total_s=busiest * ep_total, t_max=_pace_s(plan, stage_s),
        t_avg=sum(stage_s) / plan.pp,
        compute_avg=mean_layers * (fwd + bwd) + logits / plan.pp)


def step_lower_bound_s(model: ModelSpec, hw: HardwareSpec, num_gpus: int,
                       parallel: ParallelConfig, config: TrainingConfig) -> float:
    """A lower bound of :func:`estimate_training`'s step time for a checked split: the
    compute of the pipeline's steady state and fill/drain, without any communication,
    optimizer step or I/O (each of which only adds). The planner prunes with it."""
    dp = num_gpus // (parallel.tp * parallel.pp * parallel.cp)
    plan = make_plan(model, num_gpus, dp, parallel, config)
    c = default_calibration()
    accel = hw.accelerator
    coeff = c.for_accelerator(accel.name)
    times = layer_times(plan, accel, coeff, c)
    fwd = sum(share * lt.fwd_s for lt, share in times)
    per_layer = fwd + sum(share * layer_bwd_s(lt, plan) for lt, share in times)
    stage_s = [n * per_layer for n in plan.stage_layer_counts]
    stage_s[-1] += logits_time_s(plan, accel, coeff, c)
    return (plan.num_microbatches * _pace_s(plan, stage_s)
            + _bubble_s(plan, sum(stage_s) / plan.pp, fwd / per_layer))


def _pace_s(plan: Plan, stage_s: list[float]) -> float:
    """Seconds per micro-batch of the steady state: the slowest stage, or under DualPipe
    the slowest mirrored pair's mean (rank r runs half the micro-batches at stage r and
    half at stage p-1-r, so the end stages' embedding and logits work is shared)."""
    if plan.pipeline_schedule == "dualpipe":
        return max((s + stage_s[-1 - r]) / 2.0 for r, s in enumerate(stage_s))
    return max(stage_s)


def _bubble_s(plan: Plan, t_avg_s: float, fwd_share: float) -> float:
    """Idle seconds per step of the plan's pipeline schedule; ``t_avg_s`` is one
    micro-batch on the average stage, ``fwd_share`` of it the forward."""
    if plan.pipeline_schedule == "dualpipe":
        return dualpipe_bubble_s(plan.pp, fwd_share * t_avg_s, (1.0 - fwd_share) * t_avg_s)
    return bubble_s(plan.pp, plan.interleave, t_avg_s)


def _peak_or_refuse(model_name: str, plan: Plan, c: Calibration, accel: Accelerator,
                    check: bool) -> PlanMemory:
    """The plan's peak memory per GPU; :class:`DoesNotFitError` (with the shortfall and its
    parts) when it exceeds the accelerator's and ``check`` is on."""
    both = plan_memory(plan, c)
    mem = both.peak
    capacity = accel.usable_memory
    if check and mem.total_bytes > capacity:
        raise DoesNotFitError(
            f"{model_name} needs {format_bytes(mem.total_bytes)} per GPU, "
            f"{format_bytes(mem.total_bytes - capacity)} more than the "
            f"{format_bytes(capacity)} usable on {accel.name} (weights "
            f"{format_bytes(mem.weights_bytes)}, gradients {format_bytes(mem.gradients_bytes)}, "
            f"optimizer {format_bytes(mem.optimizer_bytes)}, activations "
            f"{format_bytes(mem.activations_bytes)}, runtime {format_bytes(mem.other_bytes)}); "
            "use more GPUs, tp/pp/cp, zero_stage, recompute, offload_activation_layers or "
            "`gputwin plan train`")
    return both


def _with_run(est: TrainingEstimate, hw: HardwareSpec, tokens: float, step_with_ckpt_s: float,
              nodes: int, compute_frac: float) -> TrainingEstimate:
    """``est`` plus the steps, time and energy of training on ``tokens`` tokens."""
    if tokens <= 0 or not math.isfinite(tokens):
        raise InputError(f"tokens must be a positive number, got {tokens}")
    steps = tokens / (est.tokens_per_s * est.step_time_s)
    duration = steps * step_with_ckpt_s
    energy = run_energy_j(hw, num_gpus=est.num_gpus, num_nodes=nodes, duration_s=duration,
                          compute_frac=compute_frac)
    return replace(est, time_to_train_s=duration, energy_j=energy, num_steps=steps)


def estimate_training(
    model: ModelSpec,
    hw: HardwareSpec,
    num_gpus: int,
    parallel: ParallelConfig,
    config: TrainingConfig,
    *,
    tokens: float | None = None,
    num_leaves_spanned: int | None = None,
    check_memory: bool = True,
    memory: PlanMemory | None = None,
) -> TrainingEstimate:
    """Estimate one training step of ``model`` on ``num_gpus`` GPUs of ``hw``.

    ``tokens`` (optional) adds ``num_steps``, ``time_to_train_s`` and ``energy_j``.
    ``num_leaves_spanned``: leaf switches the job's nodes sit under (the simulator passes the
    real placement; default: nodes packed under as few leaves as possible).
    ``memory``: the peak memory of this very plan when the caller has it already.
    """
    dp = check_layout(model, num_gpus, parallel, config)
    accel = hw.accelerator
    _check_dtype(accel, config.dtype)
    c = default_calibration()
    plan = make_plan(model, num_gpus, dp, parallel, config)
    step = _step_parts(plan, hw, c, num_leaves_spanned)
    mem = memory or _peak_or_refuse(model.name, plan, c, accel, check_memory)
    est = _estimate(plan, hw, config, step, mem)
    if tokens is None:
        return est
    ckpt_per_step = step.checkpoint_per_step_s(config.checkpoint_interval_s)
    return _with_run(est, hw, tokens, step.step_s + ckpt_per_step, step.num_nodes,
                     step.compute_frac)


def _check_dtype(accel: Accelerator, dtype: str) -> None:
    """The accelerator runs ``dtype`` (and bf16, or fp16, for what stays in 16 bits)."""
    for dt in {dtype, "bf16" if dtype != "fp16" else "fp16"}:
        if dt not in accel.peak_flop_per_s:
            raise InputError(f"dtype {dt} is not supported by {accel.name}")


@dataclass(frozen=True, slots=True)
class _StepParts:
    """The parts of one step, in seconds: ``m`` micro-batches at the slowest stage's pace,
    the pipeline bubble, exposed PP and DP communication, the optimizer and data loading."""

    num_microbatches: int
    mb: MicrobatchTimes
    bubble_s: float
    pp_exposed_s: float
    dp: comm.DpComm
    optimizer_s: float
    offload_s: float  # activation copies to and from the host not hidden behind compute
    io: IoEstimate
    num_nodes: int
    step_s: float

    @property
    def compute_s(self) -> float:
        """Compute of the average stage (the rest of the slowest stage is imbalance)."""
        return self.num_microbatches * self.mb.compute_avg

    @property
    def compute_frac(self) -> float:
        """The share of the step the GPUs compute (compute and optimizer)."""
        return (self.compute_s + self.optimizer_s) / self.step_s

    def checkpoint_per_step_s(self, interval_s: float) -> float:
        """One checkpoint write spread over the steps between two checkpoints."""
        return self.io.checkpoint_write_s * self.step_s / interval_s


def _step_parts(plan: Plan, hw: HardwareSpec, c: Calibration,
                num_leaves_spanned: int | None) -> _StepParts:
    """Time one step of ``plan`` on ``hw`` (the module docstring's equation)."""
    accel = hw.accelerator
    coeff = c.for_accelerator(accel.name)
    ctx = comm.make_context(hw, plan.num_gpus, num_leaves_spanned)
    m = plan.num_microbatches
    mb = _microbatch_times(plan, accel, coeff, c, ctx)
    bubble = _bubble_s(plan, mb.t_avg, mb.fwd / (mb.fwd + mb.bwd))
    params = stage_params(plan, first=plan.pp == 1, last=True)
    dpc = comm.dp_comm(plan, params, ctx, c, mb.fwd, mb.bwd, bubble)
    local = params.total if plan.zero_stage == 0 else (
        params.dense / plan.dp_cp + params.expert / plan.expert_dp)
    host_link = host_link_bytes_per_s(hw, c)
    opt = optimizer_time_s(local, accel, c, offload=plan.offload_optimizer,
                           host_link_bytes_per_s=host_link)
    offload = m * activation_offload_exposed_s(plan, mb, host_link)
    pp_exp = comm.pp_exposed_per_step(plan, ctx, c)
    nodes = ctx.job_nodes
    io = io_estimate(hw.storage, tokens_per_step=plan.tokens_per_step, num_nodes=nodes,
                     total_params=total_params(plan.arch), compute_step_s=m * mb.t_max)
    step = (m * mb.t_max + bubble + pp_exp + dpc.exposed_s + opt + offload
            + io.data_exposed_s)
    return _StepParts(m, mb, bubble, pp_exp, dpc, opt, offload, io, nodes, step)


def host_link_bytes_per_s(hw: HardwareSpec, c: Calibration) -> float:
    """Copy bandwidth between one GPU and host memory, per direction: the system's own
    (NVLink-C2C on Grace parts), else the calibration's PCIe figure."""
    return hw.system.host_link_bytes_per_s_per_gpu or c.host_link_bytes_per_s_per_gpu


def activation_offload_exposed_s(plan: Plan, mb: MicrobatchTimes, host_link: float) -> float:
    """Seconds per micro-batch the activation offload adds: the copies to the host run
    beside the forward pass and the copies back beside the backward; what outlasts its
    pass is exposed."""
    if not (plan.offload_activation_layers or plan.offload_modules):
        return 0.0
    copy_s = offload_bytes_per_microbatch(plan) / host_link
    return max(0.0, copy_s - mb.fwd) + max(0.0, copy_s - mb.bwd)


def _allocated(mem: MemoryBreakdown) -> float:
    return mem.total_bytes - mem.other_bytes


def _estimate(plan: Plan, hw: HardwareSpec, config: TrainingConfig, s: _StepParts,
              mem: PlanMemory) -> TrainingEstimate:
    """The estimate of one step: rates, FLOP utilisation, breakdown and memory."""
    accel = hw.accelerator
    m, mb, step, num_gpus = s.num_microbatches, s.mb, s.step_s, plan.num_gpus
    tps = plan.tokens_per_step
    model_flops = model_flops_per_token(plan.arch, plan.seq_len) * tps
    hw_flops = hardware_flops_per_token(
        plan.arch, plan.seq_len, plan.recompute, frozenset(plan.recompute_modules),
        fully_recomputed_frac(plan)) * tps
    peak = accel.peak_for(config.dtype) * num_gpus
    breakdown = {
        "compute_s": s.compute_s,
        "tp_comm_s": m * mb.tp_s,
        "cp_comm_s": m * mb.cp_s,
        "ep_comm_s": m * mb.ep_s,
        "pp_comm_s": s.pp_exposed_s,
        "dp_comm_s": s.dp.exposed_s,
        "bubble_s": s.bubble_s,
        "stage_imbalance_s": m * (mb.t_max - mb.t_avg) if plan.pp > 1 else 0.0,
        "optimizer_s": s.optimizer_s,
        "activation_offload_s": s.offload_s,
        "data_loading_s": s.io.data_exposed_s,
        "checkpoint_s": s.checkpoint_per_step_s(config.checkpoint_interval_s),
    }
    extra = {
        "num_microbatches": float(m),
        "bubble_frac": s.bubble_s / (m * mb.t_avg) if plan.pp > 1 else 0.0,
        "hardware_flops_per_step": hw_flops,
        "dp_comm_total_s": s.dp.total_s,
        "ep_comm_total_s": m * mb.ep_total_s,
        "checkpoint_bytes": s.io.checkpoint_bytes,
        "checkpoint_write_s": s.io.checkpoint_write_s,
        "data_read_s": s.io.data_read_s,
        "gpu_power_w": gpu_power_w(hw, s.compute_frac),
        # What torch.cuda.max_memory_allocated reports (no CUDA context, NCCL buffers or
        # allocator slack), on the busiest rank and on the last pipeline rank.
        "memory_allocated_bytes": _allocated(mem.peak),
        "memory_last_stage_allocated_bytes": _allocated(mem.last_stage),
        "num_nodes": float(s.num_nodes),
    }
    return TrainingEstimate(
        step_time_s=step, mfu=model_flops / (step * peak), hfu=hw_flops / (step * peak),
        tokens_per_s=tps / step, tflops_per_gpu=model_flops / step / num_gpus / 1e12,
        memory=mem.peak,
        breakdown=breakdown, num_gpus=num_gpus, dp=plan.dp, model_flops_per_step=model_flops,
        extra=extra, hw_tflops_per_gpu=hw_flops / step / num_gpus / 1e12,
        memory_capacity_bytes=accel.usable_memory,
    )
