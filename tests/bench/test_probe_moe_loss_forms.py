"""bench/probe_moe_loss_forms.py: the alternative narrow-expert loss forms it replays."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gputwin
from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.topology.hardware import resolve_hardware

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:  # the probe imports fit_moe_width from its own folder
    sys.path.insert(0, str(BENCH))
forms = importlib.import_module("probe_moe_loss_forms")

SEQS, CONTEXT = 64, 1000
#: the probe swaps ``ServingPerf._gemm_s``, which a compiled class does not allow: on a
#: compiled build these tests run in a process on the sources (test_runs_on_the_sources)
on_sources = pytest.mark.skipif(gputwin.USING_COMPILED,
                                reason="compiled build: run by test_runs_on_the_sources")


@pytest.mark.skipif(not gputwin.USING_COMPILED, reason="already on the sources")
def test_runs_on_the_sources() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           "-p", "no:cacheprovider", __file__],
                          env={**os.environ, "GPUTWIN_ACCEL": "0"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed, 1 skipped" in done.stdout


def _perf() -> ServingPerf:
    cat = default_catalog()
    return prepare_serving(ServingConfig(
        cat.model("qwen3-30b-a3b"), resolve_hardware(cat, gpu="h100-sxm-80gb", system=None),
        tp=1, weights_dtype="fp8", kv_cache_dtype="fp8", engine="vllm"))


def _decode_step_s(perf: ServingPerf) -> float:
    return perf.step_time_s(0, 0.0, 0.0, SEQS, float(SEQS * CONTEXT))


@on_sources
def test_memory_form_adds_bytes_per_routed_row_at_hbm_bandwidth() -> None:
    perf = _perf()
    with forms.loss_form("mem", 0.0):
        width_off = _decode_step_s(perf)
    with forms.loss_form("mem", 16.0):
        charged = _decode_step_s(perf)
    model = perf.config.model
    moe_layers = sum(g.num_layers for g, _ in perf._groups if g.local_experts)
    routed_rows = SEQS * model.num_experts_per_token  # one GPU holds every expert
    expected = moe_layers * routed_rows * 16.0 * perf.shape.hidden_size / perf._bw
    assert charged - width_off == pytest.approx(expected, rel=1e-9)
    # the narrow-expert factor is what the form replaces: switching it off speeds the step
    assert width_off < _decode_step_s(perf)


@on_sources
def test_loss_form_restores_the_model() -> None:
    perf = _perf()
    before = _decode_step_s(perf)
    with forms.loss_form("row", 50.0):
        assert _decode_step_s(perf) != before
    assert _decode_step_s(perf) == before
