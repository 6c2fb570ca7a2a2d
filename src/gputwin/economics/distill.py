"""Distillation as a pipeline: teacher generates data, student trains, serving gets cheaper.

- **data generation**: ``distill_tokens`` generated (output) tokens of the teacher. The
  serving costs are per million tokens served (input + output), so each generated token
  carries its prompt: it costs ``teacher $/M / teacher_output_frac`` (the output share of
  the tokens the teacher's fleet serves; 0.2 at 1024 in / 256 out);
- **student training**: ``6 x student params x train tokens`` FLOPs at ``mfu`` of the
  training GPU's bf16 peak, priced per GPU-hour;
- **savings**: ``(teacher - student) $/M tokens x tokens per day`` of production traffic;
- ``payback_days`` = (generation + training) / daily savings (``None`` if nothing is saved),
  and the net saving over ``horizon_days``.

Energy follows the same pipeline when the facility energy per million tokens of teacher and
student and the training GPU's facility power are given: generation energy, training energy
(GPU-hours x power), daily energy saved in serving, and the energy payback in days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gputwin.errors import check_number


@dataclass(frozen=True, slots=True)
class DistillInputs:
    teacher_usd_per_million: float
    student_usd_per_million: float
    distill_tokens: float
    student_params: float
    train_tokens: float
    train_peak_flop_per_s: float
    train_usd_per_gpu_hour: float
    tokens_per_day: float
    horizon_days: float = 365.0
    mfu: float = 0.4
    teacher_kwh_per_million: float | None = None  # facility energy of serving, per M tokens
    student_kwh_per_million: float | None = None
    train_facility_w_per_gpu: float | None = None  # training GPU + host share, x PUE
    #: output tokens / (input + output) of the teacher fleet's requests (see module doc)
    teacher_output_frac: float = 1.0

    def __post_init__(self) -> None:
        for name in ("distill_tokens", "student_params", "train_tokens",
                     "train_peak_flop_per_s", "tokens_per_day", "horizon_days"):
            check_number(getattr(self, name), f"--{name.replace('_', '-')}", 0, low_open=True)
        check_number(self.mfu, "--mfu", 0, 1, low_open=True)
        check_number(self.teacher_output_frac, "teacher_output_frac", 0, 1, low_open=True)

    @property
    def served_per_generated(self) -> float:
        """Tokens the teacher's fleet serves (prompt + output) per token it generates."""
        return 1.0 / self.teacher_output_frac


def distill_economics(x: DistillInputs) -> dict[str, Any]:
    generation = x.distill_tokens * x.served_per_generated * x.teacher_usd_per_million / 1e6
    gpu_hours = 6.0 * x.student_params * x.train_tokens / (
        x.train_peak_flop_per_s * x.mfu) / 3600.0
    training = gpu_hours * x.train_usd_per_gpu_hour
    daily = (x.teacher_usd_per_million - x.student_usd_per_million) * x.tokens_per_day / 1e6
    upfront = generation + training
    return {
        "generation_usd": generation, "training_gpu_hours": gpu_hours,
        "training_usd": training, "upfront_usd": upfront,
        "savings_usd_per_day": daily,
        "payback_days": upfront / daily if daily > 0 else None,
        "net_saving_usd_over_horizon": daily * x.horizon_days - upfront,
        "horizon_days": x.horizon_days,
        **_energy(x, gpu_hours),
    }


def _energy(x: DistillInputs, gpu_hours: float) -> dict[str, float | None]:
    """The pipeline's energy (kWh, facility level), when the inputs carry it."""
    if (x.teacher_kwh_per_million is None or x.student_kwh_per_million is None
            or x.train_facility_w_per_gpu is None):
        return {}
    generation = x.distill_tokens * x.served_per_generated / 1e6 * x.teacher_kwh_per_million
    training = gpu_hours * x.train_facility_w_per_gpu / 1e3
    daily = (x.teacher_kwh_per_million - x.student_kwh_per_million) * x.tokens_per_day / 1e6
    upfront = generation + training
    return {"generation_kwh": generation, "training_kwh": training, "upfront_kwh": upfront,
            "energy_saved_kwh_per_day": daily,
            "energy_payback_days": upfront / daily if daily > 0 else None,
            "net_energy_saved_kwh_over_horizon": daily * x.horizon_days - upfront}
