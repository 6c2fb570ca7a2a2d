"""The fused attention kernel's rate: the one rule the training model, the serving model and
the kernel checks read (:mod:`gputwin.perf.compute`, :mod:`gputwin.perf.serving_rates`,
:mod:`gputwin.perf.kernel`).

A family's ``attention_frac`` (``perf/calibration.yaml``) is one of two things, as its
``attention_kernel`` flag says:

- **the measured kernel's** forward rate at head dim 128 (``attention_kernel: true``): the
  training forward and the serving prefill both run at ``peak · attention_frac ·
  attention_sfu_speedup`` (the catalog's faster softmax exponential, Blackwell Ultra's
  doubled SFU rate; 1 elsewhere), the backward at the family's ``attention_bwd_rate`` of
  the forward before the speed-up (five matmuls per exponential against two: cuDNN on
  GB300 runs the forward 1.28x and the backward 1.12x GB200's rate);
- **an end-to-end training figure** (the default): the training forward runs at ``peak ·
  attention_frac``, the backward at ``attention_bwd_rate`` of it, and serving lifts the
  fraction to a forward kernel's with its ``attention_eff_mult`` and the speed-up,
  ``peak · min(1, attention_frac · attention_eff_mult) · attention_sfu_speedup``.

The engine's own multiplier scales the serving rate in both cases. The head-dimension
factor (:func:`gputwin.perf.attention_work.head_dim_rate`) is applied by the callers that
know the head (training layers, kernel checks). docs/training-model.md, 'Kernel checks'.
"""

from __future__ import annotations

from gputwin.catalog.schema import Accelerator
from gputwin.perf.calibration import AcceleratorCoefficients

#: Backward flash attention work relative to forward (5 matmuls vs 2).
ATTN_BWD_WORK = 2.5


def kernel_fwd_rate(accel: Accelerator, coeff: AcceleratorCoefficients, dtype: str,
                    mult: float = 1.0) -> float:
    """FLOP/s of a fused attention forward at head dim 128: ``peak[dtype] · min(1,
    attention_frac · mult) · attention_sfu_speedup``."""
    return (accel.peak_for(dtype) * min(1.0, coeff.attention_frac * mult)
            * accel.attention_sfu_speedup)


def training_fwd_rate(accel: Accelerator, coeff: AcceleratorCoefficients, dtype: str) -> float:
    """FLOP/s of the training step's attention forward at head dim 128: the kernel's where
    ``attention_frac`` is measured on it, else ``peak · attention_frac``."""
    if coeff.attention_kernel:
        return kernel_fwd_rate(accel, coeff, dtype)
    return accel.peak_for(dtype) * coeff.attention_frac


def training_bwd_rate(accel: Accelerator, coeff: AcceleratorCoefficients, dtype: str) -> float:
    """FLOP/s of the training step's attention backward at head dim 128: the family's
    ``attention_bwd_rate`` of the forward's rate before any softmax speed-up."""
    return accel.peak_for(dtype) * coeff.attention_frac * coeff.attention_bwd_rate


def serving_attention_mult(coeff: AcceleratorCoefficients, attention_eff_mult: float) -> float:
    """Multiple of ``attention_frac`` the serving prefill forward runs at: 1 where the
    fraction is the measured kernel's, serving's ``attention_eff_mult`` where it is an
    end-to-end training figure."""
    return 1.0 if coeff.attention_kernel else attention_eff_mult


def serving_fwd_rate(accel: Accelerator, coeff: AcceleratorCoefficients, dtype: str,
                     attention_eff_mult: float, engine_mult: float = 1.0) -> float:
    """FLOP/s of the serving model's prefill attention (head dim 128, any engine's
    multiplier ``engine_mult``)."""
    return kernel_fwd_rate(accel, coeff, dtype,
                           serving_attention_mult(coeff, attention_eff_mult) * engine_mult)
