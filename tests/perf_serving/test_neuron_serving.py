"""AWS Neuron serving: the per-family coefficients and fused speculation at batch 1."""

from __future__ import annotations

from perf_serving_builders import make_perf

from gputwin.perf.serving_calib import default_serving_calibration


def test_neuron_parts_have_their_own_fitted_families() -> None:
    cal = default_serving_calibration()
    default = cal.for_accelerator("no-such-part")
    for part in ("inferentia2", "trn2"):
        coeff = cal.for_accelerator(part)
        assert coeff.family == part
        # both fits say Neuron context encoding runs below the generic GPU efficiency
        assert coeff.compute_eff_mult < default.compute_eff_mult


def test_long_prompt_prefill_follows_the_compute_efficiency() -> None:
    # a 2048-token Llama-3-70B prompt over 24 Inferentia2 cores is GEMM-bound: halving the
    # compute efficiency adds most of its GEMM time, not nothing
    p = make_perf("llama3-70b", gpu="inferentia2", tp=12)
    tokens = 2048
    t = p.step_time_s(tokens, 0.0, tokens * tokens / 2.0, 0, 0.0)
    p._gemm_rate /= 2.0
    slower = p.step_time_s(tokens, 0.0, tokens * tokens / 2.0, 0, 0.0)
    assert slower > 1.5 * t


def test_fused_speculation_beats_plain_decode_at_batch_1_on_trainium2() -> None:
    kw = {"gpu": "trn2", "tp": 16}
    plain = make_perf("llama3.3-70b", **kw)
    fused = make_perf("llama3.3-70b", num_speculative_tokens=7, draft_kind="fused_draft",
                      draft_model="llama3.2-1b", acceptance_rate=0.7, **kw)
    ctx = 10_750.0
    per_token = fused.spec_step_time_s(1, ctx) / fused.expected_tokens_per_step()
    assert per_token < plain.step_time_s(0, 0.0, 0.0, 1, ctx) / 1.5
