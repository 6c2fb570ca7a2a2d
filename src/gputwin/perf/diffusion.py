"""Image and video generation with diffusion transformers: time, GPU-seconds and cost.

One sample of ``frames`` x ``height`` x ``width`` pixels becomes a latent sequence of
``tokens = ((frames - 1) / vae_temporal + 1) x (height / vae_spatial / patch) x (width /
vae_spatial / patch)`` (+ text tokens); every denoising step runs the DiT over it
``cfg_passes`` times (2 with classifier-free guidance). FLOPs per pass:
``2 x params x tokens`` (linear layers) ``+ 4 x blocks x tokens^2 x hidden`` (attention:
QK^T and PV over the full 3D sequence). Time = FLOPs / (GPUs x peak bf16 x MFU x
``r / (r + mfu_half_tokens)``, r = tokens per GPU per pass: short sequences (images, small
batches) fill the GPU less; a batch of identical samples raises r), with
sequence parallelism across GPUs assumed ideal (an upper bound on multi-GPU speed; xDiT's
published scaling is below it, see docs/economics.md). An image is ``frames = 1``.

The VAE decode after the last step is a convolutional decoder whose work is linear in output
pixel-frames (``frames x height x width``): it takes ``pixel_frames / (vae_decode_rate x
bf16 PFLOP/s of the GPU)`` seconds, with the per-model rate measured on one GPU, split over
the replica's GPUs (parallel tiled decode, assumed ideal like the DiT). The text encoder
is not counted.

``gpu_seconds_per_video_second`` = GPU-seconds of one sample / its duration at ``fps``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gputwin.catalog.schema import Accelerator
from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_validated


class DitModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    params: float = Field(gt=0)
    blocks: int = Field(gt=0)
    hidden: int = Field(gt=0)
    vae_temporal: int = Field(gt=0)
    vae_spatial: int = Field(gt=0)
    patch: int = Field(gt=0)
    cfg_passes: int = Field(ge=1, le=3)
    text_tokens: int = Field(ge=0)
    vae_decode_pixel_frames_per_s_per_pflops: float = Field(
        gt=0, description="Output pixel-frames the VAE decoder produces per second per dense "
        "bf16 PFLOP/s of the GPU (one GPU)")
    vae_decode_source: str = Field(min_length=8)
    source: str = Field(min_length=8)


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mfu: float = Field(gt=0, le=1)
    mfu_source: str = Field(min_length=8)
    mfu_half_tokens: float = Field(ge=0)
    mfu_half_tokens_source: str = Field(min_length=8)
    models: dict[str, DitModel]


@functools.cache
def diffusion_table() -> _Table:
    return load_validated(Path(__file__).parent / "diffusion.yaml", _Table)


@dataclass(frozen=True, slots=True)
class GenerationEstimate:
    tokens: int
    flops: float
    time_s: float
    gpu_seconds: float
    gpu_seconds_per_video_second: float | None
    vae_decode_s: float  # included in time_s

    def to_dict(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in self.__slots__}


def latent_tokens(m: DitModel, *, frames: int, height: int, width: int) -> int:
    if min(frames, height, width) < 1:
        raise InputError("frames, height and width must be positive")
    step = m.vae_spatial * m.patch
    if height % step or width % step:
        raise InputError(f"height and width must be multiples of {step} (VAE x patch)")
    latent_frames = (frames - 1) // m.vae_temporal + 1
    return latent_frames * (height // step) * (width // step) + m.text_tokens


def estimate_generation(acc: Accelerator, model: str, *, frames: int, height: int,
                        width: int, steps: int = 50, num_gpus: int = 1, fps: float = 24.0,
                        mfu: float | None = None, batch: int = 1,
                        step_cache_frac: float = 0.0) -> GenerationEstimate:
    """Time of ``batch`` identical samples run together on ``num_gpus`` x ``acc`` (module
    docstring; GPU-seconds per video second are per sample). ``step_cache_frac``: share
    of the DiT forward passes reused from a step cache (TeaCache-style) instead of run.
    Raises :class:`UnknownNameError` for an unknown model, :class:`InputError` for bad
    sizes."""
    table = diffusion_table()
    if model not in table.models:
        raise UnknownNameError("diffusion model", model, list(table.models), where="--model")
    if steps < 1 or num_gpus < 1 or fps <= 0 or batch < 1:
        raise InputError("steps, GPUs, batch and fps must be positive")
    if not 0 <= step_cache_frac < 1:
        raise InputError(f"step cache share must be in [0, 1), got {step_cache_frac}")
    m = table.models[model]
    n = latent_tokens(m, frames=frames, height=height, width=width)
    per_pass = 2.0 * m.params * n + 4.0 * m.blocks * float(n) ** 2 * m.hidden
    flops = per_pass * m.cfg_passes * steps * batch * (1.0 - step_cache_frac)
    rows = batch * n / num_gpus  # tokens each GPU runs per pass (sequence parallel)
    rate = acc.peak_flop_per_s["bf16"] * (table.mfu if mfu is None else mfu) \
        * rows / (rows + table.mfu_half_tokens)
    decode_s = vae_decode_s(acc, m, frames=frames, height=height, width=width,
                            batch=batch, num_gpus=num_gpus)
    time_s = flops / (num_gpus * rate) + decode_s
    gpu_s = time_s * num_gpus
    per_video_s = gpu_s / batch / (frames / fps) if frames > 1 else None
    return GenerationEstimate(n, flops, time_s, gpu_s, per_video_s, decode_s)


def vae_decode_s(acc: Accelerator, m: DitModel, *, frames: int, height: int, width: int,
                 batch: int = 1, num_gpus: int = 1) -> float:
    """Seconds to decode ``batch`` samples' latents to pixels on ``num_gpus`` x ``acc``."""
    pflops = acc.peak_flop_per_s["bf16"] / 1e15
    rate = m.vae_decode_pixel_frames_per_s_per_pflops * pflops * num_gpus
    return batch * frames * height * width / rate
