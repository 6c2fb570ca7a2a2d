"""Speculative decoding of one serving replica: the proposers, what they need, what a
verification step emits and what proposing ``k`` tokens per sequence costs.

A speculative step proposes ``k`` tokens for each decode sequence (:meth:`Speculation.draft_time_s`)
and verifies ``k+1`` in one forward of the target
(:meth:`gputwin.perf.serving.ServingPerf.spec_step_time_s`), emitting
:func:`expected_accepted_tokens` per sequence on average. This module knows the proposers;
the target's forward stays in :mod:`gputwin.perf.serving`, which builds a
:class:`Speculation` for every replica (its ``speculation``) and never the other way round.
See docs/serving-model.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from gputwin.catalog.schema import ModelSpec
from gputwin.perf.serving_shapes import ReplicaShape

if TYPE_CHECKING:
    from gputwin.perf.serving import ServingConfig

#: A proposer's name: the one list of them, from which :data:`DRAFT_KINDS`, the scenario's
#: ``speculative.kind`` and the CLI's ``--draft-kind`` / ``--spec-kind`` choices derive.
#: ``draft_model``: a separate draft forward per proposal, each launched from the host (vLLM
#: v0.6 spec_decode); ``fused_draft``: the draft model compiled into the target's graph, the
#: k proposals and the verification one device launch (AWS NxD Inference "fused
#: speculation"); ``eagle``: one extra decoder layer; ``ngram``: prompt lookup on the host.
DraftKind = Literal["draft_model", "fused_draft", "eagle", "ngram"]
#: The proposers' names, in :data:`DraftKind`'s order.
DRAFT_KINDS: tuple[DraftKind, ...] = get_args(DraftKind)
#: Kinds that run a separate draft model (``--draft-model``).
DRAFT_MODEL_KINDS: tuple[DraftKind, ...] = ("draft_model", "fused_draft")
#: Kinds that propose without one.
SELF_DRAFT_KINDS: tuple[DraftKind, ...] = tuple(
    k for k in DRAFT_KINDS if k not in DRAFT_MODEL_KINDS)
#: The proposer of a scenario's ``speculative:`` and of ``simulate serve --spec-tokens N``
#: when none is named (``estimate serve`` takes draft_model with ``--draft-model``).
DEFAULT_DRAFT_KIND: DraftKind = "eagle"


def expected_accepted_tokens(alpha: float, k: int) -> float:
    """Tokens emitted per verification step: ``(1 − α^{k+1})/(1 − α)`` (k+1 when α = 1)."""
    if k <= 0:
        return 1.0
    if alpha >= 1.0:
        return float(k + 1)
    return (1.0 - alpha ** (k + 1)) / (1.0 - alpha)


def draft_model_problem(kind: str, draft_model: str | None,
                        name: str = "--draft-model") -> str | None:
    """Why speculation of ``kind`` cannot run with ``draft_model`` (``None``: it can): the
    draft_model and fused_draft proposers need one, the others run without. ``name``: how
    the input that gives the draft model is called (the flag, or a scenario's key)."""
    if kind in DRAFT_MODEL_KINDS and draft_model is None:
        return f"{name} is required for {kind} speculative decoding"
    if kind not in DRAFT_MODEL_KINDS and draft_model is not None:
        return (f"{name} {draft_model} is used only by the "
                f"{' and '.join(DRAFT_MODEL_KINDS)} proposers; {kind} proposes without one")
    return None


def speculation_problem(num_tokens: int, kind: str | None, draft_model: str | None,
                        acceptance_rate: float) -> str | None:
    """Why a replica cannot speculate ``num_tokens`` tokens with the ``kind`` proposer,
    ``draft_model`` and ``acceptance_rate`` (``None``: it can), naming the CLI option."""
    if num_tokens < 0:
        return f"--spec-tokens must be >= 0, got {num_tokens}"
    if num_tokens > 0:
        if kind not in DRAFT_KINDS:
            return (f"speculative decoding needs a draft kind ({', '.join(DRAFT_KINDS)}),"
                    f" got {kind!r}")
        problem = draft_model_problem(kind, draft_model)
        if problem:
            return problem
    if not 0.0 <= acceptance_rate <= 1.0:
        return f"--acceptance must be in [0, 1], got {acceptance_rate}"
    return None


def draft_tp(draft: ModelSpec, tp: int) -> int:
    """Largest TP ≤ the target's that the draft's heads allow (vLLM default: same TP)."""
    t = tp
    while t > 1 and (draft.num_attention_heads % t or (draft.kv_heads % t and t % draft.kv_heads)):
        t //= 2
    return max(1, t)


@dataclass(frozen=True, slots=True)
class EagleHead:
    """EAGLE's proposer: one decoder layer of the target's width (its first layer group)
    and the target's LM head, run at the target's rates for every proposed token."""

    shape: ReplicaShape  # the target's
    gemm_rate_flop_per_s: float
    gemm_half_tokens: float  # rows at which a GEMM reaches half its rate
    attn_rate_flop_per_s: float
    bw_bytes_per_s: float
    layer_overhead_s: float

    def proposal_s(self, num_decode_seqs: int, decode_context_tokens_sum: float) -> float:
        """Device seconds of one proposed token for each of ``num_decode_seqs`` sequences
        holding ``decode_context_tokens_sum`` tokens in all (``num_decode_seqs`` > 0)."""
        n, ctx, bw = num_decode_seqs, decode_context_tokens_sum, self.bw_bytes_per_s
        g = self.shape.groups[0]
        s = self.shape
        rate = self.gemm_rate_flop_per_s * n / (n + self.gemm_half_tokens)
        return (max(g.dense_flop_per_token * n / rate, g.dense_weight_bytes / bw)
                + max(ctx * g.decode_attn_flop_per_pair / self.attn_rate_flop_per_s,
                      ctx * g.kv_bytes_per_token / bw)
                + self.layer_overhead_s
                + max(n * s.lm_head_flop_per_token / rate, s.lm_head_weight_bytes / bw))


class Speculation:
    """The speculative decoding of one replica: ``num_tokens`` (``k``) proposals per decode
    sequence and step by the ``kind`` proposer, accepted at ``acceptance_rate`` (``k`` = 0:
    no speculation; every method then gives what a plain decode step does).

    ``eagle``: the target's EAGLE head (``kind`` eagle); ``draft_forward_s``: device seconds
    of one decode forward of the separate draft model (draft_model and fused_draft:
    ``ServingPerf.decode_forward_s`` of the draft's); ``step_overhead_s`` and
    ``seq_overhead_s``: the engine's host seconds per launch and per sequence."""

    __slots__ = ("_dp", "_draft_forward_s", "_eagle", "_seq_oh", "_step_oh", "acceptance_rate",
                 "kind", "num_tokens")

    def __init__(self, config: ServingConfig, step_overhead_s: float, seq_overhead_s: float,
                 eagle: EagleHead | None = None,
                 draft_forward_s: Callable[[int, float], float] | None = None) -> None:
        self.num_tokens = config.num_speculative_tokens
        self.kind = config.draft_kind
        self.acceptance_rate = config.acceptance_rate
        self._dp = config.dp_attention
        self._step_oh, self._seq_oh = step_overhead_s, seq_overhead_s
        self._eagle = eagle
        self._draft_forward_s = draft_forward_s

    def expected_tokens_per_step(self, acceptance_rate: float | None = None) -> float:
        """Tokens a sequence emits per (verification) step; 1 without speculation."""
        a = self.acceptance_rate if acceptance_rate is None else acceptance_rate
        return expected_accepted_tokens(a, self.num_tokens)

    def draft_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float) -> float:
        """Seconds to propose ``k`` tokens for each decode sequence (device time, and the
        host's where the proposer runs there or launches each proposal from it)."""
        k, n = self.num_tokens, num_decode_seqs
        if k <= 0 or n <= 0:
            return 0.0
        kind = self.kind
        if kind == "ngram":
            return k * -(-n // self._dp) * self._seq_oh  # prompt lookup on the host
        if kind == "eagle":
            assert self._eagle is not None
            return k * self._eagle.proposal_s(n, decode_context_tokens_sum)
        assert self._draft_forward_s is not None
        # draft_model: each proposal is a separate forward of the draft model with its own
        # host launch (vLLM v0.6 spec_decode runs the proposer's k passes through its model
        # runner); fused_draft: the passes run inside the target's compiled graph, no host
        # time of their own (the step's host overhead is paid once, in spec_step_time_s)
        launch_s = 0.0 if kind == "fused_draft" else self._step_oh
        return k * (self._draft_forward_s(n, decode_context_tokens_sum) + launch_s)


__all__ = [
    "DEFAULT_DRAFT_KIND", "DRAFT_KINDS", "DRAFT_MODEL_KINDS", "SELF_DRAFT_KINDS", "DraftKind",
    "EagleHead", "Speculation", "draft_model_problem", "draft_tp", "expected_accepted_tokens",
    "speculation_problem",
]
