"""Trace readers: small faithful files in tmp_path (published schemas), errors, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputwin.errors import InputError, UnknownNameError
from gputwin.workload.traces import describe_formats, read_trace, trace_formats

# ---------------------------------------------------------------- Philly raw JSON


def philly_job(jobid: str, vc: str, status: str, submitted: str,
               attempts: list[tuple[str | None, str | None, list[int]]]) -> dict[str, object]:
    return {
        "status": status, "vc": vc, "jobid": jobid, "user": "u" + jobid[-1],
        "submitted_time": submitted,
        "attempts": [{"start_time": s, "end_time": e,
                      "detail": [{"ip": f"m{i}", "gpus": [f"gpu{g}" for g in range(n)]}
                                 for i, n in enumerate(servers)]}
                     for s, e, servers in attempts],
    }


def test_philly_json_gpus_queueing_runtime_and_skips(tmp_path: Path) -> None:
    jobs = [
        # README example: 8 GPUs, two attempts; run time = last end - first start
        philly_job("app_1", "ee9e8c", "Pass", "2017-10-07 01:11:39",
                   [("2017-10-07 01:12:09", "2017-10-07 01:13:23", [8]),
                    ("2017-10-07 01:13:30", "2017-10-09 06:53:12", [8])]),
        philly_job("app_2", "vc2", "Failed", "2017-10-07 01:00:00",
                   [("2017-10-07 01:00:10", "2017-10-07 01:00:20", [2, 2])]),
        philly_job("app_3", "vc2", "Killed", "2017-10-07 02:00:00", []),
        philly_job("app_4", "vc2", "Pass", "2017-10-07 03:00:00",
                   [("2017-10-07 03:00:00", "None", [1])]),
        philly_job("app_5", "vc2", "Pass", "2017-10-07 04:00:00", [(None, None, [1])]),
    ]
    path = tmp_path / "cluster_job_log"
    path.write_text(json.dumps(jobs, indent=4), encoding="utf-8")
    w = read_trace("philly_json", path)
    assert [j.num_gpus for j in w.jobs] == [4, 8]  # sorted by submit; 2 servers x 2 GPUs
    second = w.jobs[1]
    assert second.submit_time_s == 11 * 60 + 39
    assert second.wait_time_in_trace_s == 30.0
    # 2017-10-07 01:12:09 -> 2017-10-09 06:53:12
    assert second.fixed_duration_s == 2 * 86400 + (6 - 1) * 3600 + (53 - 12) * 60 + (12 - 9)
    assert (second.tenant, second.status_in_trace, second.user) == ("ee9e8c", "Pass", "u1")
    assert w.skipped == {"no attempt": 1, "no end time": 1, "no start time": 1}
    assert w.origin_s_of_day == 3600.0
    only = read_trace("philly_json", path, cluster="ee9e8c")
    assert len(only.jobs) == 1 and only.skipped["cluster"] == 1  # app_2 (others lack times)


def test_philly_json_lines_and_errors(tmp_path: Path) -> None:
    good = philly_job("app_1", "vc", "Pass", "2017-10-07 01:00:00",
                      [("2017-10-07 01:00:05", "2017-10-07 01:10:05", [1])])
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", encoding="utf-8")
    assert [j.fixed_duration_s for j in read_trace("philly_json", path).jobs] == [600.0] * 2
    bad = dict(good, submitted_time="2017-99-07")
    path.write_text("[\n" + json.dumps(good) + ",\n" + json.dumps(bad) + "\n]", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:3: column 'submitted_time'"):
        read_trace("philly_json", path)
    path.write_text("[\n" + json.dumps(good) + ",\n{\"vc\": 1}\n]", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:3: job lacks key\(s\) status"):
        read_trace("philly_json", path)
    path.write_text("[\n" + json.dumps(good) + ",\n{oops}\n]", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:3: invalid JSON"):
        read_trace("philly_json", path)


# ---------------------------------------------------------------- openb

OPENB_HEADER = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
                "creation_time,deletion_time,scheduled_time\n")


def test_openb_pods_nodes_fractions(tmp_path: Path) -> None:
    (tmp_path / "openb_node_list_gpu_node.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n"
        "openb-node-0228,128000,786432,8,G3\nopenb-node-0229,96000,786432,8,V100M32\n",
        encoding="utf-8")
    pods = tmp_path / "openb_pod_list_default.csv"
    pods.write_text(OPENB_HEADER +
                    "openb-pod-0017,88000,327680,8,1000,,Burstable,Succeeded,9437497,10769854,"
                    "9437497\n"
                    "openb-pod-0022,4000,15258,1,220,,BE,Running,9679175,9973826,9679175\n"
                    "openb-pod-0035,16000,32768,1,1000,V100M16|V100M32,LS,Running,9967058,"
                    "9968575,9967063\n"
                    "openb-pod-0040,2000,4096,0,0,,LS,Running,9967100,9968000,9967100\n"
                    "openb-pod-0061,11908,47104,1,1000,,BE,Pending,10001278,10001403,\n",
                    encoding="utf-8")
    w = read_trace("openb", pods)
    assert [n.num_gpus for n in w.nodes] == [8, 8] and w.nodes[1].gpu_model == "V100M32"
    assert w.nodes[0].num_cpus == 128.0 and w.nodes[0].memory_bytes == 786432 * 2**20
    assert w.skipped == {"no GPU": 1}
    first, frac, typed, pending = w.jobs
    assert (first.num_gpus, first.gpu_milli, first.qos, first.status_in_trace) == (
        8, 1000, "Burstable", "Succeeded")
    assert first.fixed_duration_s == 10769854 - 9437497 and first.num_cpus == 88.0
    assert frac.gpu_milli == 220 and frac.is_fractional and frac.gpu_demand == 0.22
    assert frac.submit_time_s == 9679175 - 9437497
    assert typed.gpu_type == "V100M16|V100M32" and typed.wait_time_in_trace_s == 5.0
    assert typed.fixed_duration_s == 9968575 - 9967063
    assert pending.wait_time_in_trace_s is None and pending.fixed_duration_s == 125.0
    assert len(read_trace("openb", pods, statuses="Running,Succeeded").jobs) == 3
    assert read_trace("openb", pods, nodes=False).nodes == []


def test_openb_variant_without_times(tmp_path: Path) -> None:
    pods = tmp_path / "openb_pod_list_multigpu50.csv"
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
                    "openb-pod-0000,12000,16384,1,1000\nopenb-pod-9059,60200,320512,4,1000\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"no time columns.*duration"):
        read_trace("openb", pods)
    w = read_trace("openb", pods, duration="2h")
    assert [(j.num_gpus, j.submit_time_s, j.fixed_duration_s) for j in w.jobs] == [
        (1, 0.0, 7200.0), (4, 0.0, 7200.0)]


@pytest.mark.parametrize(("row", "column"), [
    ("p,1000,1024,x,1000,,LS,Running,0,10,0", "num_gpu"),
    ("p,1000,1024,1,0,,LS,Running,0,10,0", "gpu_milli"),
    ("p,1000,1024,1,1000,,LS,Running,abc,10,0", "creation_time"),
    ("p,1000,1024,1,1000,,LS,Running,0,5,8", "deletion_time"),
    ("p,1000,1024,1,1000,,LS,Running,0,10", "scheduled_time"),
])
def test_openb_malformed_row(tmp_path: Path, row: str, column: str) -> None:
    pods = tmp_path / "pods.csv"
    pods.write_text(OPENB_HEADER + "ok,1000,1024,1,1000,,LS,Running,0,10,0\n" + row + "\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_trace("openb", pods)
    assert str(info.value).startswith(f"{pods}:3: column '{column}'")


# ---------------------------------------------------------------- PAI 2020


def test_pai2020_tables_without_header(tmp_path: Path) -> None:
    # job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type
    (tmp_path / "pai_task_table.csv").write_text(
        "j1,tensorflow,1.0,Terminated,1739162.0,1739200.0,600.0,29.296875,50.0,MISC\n"
        "j2,ps,1.0,Terminated,1000.0,5000.0,600.0,10.0,,\n"
        "j2,worker,2.0,Terminated,1010.0,5010.0,400.0,20.0,100.0,V100\n"
        "j3,worker,1.0,Running,2000.0,,600.0,10.0,100.0,T4\n"
        "j4,worker,1.0,Terminated,3000.0,3100.0,600.0,10.0,0.0,\n"
        "j5,worker,4.0,Failed,4000.0,4100.0,400.0,8.0,50.0,P100\n",
        encoding="utf-8")
    # job_name,inst_id,user,status,start_time,end_time  (start_time = submission)
    (tmp_path / "pai_job_table.csv").write_text(
        "j1,i1,58540f191766,Terminated,1739100.0,1739200.0\n"
        "j2,i2,aaaa,Terminated,900.0,5010.0\n", encoding="utf-8")
    w = read_trace("pai2020", tmp_path)
    assert w.skipped == {"no GPU": 1, "no end time": 1}
    by_user = {j.user: j for j in w.jobs}
    j1 = by_user["58540f191766"]
    assert (j1.num_gpus, j1.gpu_milli, j1.gpu_type) == (1, 500, "MISC")
    assert j1.wait_time_in_trace_s == 62.0 and j1.fixed_duration_s == 38.0
    assert j1.num_cpus == 6.0 and j1.memory_bytes == pytest.approx(29.296875 * 2**30)
    j2 = by_user["aaaa"]
    assert (j2.num_gpus, j2.gpu_milli, j2.num_cpus) == (2, 1000, 14.0)
    assert j2.fixed_duration_s == 4010.0 and j2.wait_time_in_trace_s == 100.0
    j5 = by_user[None]  # not in the job table: submitted at its first task start
    assert (j5.num_gpus, j5.gpu_milli, j5.status_in_trace) == (2, 1000, "Failed")
    assert w.origin_s_of_day == (900.0 + 8 * 3600) % 86400


def test_pai2020_bad_number(tmp_path: Path) -> None:
    path = tmp_path / "pai_task_table.csv"
    path.write_text("job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,"
                    "plan_mem,plan_gpu,gpu_type\n"
                    "j1,w,1,Terminated,1,2,600,1,fifty,V100\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:2: column 'plan_gpu'"):
        read_trace("pai2020", path)


# ---------------------------------------------------------------- Helios

HELIOS_HEADER = ("job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,"
                 "end_time,duration,queue\n")


def test_helios(tmp_path: Path) -> None:
    path = tmp_path / "cluster_log.csv"
    path.write_text(HELIOS_HEADER +
                    "1425511,uXBbc,vcJkd,1,1,1,COMPLETED,2020-06-09 18:41:01,"
                    "2020-06-09 18:41:01,2020-06-10 04:55:09,36848,0\n"
                    "1425512,uVMrF,vchbv,4,16,1,FAILED,2020-06-09 18:41:27,"
                    "2020-06-09 18:41:27,2020-06-09 18:45:36,249,0\n"
                    "1425513,uzqls,vcpDC,0,1,1,CANCELLED,2020-06-09 18:41:28,"
                    "2020-06-09 18:41:28,2020-06-17 14:15:21,675233,0\n"
                    "1425514,uzqls,vcJkd,8,64,1,COMPLETED,2020-06-09 18:42:00,"
                    "2020-06-09 18:43:00,2020-06-09 19:43:00,3600,60\n", encoding="utf-8")
    w = read_trace("helios", path)
    assert [(j.num_gpus, j.fixed_duration_s, j.tenant) for j in w.jobs] == [
        (1, 36848.0, "vcJkd"), (4, 249.0, "vchbv"), (8, 3600.0, "vcJkd")]
    assert w.jobs[2].wait_time_in_trace_s == 60.0 and w.jobs[1].num_cpus == 16.0
    assert w.skipped == {"no GPU": 1}
    assert w.origin_s_of_day == 18 * 3600 + 41 * 60 + 1
    assert len(read_trace("helios", path, cluster="vcJkd").jobs) == 2
    assert [j.num_gpus for j in read_trace("helios", path, statuses=["completed"]).jobs] == [
        1, 8]
    path.write_text(HELIOS_HEADER + "1,u,vc,2,1,1,COMPLETED,yesterday,x,y,-4,0\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:2: column 'submit_time'"):
        read_trace("helios", path)


# ---------------------------------------------------------------- SWF

SWF = """; Version: 2.2
; Computer: test machine
; UnixStartTime: 1000000000
; MaxNodes: 4
; MaxProcs: 32
;
    1      0   10   3600   8  -1 -1   8   7200 -1 1 1 1 -1 1 -1 -1 -1
    2     60    0    100  -1  -1 -1  16    600 -1 0 2 1 -1 2 -1 -1 -1
    3    120   -1     -1   4  -1 -1   4     -1 -1 5 3 1 -1 1 -1 -1 -1
    4    180    5     50   2  -1 -1  -1     -1 -1 1 3 1 -1 -1 -1 -1 -1
"""


def test_swf(tmp_path: Path) -> None:
    path = tmp_path / "log.swf"
    path.write_text(SWF, encoding="utf-8")
    w = read_trace("swf", path)
    assert [(j.num_gpus, j.fixed_duration_s, j.runtime_limit_s) for j in w.jobs] == [
        (8, 3600.0, 7200.0), (16, 100.0, 600.0), (2, 50.0, None)]
    assert [j.status_in_trace for j in w.jobs] == ["completed", "failed", "completed"]
    assert w.jobs[0].wait_time_in_trace_s == 10.0 and w.jobs[0].user == "1"
    assert w.skipped == {"no run time": 1}
    assert [n.num_gpus for n in w.nodes] == [8] * 4
    assert w.origin_s_of_day == 1000000000 % 86400
    half = read_trace("swf", path, gpu_per_proc=0.5, procs="allocated")
    assert [j.num_gpus for j in half.jobs] == [4, 8, 1]  # job 2: allocated unknown → requested
    assert [n.num_gpus for n in half.nodes] == [4] * 4


@pytest.mark.parametrize(("line", "message"), [
    ("1 0 10 3600 8", "expected 18 whitespace-separated fields"),
    ("1 0 10 abc 8 -1 -1 8 7200 -1 1 1 1 -1 1 -1 -1 -1", r"field 4 \(run_time\)"),
    ("1 0 10 -5 8 -1 -1 8 7200 -1 1 1 1 -1 1 -1 -1 -1", r"field 4 \(run_time\)"),
])
def test_swf_errors(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.swf"
    path.write_text("; MaxProcs: 8\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:2: {message}"):
        read_trace("swf", path)


# ---------------------------------------------------------------- registry and common options


def test_registry_names_and_unknowns(tmp_path: Path) -> None:
    assert trace_formats() == ["helios", "openb", "pai2020", "philly_csv", "philly_json", "swf"]
    assert "gpu_per_proc" in describe_formats()["swf"]
    with pytest.raises(UnknownNameError, match="did you mean 'philly_json'"):
        read_trace("philly_jsn", tmp_path / "x")
    path = tmp_path / "log.swf"
    path.write_text(SWF, encoding="utf-8")
    with pytest.raises(UnknownNameError, match="did you mean 'gpu_per_proc'"):
        read_trace("swf", path, gpus_per_proc=2)
    with pytest.raises(InputError, match="option max_jobs: expected an integer"):
        read_trace("swf", path, max_jobs="many")
    with pytest.raises(InputError, match="option end: expected a duration"):
        read_trace("swf", path, end="soon")
    with pytest.raises(InputError, match="trace file not found"):
        read_trace("helios", tmp_path / "missing.csv")


def test_common_selection_options(tmp_path: Path) -> None:
    path = tmp_path / "log.swf"
    path.write_text(SWF, encoding="utf-8")
    w = read_trace("swf", path, start="1min", end="4min", model="llama3-8b", kind="hpc",
                   id_prefix="x")
    assert [j.job_id for j in w.jobs] == ["x-00001", "x-00002"]
    assert [j.submit_time_s for j in w.jobs] == [0.0, 120.0]  # re-based to the first kept job
    assert {(j.model, j.kind) for j in w.jobs} == {("llama3-8b", "hpc")}
    assert w.skipped["time window"] == 1  # job 1 (t=0) is before the window
    assert [j.num_gpus for j in read_trace("swf", path, min_gpus=4, max_gpus=8).jobs] == [8]
    assert len(read_trace("swf", path, max_jobs=1).jobs) == 1


def test_a_gang_above_the_gpu_limit_names_its_line(tmp_path: Path) -> None:
    """Every reader of trace records refuses a GPU count no cluster holds (a typo) at
    file:line, before selection, instead of counting absurd GPU-hours."""
    path = tmp_path / "cluster_log.csv"
    path.write_text(HELIOS_HEADER +
                    "1,u,vc,1,1,1,COMPLETED,2020-06-09 18:41:01,2020-06-09 18:41:01,"
                    "2020-06-10 04:55:09,36848,0\n"
                    "2,u,vc,99999999999,1,1,COMPLETED,2020-06-09 18:41:01,"
                    "2020-06-09 18:41:01,2020-06-10 04:55:09,36848,0\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:3: GPU count: got 99,999,999,999, above"):
        read_trace("helios", path)
