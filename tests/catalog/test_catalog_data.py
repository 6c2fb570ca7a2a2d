"""The bundled catalog: every entry sourced, names resolve, figures physically sane."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from gputwin.catalog.loader import SECTIONS, default_catalog
from gputwin.catalog.schema import Accelerator, System
from gputwin.perf.calibration import default_calibration, family_key
from gputwin.perf.diffusion import diffusion_table
from gputwin.perf.serving_calib import default_serving_calibration
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()
ACCELS = list(CAT.accelerators.values())
SYSTEMS = list(CAT.systems.values())

REQUIRED = {
    "accelerators": ["a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200", "gb200",
                     "mi300x", "mi325x", "mi355x", "mi350x", "tpu-v5p", "tpu-v5e", "tpu-v6e",
                     "gaudi2", "gaudi3", "trn2", "l4", "l40s", "h100-pcie-80gb", "h100-nvl-94gb",
                     "tpu-v7", "trn3"],
    "systems": ["dgx-a100", "dgx-h100", "hgx-h200", "dgx-b200", "gb200-nvl72",
                "mi300x-platform", "tpu-v5p-slice", "gaudi3-server", "trn2-server",
                "l4-server", "l40s-server", "mi325x-platform", "mi355x-platform",
                "mi350x-platform", "tpu-v5e-slice",
                "tpu-v6e-slice", "gaudi2-server", "trn2-ultraserver", "h100-pcie-server",
                "h100-nvl-server", "tpu-v7-slice", "trn3-ultraserver-gen1",
                "trn3-ultraserver-gen2"],
    "storage": ["object-store", "lustre", "gpfs", "local-nvme"],
    "models": ["gpt3-175b", "llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b",
               "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "mixtral-8x7b", "mixtral-8x22b",
               "deepseek-v3", "mistral-7b", "qwen2.5-72b",
               # open models providers serve (each from its config.json)
               "qwen3-coder-480b-a35b", "qwen3-14b", "qwen3-8b", "qwen3-4b", "qwen2.5-32b",
               "qwen2.5-14b", "qwen2.5-7b", "glm-4.5", "glm-4.6", "glm-4.5-air",
               "gemma3-27b", "gemma3-12b", "gemma3-4b", "gemma2-27b", "gemma2-9b",
               "mistral-large-2407", "mistral-small-24b-2501", "mistral-nemo-12b", "phi-4"],
}


@pytest.mark.parametrize(("section", "name"), [(s, n) for s, ns in REQUIRED.items() for n in ns])
def test_required_entries_exist(section: str, name: str) -> None:
    assert name in CAT.section(section)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_entry_cites_a_source(section: str) -> None:
    for entry in CAT.section(section).values():
        assert entry.source.strip(), entry.name
        assert all(text.strip() for text in entry.sources.values()), entry.name


def test_entry_sources_cite_a_url() -> None:
    for section in ("accelerators", "systems", "storage", "models"):
        for entry in CAT.section(section).values():
            assert "http" in entry.source, f"{section}/{entry.name} source has no URL"


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_system_names_resolve(system: System) -> None:
    accel = CAT.accelerator(system.accelerator)
    out = CAT.fabric(system.scale_out_fabric)
    assert out.kind == "scale_out"
    if system.scale_up_fabric is None:
        assert system.scale_up_domain_size == 1
        assert system.scale_up_topology == "none"
        assert accel.scale_up_bandwidth_bytes_per_s == 0
    elif system.scale_up_topology == "pcie":
        # PCIe servers: peers talk over the cards' PCIe slots, the card has no scale-up link
        up = CAT.fabric(system.scale_up_fabric)
        assert (up.kind, up.technology) == ("scale_up", "pcie")
        assert accel.scale_up_fabric is None and accel.scale_up_bandwidth_bytes_per_s == 0
    else:
        up = CAT.fabric(system.scale_up_fabric)
        assert up.kind == "scale_up"
        assert accel.scale_up_fabric == system.scale_up_fabric
        assert system.scale_up_topology != "none"
        assert system.pair_bridge_fabric is None
        # a domain holds whole nodes
        assert system.scale_up_domain_size % system.num_accelerators == 0
    hardware = resolve_hardware(CAT, system=system.name)
    assert hardware.gpus_per_node == system.num_accelerators


@pytest.mark.parametrize("accel", ACCELS, ids=lambda a: a.name)
def test_accelerator_scale_up_fabric_resolves(accel: Accelerator) -> None:
    if accel.scale_up_fabric is not None:
        assert CAT.fabric(accel.scale_up_fabric).kind == "scale_up"
        assert accel.scale_up_bandwidth_bytes_per_s > 0


@pytest.mark.parametrize("accel", ACCELS, ids=lambda a: a.name)
def test_precision_ladder(accel: Accelerator) -> None:
    """Lower precision is never slower: fp64 <= fp32 <= tf32 <= bf16 <= fp8 <= fp4."""
    peaks = accel.peak_flop_per_s
    ladder = [d for d in ("fp64", "fp32", "tf32", "bf16", "fp8", "fp4") if d in peaks]
    for low, high in itertools.pairwise(ladder):
        assert peaks[low] <= peaks[high], (low, high)
    assert "bf16" in peaks
    if "fp16" in peaks:
        assert peaks["fp16"] == peaks["bf16"]
    if "int8" in peaks:
        assert peaks["int8"] >= peaks["bf16"]


#: parts without HBM/DRAM (perf/dataflow.py models them), exempt from the HBM-part ranges
SRAM_RESIDENT = {"groq-lpu", "cerebras-wse3"}
#: export-capped parts: tensor rate cut to fit the US rule's TPP cap, memory left at full
#: speed, so their roofline ridge sits below every other part's (H20: 148 TF / 4 TB/s = 37)
EXPORT_CAPPED = {"h20"}


@pytest.mark.parametrize("accel", ACCELS, ids=lambda a: a.name)
def test_accelerator_physics(accel: Accelerator) -> None:
    assert 0 < accel.idle_w < accel.tdp_w
    if accel.name in SRAM_RESIDENT:  # weights in on-chip SRAM: tiny memory, huge bandwidth
        assert accel.memory_bytes < 64e9
        assert accel.peak_flop_per_s["bf16"] / accel.memory_bandwidth_bytes_per_s < 100
        return
    # ridge point of the roofline (FLOP per byte of HBM) of every real part is 100..1000
    ridge = accel.peak_flop_per_s["bf16"] / accel.memory_bandwidth_bytes_per_s
    assert (20 if accel.name in EXPORT_CAPPED else 100) < ridge < 1000
    assert accel.scale_up_bandwidth_bytes_per_s < accel.memory_bandwidth_bytes_per_s
    assert 8 * 2**30 <= accel.memory_bytes <= 512 * 2**30
    # energy efficiency below 10 TFLOP/s per watt (dense bf16) for every shipping part
    assert accel.peak_flop_per_s["bf16"] / accel.tdp_w < 10e12


# Datasheet figures quoted WITH 2:4 sparsity: the catalog must hold half of them.
SPARSE_DATASHEET = [
    ("a100-sxm-80gb", "bf16", 624e12), ("a100-sxm-80gb", "int8", 1248e12),
    ("h100-sxm-80gb", "bf16", 1979e12), ("h100-sxm-80gb", "fp8", 3958e12),
    ("h100-pcie-80gb", "fp8", 3026e12), ("h200-sxm-141gb", "fp8", 3958e12),
    ("l4", "fp8", 485e12), ("l40s", "fp8", 1466e12), ("mi300x", "fp8", 5229.8e12),
    ("gb200", "fp4", 1440e15 / 72), ("b200", "fp8", 72e15 / 8),
    ("rtx-pro-6000", "fp4", 4e15), ("rtx-pro-6000", "fp8", 2e15), ("rtx-pro-6000", "bf16", 1e15),
]


@pytest.mark.parametrize(("name", "dtype", "sparse"), SPARSE_DATASHEET)
def test_flops_are_dense_not_sparse(name: str, dtype: str, sparse: float) -> None:
    assert CAT.accelerator(name).peak_for(dtype) == pytest.approx(sparse / 2, rel=0.01)


@pytest.mark.parametrize(
    ("name", "bidirectional"),
    [("a100-sxm-80gb", 600e9), ("h100-sxm-80gb", 900e9), ("h200-sxm-141gb", 900e9),
     ("h20", 900e9), ("b200", 1800e9), ("gb200", 1800e9), ("mi300x", 896e9), ("tpu-v5p", 1200e9)],
)
def test_scale_up_bandwidth_is_per_direction(name: str, bidirectional: float) -> None:
    assert CAT.accelerator(name).scale_up_bandwidth_bytes_per_s == pytest.approx(bidirectional / 2)


def test_memory_sizes_are_binary_units() -> None:
    assert CAT.accelerator("h100-sxm-80gb").memory_bytes == 80 * 2**30
    assert CAT.accelerator("mi300x").memory_bytes == 8 * 24 * 2**30  # 8 HBM3 stacks of 24 GiB


def test_generation_ordering() -> None:
    bw = {a.name: a.memory_bandwidth_bytes_per_s for a in ACCELS}
    assert bw["gb200"] >= bw["b200"] > bw["h200-sxm-141gb"] > bw["h100-sxm-80gb"]
    assert bw["h100-sxm-80gb"] > bw["a100-sxm-80gb"] > bw["l40s"] > bw["l4"]
    assert bw["mi355x"] > bw["mi325x"] > bw["mi300x"]
    mem = {a.name: a.memory_bytes for a in ACCELS}
    assert mem["h200-sxm-141gb"] > mem["h100-sxm-80gb"]
    bf16 = {a.name: a.peak_for("bf16") for a in ACCELS}
    assert bf16["gb200"] >= bf16["b200"] > bf16["h100-sxm-80gb"] > bf16["a100-sxm-80gb"]
    assert bf16["h100-sxm-80gb"] > bf16["h100-pcie-80gb"]


#: embedded edge systems (one module, a 10 GbE port)
EMBEDDED = {"jetson-agx-orin-devkit"}


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_system_power_and_network(system: System) -> None:
    accel = CAT.accelerator(system.accelerator)
    assert system.max_power_w >= system.num_accelerators * accel.tdp_w
    assert 0 < system.host_power_w < system.max_power_w
    # per-direction NIC speed between 25 Gb/s and 800 Gb/s (embedded edge boxes: 10 GbE)
    low = 10e9 / 8 if system.name in EMBEDDED else 25e9 / 8
    assert low <= system.nic_bandwidth_bytes_per_s <= 800e9 / 8
    if system.scale_up_fabric is not None:
        # scale-up beats scale-out per accelerator
        per_gpu_out = system.num_nics * system.nic_bandwidth_bytes_per_s / system.num_accelerators
        up_bw = accel.scale_up_bandwidth_bytes_per_s or CAT.fabric(
            system.scale_up_fabric).link_bandwidth_bytes_per_s
        assert up_bw > per_gpu_out


def test_gb200_nvl72_shape() -> None:
    tray = CAT.system("gb200-nvl72")
    assert (tray.num_accelerators, tray.scale_up_domain_size, tray.cooling) == (4, 72, "liquid")


def test_storage_tiers_sane() -> None:
    for tier in CAT.storage.values():
        read, write = (tier.read_bandwidth_bytes_per_s_per_node,
                       tier.write_bandwidth_bytes_per_s_per_node)
        assert write <= read
        if tier.aggregate_read_bandwidth_bytes_per_s is not None:
            assert tier.aggregate_read_bandwidth_bytes_per_s > read
    lat = {t.name: t.latency_s for t in CAT.storage.values()}
    assert lat["local-nvme"] < lat["lustre"] < lat["object-store"]


def test_every_accelerator_has_a_system() -> None:
    """`--gpu X` alone resolves to a default system for every part in the catalog."""
    used = {s.accelerator for s in SYSTEMS}
    assert set(CAT.accelerators) <= used


@pytest.mark.parametrize(
    ("system", "topology", "fabric"),
    [("mi300x-platform", "mesh", "infinity-fabric-mi300x"),
     ("gaudi3-server", "mesh", "gaudi3-roce-scaleup"),
     ("tpu-v5p-slice", "torus3d", "ici-v5p"), ("tpu-v5e-slice", "torus2d", "ici-v5e"),
     ("tpu-v6e-slice", "torus2d", "ici-v6e"), ("trn2-server", "torus2d", "neuronlink-v3"),
     ("trn2-ultraserver", "torus3d", "neuronlink-v3"), ("l40s-server", "pcie", "pcie-gen4"),
     ("l4-server", "pcie", "pcie-gen4"), ("h100-pcie-server", "pcie", "pcie-gen5"),
     ("rtx-pro-6000-server", "pcie", "pcie-gen5"), ("l20-server", "pcie", "pcie-gen4"),
     ("tpu-v7-slice", "torus3d", "ici-v7"), ("trn3-ultraserver-gen1", "switched", "neuronlink-v4"),
     ("trn3-ultraserver-gen2", "switched", "neuronlink-v4")],
)
def test_scale_up_domains_beyond_nvswitch(system: str, topology: str, fabric: str) -> None:
    sysm = CAT.system(system)
    assert (sysm.scale_up_topology, sysm.scale_up_fabric) == (topology, fabric)
    up = CAT.fabric(fabric)
    assert "http" in up.source and all(v.strip() for v in up.sources.values())


def test_pcie_fabrics_are_x16_per_direction() -> None:
    def x16(gt_per_s: float) -> float:  # 16 lanes, 128b/130b encoding, bits -> bytes
        return gt_per_s * 16 * 128 / 130 / 8

    assert CAT.fabric("pcie-gen4").link_bandwidth_bytes_per_s == pytest.approx(x16(16e9), rel=0.01)
    assert CAT.fabric("pcie-gen5").link_bandwidth_bytes_per_s == pytest.approx(x16(32e9), rel=0.01)


def test_torus_link_rates_add_up_to_the_chip_figure() -> None:
    """Per-link rate x links per chip = the vendor's per-chip ICI / NeuronLink bandwidth."""
    for accel, links in (("tpu-v5p", 6), ("tpu-v5e", 4), ("tpu-v6e", 4), ("trn2", 4),
                          ("tpu-v7", 6)):
        part = CAT.accelerator(accel)
        assert part.scale_up_fabric is not None
        link = CAT.fabric(part.scale_up_fabric).link_bandwidth_bytes_per_s
        assert links * link == pytest.approx(part.scale_up_bandwidth_bytes_per_s, rel=0.01)


def test_rtx_pro_6000_server_edition() -> None:
    """RTX PRO 6000 Blackwell Server Edition: FP4 tensor cores, the Server Edition's
    1,597 GB/s (not the Workstation card's 1,792), 96 GB, PCIe only, 8 per RTX PRO Server."""
    acc = CAT.accelerator("rtx-pro-6000")
    assert acc.peak_for("fp4") == pytest.approx(2e15)
    assert acc.peak_for("fp4") == pytest.approx(2 * acc.peak_for("fp8"))
    assert acc.memory_bandwidth_bytes_per_s == pytest.approx(1597e9)
    assert acc.memory_bytes == 96 * 2**30
    assert acc.scale_up_bandwidth_bytes_per_s == 0 and acc.scale_up_fabric is None
    assert acc.tdp_w == 600
    sysm = CAT.system("rtx-pro-6000-server")
    assert (sysm.accelerator, sysm.num_accelerators) == ("rtx-pro-6000", 8)
    hw = resolve_hardware(CAT, system="rtx-pro-6000-server")
    assert hw.accelerator.name == "rtx-pro-6000"


def test_h20_and_l20_china_market_parts() -> None:
    """H20 (Hopper, export-capped): 96 GB HBM3 at 4 TB/s, dense BF16 148 / FP8 296 TFLOPS,
    NVLink 4 on an 8-GPU HGX board; L20 (Ada): 48 GB GDDR6 at 864 GB/s, dense BF16 119.5 /
    FP8 239 TFLOPS, PCIe only, 8 per server."""
    h20 = CAT.accelerator("h20")
    assert (h20.peak_for("bf16"), h20.peak_for("fp8"), h20.peak_for("int8")) == \
        pytest.approx((148e12, 296e12, 296e12))
    assert h20.memory_bytes == 96 * 2**30 and h20.memory_bandwidth_bytes_per_s == 4e12
    assert (h20.scale_up_fabric, h20.tdp_w) == ("nvlink4", 400)
    hgx = CAT.system("hgx-h20")
    assert (hgx.accelerator, hgx.num_accelerators, hgx.scale_up_domain_size,
            hgx.scale_up_topology) == ("h20", 8, 8, "switched")
    l20 = CAT.accelerator("l20")
    assert (l20.peak_for("bf16"), l20.peak_for("fp8")) == pytest.approx((119.5e12, 239e12))
    assert l20.memory_bytes == 48 * 2**30 and l20.memory_bandwidth_bytes_per_s == 864e9
    assert l20.scale_up_bandwidth_bytes_per_s == 0 and l20.scale_up_fabric is None
    assert l20.tdp_w == 275
    # same board class as the L40S, a third of its tensor rate
    assert l20.memory_bandwidth_bytes_per_s == CAT.accelerator("l40s").memory_bandwidth_bytes_per_s
    assert l20.peak_for("bf16") < 0.35 * CAT.accelerator("l40s").peak_for("bf16")
    assert resolve_hardware(CAT, system="l20-server").accelerator.name == "l20"


def test_h20_takes_hopper_coefficients_not_h200s_by_prefix() -> None:
    """Families match by the longest name prefix: "h20" is not a prefix match of the "h200"
    key, so without its own key the H20 would fall to `default`; with an "h20" key the
    H200 must still take "h200" (the longer match) in every per-family table."""
    train, serve = default_calibration(), default_serving_calibration()
    tables: dict[str, Iterable[str]] = {
        "calibration": train.accelerators, "serving": serve.accelerators,
        "diffusion": diffusion_table().attention}
    for table, keys in tables.items():
        assert family_key("h20", keys) == "h20", table
        assert family_key("h200-sxm-141gb", keys) == "h200", table
        assert family_key("h100-sxm-80gb", keys) == "h100", table
    # Hopper values: the H100 fractions, not the default family's
    h20, h100 = train.for_accelerator("h20"), train.for_accelerator("h100-sxm-80gb")
    assert h20.gemm_max_frac == h100.gemm_max_frac and h20 is not train.accelerators["default"]
    assert (h20.attention_frac, h20.sustained_frac) == (h100.attention_frac, h100.sustained_frac)
    assert serve.for_accelerator("h20").compute_eff_mult == \
        serve.for_accelerator("h100-sxm-80gb").compute_eff_mult
    # the diffusion attention shares are derived from H100's, higher on the tensor-capped
    # SM (perf/diffusion.yaml; checked against xDiT's H20 rows in tests/perf/test_diffusion)
    attn = diffusion_table().attention
    assert attn["h20"].fa2[1] > attn["h100"].fa2[1] and attn["h20"].fa3[1] > attn["h100"].fa3[1]
    # the L20 and the L40S have their own GEMM families (measured on the parts); the L4
    # (nothing measured) stays on `default`, and "l20" is no prefix of "l40s"
    assert train.for_accelerator("l20").family == "l20"
    assert train.for_accelerator("l40s").family == "l40s"
    assert train.for_accelerator("l4").family == "default"
    assert family_key("l20", attn) == "l20" and family_key("l40s", attn) == "default"


@pytest.mark.parametrize(("name", "window", "global_every"), [
    ("gemma3-27b", 1024, 6), ("gemma3-12b", 1024, 6), ("gemma3-4b", 1024, 6),
    ("gemma2-27b", 4096, 2), ("gemma2-9b", 4096, 2)])
def test_gemma_sliding_window_layers_follow_the_config_pattern(
        name: str, window: int, global_every: int) -> None:
    """Gemma 3: sliding_window_pattern 6 (every sixth layer global); Gemma 2: sliding and
    global layers alternate. The rest attend over the window."""
    model = CAT.model(name)
    assert model.local_attention_window == window
    assert model.local_attention_layers == model.num_layers - model.num_layers // global_every


def test_ironwood_and_trainium3_figures() -> None:
    """TPU7x and Trainium3 carry the vendors' published per-chip figures (dense peaks, binary
    HBM sizes, per-direction scale-up) and the pod / UltraServer sizes of their systems."""
    v7, trn3 = CAT.accelerator("tpu-v7"), CAT.accelerator("trn3")
    assert v7.peak_flop_per_s["fp8"] == pytest.approx(2 * v7.peak_flop_per_s["bf16"], rel=0.01)
    assert v7.memory_bytes == 192 * 2**30
    assert v7.memory_bandwidth_bytes_per_s == pytest.approx(7.38e12)
    assert v7.scale_up_bandwidth_bytes_per_s == pytest.approx(1200e9 / 2)
    assert trn3.peak_flop_per_s["bf16"] == pytest.approx(671e12)
    assert trn3.memory_bytes == 144 * 2**30
    assert trn3.scale_up_bandwidth_bytes_per_s == pytest.approx(2.56e12 / 2)
    assert CAT.system("tpu-v7-slice").scale_up_domain_size == 9216
    assert CAT.system("tpu-v7-slice").cooling == "liquid"
    gen1, gen2 = CAT.system("trn3-ultraserver-gen1"), CAT.system("trn3-ultraserver-gen2")
    assert (gen1.scale_up_domain_size, gen2.scale_up_domain_size) == (64, 144)
    # AWS: Gen2 UltraServer 362 PF dense MXFP8 over 144 chips
    assert 144 * trn3.peak_flop_per_s["fp8"] == pytest.approx(362e15, rel=0.01)


def test_trn3_takes_trn2_serving_coefficients_unfitted() -> None:
    serving = default_serving_calibration()
    trn2, trn3 = serving.for_accelerator("trn2"), serving.for_accelerator("trn3")
    assert family_key("trn3", serving.accelerators) == "trn3"
    assert (trn3.compute_eff_mult, trn3.bandwidth_frac) == (trn2.compute_eff_mult,
                                                            trn2.bandwidth_frac)
    assert family_key("tpu-v7", default_calibration().accelerators) == "tpu"
