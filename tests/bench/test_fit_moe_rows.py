"""The MoE fit script reads every published row of perf/engine_benchmarks.yaml."""

from __future__ import annotations

from types import ModuleType

from tests.bench.bench_scripts import BENCH_DIR, load_script

BENCH = BENCH_DIR / "fit_moe_width.py"


def _load() -> ModuleType:
    return load_script(BENCH)


def test_moe_rows_load_with_their_kv_and_hold_out_marks() -> None:
    rows = _load().load_moe_rows()
    assert len(rows) == 86
    held = [r for r in rows if r.held_out]
    # the validation cases (8) and every 1024/32768 and 32768/1024 row (29) are held out
    assert len(held) == 37
    assert all(r.held_out for r in rows if (r.input_tokens, r.output_tokens)
               in ((1024, 32768), (32768, 1024)))
    # gpt-oss on Blackwell ran with FP8 KV as the page's options set; Hopper took the default
    gpt_oss = [r for r in rows if r.model.startswith("gpt-oss")]
    assert {r.kv_cache for r in gpt_oss if r.gpu in ("b200", "gb200")} == {"fp8"}
    assert {r.kv_cache for r in gpt_oss if r.gpu.startswith("h")} == {None}
    assert all(r.published > 0 and r.ep >= 1 and r.dp >= 1 for r in rows)
