"""The scenario's ``failures:`` section (docs/reliability.md).

``models`` maps fault-model names of :mod:`gputwin.reliability.faults` to their typed args
(``{gpu: {rate_scale: 2}, switch: {rate_per_unit_hour: 1e-5}, straggler: {...}}``); the
allowed keys and args are derived from that registry. Omitted: every model with a published
default rate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gputwin.quantities import Seconds
from gputwin.reliability import faults


class FailuresConfig(BaseModel):
    """Fault injection, spares, checkpoints and straggler mitigation of a cluster run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, Any] | None = Field(
        default=None, description="Fault models and their args (default: every model with a "
        "published rate); keys: " + ", ".join(faults.registered()))
    rate_scale: float = Field(default=1.0, ge=0, description="Multiplies every fault rate")
    spares: int = Field(default=0, ge=0, description="Hot-spare nodes held out of the pool; "
                        "one replaces each failed node while they last")
    checkpoint_interval: Seconds | None = Field(
        default=None, gt=0, description="Jobs without their own interval (and without "
        "scheduler.checkpoint_interval); None = Young/Daly per job")
    restart_overhead: Seconds | None = Field(
        default=None, ge=0, description="Reschedule + warm-up added to every restart "
        "(None = the defaults of reliability/data/faults.yaml)")
    checkpoint_writes: Literal["off", "sync", "async"] = Field(
        default="off", description="Write checkpoints through the storage tier, its "
        "bandwidth shared by every job writing at once: sync (training stops for the write) "
        "or async (stops only for the snapshot to host memory); off = no write time, work "
        "lost back to the last multiple of the interval")
    straggler_policy: Literal["none", "exclude", "hot_swap"] = Field(
        default="none", description="Slow node: run slow until it recovers (none); after "
        "detection checkpoint, drain the node and re-place the job (exclude); or after "
        "detection swap the node for a hot spare in place, the job stalled for the swap "
        "(hot_swap; exclude when no spare is left)")

    @field_validator("checkpoint_writes", mode="before")
    @classmethod
    def _off_is_false_in_yaml(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_models(value)

    def fault_models(self) -> list[faults.FaultModel]:
        """The resolved models (validated above)."""
        chosen = self.models if self.models is not None else {
            n: {} for n in faults.default_names()}
        return [faults.build(name, args, rate_scale=self.rate_scale,
                             where=f"failures.models.{name}")
                for name, args in sorted(chosen.items())]


class SiteOutageConfig(BaseModel):
    """One site down for a while (a what-if: power, cooling or network loss of a site)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str = Field(description="A site of `sites:`")
    at: Seconds = Field(ge=0, description="When it goes down (simulated time)")
    duration: Seconds = Field(gt=0, description="How long it stays down")


class ServingFailuresConfig(BaseModel):
    """Replica faults of a serving run (``serving.failures``; docs/reliability.md,
    "Serving under failures")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, Any] | None = Field(
        default=None, description="Fault models and their args (default: every model with a "
        "published rate; planned maintenance and stragglers do not fail replicas); keys: "
        + ", ".join(faults.registered()))
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
        return _check_models(value)

    def fault_models(self) -> list[faults.FaultModel]:
        chosen = self.models if self.models is not None else {
            n: {} for n in faults.default_names()}
        return [faults.build(name, args, rate_scale=self.rate_scale,
                             where=f"serving.failures.models.{name}")
                for name, args in sorted(chosen.items())]


def _check_models(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Fault-model names and args against the registry (a clear error otherwise)."""
    if value is None:
        return None
    try:
        faults.args_schema().model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{loc}: {first['msg']} (fault models: "
                         f"{', '.join(faults.registered())})") from None
    return value
