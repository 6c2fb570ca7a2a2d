"""Training step-time model (PLACEHOLDER body: being rewritten; keep the API).

Public API (stable, used by the CLI, the validation suite and the simulator):

- ``ParallelConfig``, ``TrainingConfig``: what to run and how it is split.
- ``estimate_training(model, hw, num_gpus, parallel, config, *, tokens=None,
  num_leaves_spanned=None, check_memory=True) -> TrainingEstimate``.

Raises :class:`gputwin.errors.InputError` for impossible splits and
:class:`gputwin.errors.DoesNotFitError` when memory per GPU exceeds the accelerator's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.topology.hardware import HardwareSpec

Recompute = Literal["none", "selective", "full"]


@dataclass(frozen=True, slots=True)
class ParallelConfig:
    """How a job is split. ``dp`` is derived from the GPU count by ``estimate_training``."""

    tp: int = 1
    pp: int = 1
    cp: int = 1
    ep: int = 1
    interleave: int = 1  # virtual pipeline stages per rank (1 = plain 1F1B)
    sequence_parallel: bool = False
    zero_stage: int = 1  # 0 = plain DDP, 1 = optimizer, 2 = +gradients, 3 = FSDP (+weights)


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    global_batch_size: int
    micro_batch_size: int = 1
    seq_len: int = 2048
    dtype: Literal["bf16", "fp16", "fp8"] = "bf16"
    recompute: Recompute = "selective"


@dataclass(frozen=True, slots=True)
class MemoryBreakdown:
    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    other_bytes: float

    @property
    def total_bytes(self) -> float:
        return (self.weights_bytes + self.gradients_bytes + self.optimizer_bytes
                + self.activations_bytes + self.other_bytes)


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

    @property
    def memory_per_gpu_bytes(self) -> float:
        return self.memory.total_bytes


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
) -> TrainingEstimate:
    """Placeholder: 6·N·D at 40 % of peak."""
    denom = parallel.tp * parallel.pp * parallel.cp
    if num_gpus % denom:
        raise InputError(f"--num-gpus {num_gpus} is not a multiple of tp*pp*cp = {denom}")
    dp = num_gpus // denom
    n_params = 12 * model.num_layers * model.hidden_size**2
    tokens_per_step = config.global_batch_size * config.seq_len
    flops = 6.0 * n_params * tokens_per_step
    peak = hw.accelerator.peak_for(config.dtype)
    step = flops / (num_gpus * peak * 0.4)
    mem = MemoryBreakdown(16.0 * n_params / num_gpus, 0.0, 0.0, 0.0, 0.0)
    steps = tokens / tokens_per_step if tokens else None
    return TrainingEstimate(
        step_time_s=step, mfu=0.4, hfu=0.4, tokens_per_s=tokens_per_step / step,
        tflops_per_gpu=flops / step / num_gpus / 1e12, memory=mem,
        breakdown={"compute_s": step}, num_gpus=num_gpus, dp=dp, model_flops_per_step=flops,
        time_to_train_s=steps * step if steps else None,
        energy_j=steps * step * num_gpus * hw.accelerator.tdp_w if steps else None,
        num_steps=steps,
    )
