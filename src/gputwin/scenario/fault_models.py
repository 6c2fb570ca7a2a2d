"""Fault-model names and args of a scenario (``failures.models``, ``serving.failures.models``).

The names are listed here so that reading a scenario does not load the fault catalog
(``reliability/data/faults.yaml``) unless the scenario has faults; a test keeps them in step
with the registry of :mod:`gputwin.reliability.faults`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from gputwin.reliability.faults import FaultModel

FAULT_MODEL_NAMES = ("gpu", "hbm", "host", "maintenance", "network", "nic", "nvlink",
                     "software", "straggler", "switch")


def check_models(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Fault-model names and args against the registry (a clear error otherwise)."""
    if value is None:
        return None
    from gputwin.reliability import faults

    try:
        faults.args_schema().model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{loc}: {first['msg']} (fault models: "
                         f"{', '.join(faults.registered())})") from None
    return value


def resolve_models(models: dict[str, Any] | None, rate_scale: float, key: str
                   ) -> list[FaultModel]:
    """The fault models of ``models`` (validated by :func:`check_models`; ``None`` = every
    model with a published default rate), each rate times ``rate_scale``; errors name
    ``key.<model>``."""
    from gputwin.reliability import faults

    chosen = models if models is not None else {n: {} for n in faults.default_names()}
    return [faults.build(name, args, rate_scale=rate_scale, where=f"{key}.{name}")
            for name, args in sorted(chosen.items())]
