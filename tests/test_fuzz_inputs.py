"""Fuzzed inputs that crashed or passed silently: each now exits 2 with one line naming
the place (flag, file:line or scenario key), and no output folder is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_run import run_cli

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
SCENARIOS = Path(__file__).resolve().parents[1] / "src" / "gputwin" / "scenarios"




def _fails_cleanly(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    for needle in needles:
        assert needle in err, err


def test_infinite_ep_imbalance_is_refused_by_estimate_serve(
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0 with infinite times and "Infinity" (not JSON) on stdout
    code, out, err = run_cli(["estimate", "serve", "--model", "deepseek-v3", "--gpu",
                              "h200-sxm-141gb", "--tp", "8", "--ep", "8", "--weights", "fp8",
                              "--input-tokens", "100", "--output-tokens", "10",
                              "--ep-imbalance", "inf", "--json"], capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, "Invalid value for '--ep-imbalance': expected a finite number, "
                        "got 'inf'")


def test_infinite_ep_imbalance_is_refused_by_simulate_serve(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: SimulationError traceback (a step scheduled at t=inf)
    code, _, err = run_cli(["simulate", "serve", "--model", "deepseek-v3", "--gpu",
                            "h200-sxm-141gb", "--tp", "8", "--ep", "8", "--weights", "fp8",
                            "--rate", "5", "--num-requests", "10", "--ep-imbalance", "inf",
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "Invalid value for '--ep-imbalance': expected a finite number, "
                        "got 'inf'")


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--speedup", "-1", "> 0"), ("--speedup", "0", "> 0"),
    ("--acceptance", "-1", "in [0, 1]"), ("--acceptance", "1.5", "in [0, 1]")])
def test_simulate_serve_refuses_an_out_of_range_flag_it_would_not_use(
        flag: str, value: str, expected: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0 -- --speedup was checked only with --trace, --acceptance only with
    # --spec-tokens
    code, _, err = run_cli(["simulate", "serve", "--rate", "5", "--num-requests", "3",
                            flag, value, "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, f"Invalid value for '{flag}': expected a finite number {expected}, "
                        f"got '{value}'")


@pytest.mark.parametrize("rate", ["inf", "nan"])
def test_plan_serve_refuses_a_non_finite_rate(rate: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # was (inf): OverflowError traceback in the replica count
    code, _, err = run_cli(["plan", "serve", "--model", "llama3-8b", "--rate", rate,
                            "--input-tokens", "100", "--output-tokens", "10",
                            "--ttft-slo", "1s"], capsys)
    assert code == 2
    _fails_cleanly(err, f"Invalid value for '--rate': expected a finite number, got '{rate}'")


def test_plan_serve_refuses_an_unknown_weight_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0, "no deployment met the SLOs" after rejecting every shape
    code, _, err = run_cli(["plan", "serve", "--model", "llama3-8b", "--rate", "5",
                            "--input-tokens", "100", "--output-tokens", "10",
                            "--ttft-slo", "1s", "--weights", "fp9"], capsys)
    assert code == 2
    _fails_cleanly(err, "--weights: unknown weight dtype(s) ['fp9']", "fp8")


def test_plan_serve_refuses_an_unusable_out_folder_before_searching(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: FileNotFoundError traceback after the whole search and its simulations
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "plan"
    code, _, err = run_cli(["plan", "serve", "--model", "llama3-8b", "--rate", "5",
                            "--input-tokens", "100", "--output-tokens", "10",
                            "--ttft-slo", "1s", "--gpu", "h100-sxm-80gb",
                            "--out", str(out)], capsys)
    assert code == 2
    _fails_cleanly(err, f"--out {out}: cannot create output folder: {blocker} is not a "
                        "directory")


@pytest.mark.parametrize("tokens", ["99999999999999999999999", "3000000000"])
def test_huge_token_count_in_an_azure_trace_names_the_line(
        tokens: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: OverflowError traceback building the int64 request table
    trace = tmp_path / "azure.csv"
    trace.write_text(AZURE_HEADER + f"2023-11-16 18:15:46.68,{tokens},44\n")
    code, _, err = run_cli(["simulate", "serve", "--model", "llama3.1-8b", "--trace",
                            str(trace), "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "azure.csv:2: column 'ContextTokens': expected an integer <= "
                        "2,147,483,647")


def test_huge_token_count_in_a_mooncake_trace_names_the_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "mc.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 3000000000, "output_length": 5}\n')
    code, _, err = run_cli(["simulate", "serve", "--model", "llama3.1-8b", "--trace",
                            str(trace), "--trace-format", "mooncake",
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2
    _fails_cleanly(err, "mc.jsonl:1: column 'input_length': expected an integer <=")


def test_burstgpt_reader_refuses_a_huge_token_count(tmp_path: Path) -> None:
    from gputwin.errors import InputError
    from gputwin.workload.llm_burstgpt import read_burstgpt_csv

    trace = tmp_path / "b.csv"
    trace.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                     "5,ChatGPT,3000000000,10,3000000010,Conversation log\n")
    with pytest.raises(InputError, match=r"b\.csv:2: column 'Request tokens': expected an "
                                         r"integer <="):
        read_burstgpt_csv(trace)


@pytest.mark.parametrize(("name", "text", "fmt"), [
    ("header.csv", AZURE_HEADER, "azure"),
    ("empty.jsonl", "", "mooncake"),
])
def test_a_trace_without_requests_is_refused(name: str, text: str, fmt: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0 and a summary of 0 requests
    err = _serve_trace_refused(tmp_path, name, text, fmt, capsys)
    _fails_cleanly(err, f"{name}: the {fmt} trace holds no request")


def _serve_trace_refused(tmp_path: Path, name: str, text: str, fmt: str,
                         capsys: pytest.CaptureFixture[str]) -> str:
    """``simulate serve`` on a trace file ``name`` holding ``text``: exit 2 with nothing
    written; returns stderr."""
    trace = tmp_path / name
    trace.write_text(text)
    code, _, err = run_cli(["simulate", "serve", "--model", "llama3.1-8b", "--trace",
                            str(trace), "--trace-format", fmt,
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    return err


@pytest.mark.parametrize(("text", "settings"), [
    ("timestamp,duration,num_gpus,gpu_time,cluster\n", []),
    ("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,c1\n",
     ["--set", "cluster=zzz"]),
])
def test_workload_stats_refuses_a_cluster_trace_of_no_job(
        text: str, settings: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0 and "no jobs", while a header-only azure trace is refused
    trace = tmp_path / "philly.csv"
    trace.write_text(text)
    code, out, err = run_cli(["workload", "stats", "--format", "philly_csv", str(trace),
                              *settings], capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, f"{trace}: the philly_csv trace holds no job")


def test_a_trace_cluster_filter_matching_no_job_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0 and a run of 0 jobs
    trace = tmp_path / "philly.csv"
    trace.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n"
                     "2017-10-09 07:01:55,66.0,1,66.0,c1\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\ncluster: {system: dgx-a100, num_nodes: 2}\n"
                        f"workload:\n  trace: {{format: philly_csv, path: {trace}, "
                        "cluster: nope}\n")
    code, _, err = run_cli(["simulate", str(scenario), "--out", str(tmp_path / "o"), "-q"],
                           capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "workload.trace.cluster ('nope'): no job of", "is selected")


@pytest.mark.parametrize(("line", "where"), [
    ("      tp: 3", "serving.services[0].tp: 3 does not divide the 32 attention heads"),
    ("      ep: 2", "serving.services[0].ep: 2 needs a mixture-of-experts model"),
    ("      ep_imbalance: .inf", "serving.services[0].ep_imbalance: Input should be a finite"),
])
def test_serving_scenario_errors_name_the_service_key(
        line: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was (tp/ep): "--tp: ..." (a CLI flag the scenario's author never typed), no file
    text = (SCENARIOS / "serve-default.yaml").read_text()
    text = text.replace("      gpu: h100-sxm-80gb\n", f"      gpu: h100-sxm-80gb\n{line}\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    code, _, err = run_cli(["simulate", str(scenario), "--out", str(tmp_path / "o"), "-q"],
                           capsys)
    assert code == 2
    _fails_cleanly(err, f"s.yaml:16: {where}")


@pytest.mark.parametrize(("old", "new", "where"), [
    ("weight: 10,", "weight: .inf,", "workload.synthetic.templates[0].weight"),
    ("oversubscription: 2.0", "oversubscription: .inf", "cluster.network.oversubscription"),
])
def test_cluster_scenario_refuses_infinite_numbers(
        old: str, new: str, where: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: ValueError / pydantic ValidationError tracebacks
    scenario = tmp_path / "s.yaml"
    scenario.write_text((SCENARIOS / "default.yaml").read_text().replace(old, new))
    code, _, err = run_cli(["simulate", str(scenario), "--out", str(tmp_path / "o"), "-q"],
                           capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, f"{where}: Input should be a finite number (got inf)")


@pytest.mark.parametrize(("scenario", "override", "field"), [
    ("default", "foo.bar=1", "foo"),
    ("serve-default", "foo=1", "foo"),
    ("serve-default", "serving.services.0.tp=0", "serving.services[0].tp"),
    # was: "<site-packages>/scenarios/serve-default.yaml:25: serving.workload[0].num_requests"
    # (the file's 3000, not the 0 given): the source's union tag hid the override
    ("serve-default", "serving.workload.0.num_requests=0", "serving.workload[0].num_requests"),
    ("serve-default", "serving.workload.0.warmup_requests=5000",
     "serving.workload[0].warmup_requests"),
])
def test_a_bad_override_is_named_not_the_bundled_file(
        scenario: str, override: str, field: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: "<site-packages>/scenarios/default.yaml:3: foo: unknown field" (a line of the
    # bundled file the user never edited) for a new key, and always for serving scenarios
    code, _, err = run_cli(["simulate", scenario, "--set", override,
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, f"error: --set {override}: {field}: ")
    assert ".yaml" not in err


def test_a_folder_given_as_a_trace_file_says_so(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # was: "--trace: file not found (looked in <the folder>; ...)" for a path that exists
    code, _, err = run_cli(["simulate", "serve", "--model", "llama3.1-8b", "--trace",
                            str(tmp_path), "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, f"--trace: expected a file, got a folder: {tmp_path}")


def test_out_of_memory_with_a_draft_model_names_the_draft(
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: "llama3-8b needs 150.2 GiB per GPU ... (weights 146.4 GiB)": the 70B draft's
    # weights counted without a word, as if the 8B model needed them
    code, out, err = run_cli(["estimate", "serve", "--model", "llama3-8b", "--gpu",
                              "h100-sxm-80gb", "--input-tokens", "100", "--output-tokens",
                              "10", "--draft-model", "llama3-70b", "--spec-tokens", "2",
                              "--json"], capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, "llama3-8b with draft model llama3-70b needs ")


TRAIN = ["estimate", "train", "--model", "gpt3-175b", "--gpu", "a100-sxm-80gb", "--num-gpus",
         "64", "--tp", "8", "--pp", "8", "--global-batch-size", "64"]
ENERGY = ["estimate", "energy", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
          "--num-gpus", "8", "--gpu-hours", "100"]


@pytest.mark.parametrize("value", ["-1", "0", "-0"])
def test_a_count_that_must_be_positive_says_so_for_zero_and_negatives(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    # was: -1 "expected a non-negative number", while 0 was refused too ("greater than 0")
    code, out, err = run_cli(["estimate", "tco", "--model", "llama3-8b", "--tokens-per-day",
                              value], capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, "Invalid value for '--tokens-per-day': expected a positive number, "
                        f"got '{value}'")


def test_the_python_api_refuses_zero_tokens_per_day_with_the_same_words() -> None:
    from gputwin.errors import InputError
    from gputwin.run.estimate_tco import tco_request

    for value in (0, -1.0, "0", "-2T"):
        with pytest.raises(InputError, match=r"^--tokens-per-day: expected a positive number"):
            tco_request({"model": "llama3-8b", "tokens_per_day": value})


@pytest.mark.parametrize(("args", "message"), [
    # was: "tokens:", "checkpoint_interval_s:", "oversubscription:" (request fields)
    ([*TRAIN, "--tokens", "0"],
     "Invalid value for '--tokens': expected a positive number, got '0'"),
    ([*TRAIN, "--checkpoint-interval", "0"], "--checkpoint-interval: Input should be greater"),
    ([*TRAIN, "--oversubscription", "0.5"], "--oversubscription: Input should be greater"),
    # was: "pue:", "power_cap_w:", "carbon_intensity_g_per_kwh:"
    ([*ENERGY, "--pue", "0.5"], "--pue: Input should be greater than or equal to 1"),
    ([*ENERGY, "--power-cap", "-1"], "--power-cap: Input should be greater than 0"),
    ([*ENERGY, "--carbon-intensity", "-1"], "--carbon-intensity: Input should be greater"),
    # was: "--prefix-hit-frac:", a flag that does not exist
    (["estimate", "rag", "--prefix-hit", "-1"], "--prefix-hit: Input should be greater"),
    (["estimate", "rag", "--corpus", "3", "--shards", "4"], "--shards: more shards than"),
    (["estimate", "rag", "--index", "ivf_pq", "--pq-bytes", "100000"], "--pq-bytes: PQ code"),
])
def test_request_errors_name_the_flag_not_the_field(args: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, f"error: {message}")


def test_option_of_reads_the_flag_from_the_command() -> None:
    import click

    from gputwin.cli.options import option_of

    @click.command()
    @click.option("--tp", type=int)
    @click.option("--busy-frac", "compute_frac", type=float)
    @click.option("--index", "index_kind")
    def command(**_: object) -> None:
        """A command."""

    where = option_of(command)
    assert where("compute_frac") == "--busy-frac"  # a renamed option
    assert where("layout.tp") == "--tp"  # a nested field: its innermost option
    assert where("index_kind") == "--index"
    assert where("model_overrides") == "model_overrides"  # no option: the path as given


@pytest.mark.parametrize(("argv", "flag"), [
    (["estimate", "serve", "--model", "llama3-8b", "--gpu", "nosuch", "--input-tokens", "10",
      "--output-tokens", "10"], "--gpu"),
    (["estimate", "train", "--model", "llama3-8b", "--gpu", "nosuch", "--num-gpus", "8",
      "--global-batch-size", "8"], "--gpu"),
    (["estimate", "train", "--model", "llama3-8b", "--system", "nosuch", "--num-gpus", "8",
      "--global-batch-size", "8"], "--system"),
    (["estimate", "train", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus", "8",
      "--global-batch-size", "8", "--fabric", "nosuch"], "--fabric"),
    (["estimate", "energy", "--model", "llama3-8b", "--gpu", "nosuch", "--num-gpus", "8",
      "--tokens", "1e9"], "--gpu"),
    (["estimate", "collective", "--op", "all_reduce", "--size", "1GiB", "--num-gpus", "16",
      "--gpu", "nosuch"], "--gpu"),
    (["estimate", "video", "--model", "flux.1-dev", "--gpu", "nosuch"], "--gpu"),
    (["plan", "train", "--model", "llama3-8b", "--gpu", "nosuch", "--num-gpus", "8"], "--gpu"),
], ids=["serve", "train-gpu", "train-system", "train-fabric", "energy", "collective", "video",
        "plan-train"])
def test_unknown_hardware_names_its_flag(argv: list[str], flag: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, f"error: {flag}: unknown ", "'nosuch'")


def test_a_batch_in_both_or_neither_unit_names_both_flags(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["estimate", "train", "--model", "llama3-8b", "--gpu",
                            "h100-sxm-80gb", "--num-gpus", "8"], capsys)
    assert code == 2
    _fails_cleanly(err, "--global-batch-size (sequences) or --global-batch-tokens",
                   "neither given")


@pytest.mark.parametrize(("name", "text", "fmt", "columns"), [
    # was: ContextTokens 1, GeneratedTokens 234 (the rest dropped) and exit 0
    ("azure.csv", AZURE_HEADER + "2023-11-16 18:15:46.68,1,234,5\n", "azure", 3),
    ("burst.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                  "5,ChatGPT,1,200,10,1210,Conversation log\n", "burstgpt", 6),
])
def test_an_llm_trace_row_wider_than_its_header_is_refused(
        name: str, text: str, fmt: str, columns: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    err = _serve_trace_refused(tmp_path, name, text, fmt, capsys)
    _fails_cleanly(err, f"{name}:2: expected {columns} columns as in the header, got "
                        f"{columns + 1}")


@pytest.mark.parametrize(("fmt", "text"), [
    # was: num_gpus 1, gpu_time 0 (the "1,000" of 1,000 GPU-seconds split) and exit 0
    ("philly_csv", "timestamp,duration,num_gpus,gpu_time,cluster\n"
                   "2017-10-09 07:01:55,66.0,1,1,000,c1\n"),
    ("helios", "job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,"
               "end_time,duration,queue\n"
               "1,u,vc1,1,1,1,COMPLETED,2020-06-09 18:41:01,2020-06-09 18:41:01,"
               "2020-06-10 04:55:09,36,848,0\n"),
])
def test_a_cluster_trace_row_wider_than_its_header_is_refused(
        fmt: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(text)
    code, out, err = run_cli(["workload", "stats", "--format", fmt, str(trace)], capsys)
    assert code == 2 and out == ""
    _fails_cleanly(err, f"{trace}:2: expected ", " columns as in the header, got ")


def test_a_trailing_comma_is_not_a_wider_row(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "azure.csv"
    trace.write_text(AZURE_HEADER + "2023-11-16 18:15:46.68,100,5,\n")
    code, out, err = run_cli(["simulate", "serve", "--model", "llama3.1-8b", "--trace",
                              str(trace), "--outputs", "none", "-q", "--json"], capsys)
    assert code == 0, err
    assert '"finished": 1' in out


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HUGE = "99999999999999999999"


@pytest.mark.parametrize(("key", "value", "message"), [
    # was: ValueError "Maximum allowed size exceeded" (a weight per chunk)
    ("num_chunks", HUGE, ".num_chunks: got 99,999,999,999,999,999,999, above the limit of "
                         "10,000,000 corpus chunks"),
    # was: OverflowError tracebacks building the request table
    ("chunk_tokens", HUGE, ".chunk_tokens: got 99,999,999,999,999,999,999, above the limit of "
                           "2,147,483,647 tokens"),
    ("query.high", HUGE, ".query.high: got 99,999,999,999,999,999,999, above the limit of "
                         "2,147,483,647 tokens"),
    # was: a loop over 10^17 system-prompt blocks per request that never ended
    ("system_tokens", "2000000000", ": num_requests x blocks per prompt (3,906,255: "),
    ("chunks_per_request", "30000", ": chunks_per_request (30000) exceeds num_chunks (20000)"),
    ("pipeline.embedder.replicas", HUGE,
     ".pipeline.embedder.replicas: got 99,999,999,999,999,999,999, above the limit of 10,000 "
     "replicas"),
    ("pipeline.index.threads", HUGE, ".pipeline.index: replicas x threads: got "),
    ("pipeline.bm25.threads", HUGE, ".pipeline.bm25: replicas x threads: got "),
])
def test_a_rag_source_too_large_to_generate_names_its_key(
        key: str, value: str, message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["simulate", str(EXAMPLES / "rag.yaml"), "--set",
                            f"serving.workload.0.{key}={value}",
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, f"serving.workload[0]{message}")


def test_a_synthetic_length_beyond_the_token_limit_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: "ValueError: high is out of bounds for int64" traceback while drawing
    code, _, err = run_cli(["simulate", "serve-default", "--set",
                            "serving.workload.0.prompt={dist: uniform, low: 5, high: "
                            f"{HUGE}}}", "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "serving.workload[0].prompt.high: got 99,999,999,999,999,999,999, "
                        "above the limit of 2,147,483,647 tokens")


@pytest.mark.parametrize(("key", "value"), [
    # was: a fleet of 10^20 replicas being built (never returned)
    ("disaggregation", f"{{prefill_replicas: {HUGE}, decode_replicas: 1}}"),
    ("disaggregation", f"{{prefill_replicas: 1, decode_replicas: {HUGE}}}"),
    ("autoscaler", f"{{min_replicas: 1, max_replicas: {HUGE}}}"),
])
def test_replica_counts_of_pools_and_autoscalers_are_bounded(
        key: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["simulate", "serve-default", "--set",
                            f"serving.services.0.{key}={value}",
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, f"serving.services[0].{key}.", "replicas: got 99,999,999,999,999,999,"
                        "999, above the limit of 10,000 replicas per service")


@pytest.mark.parametrize("tp", ["3", HUGE])
def test_a_prefill_layout_split_is_checked_at_its_key_when_loading(
        tp: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: "service 'reasoning': disaggregation.prefill_layout: tp: 3 does not divide ..."
    # (no file, no line) once the run had built the decode pool
    code, _, err = run_cli(["simulate", str(EXAMPLES / "disagg-layouts.yaml"), "--set",
                            f"serving.services.0.disaggregation.prefill_layout.tp={tp}",
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "disagg-layouts.yaml:24: serving.services[0].disaggregation."
                        f"prefill_layout.tp: {tp} does not divide the 128 attention heads")


def test_replicas_beside_disaggregated_pools_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: exit 0, a 1 + 1 replica run: --replicas 3 (the pools' counts replace it) dropped
    # without a word
    code, _, err = run_cli(["simulate", "serve", "--rate", "5", "--num-requests", "5",
                            "--disaggregate", "1:1", "--replicas", "3",
                            "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "error: --disaggregate: replicas (3) counts colocated replicas")
    scenario = tmp_path / "s.yaml"
    scenario.write_text((SCENARIOS / "serve-default.yaml").read_text().replace(
        "      replicas: 2\n",
        "      replicas: 2\n      disaggregation: {prefill_replicas: 1, decode_replicas: 1}\n"))
    code, _, err = run_cli(["simulate", str(scenario), "--out", str(tmp_path / "o"), "-q"],
                           capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "s.yaml:17: serving.services[0].disaggregation: replicas (2) counts")


def test_a_warmup_of_every_request_is_named_at_its_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: "error: options: serving.workload[0].synthetic: warmup_requests (20) ..."
    code, _, err = run_cli(["simulate", "serve", "--rate", "5", "--num-requests", "20",
                            "--warmup-requests", "20", "--out", str(tmp_path / "o"), "-q"],
                           capsys)
    assert code == 2 and not (tmp_path / "o").exists()
    _fails_cleanly(err, "error: --warmup-requests: must be below num_requests (20)")
