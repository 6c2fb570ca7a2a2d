"""Per-request records and the summary metrics of a serving run.

Definitions (per service and for the whole run):

- TTFT = first token − arrival (includes any RAG pre-delay and queueing); TPOT =
  (finish − first token) / (output − 1) for requests with ≥ 2 output tokens; end-to-end
  = finish − arrival. ITL percentiles come from a log-binned histogram of step durations
  weighted by the decode sequences in each step (±0.5 %).
- Rates are over the service's own *active time*: from its first arrival to its last
  completion (the last finish, or the arrival of the last dropped request; the end of the
  run while any of its requests is still in flight). Throughput = finished requests (and
  output/input tokens of finished requests) per active second; ``goodput_active_rps`` =
  finished requests meeting *both* SLOs (TTFT and TPOT, where set) per active second
  (= ``throughput_rps`` x ``slo_attainment_frac``; ``plan serve``'s ``goodput_steady_rps``
  is per second of its steady arrival window instead). A service fed only part of a
  multi-service run is thus not diluted by the others' time. Without any SLO, goodput and
  SLO attainment are ``None`` (not "100 % meet the SLO").
- ``queue_growth_rps``: how fast the waiting queue grows while requests arrive (the
  time-weighted mean waiting in the last quarter of the arrival window minus the first
  quarter, over the three quarters between their midpoints). Above 5 % of the arrival
  rate, with at least 10 requests waiting, the service is overloaded — latency grows
  with the length of the run — and ``warnings`` says so.
- Warm-up requests (a synthetic source's ``warmup_requests``) load the replicas but are
  left out of every per-request metric, count and rate above (``num_requests`` counts
  the measured ones, ``warmup_requests`` the rest): the active time starts at the first
  measured arrival. The ITL histogram is per engine step and still counts the decode
  steps of warm-up requests, and the timeline means (KV use, batch, replicas) cover the
  whole run; so do energy and cost, whose per-token figures divide by the tokens of every
  finished request, warm-up included (``accounted_output_tokens``).
- Energy, carbon, water and cost: per replica life through the power model, the site's
  energy ledger and the price book, as cluster runs (:mod:`gputwin.run.serving_energy`);
  per output token of finished requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

from gputwin.run.serving_results import (
    ReplicaRecord,
    RequestRecord,
    RequestStatus,
    RequestTable,
    ServiceTimelineData,
)
from gputwin.serving.fleet import FleetOutcome, ServiceTimeline
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.request import DROPPED, FINISHED, ReqState


@dataclass(frozen=True, slots=True)
class ServiceMeta:
    """Per-service facts the summary needs besides the simulation outcome."""

    name: str
    model: str
    gpu: str
    gpus_per_replica: int
    slo_ttft_s: float | None
    slo_tpot_s: float | None
    num_kv_blocks: int
    block_size: int
    prefill_gpus_per_replica: int | None = None  # a prefill pool with its own layout
    #: prompts longer than this start only on an idle rank (``EngineConfig``'s property)
    idle_rank_prompt_tokens: int | None = None
    #: seconds the engine's API server adds to every answer (``EngineConfig``): the
    #: client sees the first and last tokens this much after the engine made them
    frontend_latency_s: float = 0.0


def replica_shape_text(summary: dict[str, Any]) -> str:
    """``"4 x h100-sxm-80gb per replica"``, or with a prefill pool of its own layout
    ``"8 x h200 per prefill and 16 per decode replica"`` (CLI table and HTML report)."""
    gpu, n = summary["gpu"], summary["gpus_per_replica"]
    pre = summary.get("prefill_gpus_per_replica")
    if pre:
        return f"{pre} x {gpu} per prefill and {n} per decode replica"
    return f"{n} x {gpu} per replica"

def _meets(ttft: float | None, tpot: float | None, meta: ServiceMeta) -> bool:
    if ttft is None:
        return False
    if meta.slo_ttft_s is not None and ttft > meta.slo_ttft_s:
        return False
    return not (meta.slo_tpot_s is not None and tpot is not None and tpot > meta.slo_tpot_s)


def request_record(st: ReqState, meta: ServiceMeta) -> RequestRecord:
    spec = st.spec
    arrival = spec.arrival_time_s
    status: RequestStatus
    if st.status == FINISHED:
        status = "finished"
    elif st.status == DROPPED:
        status = "dropped"
    else:
        status = "in_flight"
    first, fin = st.first_token_s, (st.finish_s if st.status == FINISHED else None)
    if meta.frontend_latency_s:  # as the client sees them
        first = None if first is None else first + meta.frontend_latency_s
        fin = None if fin is None else fin + meta.frontend_latency_s
    ttft = None if first is None else first - arrival
    tpot = None
    if fin is not None and first is not None and st.output > 1:
        tpot = (fin - first) / (st.output - 1)
    e2e = None if fin is None else fin - arrival
    slo = None if status != "finished" else _meets(ttft, tpot, meta)
    reason = st.reason
    if status == "in_flight":
        reason = "waiting" if st.status == 0 and first is None else "running"
    return RequestRecord(
        request_id=spec.request_id, service=spec.service, status=status, reason=reason,
        arrival_s=arrival, prompt_tokens=spec.num_prompt_tokens,
        output_tokens=st.output if status == "finished" else st.generated,
        cached_tokens=st.cached_tokens, first_token_s=first, finish_s=fin, ttft_s=ttft,
        tpot_s=tpot, e2e_s=e2e, num_preemptions=st.num_preemptions, replica=st.replica,
        prefill_replica=st.prefill_replica, truncated=st.truncated, meets_slo=slo,
        warmup=spec.warmup)


def request_table(states: Sequence[ReqState], metas: Mapping[str, ServiceMeta]
                  ) -> RequestTable:
    """The per-request records of a run as columns (same values as :func:`request_record`,
    computed with numpy: one pass per field, no per-request objects)."""
    n = len(states)
    f8, i8 = np.float64, np.int64
    specs = list(map(attrgetter("spec"), states))

    def col(objs: Sequence[Any], name: str, dtype: Any) -> np.ndarray:
        return np.fromiter(map(attrgetter(name), objs), dtype, n)

    arrival = col(specs, "arrival_time_s", f8)
    raw = col(states, "status", np.int8)
    fin_mask = raw == FINISHED
    status = np.where(fin_mask, 0, np.where(raw == DROPPED, 1, 2)).astype(np.int8)
    first = np.array(list(map(attrgetter("first_token_s"), states)), dtype=f8).reshape(n)
    fin = np.array(list(map(attrgetter("finish_s"), states)), dtype=f8).reshape(n)
    fin[~fin_mask] = np.nan
    service = list(map(attrgetter("service"), specs))
    if any(m.frontend_latency_s for m in metas.values()):  # as the clients see them
        shift = np.fromiter((metas[s].frontend_latency_s if s in metas else 0.0
                             for s in service), f8, n)
        first += shift
        fin += shift
    target = col(states, "output", i8)
    output = np.where(fin_mask, target, col(states, "generated", i8))
    ttft = first - arrival
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(fin_mask & (target > 1), (fin - first) / (target - 1), np.nan)
    e2e = fin - arrival
    meets = np.full(n, -1, dtype=np.int8)
    for name, meta in metas.items():
        ok = fin_mask & ~np.isnan(ttft)
        if len(metas) > 1:
            ok &= np.fromiter((s == name for s in service), bool, n)
        good = ok.copy()
        if meta.slo_ttft_s is not None:
            good &= ~(ttft > meta.slo_ttft_s)
        if meta.slo_tpot_s is not None:
            good &= ~(tpot > meta.slo_tpot_s)
        sel = fin_mask if len(metas) == 1 else fin_mask & np.fromiter(
            (s == name for s in service), bool, n)
        meets[sel] = good[sel].astype(np.int8)
    reason = list(map(attrgetter("reason"), states))
    for i in np.flatnonzero(status == 2).tolist():
        st = states[i]
        reason[i] = "waiting" if st.status == 0 and st.first_token_s is None else "running"
    return RequestTable(
        request_id=col(specs, "request_id", i8), service=service,
        status=status, reason=reason, arrival_s=arrival,
        prompt_tokens=col(specs, "num_prompt_tokens", i8),
        output_tokens=output,
        cached_tokens=col(states, "cached_tokens", i8),
        first_token_s=first, finish_s=fin, ttft_s=ttft, tpot_s=tpot, e2e_s=e2e,
        num_preemptions=col(states, "num_preemptions", i8),
        replica=col(states, "replica", i8),
        prefill_replica=col(states, "prefill_replica", i8),
        truncated=col(states, "truncated", bool), meets_slo=meets,
        warmup=col(specs, "warmup", bool))


def _dist(values: list[float] | np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    a = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": float(a.mean()), "p50": float(p50), "p90": float(p90),
            "p99": float(p99), "max": float(a.max())}


def _itl(h: LogHistogram | None) -> dict[str, float | None]:
    if h is None or h.total <= 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    return {"mean": h.mean(), "p50": h.quantile(0.5), "p90": h.quantile(0.9),
            "p99": h.quantile(0.99)}


def _time_mean(t: list[float], v: list[float] | list[int], end: float) -> float | None:
    if not t:
        return None
    tt = np.asarray([*t, max(end, t[-1])], dtype=float)
    w = np.diff(tt)
    if w.sum() <= 0:
        return float(np.mean(v))
    return float(np.dot(np.asarray(v, dtype=float), w) / w.sum())


def timeline_data(tl: ServiceTimeline) -> ServiceTimelineData:
    t = tl.time_s
    rate: list[float] = []
    for i in range(len(t)):
        if i == 0:
            rate.append(0.0)
        else:
            dt = t[i] - t[i - 1]
            rate.append((tl.tokens_out[i] - tl.tokens_out[i - 1]) / dt if dt > 0 else 0.0)
    return ServiceTimelineData(time_s=list(t), replicas=list(tl.replicas),
                               running=list(tl.running), waiting=list(tl.waiting),
                               kv_used_frac=list(tl.kv_used_frac), output_tokens_per_s=rate,
                               batch_per_replica=list(tl.batch_per_replica))


def replica_records(out: FleetOutcome) -> list[ReplicaRecord]:
    recs = []
    for life in out.lives:
        rep = life.replica
        end = life.end_s if life.end_s is not None else out.end_s
        recs.append(ReplicaRecord(
            replica_id=rep.id, service=life.service, role=life.role, gpus=life.gpus,
            start_s=life.start_s, ready_s=life.ready_s, end_s=max(end, life.start_s),
            busy_s=rep.busy_s_at(out.end_s), num_steps=rep.num_steps_at(out.end_s),
            num_preemptions=rep.num_preemptions,
            output_tokens=round(rep.tokens_out_at(out.end_s))))
    return recs


_REASON_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"prompt of \d+ tokens exceeds max_model_len (\d+)"),
     "prompt longer than the context limit (max_model_len {0} tokens)"),
    (re.compile(r"prompt of \d+ tokens exceeds the step's token budget (\d+) "
                r"\(no chunked prefill\)"),
     "prompt longer than one step's token budget ({0} tokens, no chunked prefill)"),
    (re.compile(r"needs \d+ KV blocks for prompt \+ output, the replica has (\d+)"),
     "prompt + output larger than a replica's KV cache ({0} blocks)"),
)


def drop_reason_key(reason: str) -> str:
    """A drop reason without the request's own size, naming the limit it hit (so the
    summary groups all requests dropped for one reason)."""
    for pattern, text in _REASON_PATTERNS:
        if m := pattern.fullmatch(reason):
            return text.format(*m.groups())
    return reason


def request_counts(table: RequestTable) -> dict[str, Any]:
    """A run's request counts for its summary: ``num_requests`` and ``requests_by_status``
    over the measured requests (as each service counts them), ``warmup_requests`` the
    warm-up ones left out."""
    warm = table.warmup
    codes = np.bincount(table.status[~warm], minlength=3).tolist()
    return {"num_requests": int((~warm).sum()), "warmup_requests": int(warm.sum()),
            "requests_by_status": {"finished": codes[0], "dropped": codes[1],
                                   "in_flight": codes[2]}}


def _measured_rows(table: RequestTable, service: str,
                   only_service: bool) -> tuple[np.ndarray, int]:
    """The rows of ``service`` that count in its metrics (its warm-up rows left out),
    and how many warm-up rows it has."""
    n = len(table)
    if only_service:
        mine = np.ones(n, dtype=bool)
    else:
        mine = np.fromiter((s == service for s in table.service), bool, n)
    warmup = table.warmup
    return mine & ~warmup, int((mine & warmup).sum())


def summarize_service(meta: ServiceMeta, table: RequestTable, tl: ServiceTimelineData,
                      itl: LogHistogram | None, *, start_s: float, end_s: float,
                      num_preemptions: int, only_service: bool = False) -> dict[str, Any]:
    """The metrics of one service (see the module docstring for definitions) but energy,
    carbon and cost (``serving_energy.energy_fields``, added by the caller).

    ``only_service``: every row of ``table`` belongs to this service (skips the filter).
    The table's warm-up rows (``table.warmup``) are left out of every per-request metric,
    count and rate."""
    mine, num_warmup = _measured_rows(table, meta.name, only_service)
    fin = mine & (table.status == 0)
    dropped = mine & (table.status == 1)
    kept = mine & ~dropped
    duration = max(1e-12, active_time_s(table, mine, fin, dropped, start_s, end_s))
    out_tokens = int(table.output_tokens[fin].sum())
    in_tokens = int(table.prompt_tokens[fin].sum())
    num_fin = int(fin.sum())
    has_slo = meta.slo_ttft_s is not None or meta.slo_tpot_s is not None
    good = int((fin & (table.meets_slo == 1)).sum())
    prompt_all = int(table.prompt_tokens[kept].sum())
    cached = int(table.cached_tokens[kept].sum())

    def finite(col: np.ndarray) -> np.ndarray:
        v: np.ndarray = col[fin]
        out: np.ndarray = v[~np.isnan(v)]
        return out

    return {
        **_replica_fields(meta),
        "num_requests": int(mine.sum()), "warmup_requests": num_warmup,
        "finished": num_fin, "dropped": int(dropped.sum()),
        "in_flight": int((mine & (table.status == 2)).sum()),
        "dropped_by_reason": _drop_reasons(table, dropped),
        "truncated": int((mine & table.truncated).sum()),
        "ttft_s": _dist(finite(table.ttft_s)),
        "tpot_s": _dist(finite(table.tpot_s)),
        "itl_s": _itl(itl),
        "e2e_s": _dist(finite(table.e2e_s)),
        "slo": {"ttft_s": meta.slo_ttft_s, "tpot_s": meta.slo_tpot_s},
        "slo_attainment_frac": good / num_fin if num_fin and has_slo else None,
        "active_time_s": duration,
        "goodput_active_rps": good / duration if has_slo else None,
        "throughput_rps": num_fin / duration,
        "output_tokens_per_s": out_tokens / duration,
        "input_tokens_per_s": in_tokens / duration,
        "output_tokens": out_tokens,
        "input_tokens": in_tokens,
        "prefix_cache_hit_frac": cached / prompt_all if prompt_all else 0.0,
        "num_preemptions": num_preemptions,
        "requests_preempted": int((mine & (table.num_preemptions > 0)).sum()),
        "kv_used_frac_mean": _time_mean(tl.time_s, tl.kv_used_frac, end_s),
        "kv_used_frac_peak": max(tl.kv_used_frac, default=None),
        "batch_size_mean": _batch_mean(tl, end_s),
        "replicas_mean": _time_mean(tl.time_s, tl.replicas, end_s),
        "replicas_peak": max(tl.replicas, default=0),
        **_with_warnings(queue_growth(table, mine, tl),
                         idle_rank_prompts(table.prompt_tokens[kept], meta)),
    }


def _with_warnings(fields: dict[str, Any], more: list[str]) -> dict[str, Any]:
    return {**fields, "warnings": [*fields["warnings"], *more]}


def idle_rank_prompts(prompt_tokens: np.ndarray, meta: ServiceMeta) -> list[str]:
    """A warning when some prompts fit a step only on a rank with no decoders (chunked
    prefill off, the step's token budget too small for a prompt beside the decoders):
    such a prompt waits until its rank's decoders finish, and throughput collapses."""
    limit = meta.idle_rank_prompt_tokens
    if limit is None or len(prompt_tokens) == 0:
        return []
    over = int((prompt_tokens > limit).sum())
    if over == 0:
        return []
    return [f"{over:,} of {len(prompt_tokens):,} prompts (up to {int(prompt_tokens.max()):,} "
            f"tokens) are longer than the {limit:,} tokens a step takes beside one decoder "
            "(chunked prefill off; per attention-DP rank under the balance): each waits "
            "until its rank runs no decoder; size --max-num-batched-tokens for a prompt "
            "plus the rank's decoders"]


def _replica_fields(meta: ServiceMeta) -> dict[str, Any]:
    """What a replica is: model, GPUs (a prefill pool's own count when it has its own
    layout), KV blocks and the API server's latency its TTFTs include."""
    layout = ({} if meta.prefill_gpus_per_replica is None
              else {"prefill_gpus_per_replica": meta.prefill_gpus_per_replica})
    return {"model": meta.model, "gpu": meta.gpu, "gpus_per_replica": meta.gpus_per_replica,
            **layout, "num_kv_blocks_per_replica": meta.num_kv_blocks,
            "block_size": meta.block_size, "frontend_latency_s": meta.frontend_latency_s}


def _drop_reasons(table: RequestTable, dropped: np.ndarray) -> dict[str, int]:
    """Dropped requests counted by the reason's key (in first-seen order)."""
    reasons: dict[str, int] = {}
    for i in np.flatnonzero(dropped).tolist():
        key = drop_reason_key(table.reason[i])
        reasons[key] = reasons.get(key, 0) + 1
    return reasons

def time_weighted_mean(t: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float:
    """Mean over ``[lo, hi]`` of the step function that holds ``values[i]`` from ``t[i]``
    to ``t[i + 1]`` (0 before the first sample): samples skipped while nothing changed, or
    taken at growing intervals, weigh by the time they stand for, not by their count."""
    if len(t) == 0:
        return 0.0
    def at(x: float) -> float:
        i = int(np.searchsorted(t, x, side="right")) - 1
        return float(values[i]) if i >= 0 else 0.0
    if hi <= lo:
        return at(lo)
    inner = (t > lo) & (t < hi)
    edges = np.concatenate(([lo], t[inner], [hi]))
    heights = np.concatenate(([at(lo)], values[inner]))
    return float(np.dot(np.diff(edges), heights) / (hi - lo))


def queue_growth(table: RequestTable, mine: np.ndarray,
                 tl: ServiceTimelineData) -> dict[str, Any]:
    """``queue_growth_rps``, ``arrival_rps`` and ``warnings`` (see the module docstring)."""
    warnings: list[str] = []
    arrivals = table.arrival_s[mine]
    if len(arrivals) < 2 or not tl.time_s:
        return {"arrival_rps": None, "queue_growth_rps": None, "warnings": warnings}
    first, last = float(arrivals.min()), float(arrivals.max())
    span = last - first
    arrival_rps = (len(arrivals) - 1) / span if span > 0 else None
    t = np.asarray(tl.time_s)
    waiting = np.asarray(tl.waiting, dtype=float)

    def mean_waiting(lo: float, hi: float) -> float:
        return time_weighted_mean(t, waiting, lo, hi)

    growth = None
    if span > 0:
        quarter = span / 4
        late = mean_waiting(last - quarter, last)
        # the two quarters' midpoints are three quarters apart
        growth = (late - mean_waiting(first, first + quarter)) / (3 * quarter)
        if arrival_rps and growth > 0.05 * arrival_rps and late >= 10:
            warnings.append(
                f"overloaded: the waiting queue grows by {growth:,.2f} requests/s while "
                f"requests arrive at {arrival_rps:,.2f}/s, so queueing delay grows without "
                "bound with the run's length; add replicas or lower the rate")
    return {"arrival_rps": arrival_rps, "queue_growth_rps": growth, "warnings": warnings}


def active_time_s(table: RequestTable, mine: np.ndarray, fin: np.ndarray,
                  dropped: np.ndarray, start_s: float, end_s: float) -> float:
    """Seconds from the first arrival among ``mine`` to its last completion (the run's
    ``end_s`` while any is in flight; ``end_s - start_s`` when ``mine`` is empty)."""
    if not mine.any():
        return end_s - start_s
    first = float(table.arrival_s[mine].min())
    if (mine & (table.status == 2)).any():
        return end_s - first
    last = max(float(table.finish_s[fin].max()) if fin.any() else first,
               float(table.arrival_s[dropped].max()) if dropped.any() else first)
    return last - first


def _batch_mean(tl: ServiceTimelineData, end_s: float) -> float | None:
    """Time-weighted running sequences per decoding replica (a disaggregated service's
    prefill replicas do not dilute its decode batch)."""
    per = tl.batch_per_replica or [
        r / n if n else 0.0 for r, n in zip(tl.running, tl.replicas, strict=True)]
    return _time_mean(tl.time_s, per, end_s)
