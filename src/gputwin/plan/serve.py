"""The serving-configuration planner: an analytic search over the step-time model.

Given a model, traffic (a request rate and token lengths) and latency SLOs, every
deployment — accelerator, TP/PP/EP split (experts inside TP, or wide EP over
``tp × dp_attention`` ranks with attention data parallelism; checked by the one split
rule, ``perf.split``),
weight and KV-cache precision, ``max_num_seqs``, replica count, and optionally a
disaggregated prefill:decode split — is put through the serving step-time model
(``perf.serving``, the one the simulator steps) and either pruned, with a reason, or kept
with an analytic estimate and cost. ``run.plan_serve`` then confirms the cheapest by
simulation.

Pruning is by *bounds* the simulator cannot beat, so it never drops a deployment that a
confirming simulation would accept (a test checks this against confirming everything):

- ``memory``: the weights (and one sequence's KV cache) do not fit.
- ``ttft``: one prompt alone on an idle replica (its chunked prefill, plus the KV transfer
  when disaggregated) already takes longer than the TTFT SLO. The SLO percentile of TTFT is
  at least the prefill of the prompt length at that percentile.
- ``tpot``: one sequence alone decoding (batch 1, the shortest context) is already slower
  than the TPOT SLO.
- ``capacity``: even at its largest batch the replicas carry less than ``1/margin`` of the
  offered rate (they would queue without bound).
Within what survives, the replica count runs from the capacity bound up to the count the
estimate says meets the SLOs, plus ``replica_slack`` more.

When no replica shape can run at all (none to build, or every one refused by ``memory``,
``split`` or ``invalid``), the search raises :class:`DoesNotFitError`, as ``plan train``
does when no layout fits; shapes that run but miss the SLOs are an empty answer, not an
error.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gputwin.catalog.schema import ModelSpec
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.engines import engine_profile
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.perf.serving_rates import runs_weight_only
from gputwin.perf.serving_shapes import FP4_WEIGHTS
from gputwin.perf.split import Split, split_problem
from gputwin.plan.serve_replica import (
    MAX_NUM_BATCHED_TOKENS,
    ReplicaModel,
    Traffic,
)
from gputwin.topology.hardware import HardwareSpec

TP_SIZES = (1, 2, 4, 8)
PP_SIZES = (1, 2, 4)
DP_ATTENTION_SIZES = (2, 4, 8, 16, 32, 64)
#: a max_num_seqs this many times the estimated batch never binds (Poisson bursts included)
SEQS_HEADROOM = 2.0


@dataclass(frozen=True, slots=True)
class Slo:
    """Latency objectives at one percentile (``None``: not constrained)."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    e2e_s: float | None = None
    percentile: float = 99.0


@dataclass(frozen=True, slots=True)
class ReplicaChoice:
    """One replica's shape and engine limits."""

    gpu: str
    tp: int
    pp: int
    ep: int
    weights: str
    kv_cache: str
    max_num_seqs: int
    engine: str = "vllm"
    dp_attention: int = 1  # wide EP: attention data-parallel groups, ep = tp x dp_attention

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp_attention

    def split_text(self) -> str:
        """``tp4pp1ep1`` (``tp1pp1ep8dp8`` with attention data parallelism)."""
        dp = f"dp{self.dp_attention}" if self.dp_attention > 1 else ""
        return f"tp{self.tp}pp{self.pp}ep{self.ep}{dp}"


@dataclass(frozen=True, slots=True)
class Deployment:
    """Replicas of one shape: ``replicas`` colocated, or ``prefill``:``decode`` pools."""

    replica: ReplicaChoice
    replicas: int = 0
    prefill_replicas: int = 0
    decode_replicas: int = 0

    @property
    def disaggregated(self) -> bool:
        return self.prefill_replicas > 0

    @property
    def num_replicas(self) -> int:
        return self.prefill_replicas + self.decode_replicas if self.disaggregated else (
            self.replicas)

    @property
    def num_gpus(self) -> int:
        return self.num_replicas * self.replica.gpus

    def key(self) -> str:
        """A stable id (same deployment ⇒ same key, across processes and runs)."""
        r = self.replica
        count = (f"p{self.prefill_replicas}d{self.decode_replicas}" if self.disaggregated
                 else f"r{self.replicas}")
        return (f"{r.gpu}/{r.split_text()}/w-{r.weights}/kv-{r.kv_cache}/"
                f"seqs{r.max_num_seqs}/{r.engine}/{count}")


@dataclass(frozen=True, slots=True)
class Analytic:
    """The estimate of one deployment (SI units; cost at full goodput)."""

    ttft_s: float
    tpot_s: float
    e2e_s: float
    batch_per_replica: float
    utilisation_frac: float
    usd_per_s: float
    cost_usd_per_million_tokens: float


@dataclass(frozen=True, slots=True)
class Planned:
    """A deployment that survived the pruning, with its estimate."""

    deployment: Deployment
    analytic: Analytic


@dataclass(frozen=True, slots=True)
class ServeSearch:
    """What to search (resolved names; prices in USD per GPU-second by accelerator)."""

    model: ModelSpec
    hardware: dict[str, HardwareSpec]
    usd_per_gpu_s: dict[str, float]
    traffic: Traffic
    slo: Slo
    weights: tuple[str, ...] = ("bf16", "fp8")
    kv_caches: tuple[str, ...] = ("bf16", "fp8")
    max_num_seqs: tuple[int, ...] = (128, 256, 512)
    engines: tuple[str, ...] = ("vllm",)  # engine profiles (perf/engines.yaml)
    max_tp: int | None = None
    #: the weights were named (``--weights``): each is searched on every part, FP4 weight-only
    #: where the part has no FP4 tensor cores; the default list skips FP4 there
    weights_named: bool = False
    disaggregate: bool = False
    wide_ep: bool = True
    max_replicas: int = 64
    replica_slack: int = 1
    margin: float = 1.5
    prune: bool = True


@dataclass(slots=True)
class SearchResult:
    """Survivors (cheapest estimate first) and why the rest were not kept."""

    candidates: list[Planned]
    rejected: Counter[str] = field(default_factory=Counter)
    num_shapes: int = 0
    #: shapes that fit in memory and pass the split and serving-model rules
    num_runnable: int = 0


def _part_runs(hw: HardwareSpec, weights: str, named: bool) -> bool:
    """By default the planner searches FP4 as W4A4 only, on parts with FP4 tensor cores
    (elsewhere it would run weight-only at the BF16 rate, a format users pick themselves:
    weights ``named`` are searched on every part)."""
    return named or weights not in FP4_WEIGHTS or not runs_weight_only(hw.accelerator,
                                                                        weights)


def _meets(a: Analytic, slo: Slo, factor: float) -> bool:
    """True when the estimate, stretched by ``factor``, is inside every SLO."""
    return all(limit is None or value * factor <= limit for value, limit in (
        (a.ttft_s, slo.ttft_s), (a.tpot_s, slo.tpot_s), (a.e2e_s, slo.e2e_s)))


class _Searcher:
    """One search: walks the replica shapes, prunes by bounds, sizes the pools."""

    def __init__(self, search: ServeSearch) -> None:
        self.s = search
        self.result = SearchResult(candidates=[])
        self._step_caches: dict[ReplicaChoice, dict[tuple[int, int], float]] = {}

    def _reject(self, reason: str, n: int = 1) -> None:
        if n > 0:
            self.result.rejected[reason] += n

    def shapes(self) -> Iterator[ReplicaChoice]:
        s = self.s
        for gpu, hw in s.hardware.items():
            # each engine only on the vendors it runs on (no TensorRT-LLM on an AMD part)
            engines = [e for e in s.engines
                       if engine_profile(e).runs_on_part(hw.accelerator.vendor)]
            tps = [t for t in TP_SIZES if t <= min(s.max_tp or 8, hw.scale_up_domain_size)]
            for tp in tps:
                for pp in (p for p in PP_SIZES if p == 1 or tp == tps[-1]):
                    for ep, dp in self._expert_splits(tp, pp, hw):
                        for w in (w for w in s.weights
                                  if _part_runs(hw, w, s.weights_named)):
                            for kv in s.kv_caches:
                                for seqs in s.max_num_seqs:
                                    for engine in engines:
                                        yield ReplicaChoice(gpu, tp, pp, ep, w, kv, seqs,
                                                            engine, dp_attention=dp)

    def _expert_splits(self, tp: int, pp: int, hw: HardwareSpec) -> list[tuple[int, int]]:
        """(ep, dp_attention): dense 1/1; MoE experts inside TP (ep divides tp), or wide EP
        over ``tp x dp_attention`` ranks inside the scale-up domain (pp 1)."""
        if not self.s.model.is_moe:
            return [(1, 1)]
        out = [(e, 1) for e in TP_SIZES if e <= tp and tp % e == 0]
        if pp == 1 and self.s.wide_ep:
            out += [(tp * d, d) for d in DP_ATTENTION_SIZES
                    if tp * d <= hw.scale_up_domain_size]
        return out

    def _model(self, shape: ReplicaChoice) -> ReplicaModel | None:
        s = self.s
        problem = split_problem(
            s.model, Split(tp=shape.tp, pp=shape.pp, ep=shape.ep,
                           dp_attention=shape.dp_attention), ep_over_dp=False,
            padded_heads=s.hardware[shape.gpu].accelerator.pads_attention_heads)
        if problem is not None:
            self._reject(f"split ({problem.param})")
            return None
        # the replica's limits as the confirming simulation resolves them (TensorRT-LLM's
        # count each attention-DP rank)
        times = engine_profile(shape.engine).limits_multiplier(shape.dp_attention)
        cfg = ServingConfig(s.model, s.hardware[shape.gpu], tp=shape.tp, pp=shape.pp,
                            ep=shape.ep, dp_attention=shape.dp_attention,
                            weights_dtype=shape.weights, kv_cache_dtype=shape.kv_cache,
                            max_num_seqs=shape.max_num_seqs * times,
                            max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS * times,
                            engine=shape.engine)
        steps = self._step_caches.setdefault(replace(shape, max_num_seqs=0), {})
        try:
            model = ReplicaModel(prepare_serving(cfg), s.traffic, steps)
        except InputError as exc:  # a rule only the serving model knows (dtype, ep, ...)
            self._reject(f"invalid: {exc.detail}")
            return None
        if not model.fits():
            self._reject("memory")
            return None
        self.result.num_runnable += 1
        return model

    def _bounds_fail(self, m: ReplicaModel) -> str | None:
        """The SLO a lone request already misses (``None``: none)."""
        t, slo, margin = self.s.traffic, self.s.slo, 1.0
        ttft_lb = m.prefill_s(t.input_tokens_at_pct)
        if slo.ttft_s is not None and ttft_lb > slo.ttft_s * margin:
            return "ttft"
        tpot_lb = m.decode_alone_s()
        if slo.tpot_s is not None and tpot_lb > slo.tpot_s * margin:
            return "tpot"
        e2e_lb = m.prefill_s(t.input_tokens_min) + (t.output_tokens_min - 1) * tpot_lb
        if slo.e2e_s is not None and e2e_lb > slo.e2e_s * margin:
            return "e2e"
        return None

    def _analytic(self, d: Deployment, ttft: float, tpot: float, batch: float,
                  util: float) -> Analytic:
        t = self.s.traffic
        usd_s = d.num_gpus * self.s.usd_per_gpu_s[d.replica.gpu]
        tokens_s = t.rate_per_s * (t.input_tokens + t.output_tokens)
        return Analytic(ttft_s=ttft, tpot_s=tpot,
                        e2e_s=ttft + max(0.0, t.output_tokens - 1) * tpot,
                        batch_per_replica=batch, utilisation_frac=util, usd_per_s=usd_s,
                        cost_usd_per_million_tokens=usd_s / tokens_s * 1e6)

    def _colocated(self, shape: ReplicaChoice, m: ReplicaModel, r: int) -> Analytic | None:
        rate = self.s.traffic.rate_per_s / r
        b = m.operating_batch(rate)
        if b is None:
            return None
        chunks = math.ceil(self.s.traffic.input_tokens / max(1, m.chunk - b))
        return self._analytic(Deployment(shape, replicas=r), chunks * m.mixed_step_s(b),
                              m.step_s(b), b, rate / m.rate_at(m.max_batch))

    def _replica_range(self, capacity_per_replica: float) -> range:
        s = self.s
        if not s.prune:
            return range(1, s.max_replicas + 1)
        lo = math.ceil(s.traffic.rate_per_s / (capacity_per_replica * s.margin))
        return range(max(1, lo), s.max_replicas + 1)

    def _sized(self, shape: ReplicaChoice, m: ReplicaModel) -> Iterator[Planned]:
        """Colocated replicas from the capacity bound to the count the estimate says is
        surely enough (SLOs met with the margin), plus the slack."""
        s = self.s
        cap = m.rate_at(m.max_batch)
        rng = self._replica_range(cap)
        self._reject("capacity", min(rng.start - 1, s.max_replicas))
        enough: int | None = None
        for r in rng:
            if enough is not None and r > enough + s.replica_slack and s.prune:
                self._reject("more replicas than needed", s.max_replicas - r + 1)
                return
            a = self._colocated(shape, m, r)
            if a is not None and s.prune and self._seqs_beyond_need(shape, a):
                self._reject("max_num_seqs above need")
                continue
            if a is None:
                a = self._analytic(Deployment(shape, replicas=r), math.inf, math.inf,
                                   m.max_batch, s.traffic.rate_per_s / r / cap)
            elif enough is None and _meets(a, s.slo, s.margin):
                enough = r
            yield Planned(Deployment(shape, replicas=r), a)

    def _seqs_beyond_need(self, shape: ReplicaChoice, a: Analytic) -> bool:
        """A smaller ``max_num_seqs`` choice already holds twice the estimated batch:
        the engine limit never binds, so this deployment runs like that one."""
        smaller = [x for x in self.s.max_num_seqs if x < shape.max_num_seqs]
        return bool(smaller) and max(smaller) >= SEQS_HEADROOM * a.batch_per_replica

    def _disaggregated(self, shape: ReplicaChoice, m: ReplicaModel) -> Iterator[Planned]:
        """Prefill:decode pools: prefill from its capacity bound to a utilisation of
        ``1/margin`` (plus slack); decode as colocated replicas without prefill chunks."""
        s, t = self.s, self.s.traffic
        rate = t.rate_per_s
        pre = m.prefill_rate()
        dec = m.rate_at(m.max_batch, with_prefill=False)
        # each pool below max_replicas: the other holds at least one replica (a huge
        # replica_slack once made the prefill loop run past every count that can fit)
        if s.prune:
            prefills = range(max(1, math.ceil(rate / (pre * s.margin))),
                             min(math.ceil(rate * s.margin / pre) + s.replica_slack + 1,
                                 s.max_replicas))
            decodes = range(max(1, math.ceil(rate / (dec * s.margin))),
                            min(math.ceil(rate * s.margin / dec) + s.replica_slack + 1,
                                s.max_replicas))
        else:
            prefills = decodes = range(1, s.max_replicas)
        transfer = m.perf.kv_transfer_time_s(int(t.input_tokens))
        for p in prefills:
            rho = rate / (p * pre)
            wait = rho / (2.0 * pre * (1.0 - rho)) if rho < 1.0 else math.inf
            ttft = m.prefill_s(int(t.input_tokens)) + wait + transfer
            for d in decodes:
                if p + d > s.max_replicas:
                    break
                dep = Deployment(shape, prefill_replicas=p, decode_replicas=d)
                b = m.operating_batch(rate / d, with_prefill=False)
                tpot = math.inf if b is None else m.step_s(b, with_prefill=False)
                yield Planned(dep, self._analytic(dep, ttft, tpot, b or m.max_batch,
                                                  max(rho, rate / (d * dec))))

    def run(self) -> SearchResult:
        s = self.s
        for shape in self.shapes():
            self.result.num_shapes += 1
            m = self._model(shape)
            if m is None:
                continue
            reason = self._bounds_fail(m) if s.prune else None
            if reason is not None:
                self._reject(reason)
                continue
            self.result.candidates.extend(self._sized(shape, m))
            if s.disaggregate:
                self.result.candidates.extend(self._disaggregated(shape, m))
        self.result.candidates.sort(key=lambda c: rank_key(c, s.slo))
        return self.result


def rank_key(c: Planned, slo: Slo) -> tuple[bool, float, float, str]:
    """Estimated to meet the SLOs first, then cheapest, then fastest; ties by key."""
    a = c.analytic
    return (not _meets(a, slo, 1.0), a.cost_usd_per_million_tokens, a.e2e_s,
            c.deployment.key())


def search_deployments(search: ServeSearch) -> SearchResult:
    """Every deployment the bounds cannot rule out, in the order to confirm them.

    Raises :class:`InputError` for a bad search (no hardware, a non-positive rate) and
    :class:`DoesNotFitError` when no replica shape can run (with the reasons)."""
    if not search.hardware:
        raise InputError("no accelerator to search (none with a price)", where="--gpu")
    if not search.traffic.rate_per_s > 0:
        raise InputError(f"the request rate must be positive, got {search.traffic.rate_per_s}",
                         where="--rate")
    result = _Searcher(search).run()
    if not result.num_runnable:
        raise DoesNotFitError(_nothing_runs(search, result))
    return result


def _nothing_runs(search: ServeSearch, result: SearchResult) -> str:
    """Why no replica shape could even be built: the refusals, or the engines that run on
    none of the parts."""
    gpus = ", ".join(search.hardware)
    if result.num_shapes:
        reasons = ", ".join(f"{k} {v:,}" for k, v in result.rejected.most_common())
        return (f"no replica shape of {search.model.name} on {gpus} can run "
                f"({result.num_shapes:,} shapes; refused: {reasons}); try more GPUs per "
                "replica (--max-tp), smaller weights (--weights) or another --gpu")
    vendors = ", ".join(sorted({hw.accelerator.vendor for hw in search.hardware.values()}))
    return (f"no replica shape to search: engine(s) {', '.join(search.engines)} run on none "
            f"of {gpus} ({vendors}); pick another --engine or --gpu")


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (lower is better),
    sorted by the first coordinate."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front: list[int] = []
    best = math.inf
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def deployment_label(row: Mapping[str, Any]) -> str:
    """One deployment record in words: ``h100-sxm-80gb tp4 fp8/kv-fp8 vllm seqs256 x3``
    (``... p2:d3`` for prefill:decode pools)."""
    split = Split(tp=row["tp"], pp=row["pp"], ep=row["ep"],
                  dp_attention=row["dp_attention"]).label
    count = (f"p{row['prefill_replicas']}:d{row['decode_replicas']}"
             if row.get("prefill_replicas") else f"x{row['replicas']}")
    return (f"{row['gpu']} {split} {row['weights']}/kv-{row['kv_cache']} {row['engine']} "
            f"seqs{row['max_num_seqs']} {count}")
