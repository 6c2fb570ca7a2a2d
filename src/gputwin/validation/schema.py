"""Schema of a validation case: one published measurement and how to reproduce it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CaseKind = Literal["training", "collective", "serving", "serving_sim", "energy", "reliability",
                   "rag", "vector_index", "optics", "generation", "dataflow",
                   "supply", "tco", "kernel"]


class ValidationCase(BaseModel):
    """A published figure, the inputs that reproduce its setting, and an honest tolerance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    kind: CaseKind
    title: str
    citation: str = Field(min_length=8)
    url: str = ""
    inputs: dict[str, Any]
    metric: str
    published: float
    tolerance_frac: float = Field(gt=0, le=1)
    calibration: bool = Field(
        default=False, description="True when a model coefficient was set from this figure"
    )
    notes: str = ""
    known_gap: str = Field(
        default="", description="Why the model misses this figure (reported as a known gap: "
        "counted in the error statistics, not failed; remove once the model is fixed)")
