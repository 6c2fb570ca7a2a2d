"""``estimate train``: a :class:`TrainRequest` in, a :class:`TrainingEstimate` out.

Names are resolved against the catalog, the split checked by ``perf.split`` and the batch
resolved here; errors name where the value came from (``--tp`` by default, or the
caller's :data:`Where`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.perf.split import Split, Where, check_split, cli_flag
from gputwin.perf.training import (
    TrainingConfig,
    TrainingEstimate,
    estimate_training,
)
from gputwin.perf.training_layout import parallel_config_of
from gputwin.requests import TrainLayout, TrainRequest
from gputwin.topology.hardware import HardwareSpec, NetworkTopology, resolve_hardware


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


def resolve_global_batch(sequences: int | None, tokens: float | None, seq_len: int,
                         multiple_of: int, where: Where = cli_flag) -> int:
    """Sequences per step from a batch in sequences or in tokens.

    A batch in tokens becomes the nearest whole number of ``multiple_of`` sequences
    (micro-batch × data-parallel ranks), at least one.
    """
    if (sequences is None) == (tokens is None):
        given = "both given" if sequences is not None else "neither given"
        raise InputError(f"give exactly one of {where('global_batch_size')} (sequences) or "
                         f"{where('global_batch_tokens')} (tokens, e.g. 16M); {given}",
                         where=where("global_batch_size"))
    if sequences is not None:
        if sequences % multiple_of:
            raise InputError(f"{sequences} must be a multiple of micro-batch-size x dp = "
                             f"{multiple_of}", where=where("global_batch_size"))
        return sequences
    assert tokens is not None
    return multiple_of * max(1, round(tokens / seq_len / multiple_of))


def split_of(layout: TrainLayout) -> Split:
    return Split(tp=layout.tp, pp=layout.pp, cp=layout.cp, ep=layout.ep,
                 interleave=layout.interleave)


def resolve_model(request: TrainRequest, catalog: Catalog,
                  where: Where = cli_flag) -> tuple[ModelSpec, int]:
    """The model (with overrides) and the sequence length (default: its training length)."""
    spec = _with_overrides(catalog.model(request.model, where=where("model")),
                           request.model_overrides)
    return spec, request.seq_len or spec.training_seq_len


def resolve_train_hardware(request: TrainRequest, catalog: Catalog,
                           where: Where = cli_flag) -> HardwareSpec:
    network = NetworkTopology(
        kind="fat_tree" if request.oversubscription > 1 else "rail_optimized",
        nodes_per_leaf=request.nodes_per_leaf, oversubscription=request.oversubscription)
    return resolve_hardware(catalog, gpu=request.gpu, system=request.system,
                            fabric=request.fabric, storage=request.storage, network=network,
                            where=where)


def training_config(request: TrainRequest, seq_len: int, global_batch_size: int) -> TrainingConfig:
    layout = request.layout
    return TrainingConfig(global_batch_size=global_batch_size,
                          micro_batch_size=layout.micro_batch_size, seq_len=seq_len,
                          dtype=layout.dtype, recompute=layout.recompute,
                          checkpoint_interval_s=request.checkpoint_interval_s,
                          recompute_modules=(None if layout.recompute_modules is None
                                             else tuple(layout.recompute_modules)),
                          recompute_num_layers=layout.recompute_num_layers)


def estimate_train(request: TrainRequest, *, catalog: Catalog | None = None,
                   check_memory: bool = True, where: Where = cli_flag) -> TrainingEstimate:
    """Resolve catalog names, check the split and the batch, run :func:`estimate_training`.

    Raises :class:`InputError` at ``where(field)``; :class:`DoesNotFitError` when memory
    per GPU exceeds the accelerator's (unless ``check_memory`` is off).
    """
    cat = catalog or default_catalog()
    spec, seq = resolve_model(request, cat, where)
    layout = request.layout
    check_split(spec, split_of(layout), seq_len=seq, num_gpus=request.num_gpus, where=where)
    dp = request.num_gpus // (layout.tp * layout.pp * layout.cp)
    gbs = resolve_global_batch(request.global_batch_size, request.global_batch_tokens, seq,
                               layout.micro_batch_size * dp, where)
    hw = resolve_train_hardware(request, cat, where)
    if layout.dtype not in hw.accelerator.peak_flop_per_s:
        raise InputError(f"{layout.dtype} is not supported by {hw.accelerator.name}",
                         where=where("dtype"))
    nodes = -(-request.num_gpus // hw.gpus_per_node)
    if request.num_leaves_spanned is not None and request.num_leaves_spanned > nodes:
        raise InputError(f"{request.num_leaves_spanned} leaf switches for a job of {nodes} "
                         f"node(s): each leaf holds at least one of its nodes",
                         where=where("num_leaves_spanned"))
    return estimate_training(spec, hw, request.num_gpus, parallel_config_of(layout),
                             training_config(request, seq, gbs), tokens=request.tokens,
                             num_leaves_spanned=request.num_leaves_spanned,
                             check_memory=check_memory)
