"""perf.embedding: encoder FLOPs, batching and the catalog's encoder entries."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.embedding import encoder_perf

CAT = default_catalog()


def test_every_encoder_has_a_source_and_a_consistent_kind() -> None:
    assert len(CAT.encoders) >= 6
    for e in CAT.encoders.values():
        assert len(e.source) > 20
        assert (e.embedding_dim is not None) == (e.kind == "embedding")
        assert 0 < e.dense_params < e.params


def test_flops_are_twice_dense_params_per_token_plus_attention() -> None:
    e = encoder_perf(CAT.encoder("bge-large-en-v1.5"), CAT.accelerator("l40s"))
    s = 100
    expected = s * 2 * e.encoder.dense_params + 24 * 4 * s * s * 1024
    assert e.flops(1, s) == pytest.approx(expected)
    assert e.flops(1, 10_000) == e.flops(1, 512)  # capped at the context


def test_batching_raises_throughput_and_bigger_models_are_slower() -> None:
    l40s = CAT.accelerator("l40s")
    big = encoder_perf(CAT.encoder("bge-large-en-v1.5"), l40s)
    small = encoder_perf(CAT.encoder("bge-small-en-v1.5"), l40s)
    assert big.batch_time_s(64, 128) / 64 < big.batch_time_s(1, 128)
    assert small.batch_time_s(32, 256) < big.batch_time_s(32, 256)
    assert big.batch_time_s(0, 128) == 0.0


def test_faster_gpu_encodes_faster() -> None:
    enc = CAT.encoder("bge-m3")
    assert (encoder_perf(enc, CAT.accelerator("h100-sxm-80gb")).batch_time_s(64, 512)
            < encoder_perf(enc, CAT.accelerator("l4")).batch_time_s(64, 512))


def test_wrong_kind_and_unknown_names_are_input_errors() -> None:
    with pytest.raises(InputError, match="reranker"):
        encoder_perf(CAT.encoder("bge-base-en-v1.5"), CAT.accelerator("l4"), kind="reranker")
    with pytest.raises(UnknownNameError, match=r"bge-large-en-v1\.5"):
        CAT.encoder("bge-large")
