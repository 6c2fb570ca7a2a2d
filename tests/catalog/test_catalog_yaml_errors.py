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
    path = load_text(tmp_path, GOOD_ACCEL.replace(old, new))
    with pytest.raises(InputError) as err:
        load_catalog([path])
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert needle in message


def test_duplicate_across_files_names_both(tmp_path: Path) -> None:
    first = load_text(tmp_path, GOOD_ACCEL)
    second = tmp_path / "again.yaml"
    second.write_text(GOOD_ACCEL)
    with pytest.raises(InputError, match=r"duplicate accelerator 'toy-gpu'.*extra.yaml"):
        load_catalog([first, second])


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
