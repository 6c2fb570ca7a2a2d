"""Facade for ``gputwin estimate train`` and the validation suite: names in, estimate out.

Every option is validated here with an :class:`InputError` that names the CLI option
(``--tp``, ``--global-batch-size``, ...) and says what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.perf.split import Split, check_split
from gputwin.perf.training import (
    ParallelConfig,
    TrainingConfig,
    TrainingEstimate,
    estimate_training,
)
from gputwin.topology.hardware import NetworkTopology, resolve_hardware

RECOMPUTE = ("none", "selective", "full")
DTYPES = ("bf16", "fp16", "fp8")


def _positive(option: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"--{option} must be a positive integer, got {value!r}")


def _with_overrides(spec: ModelSpec, overrides: Mapping[str, Any] | None) -> ModelSpec:
    """Apply architecture overrides (e.g. the exact sizes of a paper's model)."""
    if not overrides:
        return spec
    data = spec.model_dump()
    unknown = sorted(set(overrides) - set(data))
    if unknown:
        raise InputError(f"model_overrides: unknown field(s) {', '.join(unknown)}")
    data.update(overrides)
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputError(f"model_overrides.{loc}: {first['msg']}") from None


def estimate_train(
    *,
    model: str,
    num_gpus: int,
    global_batch_size: int,
    gpu: str | None = None,
    system: str | None = None,
    tp: int = 1,
    pp: int = 1,
    cp: int = 1,
    ep: int = 1,
    interleave: int = 1,
    micro_batch_size: int = 1,
    seq_len: int | None = None,
    recompute: str = "selective",
    sequence_parallel: bool = False,
    dtype: str = "bf16",
    zero_stage: int = 1,
    fabric: str | None = None,
    storage: str | None = None,
    tokens: float | None = None,
    oversubscription: float = 1.0,
    nodes_per_leaf: int = 32,
    num_leaves_spanned: int | None = None,
    catalog: Catalog | None = None,
    model_overrides: Mapping[str, Any] | None = None,
    checkpoint_interval_s: float = 3600.0,
    balanced_stages: bool = True,
    offload_optimizer: bool = False,
    check_memory: bool = True,
) -> TrainingEstimate:
    """Resolve catalog names, validate every option and run :func:`estimate_training`."""
    cat = catalog or default_catalog()
    spec = _with_overrides(cat.model(model), model_overrides)
    for option, value in (("num-gpus", num_gpus), ("global-batch-size", global_batch_size),
                          ("tp", tp), ("pp", pp), ("cp", cp), ("ep", ep),
                          ("interleave", interleave), ("micro-batch-size", micro_batch_size),
                          ("nodes-per-leaf", nodes_per_leaf)):
        _positive(option, value)
    seq = spec.max_seq_len if seq_len is None else seq_len
    _positive("seq-len", seq)
    if recompute not in RECOMPUTE:
        raise InputError(f"--recompute must be one of {', '.join(RECOMPUTE)}, got {recompute!r}")
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if zero_stage not in (0, 1, 2, 3):
        raise InputError(f"--zero-stage must be 0, 1, 2 or 3, got {zero_stage!r}")
    if num_leaves_spanned is not None:
        _positive("num-leaves-spanned", num_leaves_spanned)
    if checkpoint_interval_s <= 0:
        raise InputError(f"--checkpoint-interval must be positive, got {checkpoint_interval_s}")
    check_split(spec, Split(tp=tp, pp=pp, cp=cp, ep=ep, interleave=interleave), seq_len=seq,
                num_gpus=num_gpus)
    dp = num_gpus // (tp * pp * cp)
    if global_batch_size % (micro_batch_size * dp):
        raise InputError(f"--global-batch-size {global_batch_size} must be a multiple of "
                         f"micro-batch-size x dp = {micro_batch_size} x {dp}")
    if tokens is not None and not tokens > 0:
        raise InputError(f"--tokens must be positive, got {tokens!r}")
    network = NetworkTopology(kind="fat_tree" if oversubscription > 1 else "rail_optimized",
                              nodes_per_leaf=nodes_per_leaf, oversubscription=oversubscription)
    hw = resolve_hardware(cat, gpu=gpu, system=system, fabric=fabric, storage=storage,
                          network=network)
    if dtype not in hw.accelerator.peak_flop_per_s:
        raise InputError(f"--dtype {dtype} is not supported by {hw.accelerator.name}")
    parallel = ParallelConfig(tp=tp, pp=pp, cp=cp, ep=ep, interleave=interleave,
                              sequence_parallel=sequence_parallel, zero_stage=zero_stage,
                              balanced_stages=balanced_stages,
                              offload_optimizer=offload_optimizer)
    config = TrainingConfig(global_batch_size=global_batch_size,
                            micro_batch_size=micro_batch_size, seq_len=seq,
                            dtype=dtype,  # type: ignore[arg-type]
                            recompute=recompute,  # type: ignore[arg-type]
                            checkpoint_interval_s=checkpoint_interval_s)
    return estimate_training(spec, hw, num_gpus, parallel, config, tokens=tokens,
                             num_leaves_spanned=num_leaves_spanned, check_memory=check_memory)
