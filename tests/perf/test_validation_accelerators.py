"""Published training figures on TPU, Gaudi and other non-NVIDIA parts within tolerance
(validation/cases/training_accelerators.yaml), and the calibration that serves them."""

from __future__ import annotations

import statistics

import pytest

from gputwin.perf.calibration import default_calibration
from gputwin.validation.runner import CASES_DIR, EVALUATORS, load_cases, run_case
from gputwin.validation.schema import ValidationCase

CASES = load_cases([CASES_DIR / "training_accelerators.yaml"])


def test_suite_size_and_one_calibration_case_per_family() -> None:
    assert len(CASES) >= 8
    assert all(c.kind == "training" and c.url.startswith("http") for c in CASES)
    calib = [c for c in CASES if c.calibration]
    families = {default_calibration().for_accelerator(c.inputs["gpu"]).family for c in calib}
    assert len(calib) == len(families)


def _family(case: ValidationCase) -> str:
    return default_calibration().for_accelerator(case.inputs["gpu"]).family


def test_hold_out_error_targets() -> None:
    """The median target holds for the families calibrated in this file (TPU, Gaudi); rows of
    families without a training calibration (AMD CDNA 4, `mi35`: MLPerf v5.1, -22 % and -11 %,
    a documented known gap) are held only to the bound on the worst row."""
    calibrated = {_family(c) for c in CASES if c.calibration}
    hold_out = [c for c in CASES if not c.calibration]
    errors = [abs(run_case(c).rel_error or 1.0) for c in hold_out]
    fitted = [abs(run_case(c).rel_error or 1.0) for c in hold_out if _family(c) in calibrated]
    assert len(fitted) >= 6
    assert statistics.median(fitted) <= 0.10
    assert max(errors) <= 0.25


@pytest.mark.parametrize(("part", "family"), [("tpu-v6e", "tpu"), ("tpu-v5p", "tpu"),
                                              ("gaudi2", "gaudi"), ("gaudi3", "gaudi3"),
                                              ("mi325x", "mi325x"), ("mi355x", "mi35"),
                                              ("mi350x", "mi35"), ("trn2", "default")])
def test_calibration_family(part: str, family: str) -> None:
    assert default_calibration().for_accelerator(part).family == family


def _best_tokens_per_gpu(gpu: str) -> float:
    """Llama 3 70B, 64 accelerators, NeMo's published H100 layout, best of BF16 / FP8."""
    train = EVALUATORS["training"]  # flat inputs, as in a validation case
    return max(float(train(model="llama3-70b", gpu=gpu, num_gpus=64, tp=4, pp=4, cp=2,
                           interleave=5, global_batch_size=128, seq_len=8192, dtype=dtype,
                           sequence_parallel=True).to_dict()["tokens_per_s_per_gpu"])
               for dtype in ("bf16", "fp8"))


def test_gaudi3_llama3_70b_training_sits_between_gaudi2_and_intels_own_claim() -> None:
    """No Gaudi 3 training throughput is published, so the band is what is known: above
    Gaudi 2 (measured and calibrated, a third of the Gaudi 3 MME peak), and below Intel's own
    launch projection of 1.5x H100's time-to-train (Intel Vision, April 2024: "50 % faster on
    average" across Llama 2 7B/13B and GPT-3 175B). Issue 8 had held Gaudi 3 below H100 for
    want of any figure, on an estimated GEMM fraction; with mamf-finder's measured fractions
    (0.68 / 0.70 of peak) the model puts it 3 % ahead of H100's FP8 run."""
    gaudi3 = _best_tokens_per_gpu("gaudi3")
    assert _best_tokens_per_gpu("gaudi2") < gaudi3 < 1.5 * _best_tokens_per_gpu("h100-sxm-80gb")
