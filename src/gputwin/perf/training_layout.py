"""The layout of a training job: how it is split (``ParallelConfig``), what it runs
(``TrainingConfig``), the checks a layout must pass and the :class:`Plan` built from it.

Separate from the step-time model (:mod:`gputwin.perf.training`, which re-exports these
names) so the planner and the checks read one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.perf.flops import DEFAULT_RECOMPUTE_MODULES, arch_of
from gputwin.perf.plan import Plan
from gputwin.perf.split import Split, check_split
from gputwin.requests import EpDispatcher, OffloadModule, PipelineSchedule, RecomputeModule

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
    balanced_stages: bool = True  # first/last pipeline stages give up layers (Llama 3 style)
    offload_optimizer: bool = False  # Adam state and step on the host
    #: Layers whose activations go to host memory in the forward pass and come back for
    #: the backward (Megatron-Core ``cpu_offloading_num_layers``; needs pp 1, no recompute).
    offload_activation_layers: int = 0
    #: Modules whose inputs go to host memory in every layer (Megatron-Core fine-grained
    #: activation offloading, ``offload_modules``; any pp, with or without recomputation).
    offload_modules: tuple[OffloadModule, ...] = ()
    main_grads_fp32: bool = False  # gradients accumulated and reduced in FP32, else BF16
    adam_moments_bf16: bool = False  # Adam's moments in BF16 (precision-aware optimizer)
    fused_cross_entropy: bool = False  # TE's loss: gradient over the BF16 logits, no FP32 copy
    #: How MoE tokens reach their experts: "alltoall" (every top-k copy over the EP group)
    #: or "deepep"/"hybridep" (one scale-out copy per remote node, forwarded over NVLink);
    #: see perf/communication.py.
    ep_dispatcher: EpDispatcher = "alltoall"
    ep_dispatch_fp8: bool = False  # dispatch in FP8 (DeepSeek's own stack); BF16 otherwise
    moe_a2a_overlap: bool = False  # EP all-to-all hidden behind another micro-batch's compute
    pipeline_schedule: PipelineSchedule = "1f1b"  # "dualpipe": DeepSeek-V3's (pipeline.py)

    @property
    def split(self) -> Split:
        return Split(self.tp, self.pp, self.cp, self.ep, self.interleave)


def parallel_config_of(source: object) -> ParallelConfig:
    """The :class:`ParallelConfig` of any object that names its fields (a request's layout,
    a scenario template): each field the object has, the default for the others (a list
    becomes a tuple, an unset list the empty one)."""
    values = {f.name: getattr(source, f.name) for f in fields(ParallelConfig)
              if hasattr(source, f.name)}
    if "offload_modules" in values:
        values["offload_modules"] = tuple(values["offload_modules"] or ())
    return ParallelConfig(**values)


def parallel_fields(p: ParallelConfig) -> dict[str, Any]:
    """``p``'s fields by name (to build a request's layout from it)."""
    out = {f.name: getattr(p, f.name) for f in fields(ParallelConfig)}
    out["offload_modules"] = list(p.offload_modules) or None
    return out


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    global_batch_size: int
    micro_batch_size: int = 1
    seq_len: int = 2048
    dtype: Literal["bf16", "fp16", "fp8"] = "bf16"
    recompute: Recompute = "selective"
    checkpoint_interval_s: float = 3600.0  # training time between two checkpoint saves
    #: What ``selective`` checkpoints (None: Megatron-Core's default, core attention).
    recompute_modules: tuple[RecomputeModule, ...] | None = None
    #: ``full`` on only the first N layers of each pipeline chunk (Megatron-Core's block
    #: method); None: every layer.
    recompute_num_layers: int | None = None


def check_layout(model: ModelSpec, num_gpus: int, p: ParallelConfig,
                 cfg: TrainingConfig) -> int:
    """Validate the split and the batch; return dp. Raises :class:`InputError`."""
    for name, value in (("global_batch_size", cfg.global_batch_size),
                        ("micro_batch_size", cfg.micro_batch_size), ("seq_len", cfg.seq_len)):
        if value < 1:
            raise InputError(f"{name} must be a positive integer, got {value}")
    check_split(model, p.split, seq_len=cfg.seq_len, num_gpus=num_gpus, where=str)
    if p.zero_stage not in (0, 1, 2, 3):
        raise InputError(f"zero_stage must be 0, 1, 2 or 3, got {p.zero_stage}")
    if p.ep_dispatcher not in get_args(EpDispatcher):
        raise InputError(f"ep_dispatcher must be one of {', '.join(get_args(EpDispatcher))}, "
                         f"got {p.ep_dispatcher!r}")
    dp = num_gpus // (p.tp * p.pp * p.cp)
    if cfg.global_batch_size % (cfg.micro_batch_size * dp):
        raise InputError(
            f"global_batch_size {cfg.global_batch_size} must be a multiple of "
            f"micro_batch_size x dp = {cfg.micro_batch_size} x {dp}")
    microbatches = cfg.global_batch_size // (cfg.micro_batch_size * dp)
    if p.pipeline_schedule not in get_args(PipelineSchedule):
        raise InputError(f"pipeline_schedule must be one of "
                         f"{', '.join(get_args(PipelineSchedule))}, got {p.pipeline_schedule!r}")
    problem = (dualpipe_problem(p.pp, p.interleave, microbatches)
               if p.pipeline_schedule == "dualpipe" else None)
    problem = problem or memory_saving_problem(p, cfg, arch_of(model).num_layers)
    if problem is None and p.moe_a2a_overlap and model.is_moe and p.ep > 1:
        problem = a2a_overlap_problem(p, cfg.recompute, microbatches)
    if problem is not None:
        raise InputError(problem)
    return dp


def dualpipe_problem(pp: int, interleave: int, microbatches: int) -> str | None:
    """Why a layout cannot run DualPipe (two pipelines in opposite directions over one even
    set of stages), or None when it can. The planner asks the same."""
    if pp < 2 or pp % 2 or interleave != 1:
        return (f"pipeline_schedule dualpipe needs an even pp >= 2 and interleave 1 (its "
                f"stages pair up from both ends), got pp {pp}, interleave {interleave}")
    if microbatches < 2 or microbatches % 2:
        return (f"pipeline_schedule dualpipe feeds half the micro-batches from each end: it "
                f"needs an even number of them per step, got {microbatches}")
    return None


def memory_saving_problem(p: ParallelConfig, cfg: TrainingConfig,
                          num_layers: int) -> str | None:
    """Why a layout's recomputation or activation offload cannot run as asked (Megatron-
    Core's own rules), or None when it can."""
    if cfg.recompute_modules is not None and cfg.recompute != "selective":
        return (f"recompute_modules names what selective recomputation checkpoints: it needs "
                f"recompute selective, got {cfg.recompute}")
    if cfg.recompute_num_layers is not None and cfg.recompute != "full":
        return (f"recompute_num_layers limits full recomputation to the first layers of each "
                f"pipeline chunk: it needs recompute full, got {cfg.recompute}")
    if p.offload_activation_layers < 0:
        return f"offload_activation_layers must be >= 0, got {p.offload_activation_layers}"
    if p.offload_activation_layers and (p.pp > 1 or cfg.recompute != "none"):
        return ("offload_activation_layers (Megatron-Core cpu_offloading) runs with pp 1 and "
                f"recompute none, got pp {p.pp}, recompute {cfg.recompute}")
    if p.offload_activation_layers and p.offload_modules:
        return ("offload_modules (fine-grained offloading) and offload_activation_layers "
                "(whole layers) are two ways to offload: give one")
    if p.offload_activation_layers >= num_layers:
        return (f"offload_activation_layers must be below the model's {num_layers} layers "
                f"(the last layer's activations are used at once), got "
                f"{p.offload_activation_layers}")
    return None


def a2a_overlap_problem(p: ParallelConfig, recompute: str, microbatches: int) -> str | None:
    """Why a layout cannot run the 1F1B A2A overlap (Megatron-Core
    ``overlap_moe_expert_parallel_comm``: a forward and a backward of two micro-batches run
    together), or None when it can. The planner asks the same."""
    if microbatches < 2:
        return ("moe_a2a_overlap hides one micro-batch's all-to-all behind another's compute: "
                f"it needs at least 2 micro-batches per step, the batch gives {microbatches}")
    if p.pp > 1 and p.interleave == 1 and p.pipeline_schedule == "1f1b":
        return ("moe_a2a_overlap with pipeline parallelism needs interleave > 1 (Megatron-"
                "Core's combined 1F1B schedule runs on virtual stages) or pipeline_schedule "
                "dualpipe")
    if recompute == "full":
        return ("moe_a2a_overlap does not run with full recomputation (Megatron-Core refuses "
                "it): use recompute selective or none")
    return None


def make_plan(model: ModelSpec, num_gpus: int, dp: int, parallel: ParallelConfig,
              config: TrainingConfig) -> Plan:
    """The derived shape of a checked job (see :class:`Plan`)."""
    p = parallel
    return Plan(arch_of(model), num_gpus, p.tp, p.pp, p.cp, p.ep, dp, p.interleave,
                p.sequence_parallel, p.zero_stage, config.micro_batch_size, config.seq_len,
                config.global_batch_size, config.dtype, config.recompute,
                balanced_stages=p.balanced_stages, offload_optimizer=p.offload_optimizer,
                ep_dispatcher=p.ep_dispatcher, ep_dispatch_fp8=p.ep_dispatch_fp8,
                moe_a2a_overlap=p.moe_a2a_overlap, pipeline_schedule=p.pipeline_schedule,
                recompute_modules=(DEFAULT_RECOMPUTE_MODULES if config.recompute_modules is None
                                   else tuple(config.recompute_modules)),
                recompute_num_layers=config.recompute_num_layers or 0,
                offload_activation_layers=p.offload_activation_layers,
                offload_modules=tuple(p.offload_modules),
                main_grads_fp32=p.main_grads_fp32, adam_moments_bf16=p.adam_moments_bf16,
                fused_cross_entropy=p.fused_cross_entropy)
