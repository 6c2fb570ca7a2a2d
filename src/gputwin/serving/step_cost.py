"""Pricing engine steps with the step model (what the step runner asks of it).

:class:`StepPricer` turns a planned step (prefill chunks + decoders) into seconds through
:class:`StepModel` (``perf.serving.ServingPerf``), with speculative decoding folded in,
and keeps the per-batch-size caches of the decode-skip shortcuts (verified cost lines,
stretch slopes; see :mod:`gputwin.serving.decode_skip`).
"""

from __future__ import annotations

from gputwin.perf.engines import StepModel
from gputwin.serving.config import EngineConfig
from gputwin.serving.decode_skip import CostLine, decode_line, stretch_costs
from gputwin.serving.request import ReqState


class StepPricer:
    """Seconds of one step or of a decode-only stretch on one replica."""

    __slots__ = ("_max_model_len", "_model", "_prefill_alone", "_spec", "_tps", "lines",
                 "slopes")

    def __init__(self, model: StepModel, cfg: EngineConfig) -> None:
        self._model = model
        self._spec = cfg.num_speculative_tokens > 0
        self._tps = cfg.tokens_per_step
        self._max_model_len = cfg.max_model_len
        #: batch size -> verified decode cost line, or None when not linear (cached)
        self.lines: dict[int, CostLine | None] = {}
        #: batch size -> step-time increase per step (per-stretch fallback)
        self.slopes: dict[int, float] = {}
        #: (prefill tokens, Σ past, attention pairs) -> seconds of a step without decoders
        #: (the step model is a pure function of its inputs; bounded by distinct chunks)
        self._prefill_alone: dict[tuple[int, float, float], float] = {}

    def decode(self, n_dec: int, ctx: float) -> float:
        """A decode-only step of ``n_dec`` sequences with ``ctx`` context tokens in all."""
        if self._spec:
            return self._model.spec_step_time_s(n_dec, ctx) / self._tps
        return self._model.step_time_s(0, 0.0, 0.0, n_dec, ctx)

    def line(self, n_dec: int) -> CostLine | None:
        """The verified decode cost line of ``n_dec`` sequences (three calls, cached)."""
        lines = self.lines
        if n_dec in lines:
            return lines[n_dec]
        line = lines[n_dec] = decode_line(self.decode, n_dec, self._max_model_len,
                                          self._model.decode_kink(n_dec))
        return line

    def stretch(self, n_dec: int, n: int, ctx: float) -> tuple[int, float, float]:
        """``(n, a, b)`` of a stretch priced by the model (no verified line)."""
        return stretch_costs(self.decode, n_dec, n, ctx, self.slopes,
                             self._model.decode_kink(n_dec))

    def plan_stretch(self, n_dec: int, n: int, ctx: float) -> tuple[int, float, float]:
        """``(n, a, b)`` of a decode-only stretch of up to ``n`` steps from context ``ctx``:
        on the verified cost line when there is one (no model call), else priced by the
        model (which may shorten ``n``; a single step has ``b = 0``)."""
        lines = self.lines
        line = lines[n_dec] if n_dec in lines else self.line(n_dec)
        if line is not None:
            return n, line[1] + line[2] * (ctx - line[0]), line[2] * n_dec
        if n > 1:
            return self.stretch(n_dec, n, ctx)
        return n, self.decode(n_dec, ctx), 0.0

    def step(self, chunks: list[tuple[ReqState, int]], n_dec: int, ctx: float) -> float:
        """A step computing ``chunks`` (prefill) and one token for each of ``n_dec``."""
        if not chunks:
            return self.decode(n_dec, ctx)
        p_tokens = 0
        p_ctx = 0.0
        pairs = 0.0
        for req, chunk in chunks:
            p_tokens += chunk
            past = req.computed
            p_ctx += past
            pairs += chunk * (past + chunk / 2.0)
        if not self._spec:
            if n_dec:
                return self._model.step_time_s(p_tokens, p_ctx, pairs, n_dec, ctx)
            key = (p_tokens, p_ctx, pairs)
            t = self._prefill_alone.get(key)
            if t is None:
                t = self._prefill_alone[key] = self._model.step_time_s(
                    p_tokens, p_ctx, pairs, 0, ctx)
            return t
        full = self._model.spec_step_time_s(n_dec, ctx, p_tokens, p_ctx, pairs)
        if n_dec == 0:
            return full
        # decoders emit tokens_per_step per real step: only 1/tps of their share counts
        return full - self._model.spec_step_time_s(n_dec, ctx) * (1.0 - 1.0 / self._tps)
