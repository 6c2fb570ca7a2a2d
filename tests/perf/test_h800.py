"""The H800 (DeepSeek-V3's part): H100 compute with the NVLink cut to 200 GB/s per direction."""

from __future__ import annotations

from perf_builders import flat_train

from gputwin.catalog.loader import default_catalog
from gputwin.perf.calibration import default_calibration
from gputwin.topology.hardware import default_system_for


def test_h800_is_an_h100_with_less_nvlink() -> None:
    cat = default_catalog()
    h800 = cat.section("accelerators")["h800-sxm-80gb"]
    h100 = cat.section("accelerators")["h100-sxm-80gb"]
    assert h800.peak_for("fp8") == h100.peak_for("fp8")
    assert h800.memory_bandwidth_bytes_per_s == h100.memory_bandwidth_bytes_per_s
    assert h800.scale_up_bandwidth_bytes_per_s * 2.25 == h100.scale_up_bandwidth_bytes_per_s
    assert default_system_for(cat, "h800-sxm-80gb").name == "hgx-h800"
    assert default_calibration().for_accelerator("h800-sxm-80gb").family == "h800"


def test_tensor_parallel_pays_for_the_slower_nvlink() -> None:
    """Same compute, TP8 inside one node: the TP collectives take longer, by at most the
    bandwidth ratio (450/200 GB/s; the fixed latencies do not scale)."""
    job = dict(model="llama3-8b", num_gpus=8, tp=8, global_batch_size=8, seq_len=4096,
               dtype="fp8", sequence_parallel=True)
    h100 = flat_train(gpu="h100-sxm-80gb", **job).breakdown
    h800 = flat_train(gpu="h800-sxm-80gb", **job).breakdown
    assert h800["compute_s"] == h100["compute_s"]
    assert 1.5 < h800["tp_comm_s"] / h100["tp_comm_s"] <= 2.25
