"""Issue 15 item 3: serving power follows load (a light run draws less per GPU than a heavy
one; it used to be the node nameplate spread over its GPUs at any load)."""

from __future__ import annotations

import json
from pathlib import Path

from gputwin.cli.main import main


def _watts_per_gpu(tmp_path: Path, rate: str) -> tuple[float, float]:
    out = tmp_path / rate
    main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate", rate,
          "--num-requests", "300", "--input-tokens", "1000", "--output-tokens", "200",
          "--quiet", "--no-timing", "--out", str(out)])
    s = json.loads((out / "summary.json").read_text())["services"]["default"]
    watts = s["energy_j"] / s["active_time_s"] / s["gpus_per_replica"]
    return watts, s["energy_per_output_token_j"]


def test_light_load_draws_less_power_per_gpu_than_heavy(tmp_path: Path) -> None:
    light_w, light_j = _watts_per_gpu(tmp_path, "0.5")
    heavy_w, heavy_j = _watts_per_gpu(tmp_path, "40")
    assert light_w < 0.85 * heavy_w  # activity-based: idle → TDP with load
    assert light_w < 700 and heavy_w < 1250  # below the per-GPU nameplate share
    assert light_j > 5 * heavy_j  # J/token: idle power spread over few tokens
