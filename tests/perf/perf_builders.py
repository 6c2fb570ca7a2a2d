"""Builders for the training-model tests (imported by module name, like report_builders)."""

from __future__ import annotations

from typing import Any

from gputwin.perf.training import TrainingEstimate
from gputwin.requests import TrainRequest
from gputwin.run.estimate_train import estimate_train


def train(**overrides: Any) -> TrainingEstimate:
    """A GPT-3 175B job on 128 H100 (NeMo-like split) with keyword overrides."""
    base: dict[str, Any] = dict(
        model="gpt3-175b", gpu="h100-sxm-80gb", num_gpus=128, tp=4, pp=8, interleave=6,
        global_batch_size=256, micro_batch_size=1, seq_len=2048, dtype="bf16",
        sequence_parallel=True,
    )
    base.update(overrides)
    check = base.pop("check_memory", True)
    return estimate_train(TrainRequest.from_flat(base), check_memory=check)


def flat_train(**fields: Any) -> TrainingEstimate:
    """``estimate_train`` from flat keywords (layout keys beside the others)."""
    check = fields.pop("check_memory", True)
    return estimate_train(TrainRequest.from_flat(fields), check_memory=check)
