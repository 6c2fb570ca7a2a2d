"""A malformed catalog file gives one error naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.catalog.loader import DATA_DIR, load_catalog
from gputwin.errors import InputError

GOOD_ACCEL = """\
accelerators:
  - name: toy-gpu
    vendor: nobody
    peak_flop_per_s: {bf16: 100TFLOPS}
    memory_bytes: 16GiB
    memory_bandwidth_bytes_per_s: 1TB/s
    scale_up_bandwidth_bytes_per_s: 0
    tdp_w: 300W
    idle_w: 30W
    source: "made up for a test"
"""


def load_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    return path


def test_good_user_file_extends_the_catalog(tmp_path: Path) -> None:
    cat = load_catalog([*sorted(DATA_DIR.glob("*.yaml")), load_text(tmp_path, GOOD_ACCEL)])
    assert cat.accelerator("toy-gpu").memory_bytes == 16 * 2**30


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [
        ("memory_bytes: 16GiB", "memory_bytes: sixteen", 5, "accelerators[0].memory_bytes"),
        ("tdp_w: 300W", "tdp_w: 300W\n    colour: green", 9, "accelerators[0].colour"),
        ("peak_flop_per_s: {bf16: 100TFLOPS}", "peak_flop_per_s: {bf17: 100TFLOPS}", 4,
         "peak_flop_per_s.bf17"),
        ('    source: "made up for a test"\n', "", 2, "accelerators[0].source"),
        ("peak_flop_per_s: {bf16: 100TFLOPS}", "peak_flop_per_s: {bf16: 0TFLOPS}", 4,
         "accelerators[0].peak_flop_per_s.bf16: Input should be greater than 0"),
        ("memory_bytes: 16GiB", "memory_bytes: 0GiB", 5,
         "accelerators[0].memory_bytes: Input should be greater than 0"),
        ("memory_bandwidth_bytes_per_s: 1TB/s", "memory_bandwidth_bytes_per_s: 0", 6,
         "accelerators[0].memory_bandwidth_bytes_per_s: Input should be greater than 0"),
        ("tdp_w: 300W", "tdp_w: 0W", 8, "accelerators[0].tdp_w: Input should be greater than 0"),
    ],
    ids=["bad-unit", "unknown-field", "unknown-dtype", "missing-source", "zero-flops",
         "zero-memory", "zero-bandwidth", "zero-tdp"],
)
def test_error_names_file_line_and_field(tmp_path: Path, old: str, new: str, line: int,
                                         needle: str) -> None:
    assert old in GOOD_ACCEL
    _refused_at(tmp_path, GOOD_ACCEL.replace(old, new), line, needle)


def test_duplicate_across_files_names_both(tmp_path: Path) -> None:
    first = load_text(tmp_path, GOOD_ACCEL)
    second = tmp_path / "again.yaml"
    second.write_text(GOOD_ACCEL)
    with pytest.raises(InputError, match=r"duplicate accelerator 'toy-gpu'.*extra.yaml"):
        load_catalog([first, second])


def test_the_same_file_given_twice_is_read_once(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # was: "duplicate accelerator 'toy-gpu' (first defined in <the same file>)"
    path = load_text(tmp_path, GOOD_ACCEL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.yaml").symlink_to(path)
    for paths in ([path, path], [path, Path(path.name)], [path, tmp_path / "link.yaml"]):
        assert list(load_catalog(paths).accelerators) == ["toy-gpu"]


def test_invalid_yaml_syntax_names_line(tmp_path: Path) -> None:
    path = load_text(tmp_path, GOOD_ACCEL.replace("vendor: nobody", "vendor: [nobody"))
    with pytest.raises(InputError, match=rf"{path.name}:\d+: invalid YAML"):
        load_catalog([path])


def test_a_torus_block_needs_a_3d_torus(tmp_path: Path) -> None:
    system = ("systems:\n  - name: toy-node\n    accelerator: h100-sxm-80gb\n"
              "    num_accelerators: 8\n    scale_up_domain_size: 8\n"
              "    scale_up_fabric: nvlink4\n    scale_up_topology: switched\n"
              "    torus_block: [4, 4, 4]\n    num_nics: 8\n"
              "    nic_bandwidth_bytes_per_s: 400Gbps\n    scale_out_fabric: ib-ndr400\n"
              "    host_power_w: 2kW\n    max_power_w: 10kW\n"
              "    source: \"made up for a test\"\n")
    with pytest.raises(InputError, match="torus_block needs scale_up_topology torus3d"):
        load_catalog([*sorted(DATA_DIR.glob("*.yaml")), load_text(tmp_path, system)])


TOY_MODEL = """\
models:
  - name: toy-model
    num_layers: 4
    hidden_size: 4096
    num_attention_heads: 32
    num_kv_heads: 8
    ffn_hidden_size: 14336
    vocab_size: 32000
    max_seq_len: 8192
    source: "made up for a test"
"""

TOY_SYSTEM = """\
systems:
  - name: toy-node
    accelerator: h100-sxm-80gb
    num_accelerators: 8
    scale_up_domain_size: 8
    scale_up_fabric: nvlink4
    num_nics: 8
    nic_bandwidth_bytes_per_s: 400Gbps
    scale_out_fabric: ib-ndr
    host_power_w: 2kW
    max_power_w: 10kW
    source: "made up for a test"
"""


@pytest.mark.parametrize(
    ("text", "old", "new", "line", "needle"),
    [
        (TOY_MODEL, "num_kv_heads: 8", "num_kv_heads: 7", 6,
         "models[0].num_kv_heads: must divide num_attention_heads (32)"),
        (TOY_MODEL, "num_kv_heads: 8", "num_kv_heads: 64", 6,
         "models[0].num_kv_heads: must divide num_attention_heads (32)"),
        (TOY_MODEL, "hidden_size: 4096", "hidden_size: 4095", 2,
         "models[0]: hidden_size (4095) is not a multiple of num_attention_heads (32)"),
        (GOOD_ACCEL, "idle_w: 30W", "idle_w: 3kW", 9,
         "accelerators[0].idle_w: must not exceed tdp_w (300 W)"),
        (TOY_SYSTEM, "scale_up_domain_size: 8", "scale_up_domain_size: 12", 5,
         "systems[0].scale_up_domain_size: a scale-up domain larger than a node is whole nodes"),
        (TOY_SYSTEM, "scale_up_domain_size: 8", "scale_up_domain_size: 3", 5,
         "systems[0].scale_up_domain_size: a scale-up domain smaller than a node divides it"),
    ],
    ids=["kv-not-divisor", "kv-above-heads", "hidden-not-multiple", "idle-above-tdp",
         "domain-part-nodes", "domain-splits-node-unevenly"],
)
def test_inconsistent_entry_is_refused(tmp_path: Path, text: str, old: str, new: str,
                                       line: int, needle: str) -> None:
    assert old in text
    _refused_at(tmp_path, text.replace(old, new), line, needle)


@pytest.mark.parametrize(
    ("old", "new"),
    [("scale_up_domain_size: 8", "scale_up_domain_size: 16"),   # two nodes, as NVL72 trays
     ("scale_up_domain_size: 8", "scale_up_domain_size: 4"),    # two domains per node
     ("hidden_size: 4096", "hidden_size: 4095\n    head_dim: 128")],  # explicit head size
    ids=["domain-of-nodes", "node-of-domains", "head-dim-given"],
)
def test_consistent_variants_load(tmp_path: Path, old: str, new: str) -> None:
    text = TOY_MODEL if "hidden" in old else TOY_SYSTEM
    load_catalog([load_text(tmp_path, text.replace(old, new))])


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [("accelerator: h100-sxm-80gb", "accelerator: nosuch-gpu", 3,
      "systems[0].accelerator of system 'toy-node': unknown accelerator 'nosuch-gpu'"),
     ("scale_up_fabric: nvlink4", "scale_up_fabric: nvlink99", 6,
      "systems[0].scale_up_fabric of system 'toy-node': unknown fabric 'nvlink99'"),
     ("scale_out_fabric: ib-ndr", "scale_out_fabric: nvlink4", 9,
      "systems[0].scale_out_fabric of system 'toy-node': fabric 'nvlink4' is a scale_up "
      "fabric, not scale-out")],
    ids=["unknown-accelerator", "unknown-fabric", "wrong-fabric-kind"],
)
def test_system_names_are_checked_against_the_merged_catalog(
        tmp_path: Path, old: str, new: str, line: int, needle: str) -> None:
    from gputwin.catalog.loader import bundled_catalog, merge_catalogs

    extra = load_catalog([load_text(tmp_path, TOY_SYSTEM)])
    assert merge_catalogs(bundled_catalog(), extra).system("toy-node").num_accelerators == 8
    path = load_text(tmp_path, TOY_SYSTEM.replace(old, new))
    with pytest.raises(InputError) as err:
        merge_catalogs(bundled_catalog(), load_catalog([path]))
    assert str(err.value).startswith(f"{path}:{line}: {needle}"), str(err.value)


def test_accelerator_scale_up_fabric_must_exist(tmp_path: Path) -> None:
    from gputwin.catalog.loader import bundled_catalog, merge_catalogs

    path = load_text(tmp_path, GOOD_ACCEL.replace("idle_w: 30W",
                                                  "idle_w: 30W\n    scale_up_fabric: nvlink99"))
    with pytest.raises(InputError, match=r"extra.yaml:10: accelerators\[0\].scale_up_fabric of "
                                         r"accelerator 'toy-gpu': unknown fabric 'nvlink99'"):
        merge_catalogs(bundled_catalog(), load_catalog([path]))


def _refused_at(tmp_path: Path, text: str, line: int, needle: str) -> None:
    """Loading ``text`` as a catalog file is refused at ``file:line`` with ``needle``."""
    path = load_text(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_catalog([path])
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert needle in message
