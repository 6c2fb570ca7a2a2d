"""The scenario's ``failures:`` section (docs/reliability.md).

``models`` maps fault-model names of :mod:`gputwin.reliability.faults` to their typed args
(``{gpu: {rate_scale: 2}, switch: {rate_per_unit_hour: 1e-5}, straggler: {...}}``); the
allowed keys and args are derived from that registry. Omitted: every model with a published
default rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from gputwin.input_model import InputModel
from gputwin.quantities import Seconds
from gputwin.scenario.fault_models import FAULT_MODEL_NAMES, check_models, resolve_models

if TYPE_CHECKING:
    from gputwin.reliability.faults import FaultModel


class FailuresConfig(InputModel):
    """Fault injection, spares, checkpoints and straggler mitigation of a cluster run."""

    models: dict[str, Any] | None = Field(
        default=None, description="Fault models and their args (default: every model with a "
        "published rate); keys: " + ", ".join(FAULT_MODEL_NAMES))
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
    checkpoint_bytes_per_param: float = Field(
        default=14.0, gt=0, description="Bytes a checkpoint holds per "
        "parameter (14: bf16 weights, fp32 master weights and two Adam moments; 10 without "
        "master weights, as OPT-175B): the write size and Young/Daly's checkpoint cost")
    max_stalled_restarts: int = Field(
        default=100, ge=1, description="A job interrupted by faults this many times in a "
        "row without keeping any work (each fault struck before its restart reached a "
        "checkpoint) fails as abandoned, as a job controller's backoff limit ends a crash "
        "loop; without it a run at rates the jobs cannot outpace never ends")
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
        return check_models(value)

    def fault_models(self) -> list[FaultModel]:
        """The resolved models (validated above)."""
        return resolve_models(self.models, self.rate_scale, "failures.models")
