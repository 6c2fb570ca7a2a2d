"""The ``serving.generation:`` section: image/video generation services (diffusion
transformers, :mod:`gputwin.perf.diffusion`) and their request streams.

```yaml
serving:
  generation:
    services:
      - {name: video, model: hunyuanvideo, gpu: h100-sxm-80gb, replicas: 4,
         gpus_per_replica: 8, max_batch: 2, step_cache: 0.4, slo: {latency: 10min}}
    workload:
      - service: video
        num_requests: 200
        rate: 0.01                      # requests per second (Poisson)
        shapes:                         # drawn by weight
          - {frames: 129, height: 720, width: 1280, steps: 50, weight: 1}
          - {frames: 1, height: 1024, width: 1024, steps: 30, weight: 3}
```

Names (model, GPU) and shapes (multiples of the VAE x patch size) are checked when the
scenario is built (:func:`gputwin.run.generation_run.build_generation`), naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gputwin.input_model import InputModel
from gputwin.perf.diffusion import diffusion_table
from gputwin.quantities import Seconds


class _M(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


class GenerationSlo(_M):
    latency: Seconds | None = Field(default=None, gt=0, description="Arrival to delivery")


class GenerationService(_M):
    name: str = Field(min_length=1)
    model: str = Field(description="DiT model of perf/diffusion.yaml (hunyuanvideo, ...)")
    gpu: str = "h100-sxm-80gb"
    replicas: int = Field(default=1, ge=1, le=10_000)
    gpus_per_replica: int = Field(default=1, ge=1, le=64, description="Sequence parallel")
    max_batch: int = Field(default=1, ge=1, le=64, description="Requests of one shape "
                           "(frames, height, width, steps) run together")
    step_cache: float = Field(default=0.0, ge=0.0, lt=1.0, description="Share of DiT "
                              "forward passes reused from a step cache (TeaCache-style)")
    attention_kernel: Literal["fa2", "fa3"] | None = Field(
        default=None, description="Attention kernel class instead of the model's reference "
        "one (perf/diffusion.yaml): fa2 = FlashAttention-2 / SDPA, fa3 = the architecture's "
        "native kernel (FlashAttention-3 on Hopper)")
    parallel_vae: bool = Field(default=False, description="Tile the VAE decode across the "
                               "replica's GPUs (the reference pipelines decode on one)")
    compiled: bool = Field(default=False, description="A compiled pipeline: no eager host "
                           "floor on a sequence-parallel forward, pointwise ops fused")
    slo: GenerationSlo = GenerationSlo()

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        models = diffusion_table().models
        if value not in models:
            raise ValueError(f"unknown diffusion model {value!r}; known: {', '.join(models)}")
        return value


class Shape(_M):
    frames: int = Field(default=129, ge=1, description="1 = an image")
    height: int = Field(default=720, ge=16)
    width: int = Field(default=1280, ge=16)
    steps: int = Field(default=50, ge=1, le=1000)
    fps: float = Field(default=24.0, gt=0)
    weight: float = Field(default=1.0, gt=0)


class GenerationWorkload(_M):
    service: str
    num_requests: int = Field(ge=1, le=1_000_000)
    rate: float = Field(gt=0, description="Poisson arrivals per second")
    start: Seconds = Field(default=0.0, ge=0)
    shapes: tuple[Shape, ...] = Field(default=(Shape(),), min_length=1)


class GenerationSection(_M):
    services: list[GenerationService] = Field(min_length=1)
    workload: list[GenerationWorkload] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> GenerationSection:
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"generation service names must be unique, got {names}")
        unknown = sorted({w.service for w in self.workload} - set(names))
        if unknown:
            raise ValueError(f"workload names unknown generation service(s) {unknown}; "
                             f"services: {names}")
        return self
