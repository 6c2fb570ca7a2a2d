"""Neuron parts (Inferentia2, Trainium2) pad attention heads to their tensor-parallel ranks
and replicate key/value heads; every layer local (Mistral 7B) keeps a finite KV pool."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.serving_shapes import replica_shape
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()


def _perf(model: str, system: str | None = None, gpu: str | None = None,
          tp: int = 1) -> ServingPerf:
    hw = resolve_hardware(CAT, gpu=gpu, system=system)
    return prepare_serving(ServingConfig(CAT.model(model), hw, tp=tp))


def test_neuron_runs_tp_that_does_not_divide_the_heads_and_gpus_do_not() -> None:
    assert _perf("llama2-13b", system="inf2-48xlarge", tp=12).memory.num_kv_blocks() > 0
    with pytest.raises(InputError, match="40 attention heads"):
        _perf("llama2-13b", gpu="h100-sxm-80gb", tp=3)


def test_padded_heads_and_replicated_kv_cost_what_the_padding_says() -> None:
    m = CAT.model("llama2-13b")  # 40 heads (MHA), 13,824-wide MLP
    plain = replica_shape(m, tp=8, pp=1, ep=1, weights_dtype="bf16", kv_cache_dtype="bf16")
    # 12 chips x 2 ranks: 40 heads run as 48, 2 per rank, 4 per chip (not 40/12 = 3.33)
    padded = replica_shape(m, tp=12, pp=1, ep=1, weights_dtype="bf16",
                           kv_cache_dtype="bf16", padded_ranks=2)
    g8, g12 = plain.groups[0], padded.groups[0]
    assert g12.prefill_attn_flop_per_pair == pytest.approx(g8.prefill_attn_flop_per_pair * 4 / 5)
    assert g12.kv_bytes_per_token == pytest.approx(g8.kv_bytes_per_token * 4 / 5)
    unpadded = replica_shape(CAT.model("llama3-8b"), tp=8, pp=1, ep=1, weights_dtype="bf16",
                             kv_cache_dtype="bf16")
    replicated = replica_shape(CAT.model("llama3-8b"), tp=12, pp=1, ep=1,
                               weights_dtype="bf16", kv_cache_dtype="bf16", padded_ranks=2)
    # 8 KV heads on 24 ranks: one per rank, 2 per chip (twice the 1 per GPU at TP 8)
    assert replicated.groups[0].kv_bytes_per_token == pytest.approx(
        2 * unpadded.groups[0].kv_bytes_per_token)


def test_a_model_whose_every_layer_is_local_gets_a_finite_pool() -> None:
    perf = _perf("mistral-7b", gpu="h100-sxm-80gb")  # 32 of 32 layers windowed
    blocks = perf.memory.num_kv_blocks(16)
    assert 0 < blocks < 10**8
    roomy = _perf("mistral-7b", system="inf2-48xlarge", tp=12)
    assert roomy.memory.num_kv_blocks(16) * 16 <= roomy.config.max_num_seqs * 32768
