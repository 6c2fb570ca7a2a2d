"""``gputwin compare`` for serving scenarios (files with a top-level ``serving:``).

Variants come from ``--set key=a,b`` axes as for cluster scenarios or, when no option
varies anything, from the file's own ``variants:`` list (``{label, set: [key=value]}``);
``--set`` options with one value apply to every variant. Each variant is validated with
the serving loader before anything runs. A run's metrics are read from its summary
(:mod:`gputwin.run.compare_metrics`); one-site runs map their flat ``e2e_s``/``ttft_s``
percentiles and cost onto the same keys, so both kinds compare alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError
from gputwin.run.compare_variants import Variant, check_runs, expand_variants
from gputwin.scenario.serving import ServingScenario, load_serving_scenario
from gputwin.scenario.serving_workload import RagSource, SyntheticSource


def serving_variants(path: Path, sets: Sequence[str],
                     catalog: Catalog | None) -> tuple[list[Variant], list[ServingScenario]]:
    """The variants and their validated scenarios (raises :class:`InputError`)."""
    variants = expand_variants(sets)
    if len(variants) == 1 and not variants[0].axis_values:
        base = load_serving_scenario(path, variants[0].overrides, catalog=catalog)
        if base.variants:
            common = variants[0].overrides
            variants = [Variant(v.label, (*common, *v.set),
                                tuple((k, val) for k, _, val in
                                      (t.partition("=") for t in v.set)))
                        for v in base.variants]
            check_runs(len(variants), 1, f"{path}: variants")
            labels = [v.label for v in variants]
            if len(set(labels)) != len(labels):
                raise InputError(f"variant labels must be unique, got {labels}",
                                 where=f"{path}: variants")
    scenarios = []
    for v in variants:
        try:
            scenarios.append(load_serving_scenario(path, v.overrides, catalog=catalog))
        except InputError as exc:
            raise InputError(f"variant {v.label!r}: {exc}") from None
    return variants, scenarios


def serving_seed_dependent(sc: ServingScenario) -> bool:
    return any(isinstance(w, SyntheticSource | RagSource) for w in sc.serving.workload)


def run_serving_variant(sc: ServingScenario) -> tuple[dict[str, Any], float, float]:
    """Run one variant: (summary with the compare keys, end time, wall time)."""
    from gputwin.run.simulate_serve import simulate_serving

    result = simulate_serving(sc)
    s = dict(result.summary)
    for key, dist in (("e2e", "e2e_s"), ("ttft", "ttft_s")):
        for q in ("p50", "p99"):
            if f"{key}_{q}_s" not in s and isinstance(s.get(dist), dict):
                s[f"{key}_{q}_s"] = s[dist].get(q)
    if "cost_per_million_tokens_usd" not in s and s.get("total_cost_usd") is not None:
        tokens = sum(v.get("output_tokens", 0) + v.get("input_tokens", 0)
                     for v in s.get("services", {}).values())
        s["cost_per_million_tokens_usd"] = s["total_cost_usd"] / tokens * 1e6 if tokens else None
    return s, result.end_time_s, result.wall_time_s


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def explain_comparison(labels: Sequence[str], summaries: Sequence[Sequence[dict[str, Any]]]
                       ) -> list[str]:
    """Why each variant's end-to-end latency and cost differ from the baseline's (the first):
    the change of p50 end-to-end split into network RTT, queueing + prefill and decode
    (means over the seeds' request means), and where requests were served. Empty for runs
    without sites (no breakdown)."""
    rows = []
    for runs in summaries:
        parts: list[dict[str, Any]] = [r["breakdown_mean_s"] for r in runs
                                        if isinstance(r.get("breakdown_mean_s"), dict)]
        if not parts or len(parts) != len(runs):
            return []
        rows.append({k: _mean([p[k] for p in parts if p.get(k) is not None])
                     for k in ("network_rtt", "queue_and_prefill", "decode")}
                    | {"p50": _mean([r["e2e_p50_s"] for r in runs if r.get("e2e_p50_s")]),
                       "edge": _mean([r["served_at_edge_frac"] for r in runs
                                      if r.get("served_at_edge_frac") is not None]),
                       "cost": _mean([r["cost_per_million_tokens_usd"] for r in runs
                                      if r.get("cost_per_million_tokens_usd") is not None])})
    base = rows[0]
    out = []
    for label, row in zip(labels[1:], rows[1:], strict=True):
        if None in (row["p50"], base["p50"], row["network_rtt"], base["network_rtt"]):
            continue

        def d(key: str, row: dict[str, Any] = row) -> float:
            return float(row[key] or 0.0) - float(base[key] or 0.0)

        cost = ("" if row["cost"] is None or base["cost"] is None else
                f"; cost per million tokens ${row['cost']:.2f} vs ${base['cost']:.2f}")
        out.append(
            f"{label} vs {labels[0]}: p50 end-to-end {row['p50']:.3f} s vs {base['p50']:.3f} s "
            f"({d('p50'):+.3f} s). Mean per request: network RTT {d('network_rtt') * 1e3:+.1f}"
            f" ms, queueing + prefill {d('queue_and_prefill') * 1e3:+.1f} ms, decode "
            f"{d('decode') * 1e3:+.1f} ms; served at edge sites {(row['edge'] or 0):.0%} vs "
            f"{(base['edge'] or 0):.0%}{cost}")
    return out
