"""Checkpoint writes through a shared storage tier in cluster runs (run/checkpoints.py)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from tests.reliability.test_simulated_failures import SMALL

from gputwin.run.checkpoints import StoragePool, _share, _Write
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario
from gputwin.sim.kernel import Simulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "failures-checkpoints.yaml"
GB = 1e9


def test_pool_shares_the_aggregate_max_min_and_exactly() -> None:
    """Aggregate 10 GB/s, two writers capped at 8 GB/s: 5 + 5 until the 10 GB one ends at
    2 s, then the 20 GB one alone at its cap: 10 GB left / 8 GB/s -> ends at 3.25 s."""
    sim = Simulator()
    pool = StoragePool(sim, 10 * GB)
    done: dict[str, float] = {}
    pool.add("a", 10 * GB, 8 * GB, lambda: done.setdefault("a", sim.now))
    pool.add("b", 20 * GB, 8 * GB, lambda: done.setdefault("b", sim.now))
    sim.run()
    assert done == {"a": pytest.approx(2.0), "b": pytest.approx(3.25)}
    assert pool.bytes_written == pytest.approx(30 * GB)
    assert pool.busy_s == pytest.approx(3.25)


def test_water_filling_gives_small_caps_their_cap() -> None:
    writes = [_Write(str(i), 1.0, cap, lambda: None) for i, cap in enumerate((1.0, 5.0, 9.0))]
    _share(writes, 12.0)
    assert [w.rate for w in writes] == pytest.approx([1.0, 5.0, 6.0])  # 12 = 1 + 5 + 6
    _share(writes, None)  # no aggregate limit: every write at its own cap
    assert [w.rate for w in writes] == [1.0, 5.0, 9.0]


def test_many_simultaneous_writers_finish_in_bounded_events() -> None:
    """A thousand equal writes started at once end together: no rounding loop (each
    scheduled end finishes its write even with bytes left over from float rounding)."""
    sim = Simulator()
    pool = StoragePool(sim, 650 * GB)
    ended: list[float] = []
    for i in range(1000):
        pool.add(f"j{i}", 988 * GB / 3, 20 * GB, lambda: ended.append(sim.now))
    fired = sim.run(max_events=5000)
    assert len(ended) == 1000 and len(pool) == 0
    assert fired <= 1000
    assert max(ended) == pytest.approx(1000 * 988 / 3 / 650, rel=1e-9)


def test_cancel_drops_a_write_and_speeds_up_the_others() -> None:
    sim = Simulator()
    pool = StoragePool(sim, 10 * GB)
    done: dict[str, float] = {}
    pool.add("a", 10 * GB, 10 * GB, lambda: done.setdefault("a", sim.now))
    pool.add("b", 10 * GB, 10 * GB, lambda: done.setdefault("b", sim.now))
    sim.schedule_at(1.0, lambda: pool.cancel("b"))
    sim.run()
    assert done == {"a": pytest.approx(1.5)}  # 5 GB by 1 s, then 5 GB at 10 GB/s


def _small(tmp_path: Path, extra: list[str]) -> dict[str, object]:
    path = tmp_path / "s.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return simulate(load_scenario(path, extra)).summary


def test_off_changes_nothing_and_yaml_off_is_accepted(tmp_path: Path) -> None:
    base = _small(tmp_path, [])
    off = _small(tmp_path, ["failures={rate_scale: 300, checkpoint_writes: off}"])
    base.pop("wall_time_s"), off.pop("wall_time_s")
    assert base == off
    assert "checkpoints" not in base["reliability"]  # type: ignore[operator]


def test_sync_stalls_more_than_async_and_every_job_is_accounted(tmp_path: Path) -> None:
    out = {}
    for mode in ("sync", "async"):
        s = _small(tmp_path, [f'failures.checkpoint_writes="{mode}"'])
        assert s["jobs_by_status"] == {"completed": 40, "failed": 0, "running": 0, "queued": 0}
        out[mode] = s["reliability"]["checkpoints"]  # type: ignore[index]
        again = _small(tmp_path, [f'failures.checkpoint_writes="{mode}"'])
        assert again["reliability"] == s["reliability"]  # same seed, same run
    sync, asyn = out["sync"], out["async"]
    assert sync["checkpoints"] > 100 and asyn["checkpoints"] > 100
    assert sync["stalled_gpu_hours"] > 3 * asyn["stalled_gpu_hours"] > 0
    assert sync["bytes_written"] > 0 and 0 < sync["storage_busy_frac"] < 1


def _sweep(interval: str | None, seeds: int = 4) -> tuple[float, float, float]:
    rows = []
    for seed in range(1, seeds + 1):
        extra = [f"seed={seed}"] + ([f'failures.checkpoint_interval="{interval}"']
                                    if interval else [])
        s = simulate(load_scenario(EXAMPLE, extra)).summary
        rel = s["reliability"]
        rows.append((s["gpu_hours"], rel["lost_gpu_hours"],
                     rel["checkpoints"]["stalled_gpu_hours"]))
    gpu_h, lost, stall = (statistics.mean(c) for c in zip(*rows, strict=True))
    return gpu_h, lost, stall


def test_interval_sweep_has_its_optimum_near_young_daly() -> None:
    """More frequent checkpoints stall more and lose less to faults; the GPU-hours the job
    holds are lowest near the Young/Daly interval the run uses by default."""
    daly = _sweep(None)
    short, mid, long_ = _sweep("30s"), _sweep("2min"), _sweep("32min")
    assert short[2] > mid[2] > daly[2] > long_[2]  # stall falls as the interval grows
    assert long_[1] > daly[1] and short[0] > mid[0]
    assert daly[0] <= min(short[0], mid[0], long_[0])


def test_bytes_per_param_sets_what_each_checkpoint_writes() -> None:
    """Without faults and at a fixed interval the same checkpoints are written; at 10 B/param
    (no fp32 master weights) they hold 10/14 of the bytes and stall training less."""
    def checkpoints(*extra: str) -> dict[str, float]:
        sc = load_scenario(EXAMPLE,
                           ["failures.rate_scale=0", "failures.checkpoint_interval=10min",
                            *extra])
        ck: dict[str, float] = simulate(sc).summary["reliability"]["checkpoints"]
        return ck

    full, lean = checkpoints(), checkpoints("failures.checkpoint_bytes_per_param=10")
    assert lean["checkpoints"] == full["checkpoints"] > 0
    assert lean["bytes_written"] == pytest.approx(full["bytes_written"] * 10 / 14)
    assert lean["stalled_gpu_hours"] < full["stalled_gpu_hours"]
