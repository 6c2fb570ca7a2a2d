"""The training-layout planner: an exact search over the layouts real frameworks support.

Given a model, hardware, GPU count(s), a global batch and a sequence length, every layout
of Megatron-Core / NeMo / torchtitan knobs — TP (inside the scale-up domain), CP, PP,
interleaving, EP (MoE), micro-batch size, recomputation, ZeRO stage / FSDP, sequence
parallelism, dtype — is checked by the one split rule (``perf.split``), the batch rule
and the memory model, and the survivors are ranked by the training model.

The search is exact: it prunes only what cannot win.
- Memory first: a layout that does not fit is never timed.
- Dominance: for the same split and micro-batch, a rung of the recomputation ladder
  (:func:`recompute_ladder`: none, the cheap selective modules, full) is never slower than
  the next; ZeRO 1 never slower than 2, nor 2 than 3 (more sharding only adds
  communication). Of the (ZeRO, recompute) pairs that fit,
  only those no other fitting pair beats on both are timed (at most three); the rest are
  counted as ``dominated``. Sequence parallelism is always on
  with TP > 1 (less memory, never slower). Plain DDP (ZeRO 0) holds more and is no faster
  than the distributed optimizer, so it is not tried.
A test checks the pruned search against the full enumeration.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from gputwin.catalog.schema import ModelSpec
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.calibration import default_calibration
from gputwin.perf.memory import PlanMemory, plan_memory
from gputwin.perf.split import Split, split_problem
from gputwin.perf.training import (
    ParallelConfig,
    TrainingConfig,
    TrainingEstimate,
    a2a_overlap_problem,
    dualpipe_problem,
    estimate_training,
    make_plan,
    step_lower_bound_s,
)
from gputwin.requests import EpDispatcher, PipelineSchedule
from gputwin.topology.hardware import HardwareSpec

Objective = Literal["throughput", "time", "cost", "energy"]
OBJECTIVES: tuple[str, ...] = ("throughput", "time", "cost", "energy")
#: A rung of the recomputation ladder: ``(recompute, recompute_modules)``.
Rung = tuple[str, tuple[str, ...] | None]
ZERO_ORDER = (1, 2, 3)
MICRO_BATCHES = (1, 2, 4, 8)
INTERLEAVES = (1, 2, 3, 4, 6, 8)
CP_SIZES = (1, 2, 4, 8, 16, 32)
DEFAULT_TOKENS_PER_STEP = 4e6  # a ~4M-token global batch when none is given
ANY_DTYPES = ("bf16", "fp8")  # what dtype "any" tries, where the part supports it


def search_dtypes(dtypes: Iterable[str], hw: HardwareSpec) -> tuple[str, ...]:
    """The dtypes to search, ``"any"`` replaced by those of :data:`ANY_DTYPES` that ``hw``'s
    accelerator has a FLOP rate for (bf16 and fp8 on an H100, bf16 alone on an A100; all
    of them where it has none, so the search names the missing one). A dtype named on its
    own is kept, and refused by :func:`search_layouts` where unsupported."""
    supported = (tuple(d for d in ANY_DTYPES if d in hw.accelerator.peak_flop_per_s)
                 or ANY_DTYPES)
    out: list[str] = []
    for dtype in dtypes:
        out += supported if dtype == "any" else [dtype]
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class TrainSearch:
    """What to search. Exactly one of ``global_batch_size`` (sequences) and
    ``global_batch_tokens`` may be set; neither means ~4M tokens per step."""

    model: ModelSpec
    hw: HardwareSpec
    num_gpus: tuple[int, ...]
    seq_len: int
    global_batch_size: int | None = None
    global_batch_tokens: float | None = None
    dtypes: tuple[str, ...] = ("bf16",)
    max_tp: int | None = None  # default: the scale-up domain (and the GPU count)
    allow_offload: bool = False
    objective: Objective = "throughput"
    tokens: float | None = None  # training tokens (time to train, energy, cost)
    usd_per_gpu_hour: float | None = None  # needed for the ``cost`` objective
    keep: int = 5  # the best this many are exact; layouts bounded out of them are not timed
    ep_dispatcher: EpDispatcher = "alltoall"  # the MoE dispatcher of every EP layout
    ep_dispatch_fp8: bool = False
    moe_a2a_overlap: bool = False  # used by the layouts that allow it (a2a_overlap_problem)
    try_dualpipe: bool = False  # also time DualPipe where it runs (even pp, interleave 1)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One layout that fits, with its estimate."""

    num_gpus: int
    parallel: ParallelConfig
    config: TrainingConfig
    estimate: TrainingEstimate
    score: float  # lower is better, in the objective's unit (s, s, USD, J)

    def layout(self) -> dict[str, object]:
        p, c = self.parallel, self.config
        return {"tp": p.tp, "pp": p.pp, "cp": p.cp, "ep": p.ep, "dp": self.estimate.dp,
                "interleave": p.interleave, "micro_batch_size": c.micro_batch_size,
                "recompute": c.recompute, "recompute_modules": (
                    list(c.recompute_modules) if c.recompute_modules is not None else None),
                "zero_stage": p.zero_stage,
                "sequence_parallel": p.sequence_parallel, "dtype": c.dtype,
                "offload_optimizer": p.offload_optimizer, "ep_dispatcher": p.ep_dispatcher,
                "ep_dispatch_fp8": p.ep_dispatch_fp8, "moe_a2a_overlap": p.moe_a2a_overlap,
                "pipeline_schedule": p.pipeline_schedule,
                "offload_activation_layers": p.offload_activation_layers}


@dataclass(slots=True)
class SearchResult:
    """Ranked candidates (best first) and why the other layouts were not kept."""

    candidates: list[Candidate]
    rejected: Counter[str] = field(default_factory=Counter)
    num_layouts: int = 0
    closest_misfit_bytes: float | None = None  # smallest memory over capacity seen

    @property
    def best(self) -> Candidate:
        return self.candidates[0]


def _divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def _splits(search: TrainSearch, num_gpus: int) -> Iterator[Split]:
    m, hw = search.model, search.hw
    max_tp = min(search.max_tp or hw.scale_up_domain_size, num_gpus)
    for tp in _divisors(num_gpus, max_tp):
        for cp in (c for c in CP_SIZES if num_gpus % (tp * c) == 0):
            rest = num_gpus // (tp * cp)
            for pp in _divisors(rest, m.num_layers):
                experts = _divisors(m.num_experts, rest // pp * cp) if m.is_moe else [1]
                for v in (i for i in INTERLEAVES if pp * i <= m.num_layers
                          and (i == 1 or pp > 1)):
                    for ep in experts:
                        yield Split(tp=tp, pp=pp, cp=cp, ep=ep, interleave=v)


def _batch_for(search: TrainSearch, dp: int, mbs: int) -> int | None:
    """Sequences per step for this data-parallel width, or None if it cannot be split."""
    unit = dp * mbs
    if search.global_batch_size is not None:
        return search.global_batch_size if search.global_batch_size % unit == 0 else None
    tokens = search.global_batch_tokens or DEFAULT_TOKENS_PER_STEP
    n = round(tokens / search.seq_len / unit)
    return unit * n if n >= 1 else None


def _score_of(search: TrainSearch, tokens_per_s: float, num_gpus: int,
              gpu_power_w: float) -> float:
    """The objective (lower is better) of a layout running at ``tokens_per_s``."""
    tokens = search.tokens or 1e12
    train_s = tokens / tokens_per_s
    if search.objective == "throughput":
        return -tokens_per_s
    if search.objective == "time":
        return train_s
    if search.objective == "cost":
        assert search.usd_per_gpu_hour is not None
        return train_s / 3600.0 * num_gpus * search.usd_per_gpu_hour
    return train_s * gpu_power_w * num_gpus


def recompute_ladder(model: ModelSpec) -> tuple[Rung, ...]:
    """The recomputation the planner tries, least first: each rung frees at least what the
    one before frees and re-runs at least as much, so the first that fits is the fastest of
    those that fit. Between none and full, the selective modules measured to free memory
    cheaply (perf/activations.py): a MoE model's expert activation (elementwise), then an
    MLA model's up-projections too (small GEMMs). Selective recomputation of the attention
    core alone is no rung: with flash attention it frees nothing ``none`` keeps."""
    cheap: tuple[str, ...] = ("moe_act",) if model.is_moe else ()
    rungs: list[Rung] = [("none", None)]
    if cheap:
        rungs.append(("selective", cheap))
    if model.attention_kind == "mla":
        rungs.append(("selective", (*cheap, "mla_up_proj")))
    rungs.append(("full", None))
    return tuple(rungs)


def _score(search: TrainSearch, est: TrainingEstimate) -> float:
    return _score_of(search, est.tokens_per_s, est.num_gpus, est.extra.get("gpu_power_w", 0.0))


class _Searcher:
    """One search: walks the layouts, keeps those that fit, counts the rest by reason."""

    def __init__(self, search: TrainSearch) -> None:
        self.s = search
        self.c = default_calibration()
        self.capacity = search.hw.accelerator.usable_memory
        self.ladder = recompute_ladder(search.model)
        self.result = SearchResult(candidates=[])
        self._best: list[float] = []  # the ``keep`` best scores so far, as a max-heap (negated)

    def _reject(self, reason: str, n: int = 1) -> None:
        self.result.rejected[reason] += n

    def _fits(self, num_gpus: int, dp: int, p: ParallelConfig,
              cfg: TrainingConfig) -> PlanMemory | None:
        plan = make_plan(self.s.model, num_gpus, dp, p, cfg)
        mem = plan_memory(plan, self.c)
        over = mem.peak.total_bytes - self.capacity
        if over <= 0:
            return mem
        best = self.result.closest_misfit_bytes
        self.result.closest_misfit_bytes = over if best is None else min(best, over)
        return None

    def _layout(self, split: Split, mbs: int, gbs: int, dtype: str, offload: bool,
                rung: Rung, zero: int, dp: int,
                schedule: PipelineSchedule) -> tuple[ParallelConfig, TrainingConfig]:
        s = self.s
        recompute, modules = rung
        p = ParallelConfig(split.tp, split.pp, split.cp, split.ep, split.interleave,
                           sequence_parallel=split.tp > 1, zero_stage=zero,
                           offload_optimizer=offload, ep_dispatcher=s.ep_dispatcher,
                           ep_dispatch_fp8=s.ep_dispatch_fp8, pipeline_schedule=schedule)
        if (s.moe_a2a_overlap and s.model.is_moe and split.ep > 1
                and a2a_overlap_problem(p, recompute, gbs // (mbs * dp)) is None):
            p = replace(p, moe_a2a_overlap=True)
        cfg = TrainingConfig(global_batch_size=gbs, micro_batch_size=mbs,
                             seq_len=self.s.seq_len, dtype=dtype,  # type: ignore[arg-type]
                             recompute=recompute,  # type: ignore[arg-type]
                             recompute_modules=modules)  # type: ignore[arg-type]
        return p, cfg

    def _pareto_fits(self, num_gpus: int, dp: int, split: Split, mbs: int, gbs: int,
                     dtype: str, offload: bool, schedule: PipelineSchedule = "1f1b"
                     ) -> list[tuple[ParallelConfig, TrainingConfig, PlanMemory]]:
        """The (ZeRO, recompute) pairs that fit and that no other fitting pair beats.

        For one ZeRO stage the least recomputation that fits is the fastest; a higher stage
        is kept only when it lets less recomputation fit (more sharding costs
        communication, more recomputation costs compute: neither order dominates). The
        rest are counted as ``dominated`` or ``memory``."""
        kept: list[tuple[ParallelConfig, TrainingConfig, PlanMemory]] = []
        ladder = self.ladder
        least = len(ladder)  # index of the least recomputation kept so far
        for zero in ZERO_ORDER:
            self._reject("dominated", len(ladder) - least)  # beaten at lower ZeRO
            for level, rung in enumerate(ladder[:least]):
                p, cfg = self._layout(split, mbs, gbs, dtype, offload, rung, zero, dp,
                                      schedule)
                mem = self._fits(num_gpus, dp, p, cfg)
                if mem is None:
                    self._reject("memory")
                    if level == 0 and self.s.allow_offload and not offload and (
                            split.pp == 1):
                        kept.extend(self._offloading_fit(num_gpus, dp, p, cfg))
                    continue
                kept.append((p, cfg, mem))
                self._reject("dominated", least - level - 1)  # more recomputation, same ZeRO
                least = level
                break
        return kept

    def _offloading_fit(self, num_gpus: int, dp: int, p: ParallelConfig, cfg: TrainingConfig
                        ) -> list[tuple[ParallelConfig, TrainingConfig, PlanMemory]]:
        """A layout without recomputation that fits once the fewest layers' activations go
        to the host (Megatron-Core ``cpu_offloading_num_layers``; with ``--allow-offload``,
        pp 1), or nothing when even ``layers - 1`` of them leave it over. Memory falls with
        every offloaded layer, so the fewest is found by bisection."""
        lo, hi = 2, self.s.model.num_layers - 1  # one offloaded layer is in flight at the peak
        if lo > hi or self._fits(num_gpus, dp, replace(p, offload_activation_layers=hi),
                                 cfg) is None:
            return []
        while lo < hi:
            mid = (lo + hi) // 2
            if self._fits(num_gpus, dp, replace(p, offload_activation_layers=mid), cfg):
                hi = mid
            else:
                lo = mid + 1
        fit = replace(p, offload_activation_layers=hi)
        mem = self._fits(num_gpus, dp, fit, cfg)
        return [] if mem is None else [(fit, cfg, mem)]

    def _bounded_out(self, num_gpus: int, p: ParallelConfig, cfg: TrainingConfig) -> bool:
        """True when even the compute-only bound cannot enter the ``keep`` best (branch and
        bound; the energy objective is not bounded: its power depends on the whole step)."""
        s = self.s
        if s.objective == "energy" or len(self._best) < s.keep:
            return False
        bound_s = step_lower_bound_s(s.model, s.hw, num_gpus, p, cfg)
        best_tokens_per_s = cfg.global_batch_size * cfg.seq_len / bound_s
        return _score_of(s, best_tokens_per_s, num_gpus, 0.0) >= -self._best[0]

    def _evaluate(self, num_gpus: int, p: ParallelConfig, cfg: TrainingConfig,
                  mem: PlanMemory) -> None:
        if self._bounded_out(num_gpus, p, cfg):
            self._reject("bounded")
            return
        try:
            est = estimate_training(self.s.model, self.s.hw, num_gpus, p, cfg,
                                    tokens=self.s.tokens, check_memory=False, memory=mem)
        except InputError as exc:  # a rule only the full model knows (dtype, ...)
            self._reject(f"invalid: {exc.detail}")
            return
        score = _score(self.s, est)
        self.result.candidates.append(Candidate(num_gpus, p, cfg, est, score))
        heapq.heappush(self._best, -score)
        if len(self._best) > self.s.keep:
            heapq.heappop(self._best)

    def _schedules(self, split: Split, microbatches: int) -> tuple[PipelineSchedule, ...]:
        """1F1B, and DualPipe too when asked and the layout can run it (an even ``pp``, no
        virtual stages, an even number of micro-batches; ``perf.training_layout``)."""
        if not self.s.try_dualpipe or dualpipe_problem(split.pp, split.interleave, 2):
            return ("1f1b",)  # the stages cannot pair up
        if dualpipe_problem(split.pp, split.interleave, microbatches):
            self._reject("dualpipe (odd micro-batches)")
            return ("1f1b",)
        return ("1f1b", "dualpipe")

    def run(self) -> SearchResult:
        s = self.s
        offloads = (False, True) if s.allow_offload else (False,)
        for num_gpus in s.num_gpus:
            for split in _splits(s, num_gpus):
                self.result.num_layouts += 1
                problem = split_problem(s.model, split, seq_len=s.seq_len, num_gpus=num_gpus)
                if problem is not None:
                    self._reject(f"split ({problem.param})")
                    continue
                dp = num_gpus // (split.tp * split.pp * split.cp)
                for mbs in MICRO_BATCHES:
                    gbs = _batch_for(s, dp, mbs)
                    if gbs is None:
                        self._reject("batch")
                        continue
                    for schedule in self._schedules(split, gbs // (dp * mbs)):
                        for dtype in s.dtypes:
                            for offload in offloads:
                                for found in self._pareto_fits(num_gpus, dp, split, mbs, gbs,
                                                               dtype, offload, schedule):
                                    self._evaluate(num_gpus, *found)
        self.result.candidates.sort(key=lambda c: (c.score, c.estimate.memory_per_gpu_bytes))
        return self.result


def search_layouts(search: TrainSearch) -> SearchResult:
    """Every feasible layout, best first. Raises :class:`DoesNotFitError` when none fits
    (with the smallest shortfall seen) and :class:`InputError` for a bad search."""
    if search.objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}, "
                         f"got {search.objective!r}")
    if search.objective == "cost" and search.usd_per_gpu_hour is None:
        raise InputError("the cost objective needs a price per GPU-hour")
    for dtype in search.dtypes:
        if dtype not in search.hw.accelerator.peak_flop_per_s:
            raise InputError(f"dtype {dtype} is not supported by {search.hw.accelerator.name}")
    result = _Searcher(search).run()
    if not result.candidates:
        raise DoesNotFitError(_nothing_fits(search, result))
    return result


def _nothing_fits(search: TrainSearch, result: SearchResult) -> str:
    gpus = ", ".join(str(n) for n in search.num_gpus)
    reasons = ", ".join(f"{k} {v}" for k, v in result.rejected.most_common())
    short = result.closest_misfit_bytes
    gap = "" if short is None else (
        f"; the closest layout needs {short / 2**30:.1f} GiB more per GPU")
    return (f"no layout of {search.model.name} on {gpus} x {search.hw.accelerator.name} fits "
            f"({result.num_layouts} splits; refused: {reasons}){gap}; use more GPUs, a "
            "shorter sequence or a smaller batch per step")


def num_gpus_choices(text: str) -> tuple[int, ...]:
    """``"16384"``, ``"1024,2048"`` or ``"1024:16384"`` (doubling) → GPU counts."""
    try:
        if ":" in text:
            lo_s, hi_s = text.split(":", 1)
            lo, hi = int(lo_s), int(hi_s)
            if lo < 1 or hi < lo:
                raise ValueError
            counts = [lo * 2**k for k in range(int(math.log2(hi / lo)) + 1)]
        else:
            counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"expected a count, a list (1024,2048) or a doubling range "
                         f"(1024:16384), got {text!r}", where="--num-gpus") from None
    if any(n < 1 for n in counts):
        raise InputError(f"GPU counts must be positive, got {text!r}", where="--num-gpus")
    return tuple(dict.fromkeys(counts))
