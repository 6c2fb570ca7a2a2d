"""Power curve of one accelerator and one node, as a function of what the hardware is doing.

Pure functions, shared by the training model (``perf/``) and the energy package
(``energy/``). The curve is linear in *activity* ``a`` between idle and TDP::

    P_gpu = idle_w + (tdp_w - idle_w) * a,   a in [0, 1]

- training: ``a = u + w * (1 - u)``; ``u`` is the compute share of the step, ``w``
  (``wait_activity_frac``) the partial activity while waiting on communication or bubbles;
- inference: ``a = c + (1 - c - h) * m + h * w_h``; ``c`` is the share of busy time the
  tensor cores work (prefill ~1), ``h`` the share the GPU waits on the engine's host
  (scheduling, sampling: no kernel running), the rest runs memory-bound kernels that stream
  HBM at its achievable bandwidth (decode) at activity ``m`` (``memory_activity_frac``);
  ``w_h`` (``host_wait_activity_frac``) is a live context with no kernel.

A node adds its host (CPUs, DRAM, NICs, switches, fans) between ``host_idle_frac`` and
``host_active_frac`` of the catalog's ``host_power_w``.

**Power capping** lowers the clock by ``s`` so that ``idle + (P - idle) * s**k <= cap``
(``k`` = ``cap_exponent``, cubic DVFS); compute-bound time stretches by ``1/s``,
memory-bound time does not, so throughput falls sub-linearly with the cap.
Coefficients and their sources: ``perf/power.yaml``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from gputwin.catalog.schema import Accelerator, System
from gputwin.errors import InputError
from gputwin.yaml_io import load_yaml_with_lines

POWER_PATH = Path(__file__).with_name("power.yaml")


@dataclass(frozen=True, slots=True)
class PowerCoefficients:
    """Coefficients of the power curve (all fractions in [0, 1], ``cap_exponent`` >= 1)."""

    wait_activity_frac: float
    memory_activity_frac: float
    host_wait_activity_frac: float
    host_active_frac: float
    host_idle_frac: float
    cap_exponent: float
    min_cap_frac: float

    def __post_init__(self) -> None:
        for name in ("wait_activity_frac", "memory_activity_frac", "host_wait_activity_frac",
                     "host_active_frac", "host_idle_frac", "min_cap_frac"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {value}")
        if self.cap_exponent < 1.0:
            raise InputError(f"cap_exponent must be >= 1, got {self.cap_exponent}")
        if self.host_idle_frac > self.host_active_frac:
            raise InputError("host_idle_frac must not exceed host_active_frac")


_KEYS = ("wait_activity_frac", "memory_activity_frac", "host_wait_activity_frac",
         "host_active_frac", "host_idle_frac", "cap_exponent", "min_cap_frac")


def load_power_coefficients(path: Path = POWER_PATH) -> PowerCoefficients:
    """Read ``power.yaml``; every key needs a sibling ``<stem>_source``. Raises InputError."""
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise InputError("expected a mapping of coefficients", where=str(path))
    values: dict[str, float] = {}
    for key in _KEYS:
        where = f"{path}:{lines.get((key,), 0)}" if (key,) in lines else str(path)
        if key not in data:
            raise InputError(f"missing coefficient {key!r}", where=str(path))
        stem = key.removesuffix("_frac").removesuffix("_exponent")
        if not any(k.startswith(stem) and k.endswith("_source") for k in data):
            raise InputError(f"{key}: needs a `{stem}_source` citation", where=where)
        try:
            values[key] = float(data[key])
        except (TypeError, ValueError):
            raise InputError(f"{key}: expected a number, got {data[key]!r}", where=where) from None
    return PowerCoefficients(**values)


@functools.cache
def default_power_coefficients() -> PowerCoefficients:
    """The bundled coefficients (read once per process)."""
    return load_power_coefficients()


def _clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


def training_activity_frac(compute_frac: float, wait_activity_frac: float) -> float:
    """Activity of a training GPU whose step is ``compute_frac`` compute, the rest waiting."""
    u = _clamp01(compute_frac)
    return u + _clamp01(wait_activity_frac) * (1.0 - u)


def inference_activity_frac(compute_busy_frac: float, host_wait_frac: float = 0.0,
                            coeff: PowerCoefficients | None = None) -> float:
    """Activity of a serving GPU: tensor cores busy ``compute_busy_frac`` of the time, waiting
    on the engine's host ``host_wait_frac`` of it (capped at what compute leaves), streaming
    HBM in memory-bound kernels the rest (prefill ~ (0.9, 0), host-bound decode of a small
    batch ~ (0.05, 0.4), large-batch decode ~ (0.2, 0.05))."""
    k = coeff or default_power_coefficients()
    c = _clamp01(compute_busy_frac)
    h = min(_clamp01(host_wait_frac), 1.0 - c)
    return c + (1.0 - c - h) * k.memory_activity_frac + h * k.host_wait_activity_frac


def accelerator_power_w(acc: Accelerator, activity_frac: float) -> float:
    """Power of one accelerator at ``activity_frac`` (0 = idle, 1 = TDP), uncapped."""
    return acc.idle_w + (acc.tdp_w - acc.idle_w) * _clamp01(activity_frac)


def host_power_w(system: System, activity_frac: float,
                 coeff: PowerCoefficients | None = None) -> float:
    """Power of one node's host (everything but the accelerators) at a node activity."""
    k = coeff or default_power_coefficients()
    share = k.host_idle_frac + (k.host_active_frac - k.host_idle_frac) * _clamp01(activity_frac)
    return system.host_power_w * share


def node_power_w(acc: Accelerator, system: System, activity_frac: float, *,
                 num_busy: int | None = None, coeff: PowerCoefficients | None = None) -> float:
    """Power of one node with ``num_busy`` accelerators (default: all) at ``activity_frac``
    and the others idle; the host follows the node's mean accelerator activity."""
    n = system.num_accelerators
    busy = n if num_busy is None else max(0, min(n, num_busy))
    a = _clamp01(activity_frac)
    gpus = busy * accelerator_power_w(acc, a) + (n - busy) * acc.idle_w
    return gpus + host_power_w(system, a * busy / n, coeff)


def node_nameplate_power_w(acc: Accelerator, system: System) -> float:
    """Nameplate maximum of a node: accelerators at TDP plus the catalog host power."""
    return system.num_accelerators * acc.tdp_w + system.host_power_w


@dataclass(frozen=True, slots=True)
class CappedOperatingPoint:
    """Result of a power cap: power drawn (W), clock scale and throughput factor (<= 1)."""

    power_w: float
    clock_frac: float
    throughput_frac: float


def apply_power_cap(acc: Accelerator, activity_frac: float, cap_w: float | None, *,
                    compute_bound_frac: float = 1.0,
                    coeff: PowerCoefficients | None = None) -> CappedOperatingPoint:
    """Operating point of one accelerator under a power cap.

    ``compute_bound_frac``: share of the uncapped run time that scales with the clock (the
    rest -- HBM-bound kernels, communication -- does not). A cap above the uncapped power
    changes nothing. Raises :class:`InputError` for a cap below the driver's minimum.
    """
    k = coeff or default_power_coefficients()
    p0 = accelerator_power_w(acc, activity_frac)
    if cap_w is None or cap_w >= p0:
        return CappedOperatingPoint(p0, 1.0, 1.0)
    floor = k.min_cap_frac * acc.tdp_w
    if cap_w < floor:
        raise InputError(f"power cap {cap_w:.0f} W is below the {floor:.0f} W minimum of "
                         f"{acc.name} ({k.min_cap_frac:.0%} of TDP)")
    dyn = p0 - acc.idle_w
    s = ((cap_w - acc.idle_w) / dyn) ** (1.0 / k.cap_exponent) if dyn > 0 else 1.0
    s = max(1e-3, min(1.0, s))
    c = _clamp01(compute_bound_frac)
    return CappedOperatingPoint(cap_w, s, 1.0 / (c / s + (1.0 - c)))
