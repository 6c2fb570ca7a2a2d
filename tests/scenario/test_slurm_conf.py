"""A real slurm.conf as the scheduler (scenario/slurm.py): settings → the multifactor
profile and its args, the default partition's GPU nodes → the cluster size; errors name
the file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.scenario import load_scenario
from gputwin.scenario.slurm import expand_hostlist, slurm_time_s

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_reads_weights_decay_and_partition() -> None:
    sc = load_scenario(EXAMPLES / "slurm-multifactor.yaml")
    assert sc.scheduler.profile == "multifactor"
    mf = sc.scheduler.args["multifactor"]
    assert (mf["weight_age"], mf["weight_fairshare"], mf["weight_job_size"],
            mf["weight_qos"]) == (1000.0, 10000.0, 1000.0, 5000.0)
    assert mf["half_life_s"] == mf["max_age_s"] == 7 * 86400
    assert mf["recalc_period_s"] == 300.0 and mf["favor_small"] is False
    assert sc.scheduler.args["backfill"] == {"mode": "easy"}
    assert sc.cluster.num_nodes == 16  # gpu[001-016]; the login nodes have no GPU


def test_slurm_times_and_hostlists() -> None:
    assert slurm_time_s("7-0", "f", "k") == 7 * 86400
    assert slurm_time_s("14-00:00:00", "f", "k") == 14 * 86400
    assert slurm_time_s("5", "f", "k") == 300
    assert slurm_time_s("1:30", "f", "k") == 90
    assert slurm_time_s("2:00:00", "f", "k") == 7200
    assert expand_hostlist("gpu[001-003,010],login1", "f") == [
        "gpu001", "gpu002", "gpu003", "gpu010", "login1"]
    with pytest.raises(InputError, match="Slurm time"):
        slurm_time_s("a week", "f:3", "PriorityMaxAge")


def _copy(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "slurm-multifactor.yaml", tmp_path)
    shutil.copytree(EXAMPLES / "slurm", tmp_path / "slurm")
    return tmp_path / "slurm" / "slurm.conf"


@pytest.mark.parametrize(("old", "new", "key"), [
    ("PriorityWeightAge=1000", "PriorityWeightAge=lots", "priorityweightage"),
    ("PriorityMaxAge=7-0", "PriorityMaxAge=forever", "prioritymaxage"),
    ("PriorityType=priority/multifactor", "PriorityType=priority/magic", "PriorityType"),
    ("Gres=gpu:h100:8", "Gres=gpu:h100:eight", "Gres"),
    ("SelectType=select/cons_tres", "SelectType select/cons_tres", "Key=Value"),
    # were read as NO, as an empty partition and as a 100-million-host list (memory)
    ("PriorityFavorSmall=NO", "PriorityFavorSmall=MAYBE", "PriorityFavorSmall"),
    ("NodeName=gpu[001-016]", "NodeName=gpu[016-001]", "bad host range"),
    ("NodeName=gpu[001-016]", "NodeName=gpu[001-99999999]", "more than 1,048,576 hosts"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    conf = _copy(tmp_path)
    text = conf.read_text()
    assert old in text
    conf.write_text(text.replace(old, new))
    line = next(i for i, t in enumerate(conf.read_text().splitlines(), 1) if new in t)
    with pytest.raises(InputError) as info:
        load_scenario(tmp_path / "slurm-multifactor.yaml")
    assert f"slurm.conf:{line}" in str(info.value) and key in str(info.value)


def test_basic_priority_gives_backfill_or_fifo(tmp_path: Path) -> None:
    conf = _copy(tmp_path)
    conf.write_text(conf.read_text().replace("priority/multifactor", "priority/basic"))
    assert load_scenario(tmp_path / "slurm-multifactor.yaml").scheduler.profile == \
        "backfill-easy"
    conf.write_text(conf.read_text().replace("sched/backfill", "sched/builtin"))
    assert load_scenario(tmp_path / "slurm-multifactor.yaml").scheduler.profile == "fifo"


def test_simulate_runs_the_slurm_example() -> None:
    from gputwin.run.simulate import simulate

    s = simulate(load_scenario(EXAMPLES / "slurm-multifactor.yaml")).summary
    assert s["num_jobs"] == 120 and s["jobs_by_status"]["completed"] > 100


def test_a_partition_without_gpu_nodes_names_the_conf(tmp_path: Path) -> None:
    """Used to answer `cluster: give num_nodes`, far from the slurm.conf that lacks them."""
    conf = _copy(tmp_path)
    conf.write_text(conf.read_text().replace("Gres=gpu:h100:8", "Gres=gpu:h100:0"))
    with pytest.raises(InputError, match="its partition lists no GPU node") as info:
        load_scenario(tmp_path / "slurm-multifactor.yaml")
    assert "slurm.conf" in str(info.value)
