"""Encoders of a RAG pipeline: query embedding and cross-encoder reranking on a GPU.

One forward pass of ``n`` sequences of ``s`` tokens costs ``F = n·s·2·P_dense +
n·L·4·s²·h`` FLOPs (dense layers, then attention's QKᵀ and PV over the full
bidirectional sequence). A batch takes

    t = overhead + max(F / (peak_bf16 · mfu · T / (T + T_half)),  weights_bytes / bandwidth)

with ``T = n·s`` the tokens of the batch (small batches do not fill the GEMMs: the same
saturation form as the LLM step model) and ``overhead`` the per-batch tokenisation, kernel
launches and server hop. Constants: ``perf/rag.yaml`` (``encoder``), with their sources.

A reranker scores ``candidates`` (query + passage) pairs for one request; each pair is one
sequence of ``query_tokens + chunk_tokens`` (capped at the model's context).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gputwin.catalog.schema import Accelerator, EncoderSpec
from gputwin.errors import InputError
from gputwin.yaml_io import load_validated

BYTES_PER_PARAM = 2.0  # bf16/fp16 weights, as encoder servers run them


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EncoderConstants(_Strict):
    mfu: float = Field(gt=0, le=1)
    half_tokens: float = Field(gt=0)
    batch_overhead_s: float = Field(ge=0)
    source: str = Field(min_length=8)


class CpuConstants(_Strict):
    distance_bytes_per_s: float = Field(gt=0)
    visit_s: float = Field(ge=0)
    scan_bytes_per_s: float = Field(gt=0)
    pq_lookup_s: float = Field(gt=0)
    source: str = Field(min_length=8)


class GpuIndexConstants(_Strict):
    launch_s: float = Field(ge=0)
    iteration_s: float = Field(ge=0)
    bandwidth_frac: float = Field(gt=0, le=1)
    source: str = Field(min_length=8)


class RecallConstants(_Strict):
    graph_miss_at_ef1: float = Field(gt=0, le=1)
    graph_ef_exponent: float = Field(gt=0)
    graph_m_exponent: float = Field(ge=0)
    corpus_exponent: float = Field(ge=0)
    ivf_miss_at_nprobe1: float = Field(gt=0, le=1)
    ivf_nprobe_exponent: float = Field(gt=0)
    ivf_reference_nlist: int = Field(gt=0)
    pq_scale: float = Field(gt=0)
    pq_exponent: float = Field(gt=0)
    pq_refine_exponent: float = Field(ge=0)
    source: str = Field(min_length=8)


class Bm25Constants(_Strict):
    base_s: float = Field(ge=0)
    per_doc_term_s: float = Field(ge=0)
    source: str = Field(min_length=8)


class NetworkConstants(_Strict):
    shard_rpc_s: float = Field(ge=0)
    source: str = Field(min_length=8)


class RagConstants(_Strict):
    encoder: EncoderConstants
    cpu: CpuConstants
    gpu_index: GpuIndexConstants
    recall: RecallConstants
    bm25: Bm25Constants
    network: NetworkConstants


@functools.cache
def rag_constants() -> RagConstants:
    """The constants of ``perf/rag.yaml`` (read once)."""
    return load_validated(Path(__file__).parent / "rag.yaml", RagConstants)


@dataclass(frozen=True, slots=True)
class EncoderPerf:
    """Step-time model of one encoder on one GPU (see the module docstring)."""

    encoder: EncoderSpec
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float
    constants: EncoderConstants

    @property
    def weights_bytes(self) -> float:
        return self.encoder.params * BYTES_PER_PARAM

    def flops(self, num_seqs: int, seq_tokens: int) -> float:
        e = self.encoder
        s = min(seq_tokens, e.max_seq_len)
        return num_seqs * (s * 2.0 * e.dense_params + e.num_layers * 4.0 * s * s * e.hidden_size)

    def batch_time_s(self, num_seqs: int, seq_tokens: int) -> float:
        """Seconds to encode ``num_seqs`` sequences of ``seq_tokens`` tokens in one batch."""
        if num_seqs <= 0:
            return 0.0
        c = self.constants
        tokens = num_seqs * min(seq_tokens, self.encoder.max_seq_len)
        rate = self.peak_flop_per_s * c.mfu * tokens / (tokens + c.half_tokens)
        compute = self.flops(num_seqs, seq_tokens) / rate
        return c.batch_overhead_s + max(compute, self.weights_bytes / self.bandwidth_bytes_per_s)


def encoder_perf(encoder: EncoderSpec, acc: Accelerator, *, kind: str | None = None,
                 where: str = "encoder") -> EncoderPerf:
    """The encoder's model on ``acc``. ``kind`` ('embedding' / 'reranker'), when given,
    must match the catalog entry's. Raises :class:`InputError`."""
    if kind is not None and encoder.kind != kind:
        raise InputError(f"{encoder.name!r} is {encoder.kind!r}, expected {kind!r} "
                         "(catalog encoders: kind)", where=where)
    peak = acc.peak_flop_per_s.get("bf16") or acc.peak_flop_per_s.get("fp16")
    if not peak:
        raise InputError(f"{acc.name} has no bf16/fp16 peak for an encoder", where=where)
    if encoder.params * BYTES_PER_PARAM > acc.memory_bytes:
        raise InputError(f"{encoder.name} ({encoder.params * BYTES_PER_PARAM / 2**30:.1f} "
                         f"GiB) does not fit in {acc.name}", where=where)
    return EncoderPerf(encoder, float(peak), acc.memory_bandwidth_bytes_per_s,
                       rag_constants().encoder)
