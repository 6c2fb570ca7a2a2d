"""The H200 comparison script runs on the committed measurements (no GPU needed)."""

from __future__ import annotations

import json
import math
from types import ModuleType

import pytest
from tests.bench.bench_scripts import BENCH_DIR, load_script

DEVICE_DIR = BENCH_DIR / "device"
RESULTS = DEVICE_DIR / "results" / "h200-2026-12.json"


def _load(name: str) -> ModuleType:
    return load_script(DEVICE_DIR / f"{name}.py")


@pytest.fixture(scope="module")
def cmp() -> dict:
    if not RESULTS.exists():
        pytest.skip(f"{RESULTS} absent")
    return _load("compare_h200").compare(json.loads(RESULTS.read_text()))


def test_every_section_compared_with_finite_errors(cmp: dict) -> None:
    for key in ("gemm_train", "gemm_decode", "attn_train", "attn_decode"):
        assert cmp[key], key
        for row in cmp[key]:
            errs = [v for k, v in row.items() if k.endswith("error")]
            assert errs and all(math.isfinite(e) and e > -1.0 for e in errs), row
    assert cmp["model"]["decode"] and cmp["model"]["prefill"]
    assert all(r["predicted_s"] > 0 for r in cmp["model"]["decode"] + cmp["model"]["prefill"])


def test_predictions_follow_the_shape_factor(cmp: dict) -> None:
    # a bigger GEMM of one family is predicted closer to the calibrated fraction
    rows = [r for r in cmp["gemm_train"] if r["dtype"] == "bf16" and r["model"] == "llama3-8b"
            and r["tp"] == 8 and r["gemm"] == "attn_out"]
    fracs = [r["predicted_frac_of_peak"] for r in sorted(rows, key=lambda r: r["m"])]
    assert len(fracs) >= 2 and fracs == sorted(fracs)


def test_markdown_has_every_table(cmp: dict) -> None:
    md = _load("compare_h200_md").render(cmp)
    for title in ("Device-to-device copy", "training shapes", "decode shapes",
                  "Attention, training", "Decode attention", "one step"):
        assert title in md
