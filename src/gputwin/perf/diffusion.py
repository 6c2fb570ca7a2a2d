"""Image and video generation with diffusion transformers: time, GPU-seconds and cost.

One sample of ``frames`` x ``height`` x ``width`` pixels becomes a latent sequence of
``tokens = ((frames - 1) / vae_temporal + 1) x (height / vae_spatial / patch) x (width /
vae_spatial / patch)`` (+ text tokens); every denoising step runs the DiT over it
``cfg_passes`` times (2 with classifier-free guidance). One pass has three parts, timed
separately:

* linear layers, ``2 x token_params x tokens`` FLOPs, at the accelerator family's large-GEMM
  fraction of the bf16 peak (``gemm_max_frac`` of ``perf/calibration.yaml``, shared with
  the training model). ``token_params`` are the weights one token passes, from the model's
  ``layout`` (``perf/dit_layout.py``): in a dual-stream block only its own stream's, and
  not the adaptive-norm projections of the conditioning vector, which act once per pass and
  GPU (their weights read at the memory-bound share of bandwidth), unless the reference code
  embeds the timestep per token (Wan 2.2: the layout's ``timestep_per_token``). The nominal
  ``params`` sets the weight memory only;
* attention, ``4 x blocks x tokens^2 x hidden`` FLOPs (QK^T and PV over the full 3D
  sequence), at the fraction of peak that the model's attention kernel reaches on that
  family (``attention_kernel``: ``fa2`` = FlashAttention-2 / PyTorch SDPA class, ``fa3`` =
  the architecture's native kernel: FlashAttention-3 on Hopper, cuDNN / FlashAttention-4
  on Blackwell; ``perf/diffusion.yaml``), by head dimension;
* memory-bound elementwise work (norms, modulation, RoPE, activations, residuals, layout
  copies): ``elementwise_bytes_per_hidden x blocks x tokens x hidden`` bytes (the table's,
  or the model's where its reference code moves more, e.g. Wan's fp32 residual stream and
  float64 RoPE) at
  ``memory_bw_frac`` (``perf/calibration.yaml``) of HBM bandwidth. A compiled pipeline
  (``compiled``: torch.compile fuses each chain of pointwise ops into one kernel) moves
  ``compiled_elementwise_frac`` of those bytes (counted on the bf16 block).

Both compute parts are scaled by ``r / (r + half_tokens)``, r = tokens per GPU per pass:
short sequences (images, small batches) fill the GPU less; a batch of identical samples
raises r. An image is ``frames = 1``. ``mfu=`` replaces the two compute parts by one
efficiency for all DiT FLOPs (the model before the split) and drops the elementwise part.
Every forward also idles ``blocks x kernels_per_block x kernel_gap_s`` between its
back-to-back kernels (``kernels_per_block_compiled`` when compiled): a launch gap per
kernel, per pass whatever the batch or the sequence split.

On ``num_gpus`` > 1 the sequence is split across GPUs (Ulysses sequence parallelism, what
xDiT and the reference repositories run): each GPU computes its share of the tokens, and
every block adds four all-to-alls (q, k and v to head-sharded layout before attention, the
output back after it) of the GPU's ``batch x tokens / num_gpus x hidden`` bf16 activation,
timed by the collective model (``topology/collectives.py``) on the communicator of the
replica's GPUs (``sp_group``), on the critical path. Without a communicator they cost
nothing (the callers in the CLI, the validation runner and serving pass one). An eager
(uncompiled) sequence-parallel forward cannot be faster than its host issuing the blocks:
on 2+ GPUs a forward takes ``max(GPU time + all-to-alls, blocks x sp_host_s_per_block)``
unless ``compiled`` (fitted on xDiT's eager FLUX.1-dev Ulysses-4 row; short image
sequences on many GPUs hit it, video sequences do not).

The VAE decode after the last step is a convolutional decoder whose work is linear in output
pixel-frames (``frames x height x width``): it takes ``pixel_frames / (vae_decode_rate x
bf16 PFLOP/s of the GPU)`` seconds, with the per-model rate measured on one GPU. The
reference pipelines decode on one GPU after the sequence-parallel DiT (Wan's generate.py
decodes on rank 0; xDiT's HunyuanVideo H20 rows fit a decode that does not shrink with the
GPU count), so the decode takes the same time on any number of GPUs unless
``parallel_vae`` (a pipeline that tiles the decode across GPUs, e.g. SGLang's parallel
tiled decode, assumed ideal). The text encoder is not counted.

``gpu_seconds_per_video_second`` = GPU-seconds of one sample / its duration at ``fps``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gputwin.catalog.schema import Accelerator
from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.calibration import default_calibration, family_key
from gputwin.perf.dataflow import is_dataflow
from gputwin.perf.dit_layout import DitLayout, forward_params, token_params
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.comm_types import CommGroup
from gputwin.topology.hardware import HardwareSpec
from gputwin.yaml_io import load_validated

AttentionKernel = Literal["fa2", "fa3"]
ATTENTION_KERNELS: tuple[str, ...] = ("fa2", "fa3")
ULYSSES_ALL_TO_ALLS_PER_BLOCK = 4  # q, k, v to head-sharded layout; the output back
ACTIVATION_BYTES = 2.0  # bf16
WEIGHT_BYTES = 2.0  # bf16 DiT weights


class NativeShape(BaseModel):
    """What the model's reference pipeline generates by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    frames: int = Field(ge=1)
    height: int = Field(ge=1)
    width: int = Field(ge=1)
    steps: int = Field(ge=1)
    fps: float = Field(gt=0)


class DitModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    native: NativeShape
    native_source: str = Field(min_length=8)
    params: float = Field(gt=0, description="Nominal parameter count (weight memory)")
    layout: DitLayout
    blocks: int = Field(gt=0)
    hidden: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vae_temporal: int = Field(gt=0)
    vae_spatial: int = Field(gt=0)
    patch: int = Field(gt=0)
    patch_temporal: int = Field(default=1, gt=0, description="Latent frames per token")
    cfg_passes: int = Field(ge=1, le=3)
    text_tokens: int = Field(ge=0)
    attention_kernel: AttentionKernel
    attention_kernel_source: str = Field(min_length=8)
    vae_decode_pixel_frames_per_s_per_pflops: float = Field(
        gt=0, description="Output pixel-frames the VAE decoder produces per second per dense "
        "bf16 PFLOP/s of the GPU (one GPU)")
    vae_decode_source: str = Field(min_length=8)
    elementwise_bytes_per_hidden: float | None = Field(
        default=None, ge=0, description="The reference code's memory-bound bytes per hidden "
        "element per block per token, where it differs from the table's")
    elementwise_source: str | None = None
    source: str = Field(min_length=8)

    @model_validator(mode="after")
    def _override_has_a_source(self) -> DitModel:
        if self.elementwise_bytes_per_hidden is not None and not self.elementwise_source:
            raise ValueError("elementwise_bytes_per_hidden needs an elementwise_source")
        return self


class AttentionFamily(BaseModel):
    """Fraction of the bf16 dense peak an attention kernel reaches on long sequences, for
    head dimension <= 64 and >= 128 (linear in between)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    fa2: tuple[float, float]
    fa3: tuple[float, float]
    source: str = Field(min_length=8)

    def frac(self, kernel: str, head_dim: int) -> float:
        lo, hi = self.fa2 if kernel == "fa2" else self.fa3
        t = min(max((head_dim - 64) / 64, 0.0), 1.0)
        return lo + t * (hi - lo)


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    gemm_frac_source: str = Field(min_length=8)
    attention: dict[str, AttentionFamily]
    elementwise_bytes_per_hidden: float = Field(ge=0)
    elementwise_source: str = Field(min_length=8)
    compiled_elementwise_frac: float = Field(gt=0, le=1)
    compiled_elementwise_source: str = Field(min_length=8)
    half_tokens: float = Field(ge=0)
    half_tokens_source: str = Field(min_length=8)
    sp_host_s_per_block: float = Field(ge=0)
    sp_host_source: str = Field(min_length=8)
    kernel_gap_s: float = Field(ge=0)
    kernels_per_block: float = Field(gt=0)
    kernels_per_block_compiled: float = Field(gt=0)
    kernel_gap_source: str = Field(min_length=8)
    models: dict[str, DitModel]


@functools.cache
def diffusion_table() -> _Table:
    table = load_validated(Path(__file__).parent / "diffusion.yaml", _Table)
    if "default" not in table.attention:
        raise InputError("perf/diffusion.yaml: `attention` needs a `default` family")
    return table


@dataclass(frozen=True, slots=True)
class GenerationEstimate:
    tokens: int
    flops: float
    time_s: float
    gpu_seconds: float
    gpu_seconds_per_video_second: float | None
    vae_decode_s: float  # included in time_s
    sequence_parallel_comm_s: float  # Ulysses all-to-alls, included in time_s
    host_bound: bool  # the DiT passes are paced by the eager host, not the GPUs
    attention_flops_frac: float  # share of the DiT FLOPs in attention
    gemm_frac: float  # fraction of the bf16 peak the linear layers run at (before fill)
    attention_frac: float  # same for the attention kernel

    def to_dict(self) -> dict[str, float | bool | None]:
        return {k: getattr(self, k) for k in self.__slots__}


def latent_tokens(m: DitModel, *, frames: int, height: int, width: int) -> int:
    if min(frames, height, width) < 1:
        raise InputError("frames, height and width must be positive")
    step = m.vae_spatial * m.patch
    off = [f"{name} {value}" for name, value in (("height", height), ("width", width))
           if value % step]
    if off:
        raise InputError(f"{' and '.join(off)}: height and width must be multiples of {step} "
                         f"(the VAE's {m.vae_spatial}x downsampling x the {m.patch}x{m.patch} "
                         "patch)")
    latent_frames = (frames - 1) // m.vae_temporal + 1
    frame_tokens = -(-latent_frames // m.patch_temporal)  # padded to whole temporal patches
    return frame_tokens * (height // step) * (width // step) + m.text_tokens


def attention_frac(acc: Accelerator, kernel: str, head_dim: int) -> float:
    """Fraction of ``acc``'s bf16 peak that ``kernel`` reaches on long sequences.
    Raises :class:`UnknownNameError` for a kernel other than fa2 / fa3."""
    if kernel not in ATTENTION_KERNELS:
        raise UnknownNameError("attention kernel", kernel, list(ATTENTION_KERNELS),
                               where="--attention-kernel")
    families = diffusion_table().attention
    return families[family_key(acc.name, families)].frac(kernel, head_dim)


def dit_model(name: str) -> DitModel:
    """The diffusion model called ``name``; raises :class:`UnknownNameError` listing them."""
    models = diffusion_table().models
    if name not in models:
        raise UnknownNameError("diffusion model", name, list(models), where="--model")
    return models[name]


def sp_group(hw: HardwareSpec, num_gpus: int) -> CommGroup | None:
    """The communicator of a ``num_gpus``-GPU sequence-parallel replica on ``hw`` (ranks
    packed onto nodes), None for one GPU. Raises :class:`InputError` when the GPUs would
    span nodes of a system without a network."""
    return group_for_ranks(hw, num_gpus, 1) if num_gpus > 1 else None


def estimate_generation_on(hw: HardwareSpec, model: str, *, num_gpus: int = 1,
                           **kwargs: Any) -> GenerationEstimate:
    """:func:`estimate_generation` on ``hw``'s accelerator, with the all-to-alls over the
    communicator of ``num_gpus`` of its GPUs (:func:`sp_group`): what the CLI, the
    validation runner and serving runs call."""
    return estimate_generation(hw.accelerator, model, num_gpus=num_gpus,
                               sp_comm=sp_group(hw, num_gpus), **kwargs)


def ulysses_comm_s(m: DitModel, tokens: int, *, batch: int, group: CommGroup | None) -> float:
    """Seconds of one DiT pass spent in Ulysses all-to-alls on ``group``."""
    if group is None or group.num_gpus < 2:
        return 0.0
    local_bytes = batch * tokens / group.num_gpus * m.hidden * ACTIVATION_BYTES
    one = collective_time(CollectiveOp.ALL_TO_ALL, local_bytes, group).time_s
    return ULYSSES_ALL_TO_ALLS_PER_BLOCK * m.blocks * one


def estimate_generation(acc: Accelerator, model: str, *, frames: int, height: int,
                        width: int, steps: int = 50, num_gpus: int = 1, fps: float = 24.0,
                        mfu: float | None = None, batch: int = 1,
                        step_cache_frac: float = 0.0,
                        attention_kernel: str | None = None,
                        sp_comm: CommGroup | None = None,
                        parallel_vae: bool = False,
                        compiled: bool = False) -> GenerationEstimate:
    """Time of ``batch`` identical samples run together on ``num_gpus`` x ``acc`` (module
    docstring; GPU-seconds per video second are per sample). ``step_cache_frac``: share
    of the DiT forward passes reused from a step cache (TeaCache-style) instead of run.
    ``attention_kernel`` (fa2 / fa3) overrides the model's reference kernel; ``mfu`` one
    efficiency for all DiT FLOPs instead of the GEMM / attention / elementwise split.
    ``sp_comm``: the replica's communicator (:func:`sp_group`) for the all-to-alls;
    ``parallel_vae``: the decode is tiled across the GPUs instead of run on one;
    ``compiled``: a compiled pipeline (torch.compile, CUDA graphs): no eager host floor on
    a sequence-parallel forward, and its pointwise chains fused (fewer elementwise bytes).
    Raises :class:`UnknownNameError` for an unknown model or kernel, :class:`InputError`
    for bad sizes or a communicator of another size."""
    m = dit_model(model)
    if steps < 1 or num_gpus < 1 or fps <= 0 or batch < 1:
        raise InputError("steps, GPUs, batch and fps must be positive")
    if not 0 <= step_cache_frac < 1:
        raise InputError(f"step cache share must be in [0, 1), got {step_cache_frac}")
    if mfu is not None and not 0 < mfu <= 1:
        raise InputError(f"mfu must be in (0, 1], got {mfu}")
    if sp_comm is not None and sp_comm.num_gpus != num_gpus:
        raise InputError(f"the communicator has {sp_comm.num_gpus} GPUs, the replica {num_gpus}")
    check_part(acc, model, num_gpus)
    kernel = m.attention_kernel if attention_kernel is None else attention_kernel
    n = latent_tokens(m, frames=frames, height=height, width=width)
    token_linear = 2.0 * token_params(m.layout, blocks=m.blocks, hidden=m.hidden) * n
    linear = token_linear + 2.0 * forward_params(m.layout, hidden=m.hidden)  # + per pass
    attention = 4.0 * m.blocks * float(n) ** 2 * m.hidden
    gemm = default_calibration().for_accelerator(acc.name).gemm_frac("bf16")
    attn = attention_frac(acc, kernel, m.head_dim)
    # the split times the per-pass products by their weight read; one mfu= covers all FLOPs
    gpu_s = _forward_gpu_s(acc, m, n, token_linear if mfu is None else linear, attention,
                           gemm=gemm, attn=attn, mfu=mfu, batch=batch, num_gpus=num_gpus,
                           compiled=compiled)
    comm = ulysses_comm_s(m, n, batch=batch, group=sp_comm)
    host = 0.0 if compiled or num_gpus == 1 else diffusion_table().sp_host_s_per_block * m.blocks
    forwards = m.cfg_passes * steps * (1.0 - step_cache_frac)
    decode_s = vae_decode_s(acc, m, frames=frames, height=height, width=width,
                            batch=batch, num_gpus=num_gpus if parallel_vae else 1)
    time_s = forwards * max(gpu_s + comm, host) + decode_s
    total_gpu_s = time_s * num_gpus
    per_video_s = total_gpu_s / batch / (frames / fps) if frames > 1 else None
    return GenerationEstimate(n, (linear + attention) * forwards * batch, time_s, total_gpu_s,
                              per_video_s, decode_s, forwards * comm,
                              host > gpu_s + comm,
                              attention / (linear + attention), gemm, attn)


def _forward_gpu_s(acc: Accelerator, m: DitModel, n: int, linear: float, attention: float, *,
                   gemm: float, attn: float, mfu: float | None, batch: int,
                   num_gpus: int, compiled: bool = False) -> float:
    """GPU seconds of one DiT forward pass of ``batch`` samples of ``n`` tokens split over
    ``num_gpus`` (the two compute parts at their shares of peak with the fill factor, and
    the elementwise bytes at the memory-bound share of bandwidth, fused down to
    ``compiled_elementwise_frac`` of them when ``compiled``; module docstring)."""
    table = diffusion_table()
    rows = batch * n / num_gpus  # tokens each GPU runs per pass (sequence parallel)
    fill = rows / (rows + table.half_tokens)
    peak = acc.peak_flop_per_s["bf16"]
    if mfu is not None:
        return batch * (linear + attention) / num_gpus / (peak * mfu * fill)
    bw = acc.memory_bandwidth_bytes_per_s * default_calibration().memory_bw_frac
    per_hidden = (table.elementwise_bytes_per_hidden if m.elementwise_bytes_per_hidden
                  is None else m.elementwise_bytes_per_hidden)
    if compiled:
        per_hidden *= table.compiled_elementwise_frac
    elementwise = per_hidden * m.blocks * n * m.hidden
    # the per-pass matrix-vector products (modulation, embedders) read their weights once,
    # on every GPU of the replica: memory-bound, not split
    per_pass_weights_s = forward_params(m.layout, hidden=m.hidden) * WEIGHT_BYTES / bw
    # back-to-back kernels leave the GPU idle for a launch gap each, per pass whatever the
    # batch or the sequence split (fewer, fused kernels when compiled)
    kernels = table.kernels_per_block_compiled if compiled else table.kernels_per_block
    gaps_s = m.blocks * kernels * table.kernel_gap_s
    return batch * ((linear / (peak * gemm) + attention / (peak * attn)) / fill
                    + elementwise / bw) / num_gpus + per_pass_weights_s + gaps_s


def check_part(acc: Accelerator, name: str, num_gpus: int) -> None:
    """Refuse a part the model does not describe: an SRAM-resident dataflow part (no DiT
    pipeline is published for one; its serving model is perf/dataflow.py), or one whose
    memory cannot hold model ``name``'s bf16 weights even sharded over the replica's GPUs.
    Raises :class:`InputError`."""
    m = dit_model(name)
    if is_dataflow(acc.name):
        raise InputError(f"{acc.name} is an SRAM-resident dataflow part: the diffusion model "
                         "covers GPUs and TPU-class parts with HBM, not its pipelines",
                         where="--gpu")
    weights = m.params * WEIGHT_BYTES
    if weights > num_gpus * acc.memory_bytes:
        raise InputError(f"{name}'s {weights / 1e9:.0f} GB of bf16 weights do not fit in "
                         f"{num_gpus} x {acc.name} ({acc.memory_bytes / 1e9:.1f} GB each); "
                         "use more GPUs or a part with more memory", where="--num-gpus")


def vae_decode_s(acc: Accelerator, m: DitModel, *, frames: int, height: int, width: int,
                 batch: int = 1, num_gpus: int = 1) -> float:
    """Seconds to decode ``batch`` samples' latents to pixels on ``num_gpus`` x ``acc``."""
    pflops = acc.peak_flop_per_s["bf16"] / 1e15
    rate = m.vae_decode_pixel_frames_per_s_per_pflops * pflops * num_gpus
    return batch * frames * height * width / rate
