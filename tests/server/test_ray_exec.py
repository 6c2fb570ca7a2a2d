"""Runs executed as Ray tasks (``gputwin server --ray-address local``); skipped where Ray,
an optional extra (``pip install 'gputwin[ray]'``), is not installed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.server.builders import SMALL, Twin

from gputwin.server.worker import claim, run_one

ray = pytest.importorskip("ray", reason="Ray is an optional extra (gputwin[ray])")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from gputwin.run.plan_sweep import ray_init_args

    ray.init(num_cpus=1, **ray_init_args("local"))
    yield
    ray.shutdown()


def _submit(twin: Twin, sets: dict[str, object]) -> str:
    r = twin.client.post("/v1/runs", json={"set": sets}, headers=twin.as_("alice"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_run_on_ray_gives_the_in_process_summary(twin: Twin, local_ray: None) -> None:
    from gputwin.server.ray_exec import ray_executor

    on_ray = _submit(twin, SMALL)
    claimed = claim(twin.app.state.engine)
    assert claimed is not None and claimed[0] == on_ray
    assert run_one(twin.app.state.engine, *claimed, executor=ray_executor("local")) == "done"
    here = _submit(twin, SMALL)
    assert twin.work() == 1
    a, b = (twin.client.get(f"/v1/runs/{i}/summary", headers=twin.as_("alice")).json()
            for i in (on_ray, here))
    for s in (a, b):
        s.pop("wall_time_s", None)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_an_input_error_in_a_ray_task_arrives_as_the_same_error(local_ray: None) -> None:
    from gputwin.errors import InputError
    from gputwin.server.ray_exec import ray_executor

    seen: list[float] = []
    with pytest.raises(InputError, match="expected simulate, serve") as err:
        ray_executor("local")("no-such-kind", "", [], {}, seen.append)
    assert err.value.where == "kind"
