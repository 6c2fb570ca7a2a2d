"""Builders for serving tests: a linear fake step model, engine runs, real-perf fleets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from gputwin.serving.config import EngineConfig
from gputwin.serving.fleet import Fleet, FleetOutcome, PoolSpec, ServiceSpec
from gputwin.workload.llm_request import LlmRequest


class LinearStepModel:
    """Step time linear in every input (what the engine's closed form assumes)."""

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float:
        return (2e-3 + 2e-5 * num_prefill_tokens + 1e-9 * prefill_attn_pairs
                + 5e-5 * num_decode_seqs + 2e-8 * decode_context_tokens_sum)

    def spec_step_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float,
                         num_prefill_tokens: int = 0, prefill_context_tokens_sum: float = 0.0,
                         prefill_attn_pairs: float = 0.0) -> float:
        return self.step_time_s(num_prefill_tokens, prefill_context_tokens_sum,
                                prefill_attn_pairs, 3 * num_decode_seqs,
                                decode_context_tokens_sum)

    def decode_kink(self, num_decode_seqs: int) -> float:
        return math.inf


def engine(num_kv_blocks: int = 4000, **kw: Any) -> EngineConfig:
    base: dict[str, Any] = {"max_num_seqs": 32, "max_num_batched_tokens": 1024,
                            "max_model_len": 8192}
    base.update(kw)
    return EngineConfig(num_kv_blocks=num_kv_blocks, **base)


def run_fleet(requests: Sequence[LlmRequest], cfg: EngineConfig, *, replicas: int = 1,
              router: str = "round_robin", model: Any = None, **fleet_kw: Any) -> FleetOutcome:
    pool = PoolSpec(cfg, model or LinearStepModel(), replicas, 1, router)
    return Fleet([ServiceSpec("default", pool)], requests, **fleet_kw).run()


def requests_from(rows: Sequence[tuple[float, int, int]], **kw: Any) -> list[LlmRequest]:
    return [LlmRequest(i, t, p, o, **kw) for i, (t, p, o) in enumerate(rows)]


def finish_times(out: FleetOutcome) -> list[float | None]:
    return [s.finish_s for s in out.states]


def ttfts(out: FleetOutcome) -> list[float]:
    return [s.first_token_s - s.spec.arrival_time_s for s in out.states
            if s.first_token_s is not None]


@cache
def real_perf(model: str = "llama3.1-8b", gpu: str = "h100-sxm-80gb", tp: int = 1,
              spec_tokens: int = 0, acceptance: float = 0.7) -> Any:
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving import ServingConfig, prepare_serving
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    cfg = ServingConfig(cat.model(model), resolve_hardware(cat, gpu=gpu), tp=tp,
                        num_speculative_tokens=spec_tokens,
                        draft_kind="eagle" if spec_tokens else None,
                        acceptance_rate=acceptance)
    return prepare_serving(cfg)


def with_service(reqs: Sequence[LlmRequest], service: str) -> list[LlmRequest]:
    return [replace(r, service=service) for r in reqs]


def run_main(argv: list[str]) -> int:
    """The CLI's exit status for ``argv`` (0 when it returns normally)."""
    from gputwin.cli.main import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def scenario_file(tmp_path: Path, service: str, *, top: str = "", section: str = "") -> Path:
    """A small serving scenario file: ``top`` lines before ``serving:``, ``section`` lines
    inside it, ``service`` the YAML of one service's keys (two-space indented lines)."""
    body = "".join(f"      {line}\n" for line in service.splitlines())
    text = (top + "serving:\n" + section + "  services:\n    - model: llama3.1-8b\n" + body
            + "  workload:\n    - kind: synthetic\n      num_requests: 5\n"
            "      arrival: {rate: 1}\n")
    f = tmp_path / "s.yaml"
    f.write_text(text)
    return f
