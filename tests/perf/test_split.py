"""The one split check (perf.split): each rule, and the caller's place in its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.schema import System
from gputwin.errors import InputError
from gputwin.perf.split import Split, check_split, cli_flag, split_problem
from gputwin.scenario.load import load_scenario
from gputwin.scenario.serving import load_serving_scenario

CAT = default_catalog()


@pytest.mark.parametrize(("model", "split", "kw", "param", "needle"), [
    ("llama3-8b", Split(tp=3), {}, "tp", "32 attention heads"),
    ("llama3-70b", Split(tp=16), {}, "tp", None),  # 16 divides 64 heads and 8 KV heads divide 16
    ("gpt3-175b", Split(tp=5), {}, "tp", "96 attention heads"),
    ("llama3-8b", Split(pp=33), {}, "pp", "33 exceeds the 32 layers of llama3-8b"),
    ("llama3-8b", Split(pp=8, interleave=5), {}, "interleave", "pp x interleave = 40 exceeds"),
    ("llama3-8b", Split(interleave=2), {}, "interleave", "needs pp > 1"),
    ("llama3-8b", Split(cp=4), {"seq_len": 4100}, "seq_len", "2 x cp = 8"),
    ("llama3-8b", Split(ep=2), {}, "ep", "dense"),
    ("mixtral-8x7b", Split(ep=3), {}, "ep", "8 experts"),
    ("llama3-8b", Split(tp=8), {"num_gpus": 12}, "num_gpus", "tp x pp x cp = 8"),
    ("mixtral-8x7b", Split(tp=2, ep=8), {"num_gpus": 8}, "ep", "dp x cp = 4"),
    ("llama3-8b", Split(tp=0), {}, "tp", "positive integer"),
])
def test_each_rule_names_its_parameter(model: str, split: Split, kw: dict[str, int],
                                       param: str, needle: str | None) -> None:
    problem = split_problem(CAT.model(model), split, **kw)  # type: ignore[arg-type]
    if needle is None:
        assert problem is None
        return
    assert problem is not None
    assert problem.param == param
    assert needle in problem.message


def test_valid_splits_pass() -> None:
    assert split_problem(CAT.model("llama3.1-405b"), Split(tp=8, pp=16, interleave=2),
                         seq_len=8192, num_gpus=16384) is None
    assert split_problem(CAT.model("mixtral-8x7b"), Split(tp=2, ep=8), num_gpus=64) is None


def test_serving_may_place_experts_outside_data_parallel_ranks() -> None:
    model = CAT.model("mixtral-8x7b")
    assert split_problem(model, Split(tp=8, ep=8), num_gpus=8) is not None
    assert split_problem(model, Split(tp=8, ep=8), num_gpus=8, ep_over_dp=False) is None


def test_error_carries_the_callers_place() -> None:
    model = CAT.model("llama3-8b")
    with pytest.raises(InputError) as cli:
        check_split(model, Split(tp=3), where=cli_flag)
    assert str(cli.value).startswith("--tp: 3 does not divide")
    with pytest.raises(InputError) as yaml:
        check_split(model, Split(cp=2), seq_len=4099, where=lambda p: f"job.yaml:7: {p}")
    assert str(yaml.value).startswith("job.yaml:7: seq_len: 4099")


def _scenario(tmp_path: Path, template: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(f"""name: bad-split
cluster:
  system: dgx-h100
  num_nodes: 4
workload:
  synthetic:
    num_jobs: 5
    arrival: {{process: poisson, mean_interarrival: 25min}}
    templates:
      - model: llama3-8b
        global_batch_size: 64
        tokens: 1e9
{template}""")
    return path


@pytest.mark.parametrize(("template", "where"), [
    ("        num_gpus: 24\n        tp: 3\n", "bad.yaml:14: workload.synthetic.templates[0].tp"),
    ("        num_gpus: [8, 12]\n        tp: 8\n",
     "bad.yaml:13: workload.synthetic.templates[0].num_gpus"),
    ("        num_gpus: 8\n        cp: 2\n        seq_len: 4099\n",
     "bad.yaml:15: workload.synthetic.templates[0].seq_len"),
])
def test_scenario_split_error_names_file_line_and_key(tmp_path: Path, template: str,
                                                      where: str) -> None:
    with pytest.raises(InputError) as exc:
        load_scenario(_scenario(tmp_path, template))
    assert f"{tmp_path}/{where}: " in str(exc.value)


@pytest.mark.parametrize(("split", "label", "gpus"), [
    (Split(tp=4), "tp4", 4),
    (Split(tp=4, pp=2), "tp4 pp2", 8),
    (Split(tp=2, cp=2, ep=4), "tp2 cp2 ep4", 4),
    (Split(tp=1, ep=8, dp_attention=8), "tp1 ep8 dp8", 8),
])
def test_split_label_and_replica_gpus(split: Split, label: str, gpus: int) -> None:
    assert split.label == label
    assert split.replica_gpus == gpus


def test_too_many_stages_without_interleave_never_mention_it() -> None:
    # was: "pp x interleave = 200 ..." from estimate serve, which has no interleave option
    problem = split_problem(CAT.model("llama3-8b"), Split(pp=200))
    assert problem is not None and "interleave" not in problem.message


def _system(num_nics: int) -> System:
    return CAT.system("dgx-h100").model_copy(update={"name": "my-node", "num_nics": num_nics})


@pytest.mark.parametrize(("split", "param", "needle"), [
    (Split(tp=16), "tp", "--tp: 16 GPUs span more than one scale-up domain (8 GPUs of my-node)"),
    (Split(tp=8, pp=2), "pp", "--pp: tp x pp = 16 GPUs span"),
    (Split(tp=8, ep=16, dp_attention=2), "dp_attention", "--dp-attention: tp x dp_attention = 16"),
])
def test_a_replica_beyond_the_domain_needs_scale_out_nics(split: Split, param: str,
                                                          needle: str) -> None:
    model = CAT.model("deepseek-v3" if split.dp_attention > 1 else "llama3-70b")
    problem = split_problem(model, split, ep_over_dp=False, system=_system(0))
    assert problem is not None and problem.param == param
    with pytest.raises(InputError, match="has no scale-out NIC") as err:
        check_split(model, split, ep_over_dp=False, system=_system(0))
    assert str(err.value).startswith(needle)
    # with NICs the replica spans nodes over the scale-out fabric
    assert split_problem(model, split, ep_over_dp=False, system=_system(8)) is None
    # inside the domain no NIC is needed
    assert split_problem(model, Split(tp=8), ep_over_dp=False, system=_system(0)) is None


NO_NIC_CATALOG = """systems:
  - name: my-node
    description: an HGX node without scale-out NICs
    accelerator: h100-sxm-80gb
    num_accelerators: 8
    scale_up_domain_size: 8
    scale_up_fabric: nvlink4
    num_nics: 0
    nic_bandwidth_bytes_per_s: 400Gbps
    scale_out_fabric: ib-ndr
    host_power_w: 4.6kW
    max_power_w: 10kW
    source: a test entry
"""


def test_estimate_and_simulate_serve_apply_the_same_span_rule(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gputwin.catalog.loader import CATALOG_ENV
    from gputwin.cli.main import main

    monkeypatch.setenv(CATALOG_ENV, "")  # --catalog adds to it: restored after the test

    cat = tmp_path / "cat.yaml"
    cat.write_text(NO_NIC_CATALOG)
    common = ["--catalog", str(cat), "--model", "llama3-70b", "--system", "my-node",
              "--input-tokens", "100", "--output-tokens", "10"]
    errors = []
    for command in (["estimate", "serve", "--tp", "16"],
                    ["simulate", "serve", "--tp", "16", "--rate", "1", "--num-requests", "5",
                     "--out", str(tmp_path / "out")]):
        with pytest.raises(SystemExit) as done:
            main([*command, *common])
        errors.append(capsys.readouterr().err)
        assert done.value.code == 2, errors[-1]
    assert errors[0] == errors[1]
    assert errors[0].startswith("error: --tp: 16 GPUs span more than one scale-up domain")
    # a TP group inside the node needs no NIC (was: "has no scale-out NIC; cannot span nodes")
    main(["simulate", "serve", "--tp", "8", "--rate", "1", "--num-requests", "5",
          "--out", str(tmp_path / "ok"), *common])  # exits only on an error
    assert (tmp_path / "ok" / "summary.json").is_file(), capsys.readouterr().err


def test_serving_scenario_names_the_services_key(tmp_path: Path) -> None:
    cat = tmp_path / "cat.yaml"
    cat.write_text(NO_NIC_CATALOG)
    path = tmp_path / "serve.yaml"
    path.write_text(f"""name: span
catalog: [{cat}]
serving:
  services:
    - model: llama3-70b
      system: my-node
      tp: 8
      pp: 2
  workload:
    - kind: synthetic
      num_requests: 5
      arrival: {{process: poisson, rate: 1}}
""")
    with pytest.raises(InputError) as exc:
        load_serving_scenario(path)
    assert f"{path}:8: serving.services[0].pp: tp x pp = 16 GPUs span" in str(exc.value)
