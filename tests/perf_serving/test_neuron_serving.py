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
    per_token = fused.spec_step_time_s(1, ctx) / fused.speculation.expected_tokens_per_step()
    assert per_token < plain.step_time_s(0, 0.0, 0.0, 1, ctx) / 1.5


def test_trainium1_carries_inferentia2s_coefficients_over() -> None:
    # same NeuronCore-v2 and HBM per chip: trn1 is its own family with the same values
    cal = default_serving_calibration()
    trn1, inf2 = cal.for_accelerator("trn1"), cal.for_accelerator("inferentia2")
    assert trn1.family == "trn1"
    assert (trn1.compute_eff_mult, trn1.bandwidth_frac) == (inf2.compute_eff_mult,
                                                            inf2.bandwidth_frac)


def test_trainium1_int8_weights_run_weight_only_at_the_bf16_rate() -> None:
    # Neuron's int8 path stores int8 weights and runs BF16 matmuls: a 4096-token
    # context encoding costs what its BF16 twin costs in GEMM FLOPs, not half
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving_rates import runs_weight_only

    acc = default_catalog().accelerator("trn1")
    assert runs_weight_only(acc, "int8")
    tokens = 4096
    args = (tokens, 0.0, tokens * tokens / 2.0, 0, 0.0)
    int8 = make_perf("llama3-8b", gpu="trn1", tp=16, weights_dtype="int8").step_time_s(*args)
    bf16 = make_perf("llama3-8b", gpu="trn1", tp=16).step_time_s(*args)
    assert int8 > 0.8 * bf16


def test_trn1_instance_is_16_chips_of_2_tp_ranks() -> None:
    from gputwin.catalog.loader import default_catalog

    cat = default_catalog()
    system = cat.system("trn1-32xlarge")
    assert system.num_accelerators == 16 and system.scale_up_domain_size == 16
    assert cat.accelerator(system.accelerator).tp_ranks_per_chip == 2
