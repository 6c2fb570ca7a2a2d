"""Philly-derived CSV trace reader: tiny files in tmp_path, and the real file if present."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.scenario.paths import data_dir
from gputwin.workload import read_philly_csv

HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_reads_sorts_and_makes_times_relative(tmp_path: Path) -> None:
    path = write(tmp_path, "2017-10-09 07:01:55,66.0,1,66.0,c1\n"
                           "2017-10-09 06:13:03,2951.0,8,23608.0,c2\n"
                           "\n")
    jobs = read_philly_csv(path, model="llama3-8b")
    assert [j.submit_time_s for j in jobs] == [0.0, 48 * 60 + 52.0]
    first = jobs[0]
    assert (first.num_gpus, first.fixed_duration_s, first.tenant) == (8, 2951.0, "c2")
    assert first.model == "llama3-8b" and not first.is_modelled
    assert [j.job_id for j in jobs] == ["philly-00001", "philly-00002"]


def test_filters(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(
        f"2017-10-09 07:00:{i:02d},10,{g},{10 * g},{c}\n"
        for i, (g, c) in enumerate([(1, "a"), (16, "a"), (2, "b"), (4, "a")])))
    assert [j.num_gpus for j in read_philly_csv(path, cluster="a")] == [1, 16, 4]
    assert [j.num_gpus for j in read_philly_csv(path, max_gpus=4)] == [1, 2, 4]
    assert [j.num_gpus for j in read_philly_csv(path, max_jobs=2)] == [1, 16]


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("2017-13-45 99:00:00,66.0,1,66.0,c", "timestamp"),
        ("2017-10-09 07:01:55,abc,1,66.0,c", "duration"),
        ("2017-10-09 07:01:55,-5,1,66.0,c", "duration"),
        ("2017-10-09 07:01:55,66.0,0,66.0,c", "num_gpus"),
        ("2017-10-09 07:01:55,66.0,1.5,66.0,c", "num_gpus"),
        ("2017-10-09 07:01:55,66.0,1e23,66.0,c", "num_gpus"),  # above MAX_GPUS
        ("2017-10-09 07:01:55,66.0,1,x,c", "gpu_time"),
        ("2017-10-09 07:01:55,66.0,1,66.0", "cluster"),
    ],
)
def test_malformed_line_names_file_line_and_column(tmp_path: Path, row: str, column: str) -> None:
    path = write(tmp_path, "2017-10-09 07:01:55,66.0,1,66.0,ok\n" + row + "\n")
    with pytest.raises(InputError) as info:
        read_philly_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: column '{column}'")
    assert "\n" not in message


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r":1: header lacks column\(s\) gpu_time"):
        read_philly_csv(write(tmp_path, "", header="timestamp,duration,num_gpus,cluster\n"))
    with pytest.raises(InputError, match="trace file not found"):
        read_philly_csv(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty trace"):
        read_philly_csv(empty)


REAL = data_dir() / \
    "traces/philly-adaptdl/philly.csv"


@pytest.mark.skipif(not REAL.is_file(), reason=f"real Philly trace not present at {REAL}")
def test_real_trace() -> None:
    jobs = read_philly_csv(REAL)
    # Published with the AdaptDL artifact: 82,247 jobs, GPU counts up to 128.
    assert len(jobs) == 82_247
    assert max(j.num_gpus for j in jobs) == 128
    assert all(j.fixed_duration_s is not None and j.fixed_duration_s >= 0 for j in jobs)
    # Philly collection window: Sept–Dec 2017 (about 3.5 months).
    span_days = jobs[-1].submit_time_s / 86400
    assert 90 < span_days < 120
