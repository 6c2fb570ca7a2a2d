"""``estimate serve`` facade and CLI: metrics, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli_run import run_cli

from gputwin.errors import DoesNotFitError, InputError
from gputwin.requests import ServeRequest, validated
from gputwin.run.estimate_serve import ServingEstimate, estimate_serve


def serve_of(**fields: object) -> ServingEstimate:
    """``estimate_serve`` from flat keywords."""
    return estimate_serve(validated(ServeRequest, {k: v for k, v in fields.items()
                                                   if k != "catalog"}),
                          catalog=fields.get("catalog"))  # type: ignore[arg-type]

BASE = ["estimate", "serve", "--model", "llama2-70b", "--gpu", "h100-sxm-80gb", "--tp", "8",
        "--input-tokens", "2048", "--output-tokens", "128", "--batch-size", "64"]




def test_json_has_the_promised_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*BASE, "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    for key in ("prefill_time_s", "decode_step_time_s", "ttft_s", "tpot_s",
                "throughput_tokens_per_s", "max_batch_size_by_memory", "e2e_latency_s",
                "weights_bytes_per_gpu", "kv_bytes_per_token_total", "kv_capacity_tokens",
                "max_throughput_tokens_per_s"):
        assert d[key] > 0, key
    assert d["e2e_latency_s"] == pytest.approx(d["ttft_s"] + 127 * d["tpot_s"])
    # throughput: the mean step with every slot's prompt; TPOT: one sequence's steps carry
    # the other 63 slots' prompts, so it is a little shorter
    assert d["throughput_tokens_per_s"] == pytest.approx(64 / d["steady_step_time_s"])
    assert 0.97 * d["steady_step_time_s"] < d["tpot_s"] <= d["steady_step_time_s"]


def test_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*BASE, "--weights", "fp8", "--kv-cache", "fp8"], capsys)
    assert code == 0
    for word in ("TTFT", "TPOT", "throughput", "KV capacity"):
        assert word in out


def test_summary_header_counts_every_gpu_of_a_wide_ep_replica(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Attention data parallelism multiplies the replica's GPUs: 8, not tp x pp = 1."""
    code, out, _ = run_cli(["estimate", "serve", "--model", "qwen3-235b-a22b", "--gpu",
                         "h200-sxm-141gb", "--tp", "1", "--ep", "8", "--dp-attention", "8",
                         "--weights", "fp8", "--input-tokens", "1000", "--output-tokens",
                         "100", "--batch-size", "64"], capsys)
    assert code == 0
    assert "qwen3-235b-a22b on 8 x h200-sxm-141gb, tp1 ep8 dp8," in " ".join(out.split())


def test_summary_header_counts_gpus_not_systems(capsys: pytest.CaptureFixture[str]) -> None:
    """With --system the count is of GPUs, named as such: '2 x h100-sxm-80gb (dgx-h100)'."""
    code, out, _ = run_cli(["estimate", "serve", "--model", "llama3-8b", "--system", "dgx-h100",
                         "--tp", "2", "--input-tokens", "100", "--output-tokens", "10"], capsys)
    assert code == 0
    assert "llama3-8b on 2 x h100-sxm-80gb (dgx-h100), tp2," in " ".join(out.split())


@pytest.mark.parametrize(("extra", "word"), [
    (["--tp", "3"], "--tp: 3"), (["--spec-tokens", "3"], "--draft-model"),
    (["--input-tokens", "5000"], "context"), (["--batch-size", "5000"], "--batch-size"),
    (["--context-buckets", "1024"], "bucket"), (["--context-buckets", "2048,x"],
                                                 "--context-buckets"),
])
def test_bad_input_exit_2(capsys: pytest.CaptureFixture[str], extra: list[str],
                          word: str) -> None:
    code, _, err = run_cli([*BASE, *extra], capsys)
    assert code == 2 and err.startswith("error:") and word in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    # was: "pp x interleave = 200 ...", an option serve does not have
    (["--gpu", "h100-sxm-80gb", "--pp", "200"], "error: --pp: 200 exceeds the 32 layers"),
])
def test_split_messages_fit_the_command(args: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["estimate", "serve", "--model", "llama3-8b", "--input-tokens", "100",
                         "--output-tokens", "10", *args], capsys)
    assert code == 2 and message in err


def test_does_not_fit_states_need_and_capacity() -> None:
    with pytest.raises(DoesNotFitError, match=r"needs .* per GPU .* offers"):
        serve_of(model="llama2-70b", gpu="h100-sxm-80gb", input_tokens=100,
                       output_tokens=10)


def test_ttft_grows_with_prompt_and_batch() -> None:
    kw = {"model": "llama3.1-8b", "gpu": "a100-sxm-80gb", "output_tokens": 64}
    t = [serve_of(input_tokens=n, **kw).ttft_s for n in (256, 1024, 4096)]  # type: ignore[arg-type]
    assert t == sorted(t)
    b = [serve_of(input_tokens=1024, batch_size=n, **kw).ttft_s  # type: ignore[arg-type]
         for n in (1, 8, 32)]
    assert b == sorted(b)


def test_context_buckets_pad_the_prompt_only() -> None:
    kw = {"model": "llama3.3-70b", "system": "trn2-server", "tp": 16, "output_tokens": 500,
          "max_num_batched_tokens": 16384}
    padded = serve_of(input_tokens=10000, context_buckets=[8192, 12288, 16384], **kw)
    plain = serve_of(input_tokens=10000, **kw)
    at_bucket = serve_of(input_tokens=12288, **kw)
    assert padded.ttft_s == pytest.approx(at_bucket.ttft_s)
    assert padded.ttft_s > 1.15 * plain.ttft_s
    assert padded.tpot_s == pytest.approx(plain.tpot_s)  # decode runs the real context
    exact = serve_of(input_tokens=8192, context_buckets=[8192, 12288], **kw)
    assert exact.ttft_s == pytest.approx(serve_of(input_tokens=8192, **kw).ttft_s)


def test_speculation_speedup_reported() -> None:
    est = serve_of(model="llama3-70b", gpu="h100-sxm-80gb", tp=4, input_tokens=512,
                         output_tokens=128, spec_tokens=3, spec_kind="eagle", acceptance=0.8)
    d = est.to_dict()
    assert d["decode_tokens_per_step"] == pytest.approx(1 + 0.8 + 0.64 + 0.512)
    assert d["spec_speedup"] > 1.5


def test_unknown_model_suggests() -> None:
    with pytest.raises(InputError, match="did you mean"):
        serve_of(model="llama2-70", gpu="h100-sxm-80gb", input_tokens=10, output_tokens=10)


@pytest.mark.parametrize("args", [
    # TP across two HGX nodes runs over the scale-out fabric, as simulate serve runs it
    ["--gpu", "h100-sxm-80gb", "--tp", "16"],
    # was refused as "--tp 64 exceeds the 4 GPUs of a gb200-nvl72 node": TP 64 is NVLink
    ["--system", "gb200-nvl72", "--tp", "64", "--pp", "2"],
])
def test_replicas_beyond_a_node_are_estimated(args: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["estimate", "serve", "--model", "llama3-70b", "--input-tokens",
                           "1000", "--output-tokens", "100", "--json", *args], capsys)
    assert code == 0, err
    assert json.loads(out)["tpot_s"] > 0


NIC_LESS_SYSTEM = """systems:
  - name: box-without-nics
    description: an 8-GPU box with no scale-out NICs
    accelerator: h100-sxm-80gb
    num_accelerators: 8
    scale_up_domain_size: 8
    scale_up_fabric: nvlink4
    scale_up_topology: switched
    num_nics: 0
    nic_bandwidth_bytes_per_s: 400Gbps
    scale_out_fabric: ib-ndr
    host_power_w: 4.6kW
    max_power_w: 1kW
    cooling: air
    source: test entry
"""


def test_a_system_without_nics_is_estimated_without_a_kv_hand_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No scale-out NICs: no prefill-to-decode KV hand-off to price (was: 'KV transfer
    bandwidth must be positive' for every estimate on such a box)."""
    from gputwin.catalog.loader import CATALOG_ENV

    # --catalog adds the file to the process's catalogs: restore them after this test
    monkeypatch.setenv(CATALOG_ENV, "")
    overlay = tmp_path / "box.yaml"
    overlay.write_text(NIC_LESS_SYSTEM)
    args = ["--catalog", str(overlay), "estimate", "serve", "--model", "llama3-8b", "--system",
            "box-without-nics", "--tp", "2", "--input-tokens", "100", "--output-tokens", "10",
            "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["tpot_s"] > 0 and "kv_transfer_time_s" not in data
