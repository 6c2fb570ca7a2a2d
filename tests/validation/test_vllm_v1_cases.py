"""vLLM 0.8.5 (V1) online-serving cases (serving_vllm_v1.yaml): each case's inputs and
published figure follow from the result file its citation names, the calibration rows are
the four the vllm profile's NVIDIA host times were fitted on, and the engine limits are
vLLM 0.8.5's server defaults for the card."""

from __future__ import annotations

import re

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.engines import engine_profile
from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_vllm_v1.yaml"
CASES = load_cases([FILE])
_FILE = re.compile(r"results/vllm_200prompts(\d+)qps_([\w.-]+)_sharegpt_1x(NVIDIA-[\w-]+)\.json")
_FIGURE = re.compile(r"median (TPOT|TTFT) ([\d.]+) ms \(([\d,]+) input / ([\d,]+) output tokens\)")
#: vLLM 0.8.5 EngineArgs._set_default_args_v1, OpenAI server: (token budget, sequences)
LIMITS = {"h100-pcie-80gb": (8192, 1024), "rtx-4090": (2048, 256)}
GPUS = {"NVIDIA-H100-PCIe": "h100-pcie-80gb", "NVIDIA-GeForce-RTX-4090": "rtx-4090"}


def _quoted(case: ValidationCase) -> tuple[int, str, str, str, float, int, int]:
    f, m = _FILE.search(case.citation), _FIGURE.search(case.citation)
    assert f and m, case.citation
    rate, model, gpu = int(f.group(1)), f.group(2), f.group(3)
    metric, ms = m.group(1), float(m.group(2))
    tokens_in, tokens_out = (int(g.replace(",", "")) for g in m.groups()[2:])
    return rate, model, gpu, metric, ms, tokens_in, tokens_out


def test_file_is_vllm_v1_on_one_gpu_with_four_calibration_rows() -> None:
    assert len(CASES) >= 60
    calibration = sorted(c.id for c in CASES if c.calibration)
    assert calibration == sorted(
        f"iog-vllm085-meta-llama-3-8b-instruct-h100-pcie-80gb-{q}qps-{m}"
        for q in (1, 8) for m in ("tpot", "ttft"))
    assert engine_profile("vllm").sources["step_overhead_s"].count("FITTED") == 1
    assert "serving_vllm_v1.yaml" in engine_profile("vllm").sources["step_overhead_s"]
    catalog = default_catalog()
    for case in CASES:
        assert case.kind == "serving_sim" and case.inputs["engine"] == "vllm"
        assert case.inputs.get("tp", 1) == 1 and case.inputs["weights"] == "fp16"
        catalog.model(case.inputs["model"])  # every model is in the catalog
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_inputs_and_figure_are_the_quoted_run(case: ValidationCase) -> None:
    rate, _model, gpu, metric, ms, tokens_in, tokens_out = _quoted(case)
    i = case.inputs
    assert i["gpu"] == GPUS[gpu]
    assert (i["max_num_batched_tokens"], i["max_num_seqs"]) == LIMITS[i["gpu"]]
    p = i["poisson"]
    assert (p["rate"], p["num_requests"]) == (rate, 200)
    # the run's own token totals over its 200 prompts, ShareGPT's shape (median 0.52 x mean)
    for side, total in (("input", tokens_in), ("output", tokens_out)):
        assert p[side]["mean"] == round(total / 200)
        assert p[side]["median"] == round(total / 200 * 0.52)
    assert case.metric == {"TPOT": "tpot_s.p50", "TTFT": "ttft_s.p50"}[metric]
    assert case.published == pytest.approx(ms / 1e3, abs=5e-6)
    assert case.url.endswith(_FILE.search(case.citation).group(0))  # type: ignore[union-attr]
