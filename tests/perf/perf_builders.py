"""Builders for the training-model tests (imported by module name, like report_builders)."""

from __future__ import annotations

from typing import Any

from gputwin.perf.training import TrainingEstimate
from gputwin.run.estimate_train import estimate_train


def train(**overrides: Any) -> TrainingEstimate:
    """A GPT-3 175B job on 128 H100 (NeMo-like split) with keyword overrides."""
    base: dict[str, Any] = dict(
        model="gpt3-175b", gpu="h100-sxm-80gb", num_gpus=128, tp=4, pp=8, interleave=6,
        global_batch_size=256, micro_batch_size=1, seq_len=2048, dtype="bf16",
        sequence_parallel=True,
    )
    base.update(overrides)
    return estimate_train(**base)
