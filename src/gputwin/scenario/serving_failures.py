"""Replica faults and site outages of a serving scenario (``serving.failures``;
docs/reliability.md, "Serving under failures")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from gputwin.input_model import InputModel
from gputwin.quantities import Seconds
from gputwin.scenario.fault_models import FAULT_MODEL_NAMES, check_models, resolve_models

if TYPE_CHECKING:
    from gputwin.reliability.faults import FaultModel


class SiteOutageConfig(InputModel):
    """One site down for a while (a what-if: power, cooling or network loss of a site)."""

    site: str = Field(description="A site of `sites:`")
    at: Seconds = Field(ge=0, description="When it goes down (simulated time)")
    duration: Seconds = Field(gt=0, description="How long it stays down")


class ServingFailuresConfig(InputModel):
    """Replica faults of a serving run (``serving.failures``; docs/reliability.md,
    "Serving under failures")."""

    models: dict[str, Any] | None = Field(
        default=None, description="Fault models and their args (default: every model with a "
        "published rate; planned maintenance and stragglers do not fail replicas); keys: "
        + ", ".join(FAULT_MODEL_NAMES))
    rate_scale: float = Field(default=1.0, ge=0, description="Multiplies every fault rate")
    max_retries: int = Field(default=2, ge=0, description="Times a request is retried on "
                             "another replica before it is dropped")
    restart: Seconds | None = Field(
        default=None, ge=0, description="From a fault to the replacement replica serving "
        "(None = reschedule + weights load from `storage` + engine start, "
        "reliability/data/faults.yaml)")
    storage: str | None = Field(
        default=None, description="Storage tier a replacement loads its weights from "
        "(None = the service autoscaler's, else the fault catalog's checkpoint tier)")
    site_outages: list[SiteOutageConfig] = Field(
        default_factory=list, description="Sites down over a window (runs with `sites:`): "
        "their requests retried at other sites, their replicas back after the window")
    site_detect: Seconds | None = Field(
        default=None, ge=0, description="From a site outage to the retry of its requests "
        "(None = reliability/data/faults.yaml)")

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_models(value)

    def fault_models(self) -> list[FaultModel]:
        """The resolved models (validated above)."""
        return resolve_models(self.models, self.rate_scale, "serving.failures.models")
