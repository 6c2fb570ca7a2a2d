"""Inference step-time model of one serving replica (vLLM/TensorRT-LLM style engine).

Public API (stable; the serving simulator calls it once per engine step):

- ``ServingConfig``: model, hardware, ``tp``/``pp``/``ep``, attention data parallelism
  (``dp_attention``, wide EP: ``ep = tp × dp_attention``, EPLB ``redundant_experts``,
  ``ep_imbalance``, ``ep_overlap_frac``), weight and KV-cache dtypes, speculative
  decoding (``num_speculative_tokens``, ``draft_model``, ``draft_kind``).
- ``prepare_serving(config, calibration=None) -> ServingPerf``: precomputes the per-GPU
  constants once; the methods below are then a few dozen float operations.
- ``ServingPerf.step_time_s(num_prefill_tokens, prefill_context_tokens_sum,
  prefill_attn_pairs, num_decode_seqs, decode_context_tokens_sum)``: one continuous-batching
  step mixing prefill chunks and decode tokens.
- ``ServingPerf.spec_step_time_s(...)``: a speculative step (draft + verification of ``k+1``
  tokens per sequence); ``speculation`` (:class:`~gputwin.perf.speculation.Speculation`):
  ``expected_tokens_per_step(alpha)``, ``draft_time_s(...)``.
- memory: ``kv_bytes_per_token_per_gpu``, ``kv_bytes_per_token_total``,
  ``weights_bytes_per_gpu``; ``memory`` (:class:`~gputwin.perf.serving_memory.KvMemory`):
  ``num_kv_blocks(block_size, gpu_memory_utilization)``,
  ``max_batch_size_by_memory(context_tokens)``; disaggregation: ``kv_transfer_time_s``.

Model of one step (per layer, per GPU, summed over all layers; with ``pp`` stages the
engine keeps ``pp`` micro-batches in flight, so a step of B sequences costs one traverse
of B/pp through every stage): weight GEMMs ``max(FLOP/(peak·eff·g(T)), weight
bytes/(bw·bw_frac))`` with the weights read once per step (MoE: only the experts the
batch's tokens touch); prefill attention ``max(pairs·flop_per_pair/attn_rate, KV
bytes/bw)``; decode attention reads each sequence's KV once; elementwise traffic;
per-layer overhead; two TP all-reduces (the collective model, latency-dominated at small
batch). Plus the LM head for the sampled tokens, PP hand-offs and a host overhead per step
and per sequence. With attention data parallelism the step's tokens split evenly over the
``dp_attention`` groups, the routed experts see every token of the replica (the busiest
GPU ``imbalance`` × the mean) and each MoE layer adds its dispatch/combine all-to-all
(:mod:`gputwin.perf.wide_ep`). The rates these are priced at (GEMM dtype of a weight
format, attention and HBM rates, the expert GEMM kernels) come from
:mod:`gputwin.perf.serving_rates`, the proposers of speculative decoding from
:mod:`gputwin.perf.speculation`; neither imports this module. See docs/serving-model.md.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.perf.dataflow import is_dataflow
from gputwin.perf.engines import engine_profile
from gputwin.perf.kv_transfer import kv_transfer_time_s
from gputwin.perf.power import inference_activity_frac
from gputwin.perf.serving_calib import (
    ServingAccelCoefficients,
    ServingCalibration,
    default_serving_calibration,
)
from gputwin.perf.serving_comm import ReplicaComm
from gputwin.perf.serving_memory import KvMemory
from gputwin.perf.serving_rates import (
    device_rates,
    masked_expert_half_rows,
    timing_weights_dtype,
)
from gputwin.perf.serving_shapes import (
    KV_BYTES,
    WEIGHT_BYTES,
    GroupConsts,
    ReplicaShape,
    replica_shape,
)
from gputwin.perf.speculation import (
    DRAFT_MODEL_KINDS,
    EagleHead,
    Speculation,
    draft_tp,
    speculation_problem,
)
from gputwin.perf.split import Split, check_split
from gputwin.topology.hardware import HardwareSpec

WEIGHT_DTYPES = tuple(WEIGHT_BYTES)
KV_DTYPES = ("bf16", "fp8")


@dataclass(frozen=True, slots=True)
class ServingConfig:
    """One inference replica (``tp × pp × dp_attention`` GPUs) and its engine limits.

    ``max_num_seqs`` and ``max_num_batched_tokens`` are the whole replica's (all its
    attention data-parallel groups together, as SGLang's ``--max-running-requests``)."""

    model: ModelSpec
    hw: HardwareSpec
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp_attention: int = 1
    redundant_experts: int = 0  # EPLB slots beyond the model's experts
    ep_imbalance: float | None = None  # busiest GPU / mean routed tokens; None = expected
    ep_overlap_frac: float = 1.0  # share of the MoE layer's compute hiding its all-to-all
    # (NVLink all-to-all kernels; the all-gather path of PCIe servers is never hidden)
    weights_dtype: str = "bf16"
    kv_cache_dtype: str = "bf16"
    num_speculative_tokens: int = 0
    draft_model: ModelSpec | None = None
    draft_kind: str | None = None
    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 256
    acceptance_rate: float = 0.7
    engine: str = "vllm"  # engine profile (perf/engines.yaml): host and kernel coefficients
    # static KV cache of this many tokens per batch slot (JetStream's dense cache, XLA static
    # shapes): decode attention reads every slot's whole cache; None: the tokens held
    kv_cache_length: int | None = None

    @property
    def num_gpus(self) -> int:
        return self.tp * self.pp * self.dp_attention


def check_config(c: ServingConfig) -> None:
    """Raise :class:`InputError` naming the option when the split or dtypes are invalid."""
    m = c.model
    for name, v in (("tp", c.tp), ("pp", c.pp), ("ep", c.ep),
                    ("max-num-batched-tokens", c.max_num_batched_tokens),
                    ("max-num-seqs", c.max_num_seqs)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"--{name} must be a positive integer, got {v!r}")
    check_split(m, Split(tp=c.tp, pp=c.pp, ep=c.ep, dp_attention=c.dp_attention,
                         redundant_experts=c.redundant_experts), ep_over_dp=False,
                padded_heads=c.hw.accelerator.pads_attention_heads, system=c.hw.system)
    if c.ep_imbalance is not None and not c.ep_imbalance >= 1.0:
        raise InputError(f"--ep-imbalance must be >= 1 (busiest GPU over the mean), got "
                         f"{c.ep_imbalance}")
    if not 0.0 <= c.ep_overlap_frac <= 1.0:
        raise InputError(f"ep_overlap_frac must be in [0, 1], got {c.ep_overlap_frac}")
    acc = c.hw.accelerator.name
    if is_dataflow(acc):
        raise InputError(f"{acc} is an SRAM-resident dataflow part, which the GPU serving "
                         f"model does not describe: its model is `gputwin estimate dataflow "
                         f"--model {c.model.name} --gpu {acc}` (tokens/s per user, chips, "
                         f"system rate)", where="--gpu")
    # unknown engine -> UnknownNameError listing the registry; TensorRT-LLM on an AMD part
    # -> InputError
    engine_profile(c.engine).check_runs_on(acc, c.hw.accelerator.vendor)
    if c.weights_dtype not in WEIGHT_DTYPES:
        raise InputError(f"--weights must be one of {', '.join(WEIGHT_DTYPES)}, got "
                         f"{c.weights_dtype!r}")
    if c.kv_cache_dtype not in KV_DTYPES:
        raise InputError(f"--kv-cache must be one of {', '.join(KV_DTYPES)}, got "
                         f"{c.kv_cache_dtype!r}")
    problem = speculation_problem(c.num_speculative_tokens, c.draft_kind,
                                  c.draft_model.name if c.draft_model else None,
                                  c.acceptance_rate)
    if problem:
        raise InputError(problem)
    if c.kv_cache_length is not None and (isinstance(c.kv_cache_length, bool)
                                          or not isinstance(c.kv_cache_length, int)
                                          or c.kv_cache_length < 1):
        raise InputError(f"--kv-cache-length must be a positive integer, got "
                         f"{c.kv_cache_length!r}")


def context_problem(model: ModelSpec, input_tokens: int, output_tokens: int,
                    names: tuple[str, str] = ("--input-tokens", "--output-tokens")
                    ) -> str | None:
    """Why a request of ``input_tokens`` + ``output_tokens`` does not fit ``model``'s
    context (``None``: it fits); ``names`` say where the two lengths came from."""
    ctx = model.max_seq_len
    if input_tokens > ctx:
        return f"{names[0]} = {input_tokens} exceeds the {ctx}-token context of {model.name}"
    if input_tokens + output_tokens > ctx:
        return (f"{names[0]} + {names[1]} = {input_tokens + output_tokens} exceeds the "
                f"{ctx}-token context of {model.name}")
    return None


def local_attention(window: float, tokens: int, num_decode_seqs: int, prefill_pairs: float,
                    prefill_kv_tokens: float, decode_pairs: float,
                    decode_kv_tokens: float) -> tuple[float, float, float, float]:
    """A local-attention layer's (prefill pairs, prefill KV tokens read, decode pairs,
    decode KV tokens read): each query sees at most ``window`` keys, so the prefill side
    is capped at ``tokens·window`` and the decode side at ``num_decode_seqs·window``.

    The caps hold for the step's totals (a sequence shorter than the window is counted
    at its length as long as the total stays under the cap), so a decode-only step's cost
    bends once, at ``num_decode_seqs·window`` context tokens in all (``decode_kink``)."""
    pre_cap = tokens * window
    dec_cap = num_decode_seqs * window
    return (min(prefill_pairs, pre_cap), min(prefill_kv_tokens, pre_cap),
            min(decode_pairs, dec_cap), min(decode_kv_tokens, dec_cap))


def micro_batch(tokens: int, pp: int) -> tuple[int, float]:
    """(tokens, share of the step) of the largest of the ``pp`` pipeline micro-batches a
    step of ``tokens`` splits into: the engine keeps one in flight per stage, so the step
    costs one traverse of that micro-batch through every stage (whole tokens, at least
    one; ``tokens`` > 0)."""
    m = -(-tokens // pp)
    return m, m / tokens


def gpu_share(pp: int, dp: int, tokens: int, counts: tuple[int, ...],
              amounts: tuple[float, ...]) -> tuple[int, int, tuple[int, ...], tuple[float, ...]]:
    """One GPU's share of a step of ``tokens``: the largest of the ``pp`` micro-batches
    (:func:`micro_batch`), then an even ``1/dp`` of it per attention-DP group. Returns
    (micro-batch tokens, the GPU's tokens, ``counts`` and ``amounts`` scaled alike; counts
    stay whole). The routed experts and the MoE all-to-all see the micro-batch tokens."""
    if pp > 1:
        tokens, f = micro_batch(tokens, pp)
        counts = tuple(-(-c // pp) for c in counts)
        amounts = tuple(a * f for a in amounts)
    routed = tokens
    if dp > 1:
        tokens = -(-tokens // dp)
        counts = tuple(-(-c // dp) for c in counts)
        amounts = tuple(a / dp for a in amounts)
    return routed, tokens, counts, amounts


class ServingPerf:
    """Precomputed constants of one replica; methods are pure and fast (no allocation)."""

    __slots__ = (
        "_attn_rate",
        "_bw",
        "_dp",
        "_draft",
        "_eager_s",
        "_ep",
        "_expert_tile",
        "_gemm_mult",
        "_gemm_rate",
        "_groups",
        "_half",
        "_host_floor",
        "_layer_oh",
        "_masked_half",
        "_pp",
        "_seq_oh",
        "_step_oh",
        "_tp",
        "_weights_bytes",
        "calibration",
        "comm",
        "config",
        "memory",
        "shape",
        "speculation",
    )

    def __init__(self, config: ServingConfig, calibration: ServingCalibration) -> None:
        check_config(config)
        if config.weights_dtype == "fp4" and config.model.fp4_format != "nvfp4":
            # `fp4` is the model's own FP4 checkpoint (gpt-oss: MXFP4 as released)
            config = dataclasses.replace(config, weights_dtype=config.model.fp4_format)
        c, cal = config, calibration
        accel = c.hw.accelerator
        self.config = c
        self.calibration = cal
        prof = engine_profile(c.engine)
        # the step is priced in timed.weights_dtype; memory holds c.weights_dtype's bytes
        timed = dataclasses.replace(c, weights_dtype=timing_weights_dtype(c, prof))
        self.shape: ReplicaShape = _replica_shape(timed)
        self._weights_bytes = (self.shape.weights_bytes_per_gpu
                               if timed.weights_dtype == c.weights_dtype
                               else _replica_shape(c).weights_bytes_per_gpu)
        (self._gemm_rate, self._gemm_mult, self._attn_rate, self._bw,
         self._expert_tile) = device_rates(timed, cal)
        self._half = cal.gemm_half_tokens
        self._masked_half = masked_expert_half_rows(c, prof, cal, self._gemm_rate
                                                    / self._gemm_mult, self._bw)
        # grouped expert GEMMs lose efficiency with narrow experts (see _expert_rate)
        width_half = cal.moe_width_half_for(accel.name)
        self._groups = tuple(
            (g, g.expert_width / (g.expert_width + width_half) if g.expert_width
             else 1.0) for g in self.shape.groups)
        self._layer_oh = cal.layer_overhead_s
        self._step_oh, self._seq_oh = cal.host_overheads(c.engine, accel.vendor)
        # a host floor under the step (release profiles only; None: the step is the sum)
        self._host_floor = (functools.partial(prof.host_floor_s, self._step_oh)
                            if prof.overlapped_per_seq_s > 0.0 else None)
        self._tp, self._pp = c.tp, c.pp
        # host launch time of a forward that carries prompt tokens (eager, not a graph)
        self._eager_s = prof.eager_layer_s * c.model.num_layers
        self._dp, self._ep = c.dp_attention, c.ep
        self.comm = ReplicaComm(c, cal.tp_comm_mult)
        draft = self._draft = _draft_perf(c, cal)
        eagle = (EagleHead(self.shape, self._gemm_rate, self._half, self._attn_rate, self._bw,
                           self._layer_oh) if c.draft_kind == "eagle" else None)
        self.speculation = Speculation(c, self._step_oh, self._seq_oh, eagle,
                                       draft.decode_forward_s if draft else None)
        self.memory = KvMemory(c, self.shape, cal, accel.usable_memory,
                               self.weights_bytes_per_gpu, self.kv_bytes_per_token_per_gpu,
                               prof.profiling, prof.memory_mode)

    # ---- the step ------------------------------------------------------------------
    def _expert_rate(self, g: GroupConsts, routed: int, width_eff: float,
                     touched_frac: float, masked: bool = False) -> float:
        """FLOP/s of one layer's grouped expert GEMMs for a step of ``routed`` tokens.

        The dense GEMM rate at the rows each expert that runs receives (the mean
        ``routed·k/experts`` over the ``touched_frac`` of experts that got any: at least
        one row, not a fraction of one, in a small decode batch), times
        ``width/(width + moe_width_half)`` for the expert's own intermediate width: narrow
        experts run their grouped GEMMs (with routing, permutation, activation quantisation
        and the weighted combine around them) far below a dense GEMM of the same FLOP
        (fitted; perf/serving_calibration.yaml; a part may have its own half-width there,
        ``ServingCalibration.moe_width_half_for``). The rows saturate as ``rows/(rows + tile)``
        with ``tile`` the M-tile the expert kernel pads them to
        (:func:`~gputwin.perf.serving_rates.expert_tile_rows`): ``gemm_half_tokens`` (64)
        at many rows, like a dense GEMM's, and down to the kernel family's smallest tile at
        a few rows per expert.

        ``masked``: a wide-EP decode step on a masked grouped GEMM behind DeepEP's
        low-latency dispatch (:func:`~gputwin.perf.serving_rates.masked_expert_half_rows`):
        the dense rate at ``rows/(rows + masked half)``, no narrow-expert factor."""
        rows = routed * g.rows_per_expert_per_token / touched_frac
        if masked:
            return self._gemm_rate * rows / (rows + self._masked_half) / self._gemm_mult
        lo, hi = self._expert_tile
        half = min(max(rows, lo), hi)
        return self._gemm_rate * rows / (rows + half) * width_eff / self._gemm_mult

    def _gemm_s(self, g: GroupConsts, width_eff: float, tokens: int, routed: int,
                imb: float, rate: float, masked: bool = False) -> tuple[float, float]:
        """(compute, weight-read) seconds of one layer of group ``g``'s GEMMs: the dense
        ones for this GPU's ``tokens``, the routed experts for the replica's ``routed``
        tokens (the busiest GPU ``imb`` × the mean; only the experts touched are read)."""
        w_bytes = g.dense_weight_bytes
        compute = g.dense_flop_per_token * tokens / rate
        if g.local_experts:
            touched = 1.0 - math.exp(g.log_miss * routed)
            w_bytes += g.local_experts * touched * g.expert_weight_bytes
            compute += (g.expert_flop_per_token * routed * imb
                        / self._expert_rate(g, routed, width_eff, touched, masked))
        return compute, w_bytes / self._bw

    def _gpu_time_s(self, tokens: int, prefill_pairs: float, prefill_kv_tokens: float,
                    decode_pairs: float, decode_kv_tokens: float, num_logits: int,
                    num_decode_seqs: int, low_latency: bool | None = None) -> float:
        """Device seconds of one forward over all layers (no host overhead).

        Arguments are the whole replica's; with ``dp_attention`` groups each GPU runs its
        group's even share through attention and the dense weights, and the routed experts
        receive every token of the replica (the busiest GPU ``imbalance`` × the mean).
        Local-attention layers (window ``W``) see at most ``W`` keys per query: their
        prefill work and KV reads are capped at ``tokens·W`` and their decode reads at
        ``num_decode_seqs·W`` (:func:`local_attention`). ``low_latency``: the wide-EP
        all-to-all kernels (default: low-latency unless the step prefills; a speculative
        verification scores several query tokens per sequence but stays on them)."""
        if tokens <= 0:
            return 0.0
        comm = self.comm
        routed = tokens
        if self._pp > 1 or self._dp > 1:
            routed, tokens, (num_logits, num_decode_seqs), (
                prefill_pairs, prefill_kv_tokens, decode_pairs, decode_kv_tokens) = gpu_share(
                    self._pp, self._dp, tokens, (num_logits, num_decode_seqs),
                    (prefill_pairs, prefill_kv_tokens, decode_pairs, decode_kv_tokens))
        if low_latency is None:
            low_latency = prefill_pairs <= 0.0
        moe_comm = comm.moe_comm_s(routed, low_latency=low_latency) if self._dp > 1 else 0.0
        imb = comm.imbalance(routed) if self._ep > 1 else 1.0
        masked = low_latency and self._masked_half > 0.0
        bw, attn_rate = self._bw, self._attn_rate
        rate = self._gemm_rate * tokens / (tokens + self._half) / self._gemm_mult
        ar = 2.0 * comm.allreduce_s(tokens) if self._tp > 1 else 0.0
        total = 0.0
        for g, width_eff in self._groups:
            exposed = 0.0
            gemm = max(self._gemm_s(g, width_eff, tokens, routed, imb, rate, masked))
            kv = g.kv_bytes_per_token
            pp_, pk, dp_, dk = (local_attention(g.attn_window, tokens, num_decode_seqs,
                                                prefill_pairs, prefill_kv_tokens,
                                                decode_pairs, decode_kv_tokens)
                                if g.attn_window else (prefill_pairs, prefill_kv_tokens,
                                                       decode_pairs, decode_kv_tokens))
            pre = max(pp_ * g.prefill_attn_flop_per_pair / attn_rate,
                      pk * kv / bw) if prefill_pairs > 0.0 else 0.0
            dec = max(dp_ * g.decode_attn_flop_per_pair / attn_rate,
                      dk * kv / bw) if decode_kv_tokens > 0.0 else 0.0
            elem = tokens * g.elem_bytes_per_token / bw
            if moe_comm and g.local_experts:
                assert comm.a2a is not None
                exposed = comm.a2a.exposed_s(moe_comm, gemm + pre + dec + elem)
            total += g.num_layers * (gemm + pre + dec + elem + self._layer_oh + ar + exposed)
        s = self.shape
        lm = max(num_logits * s.lm_head_flop_per_token / rate, s.lm_head_weight_bytes / bw)
        total += lm
        if self._pp > 1:
            total += (self._pp - 1) * comm.handoff_s(tokens)
        return total

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float:
        """Seconds of one engine step (prefill chunks + one token for each decode sequence).

        ``prefill_context_tokens_sum``: Σ over prefill chunks of the tokens already in the
        cache before the chunk; ``prefill_attn_pairs``: Σ new·(past + new/2) query–key
        pairs; ``decode_context_tokens_sum``: Σ context length of the decode sequences.
        An empty step costs 0.
        """
        tokens = num_prefill_tokens + num_decode_seqs
        if tokens <= 0:
            return 0.0
        decode_context_tokens_sum = self.memory.decode_read_tokens(num_decode_seqs,
                                                                   decode_context_tokens_sum)
        gpu = self._gpu_time_s(tokens, prefill_attn_pairs,
                               prefill_context_tokens_sum + num_prefill_tokens,
                               decode_context_tokens_sum, decode_context_tokens_sum,
                               num_decode_seqs + (1 if num_prefill_tokens else 0),
                               num_decode_seqs)
        if num_prefill_tokens:
            gpu += self._eager_s
        return self._with_host(gpu, num_decode_seqs)

    def _with_host(self, device_s: float, num_decode_seqs: int) -> float:
        """A step's ``device_s`` with its host time: in series, or under the host floor of
        a release profile; each attention DP group has its own scheduler process (SGLang,
        vLLM DP ranks)."""
        seqs = -(-num_decode_seqs // self._dp)
        t = device_s + self._step_oh + self._seq_oh * seqs
        return t if self._host_floor is None else max(t, self._host_floor(seqs))

    # ---- speculative decoding --------------------------------------------------------
    def spec_step_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float,
                         num_prefill_tokens: int = 0, prefill_context_tokens_sum: float = 0.0,
                         prefill_attn_pairs: float = 0.0) -> float:
        """Seconds of one speculative step: draft ``k`` tokens, verify ``k+1`` per sequence.

        Without speculation this equals :meth:`step_time_s`. Verification scores ``k+1``
        query tokens per sequence (compute grows ``k+1``-fold, the KV is read once).
        """
        k = self.speculation.num_tokens
        if k <= 0:
            return self.step_time_s(num_prefill_tokens, prefill_context_tokens_sum,
                                    prefill_attn_pairs, num_decode_seqs,
                                    decode_context_tokens_sum)
        n = num_decode_seqs
        tokens = num_prefill_tokens + n * (k + 1)
        if tokens <= 0:
            return 0.0
        decode_context_tokens_sum = self.memory.decode_read_tokens(n, decode_context_tokens_sum)
        verify = self._gpu_time_s(
            tokens, prefill_attn_pairs + (k + 1) * decode_context_tokens_sum,
            prefill_context_tokens_sum + num_prefill_tokens, 0.0, decode_context_tokens_sum,
            n * (k + 1) + (1 if num_prefill_tokens else 0), n,
            low_latency=num_prefill_tokens == 0)
        if num_prefill_tokens:
            verify += self._eager_s
        return self._with_host(
            verify + self.speculation.draft_time_s(n, decode_context_tokens_sum), n)

    def decode_forward_s(self, num_decode_seqs: int, decode_context_tokens_sum: float) -> float:
        """Device seconds of one decode-only forward (no host time): a draft model's
        proposal of one token for each sequence (:class:`~gputwin.perf.speculation.Speculation`)."""
        return self._gpu_time_s(num_decode_seqs, 0.0, 0.0, decode_context_tokens_sum,
                                decode_context_tokens_sum, num_decode_seqs, num_decode_seqs)

    # ---- power -----------------------------------------------------------------------
    def busy_activity_frac(self, num_tokens: float, busy_s: float, num_steps: int = 0,
                           num_seq_steps: float = 0.0) -> float:
        """Mean accelerator activity (``perf.power`` inference curve) of one GPU while the
        replica was busy ``busy_s`` seconds running ``num_tokens`` tokens through the model
        in ``num_steps`` steps that carried ``num_seq_steps`` sequences in all.

        The tensor cores are busy for the tokens' layer-GEMM FLOP at the full GEMM rate
        (``c`` = that time / ``busy_s``, at most 1); the GPU waits on the host for the
        engine's overheads (``num_steps`` x step overhead + ``num_seq_steps`` x per-sequence
        overhead: the step model runs them in series with the device); the rest of the busy
        time is HBM-bound. A GPU of a ``pp``-stage pipeline runs its own stage's layers
        (``1/pp`` of the FLOP) for every micro-batch, busy the whole step. 0 when never busy.
        """
        if busy_s <= 0.0 or num_tokens <= 0.0:
            return 0.0
        flop = sum(g.num_layers * (g.dense_flop_per_token + g.expert_flop_per_token)
                   for g in self.shape.groups)  # layer GEMMs (LM head and attention left out)
        compute_s = num_tokens * flop * self._gemm_mult / self._gemm_rate / self._pp
        host_s = num_steps * self._step_oh + num_seq_steps / self._dp * self._seq_oh
        return inference_activity_frac(min(1.0, compute_s / busy_s), host_s / busy_s)

    def decode_kink(self, num_decode_seqs: int) -> float:
        """Context tokens in all above which a decode-only step of ``num_decode_seqs``
        stops growing in its local-attention layers (``inf`` without them): the step cost
        is linear on each side, not across (the decode-skip planner splits stretches
        there)."""
        w = self.shape.attn_window
        return float(num_decode_seqs * w) if w else math.inf

    # ---- memory ----------------------------------------------------------------------
    @property
    def weights_bytes_per_gpu(self) -> float:
        return self._weights_bytes + (
            self._draft.weights_bytes_per_gpu if self._draft is not None else 0.0)

    @property
    def kv_bytes_per_token_per_gpu(self) -> float:
        """KV-cache bytes one token occupies on one GPU (all layers of its stage)."""
        own = self.shape.kv_bytes_per_token_per_gpu
        return own + (self._draft.kv_bytes_per_token_per_gpu if self._draft else 0.0)

    @property
    def kv_bytes_per_token_total(self) -> float:
        """Unique KV bytes of one token over all layers of the model (this replica)."""
        return self.shape.kv_bytes_per_token_total

    # ---- disaggregated prefill/decode -----------------------------------------------
    def kv_transfer_time_s(self, num_tokens: int,
                           bandwidth_bytes_per_s: float | None = None) -> float:
        """Seconds to move the KV of ``num_tokens`` from a prefill to a decode replica
        (:func:`gputwin.perf.kv_transfer.kv_transfer_time_s`)."""
        c = self.config
        return kv_transfer_time_s(self.shape, c.hw, c.tp, c.pp, num_tokens,
                                  bandwidth_bytes_per_s)


def step_components(perf: ServingPerf, num_prefill_tokens: int,
                    prefill_context_tokens_sum: float, prefill_attn_pairs: float,
                    num_decode_seqs: int, decode_context_tokens_sum: float) -> dict[str, float]:
    """One step of ``perf`` split into the calibratable parts (for fitting; not a hot path).

    ``step_time_s = steps·step_overhead + seqs·per_seq_overhead + layers·layer_overhead
    + compute_unit_s/compute_eff_mult + memory_unit_s/bandwidth_frac + fixed_s``, where
    each kernel counts on the side of its roofline that binds with the current
    coefficients (``*_unit_s``: seconds at a multiplier/fraction of 1).
    """
    out = {"steps": 0.0, "seqs": 0.0, "layers": 0.0, "compute_unit_s": 0.0,
           "memory_unit_s": 0.0, "fixed_s": 0.0}
    tokens = num_prefill_tokens + num_decode_seqs
    if tokens <= 0:
        return out
    p = perf
    decode_context_tokens_sum = p.memory.decode_read_tokens(num_decode_seqs,
                                                            decode_context_tokens_sum)
    seqs, d = num_decode_seqs, p._dp  # host overhead per sequence of the whole batch
    routed, tokens, (num_prefill_tokens, num_decode_seqs), (
        prefill_context_tokens_sum, prefill_attn_pairs, decode_context_tokens_sum) = gpu_share(
            p._pp, d, tokens, (num_prefill_tokens, num_decode_seqs),
            (prefill_context_tokens_sum, prefill_attn_pairs, decode_context_tokens_sum))
    imb = p.comm.imbalance(routed) if p._ep > 1 else 1.0
    # wide EP: the exposed all-to-all counts as fixed; the rest per DP group below
    moe_comm = p.comm.moe_comm_s(routed, low_latency=num_prefill_tokens == 0)
    rate = p._gemm_rate * tokens / (tokens + p._half) / p._gemm_mult
    roof = _Roofline(out, p.calibration.for_accelerator(p.config.hw.accelerator.name))
    kv_tokens = prefill_context_tokens_sum + num_prefill_tokens
    for g, width_eff in p._groups:
        n = float(g.num_layers)
        gemm = p._gemm_s(g, width_eff, tokens, routed, imb, rate,
                         num_prefill_tokens == 0 and p._masked_half > 0.0)
        roof.add(*gemm, n)
        layer_s = _add_attention(roof, p, g, max(gemm), tokens, num_decode_seqs,
                                 prefill_attn_pairs, kv_tokens, decode_context_tokens_sum)
        elem_s = tokens * g.elem_bytes_per_token / p._bw
        out["memory_unit_s"] += n * elem_s * roof.bwf
        if moe_comm and g.local_experts and p.comm.a2a is not None:
            out["fixed_s"] += n * p.comm.a2a.exposed_s(moe_comm, layer_s + elem_s)
        out["layers"] += n
        if p._tp > 1:
            out["fixed_s"] += n * 2.0 * p.comm.allreduce_s(tokens)
    s = p.shape
    logits = num_decode_seqs + (1 if num_prefill_tokens else 0)
    roof.add(logits * s.lm_head_flop_per_token / rate, s.lm_head_weight_bytes / p._bw, 1.0)
    if p._pp > 1:
        out["fixed_s"] += (p._pp - 1) * p.comm.handoff_s(tokens)
    if num_prefill_tokens:
        out["fixed_s"] += p._eager_s  # the eager forward's host launch time
    out["steps"] = 1.0
    out["seqs"] = float(-(-seqs // d))  # per scheduler (one per attention DP group)
    return out


def _add_attention(roof: _Roofline, p: ServingPerf, g: GroupConsts, layer_s: float,
                   tokens: int, num_decode_seqs: int, prefill_attn_pairs: float,
                   kv_tokens: float, decode_context_tokens_sum: float) -> float:
    """:func:`step_components`' attention of one layer of group ``g`` (prefill, then
    decode; a local-attention layer sees its window only) added to ``roof``; returns
    ``layer_s`` with the two kernels' binding seconds added in that order."""
    n = float(g.num_layers)
    pairs, pre_kv, _, dec_kv = (
        local_attention(g.attn_window, tokens, num_decode_seqs, prefill_attn_pairs,
                        kv_tokens, 0.0, decode_context_tokens_sum) if g.attn_window
        else (prefill_attn_pairs, kv_tokens, 0.0, decode_context_tokens_sum))
    if prefill_attn_pairs > 0.0:
        layer_s += roof.add(pairs * g.prefill_attn_flop_per_pair / p._attn_rate,
                            pre_kv * g.kv_bytes_per_token / p._bw, n, fixed=True)
    if decode_context_tokens_sum > 0.0:
        layer_s += roof.add(dec_kv * g.decode_attn_flop_per_pair / p._attn_rate,
                            dec_kv * g.kv_bytes_per_token / p._bw, n, fixed=True)
    return layer_s


class _Roofline:
    """Adds a kernel's binding side of the roofline to :func:`step_components`' parts."""

    def __init__(self, out: dict[str, float], coeff: ServingAccelCoefficients) -> None:
        self.out, self.cem, self.bwf = out, coeff.compute_eff_mult, coeff.bandwidth_frac

    def add(self, compute_s: float, memory_s: float, n: float, fixed: bool = False) -> float:
        """Count ``n`` layers of a kernel; returns its seconds per layer."""
        if compute_s >= memory_s:
            key = "fixed_s" if fixed else "compute_unit_s"
            self.out[key] += n * compute_s * (1.0 if fixed else self.cem)
            return compute_s
        self.out["memory_unit_s"] += n * memory_s * self.bwf
        return memory_s


def _replica_shape(c: ServingConfig) -> ReplicaShape:
    accel = c.hw.accelerator
    return replica_shape(
        c.model, tp=c.tp, pp=c.pp, ep=c.ep, weights_dtype=c.weights_dtype,
        kv_cache_dtype=c.kv_cache_dtype, redundant_experts=c.redundant_experts,
        padded_ranks=accel.tp_ranks_per_chip if accel.pads_attention_heads else 0)


def _draft_perf(c: ServingConfig, cal: ServingCalibration) -> ServingPerf | None:
    """The separate draft model's step model (draft_model / fused_draft proposers), on the
    target's GPUs at the largest TP its heads allow; None without one."""
    if c.num_speculative_tokens <= 0 or c.draft_kind not in DRAFT_MODEL_KINDS \
            or c.draft_model is None:
        return None
    return ServingPerf(ServingConfig(
        c.draft_model, c.hw, tp=draft_tp(c.draft_model, c.tp),
        weights_dtype="bf16" if c.weights_dtype == "int4" else c.weights_dtype,
        kv_cache_dtype=c.kv_cache_dtype, max_num_batched_tokens=c.max_num_batched_tokens,
        max_num_seqs=c.max_num_seqs, engine=c.engine), cal)


def prepare_serving(config: ServingConfig,
                    calibration: ServingCalibration | None = None) -> ServingPerf:
    """Validate ``config`` and precompute its constants (raises :class:`InputError`)."""
    return ServingPerf(config, calibration or default_serving_calibration())


__all__ = [
    "KV_BYTES", "KV_DTYPES", "WEIGHT_BYTES", "WEIGHT_DTYPES", "ServingConfig", "ServingPerf",
    "check_config", "local_attention", "prepare_serving", "step_components",
]
