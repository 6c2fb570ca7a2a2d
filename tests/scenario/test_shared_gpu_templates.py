"""Fractional and MIG requests from a scenario's synthetic templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

BASE = """\
name: shared-gpus
seed: 1
cluster: {system: dgx-h100, num_nodes: 2}
workload:
  synthetic:
    num_jobs: 120
    arrival: {process: poisson, mean_interarrival: 2min}
    templates:
      - {weight: 3, kind: inference, model: llama3-8b, num_gpus: 1, duration: 2h, SMALL}
      - {weight: 1, kind: notebook, model: llama3-8b, num_gpus: 1, duration: 3h, BIG}
scheduler: {profile: PROFILE}
"""


def _load(tmp_path: Path, small: str, big: str, profile: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("SMALL", small).replace("BIG", big)
                    .replace("PROFILE", profile))
    return load_scenario(path)


def test_mig_slices_share_gpus(tmp_path: Path) -> None:
    res = simulate(_load(tmp_path, "mig_profile: 1g.10gb", "mig_profile: 3g.40gb", "mig"))
    s = res.summary
    assert s["jobs_by_status"]["completed"] == 120
    assert all(j.num_gpus == 1 and j.status == "completed" for j in res.jobs)
    # 16 GPUs: at most 16 whole-GPU jobs at once; slices run many more side by side
    ends = sorted((j.start_time_s, j.end_time_s) for j in res.jobs)
    peak = max(sum(1 for a, b in ends if a <= t < b) for t, _ in ends)
    assert peak > 16


def test_fractional_requests_pack_onto_gpus(tmp_path: Path) -> None:
    res = simulate(_load(tmp_path, "gpu_fraction: 0.25", "gpu_fraction: 0.5", "fgd"))
    assert res.summary["jobs_by_status"]["completed"] == 120
    ends = sorted((j.start_time_s, j.end_time_s) for j in res.jobs)
    peak = max(sum(1 for a, b in ends if a <= t < b) for t, _ in ends)
    assert peak > 16
    assert sum(j.gpu_hours for j in res.jobs) < sum(
        (j.end_time_s - j.start_time_s) / 3600 for j in res.jobs)  # parts of GPUs


@pytest.mark.parametrize(("small", "message"), [
    ("mig_profile: 1g.10g", r"templates\[0\]\.mig_profile: unknown MIG profile"),
    ("gpu_fraction: 1.5", "gpu_fraction"),
    ("gpu_fraction: 0.5, mig_profile: 1g.10gb", "not both"),
])
def test_bad_shared_requests_name_the_field(tmp_path: Path, small: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _load(tmp_path, small, "mig_profile: 3g.40gb", "mig")


def test_part_of_a_gpu_asks_for_one_gpu(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("num_gpus: 1, duration: 2h, SMALL",
                                 "num_gpus: 2, duration: 2h, gpu_fraction: 0.25")
                    .replace("BIG", "gpu_fraction: 0.5").replace("PROFILE", "fgd"))
    with pytest.raises(InputError, match="part of one GPU: num_gpus: 1"):
        load_scenario(path)


def test_a_slice_needs_a_duration(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("duration: 2h, SMALL", "tokens: 1e9, global_batch_size: 8, "
                                 "mig_profile: 1g.10gb").replace("BIG", "mig_profile: 3g.40gb")
                    .replace("PROFILE", "mig"))
    with pytest.raises(InputError, match="need a `duration`"):
        load_scenario(path)
