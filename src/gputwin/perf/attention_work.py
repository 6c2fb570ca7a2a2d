"""What the attention kernels of a training step process, from the model's architecture.

Two properties of a model move its fused-attention time beyond the FLOP count of
:mod:`gputwin.perf.flops` (which keeps the Megatron/NeMo whole-context convention):

- **Local-attention layers** (sliding window ``W``, gpt-oss, Gemma, Mistral 7B): a causal
  query sees ``W − W²/(2s)`` keys on average instead of ``s/2``. The kernel does not run
  them at the whole-context rate: each query tile still pays a masked boundary tile and
  its fixed costs, priced as ``extra_keys`` more keys per query
  (``calibration.yaml: local_attention_extra_keys``; cuDNN's gpt-oss window-128 kernel runs
  at ~11-15 % of its whole-context rate on GB200).
- **Head dimension**: per score the kernel does ``2·(d_qk + d_v)`` MMA FLOPs plus
  non-MMA work (exponential, rescaling) that does not shrink with the head, so below 128
  the rate falls (cuDNN on H100: head dim 64 at 0.72 of 128). Time per score is taken as
  ``∝ d + c`` with ``d = (d_qk + d_v)/2`` and ``c`` = ``attention_softmax_head_dim``; the
  rate relative to head dim 128 is capped at 1 (cuDNN does not speed up above 128:
  0.94 at 256), so every head-dim-128 (and MLA) model keeps the rate ``attention_frac``
  was set at.
"""

from __future__ import annotations

from gputwin.perf.flops import CAUSAL_WORK_FRAC, Arch, LayerShape

#: Head dimension the per-accelerator ``attention_frac`` figures stand for.
REFERENCE_HEAD_DIM = 128.0


def causal_keys_per_query(seq_len: int, window: int = 0) -> float:
    """Mean keys a causal query attends over in a sequence of ``seq_len`` tokens:
    ``s/2`` over the whole context, ``W − W²/(2s)`` within a sliding window ``W < s``."""
    s = float(seq_len)
    if window <= 0 or window >= seq_len:
        return CAUSAL_WORK_FRAC * s
    w = float(window)
    return w - w * w / (2.0 * s)


def kernel_keys_per_query(a: Arch, seq_len: int, extra_keys: float) -> float:
    """Keys per query the fused kernels process, averaged over the model's layers: the
    whole-context layers their causal half, the local ones their window plus
    ``extra_keys`` (never more than the whole context's)."""
    full = causal_keys_per_query(seq_len)
    local = a.local_attention_layers if a.local_attention_window else 0
    if not local:
        return full
    windowed = min(full, causal_keys_per_query(seq_len, a.local_attention_window)
                   + extra_keys)
    return ((a.num_layers - local) * full + local * windowed) / a.num_layers


def head_dim_rate(head_dim: float, softmax_head_dim: float) -> float:
    """The attention kernel's rate at head dimension ``head_dim`` (the mean of d_qk and
    d_v) relative to head dim 128: ``(d/(d + c)) / (128/(128 + c))``, at most 1."""
    d, c, ref = head_dim, softmax_head_dim, REFERENCE_HEAD_DIM
    return min(1.0, (d / (d + c)) / (ref / (ref + c)))


def head_dim_rate_factor(shape: LayerShape, num_heads: int, softmax_head_dim: float) -> float:
    """:func:`head_dim_rate` at this layer's mean head dimension."""
    return head_dim_rate((shape.q_dim + shape.v_dim) / (2.0 * num_heads), softmax_head_dim)


def attention_fwd_flops_per_token(shape: LayerShape, keys_per_query: float) -> float:
    """Forward QKᵀ and PV FLOPs per token of one layer for ``keys_per_query`` keys."""
    return 2.0 * keys_per_query * (shape.q_dim + shape.v_dim)
