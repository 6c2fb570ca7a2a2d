"""The narrow plugin handle: a plugin written only against ``SchedulerHandle`` (the example
in examples/plugins/evict_newest.py, shown in docs/scheduling.md) runs in the framework;
hooks are found by their declared classes; every built-in is registered in one place."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sched_builders import LAYOUT, cycle, job, make_fw, started

from gputwin.cluster import Ledger
from gputwin.scheduling import Framework, registered
from gputwin.scheduling.builtins import BUILTINS
from gputwin.scheduling.hooks import SchedulerHandle, WakesUp
from gputwin.scheduling.plugins.carbon_hooks import plugin_hooks
from gputwin.scheduling.registry import unregister

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "evict_newest.py"


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("evict_newest_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    unregister("post-filter/evict-newest")
    del sys.modules[spec.name]


def test_example_plugin_preempts_through_the_handle(example: ModuleType) -> None:
    fw = make_fw("priority", plugins={"post_filter": ["evict-newest"]},
                 args={"evict-newest": {"wakeup_period_s": 60}})
    ledger = Ledger(LAYOUT)
    for i in range(8):  # fill the cluster with low-priority jobs started one by one
        fw.submit(job(f"low{i}", 8, t=float(i), dur=1e4, priority=0), float(i))
        assert started(cycle(fw, ledger, float(i))) == [f"low{i}"]
    fw.submit(job("high", 16, t=10.0, priority=5), 10.0)
    result = cycle(fw, ledger, 10.0)
    assert [p.job.job_id for p in result.preemptions] == ["low7", "low6"]  # newest first
    assert started(result) == ["high"]
    hooks = plugin_hooks(fw)  # the declared WakesUp hook is found
    assert hooks is not None and hooks.next_wakeup_s(10.0) == 60.0


def test_handle_is_narrow_and_the_framework_provides_it() -> None:
    members = {n for n, _ in inspect.getmembers(SchedulerHandle) if not n.startswith("_")}
    assert members == {"running", "layout", "num_queued", "try_place"}
    handle: SchedulerHandle = make_fw("fifo")  # type-checked: Framework satisfies it
    assert isinstance(handle, Framework) and handle.layout is LAYOUT


def test_hooks_are_declared_not_discovered() -> None:
    class Lookalike:  # has the method name but does not declare the hook
        def next_wakeup_s(self, now_s: float) -> float | None:
            return 1.0

    assert not isinstance(Lookalike(), WakesUp)
    root = Path(__file__).resolve().parents[2] / "src" / "gputwin"
    for path in [*(root / "scheduling").rglob("*.py"), root / "run" / "world.py"]:
        text = path.read_text(encoding="utf-8")
        for hook in ("observe_workload", "next_wakeup_s", "after_cycle", "speed_changes",
                     "attach_grid", '"geo"'):
            assert f'getattr(plugin, "{hook}"' not in text and f'"{hook}", None' not in text


def test_every_builtin_registered_once_from_one_module() -> None:
    names = [cls.name for cls in BUILTINS]
    assert len(names) == len(set(names))
    assert set(names) <= set(registered())
    root = Path(__file__).resolve().parents[2] / "src" / "gputwin" / "scheduling"
    decorated = [p.name for p in root.rglob("*.py") if "\n@register\n" in p.read_text("utf-8")]
    assert decorated == []
