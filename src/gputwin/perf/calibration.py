"""Coefficients of the training model, read once from ``perf/calibration.yaml``.

Each accelerator family (matched by the longest name prefix) has its achievable GEMM
fraction per dtype, an attention-kernel fraction and a sustained fraction (what a real
framework keeps of the per-kernel model: launch gaps, stream syncs, power capping).
Global coefficients (overlap shares, overheads) sit at the top level. Every value in the
YAML carries a source; see docs/training-model.md.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.yaml_io import load_yaml_with_lines

CALIBRATION_PATH = Path(__file__).with_name("calibration.yaml")
#: largest GEMM fraction of a rated-clock peak the file may give: a card boosting above its
#: rated clock measures more than the datasheet's rate (the RTX 5090: 1.13), none by 30 %
MAX_GEMM_FRAC = 1.3


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: usable as a cache key
class AcceleratorCoefficients:
    """Per-family efficiency fractions of the rated-clock peaks (above 0; a GEMM fraction
    may pass 1 on a card that boosts above its rated clock, at most MAX_GEMM_FRAC)."""

    family: str
    gemm_max_frac: dict[str, float]
    attention_frac: float
    sustained_frac: float
    #: fused attention backward rate as a share of the forward's (the file's top-level
    #: ``attention_bwd_rate`` unless the family measured its own)
    attention_bwd_rate: float
    #: ``attention_frac`` is the measured fused kernel's forward rate (serving reads it as
    #: is); otherwise an end-to-end figure (:mod:`gputwin.perf.attention_rate`)
    attention_kernel: bool = False

    def gemm_frac(self, dtype: str) -> float:
        """Achievable fraction of the ``dtype`` dense peak for large GEMMs."""
        if dtype in self.gemm_max_frac:
            return self.gemm_max_frac[dtype]
        return min(self.gemm_max_frac.values())


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: usable as a cache key
class Calibration:
    """All coefficients of the model (see calibration.yaml for meaning and sources)."""

    accelerators: dict[str, AcceleratorCoefficients]
    gemm_half_dim: float
    memory_bw_frac: float
    layer_overhead_s: float
    tp_overlap_frac_sp: float
    tp_overlap_frac_no_sp: float
    dp_overlap_frac: float
    dp_bucket_params: float
    pp_overlap_frac: float
    cp_overlap_frac: float
    ep_overlap_frac: float
    a2a_overlap_sm_frac: float
    moe_imbalance: float
    fp8_cast_bytes_per_gemm_input: float
    runtime_overhead_bytes: float
    fragmentation_frac: float
    optimizer_bytes_per_param: float
    host_link_bytes_per_s_per_gpu: float
    host_memory_bytes_per_s_per_gpu: float
    local_attention_extra_keys: float
    attention_softmax_head_dim: float
    attention_bwd_rate: float

    def for_accelerator(self, name: str) -> AcceleratorCoefficients:
        """Coefficients of the family whose key is the longest prefix of ``name``."""
        return self.accelerators[family_key(name, self.accelerators)]


def family_key(name: str, keys: Iterable[str]) -> str:
    """The key of ``keys`` that is the longest prefix of the accelerator ``name``
    (``"h100-sxm-80gb"`` -> ``"h100"``), else ``"default"``: the one matching rule for every
    per-accelerator-family table (this file, ``perf/diffusion.yaml``)."""
    best = ""
    for key in keys:
        if key != "default" and name.startswith(key) and len(key) > len(best):
            best = key
    return best or "default"


_FLOAT_KEYS = (
    "gemm_half_dim", "memory_bw_frac", "layer_overhead_s", "tp_overlap_frac_sp",
    "tp_overlap_frac_no_sp", "dp_overlap_frac", "dp_bucket_params", "pp_overlap_frac",
    "cp_overlap_frac", "ep_overlap_frac", "a2a_overlap_sm_frac", "moe_imbalance",
    "fp8_cast_bytes_per_gemm_input",
    "runtime_overhead_bytes", "fragmentation_frac", "optimizer_bytes_per_param",
    "host_link_bytes_per_s_per_gpu", "host_memory_bytes_per_s_per_gpu",
    "local_attention_extra_keys", "attention_softmax_head_dim", "attention_bwd_rate",
)


def _accelerator(family: str, raw: Any, where: str,
                 bwd_rate: float) -> AcceleratorCoefficients:
    if not isinstance(raw, dict) or "source" not in raw:
        raise InputError(f"accelerators.{family}: needs gemm_max_frac, ... and a source",
                         where=where)
    try:
        gemm = {str(k): float(v) for k, v in raw["gemm_max_frac"].items()}
        bad = {k: v for k, v in gemm.items() if not 0.0 < v <= MAX_GEMM_FRAC}
        if bad:
            raise InputError(f"accelerators.{family}.gemm_max_frac: expected fractions in "
                             f"(0, {MAX_GEMM_FRAC}], got {bad}", where=where)
        return AcceleratorCoefficients(
            family=family,
            gemm_max_frac=gemm,
            attention_frac=float(raw["attention_frac"]),
            sustained_frac=float(raw["sustained_frac"]),
            attention_kernel=_flag(raw.get("attention_kernel", False), family, where),
            attention_bwd_rate=float(raw.get("attention_bwd_rate", bwd_rate)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"accelerators.{family}: bad entry ({exc})", where=where) from None


def _flag(value: Any, family: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"accelerators.{family}.attention_kernel: expected true or false, "
                         f"got {value!r}", where=where)
    return value


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    """Parse a calibration file; raises :class:`InputError` naming the bad key."""
    data, _ = load_yaml_with_lines(path)
    where = str(path)
    if not isinstance(data, dict) or "default" not in data.get("accelerators", {}):
        raise InputError("needs an `accelerators` mapping with a `default` entry", where=where)
    values: dict[str, float] = {}
    for key in _FLOAT_KEYS:
        if key not in data:
            raise InputError(f"missing coefficient {key!r}", where=where)
        values[key] = float(data[key])
    accels = {k: _accelerator(k, v, where, values["attention_bwd_rate"])
              for k, v in data["accelerators"].items()}
    return Calibration(accelerators=accels, **values)


@functools.cache
def default_calibration() -> Calibration:
    """The bundled calibration (read once per process)."""
    return load_calibration()
