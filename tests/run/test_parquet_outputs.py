"""Per-job and per-request results are also written as Parquet (typed columns, nulls),
with the same rows as the CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq

from gputwin.cli.main import main


def _run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code


def _same_rows(folder: Path, stem: str) -> None:
    with (folder / f"{stem}.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    table = pq.read_table(folder / f"{stem}.parquet")
    assert table.num_rows == len(rows) > 0
    assert table.column_names == list(rows[0])
    first = table.slice(0, 1).to_pylist()[0]
    for key, text in rows[0].items():
        value = first[key]
        if value is None:  # a missing value: an empty CSV cell, a Parquet null
            assert text == "", key
        elif isinstance(value, str):
            assert text == value, key
        else:
            assert float(text) == float(value), key


def test_cluster_run_writes_jobs_parquet(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(["simulate", "--set", "workload.synthetic.num_jobs=30", "--out", str(out), "-q"])
    _same_rows(out, "jobs")
    assert pq.read_schema(out / "jobs.parquet").field("num_gpus").type.bit_width == 64


def test_serving_run_writes_requests_parquet(tmp_path: Path) -> None:
    out = tmp_path / "serve"
    _run(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate",
          "20", "--num-requests", "200", "--out", str(out), "-q", "--outputs", "all"])
    _same_rows(out, "requests")


def test_blank_cells_of_numeric_columns_become_nulls() -> None:
    import io

    from gputwin.run.outputs import table_parquet

    data = table_parquet(["id", "ttft_s", "reason"], [(1, 0.5, ""), (2, "", "dropped")])
    table = pq.read_table(io.BytesIO(data))
    assert table.column("ttft_s").to_pylist() == [0.5, None]
    assert table.column("reason").to_pylist() == ["", "dropped"]
