"""``--outputs`` chooses the files of a run; ``--json`` alone writes only the summary it
prints; the per-request table written from columns holds the same values as the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gputwin.errors import InputError
from gputwin.run.outputs import OUTPUT_KINDS, parse_outputs

_SERVE = ["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate", "10",
          "--num-requests", "40", "-q"]


def _main(args: list[str]) -> int:
    from gputwin.cli.main import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize(("text", "as_json", "want"), [
    (None, False, {"summary", "parquet"}),
    (None, True, {"summary"}),
    ("csv", True, {"csv"}),
    ("summary, Report", False, {"summary", "report"}),
    ("all", False, set(OUTPUT_KINDS)),
    ("none", False, set()),
])
def test_parse_outputs(text: str | None, as_json: bool, want: set[str]) -> None:
    assert parse_outputs(text, ("summary", "parquet"), as_json) == want


@pytest.mark.parametrize("text", ["xlsx", "csv,html", ","])
def test_parse_outputs_rejects_unknown_names(text: str) -> None:
    with pytest.raises(InputError, match="--outputs"):
        parse_outputs(text, OUTPUT_KINDS, False)


def test_json_alone_writes_only_the_summary(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert _main([*_SERVE, "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "summary.json"]
    assert json.loads((out / "summary.json").read_text()) == printed


def test_outputs_none_writes_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert _main([*_SERVE, "--outputs", "none", "--out", str(out)]) == 0
    assert not out.exists()


def test_cluster_run_outputs_choice(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert _main(["simulate", "--set", "workload.synthetic.num_jobs=20", "--out", str(out),
                  "-q", "--outputs", "parquet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["jobs.parquet", "manifest.json"]


def test_bad_outputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main([*_SERVE, "--outputs", "xlsx", "--out", str(tmp_path / "o")]) == 2
    assert "--outputs" in capsys.readouterr().err


def test_columnar_table_matches_the_records(tmp_path: Path) -> None:
    """Every cell of requests.parquet equals the :class:`RequestRecord` field (None for a
    value that does not exist), for finished, dropped and in-flight requests."""
    from gputwin.run.serving_results import REQUEST_COLUMNS

    out = tmp_path / "o"
    # a short horizon leaves requests in flight; a tiny KV budget is not needed
    assert _main([*_SERVE[:-3], "--num-requests", "200", "--horizon", "8s", "-q",
                  "--ttft-slo", "500ms", "--outputs", "parquet", "--out", str(out)]) == 0
    rows = pq.read_table(out / "requests.parquet").to_pylist()
    assert list(rows[0]) == list(REQUEST_COLUMNS)
    assert {r["status"] for r in rows} >= {"finished", "in_flight"}
    for r in rows:
        done = r["status"] == "finished"
        assert (r["finish_s"] is not None) == done
        assert (r["meets_slo"] is not None) == done
        assert r["truncated"] in (0, 1)


def test_arrow_table_equals_the_row_by_row_records() -> None:
    from gputwin.run.serving_outputs import requests_arrow
    from gputwin.run.serving_results import REQUEST_COLUMNS
    from gputwin.run.simulate_serve import simulate_serving
    from gputwin.scenario.load import resolve_scenario_path
    from gputwin.scenario.serving import load_serving_scenario

    sc = load_serving_scenario(resolve_scenario_path("serve-default"),
                               ["serving.workload.0.num_requests=150"])
    result = simulate_serving(sc)
    got = [tuple(r.values()) for r in requests_arrow(result).to_pylist()]
    # "" marks a missing number in the rows (the CSV convention); reason is text
    want = [tuple(None if v == "" and col != "reason" else v
                  for col, v in zip(REQUEST_COLUMNS, rec.to_row(), strict=True))
            for rec in result.requests]
    assert got == want


@pytest.mark.parametrize("text", ["plain", 'a "quoted", name'])
def test_csv_writer_round_trips_through_the_csv_module(text: str) -> None:
    import csv
    import io

    import pyarrow as pa

    from gputwin.run.outputs import table_csv_writer

    table = pa.table({"id": [1, 2], "ttft_s": [0.25, None], "service": [text, "b"]})
    buf = io.BytesIO()
    table_csv_writer(table)(buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue().decode())))
    assert rows == [{"id": "1", "ttft_s": "0.25", "service": text},
                    {"id": "2", "ttft_s": "", "service": "b"}]
    assert buf.getvalue().startswith(b"id,ttft_s,service\n")
