"""``experiment:`` — run a scenario as a packing experiment instead of a time replay.

``workload_inflation`` is the FGD paper's method (Weng et al., USENIX ATC'23, Sec. 6.1):
pods drawn from the trace (uniformly, with replacement) are submitted one after another
with no departures; a pod that cannot be placed when it arrives fails. At each arrived
GPU demand (a share of the cluster's GPU capacity) the run records the GPUs left
unallocated and the fragmented GPUs, repeated over ``seeds`` seeds (scenario seed,
seed + 1, ...). ``compare`` lists more scheduler profiles run on the same draws, for the
paper-style figure (docs/fractional-and-mig.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gputwin.input_model import InputModel


class ExperimentConfig(InputModel):
    kind: Literal["workload_inflation"] = "workload_inflation"
    demand: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3],
        description="Arrived GPU demand marks, as shares of the GPU capacity")
    seeds: int = Field(default=1, ge=1, le=100, description="Repeats (seed, seed+1, ...)")
    compare: list[str] = Field(default_factory=list,
                               description="More scheduler profiles run on the same pods")
    cpu_only_pods: bool = Field(
        default=False, description="Draw the trace's CPU-only pods too (openb), placed by "
        "the policy on CPU and memory, as the paper does (docs/fractional-and-mig.md)")

    @model_validator(mode="after")
    def _marks(self) -> ExperimentConfig:
        if not self.demand or any(not 0 < d <= 3 for d in self.demand):
            raise ValueError("demand: give shares of capacity in (0, 3], e.g. [0.9, 1.0]")
        return self
