"""Builders for collective-model tests: a small self-contained catalog (not the bundled one)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import Accelerator, Fabric, System
from gputwin.topology.hardware import HardwareSpec, NetworkTopology, resolve_hardware

SRC = "test fixture, not a real product figure"


def _fabric(name: str, kind: str, bw: str, lat: str, eff: float,
            inr: bool = False, inr_eff: float | None = None) -> Fabric:
    return Fabric(name=name, kind=kind, technology="t", link_bandwidth_bytes_per_s=bw,
                  latency_s=lat, efficiency_frac=eff, in_network_reduction=inr,
                  in_network_efficiency_frac=inr_eff, source=SRC)


def make_catalog() -> Catalog:
    accel = Accelerator(
        name="gpu-x", vendor="v", peak_flop_per_s={"bf16": 1e15}, memory_bytes=8e10,
        memory_bandwidth_bytes_per_s=3e12, scale_up_bandwidth_bytes_per_s=450e9,
        tdp_w=700, idle_w=70, source=SRC)
    tpu = Accelerator(
        name="tpu-x", vendor="v", peak_flop_per_s={"bf16": 4e14}, memory_bytes=9e10,
        memory_bandwidth_bytes_per_s=2.7e12, scale_up_bandwidth_bytes_per_s=600e9,
        tdp_w=400, idle_w=40, source=SRC)
    fabrics = [
        _fabric("nvl", "scale_up", "450GB/s", "0.7us", 0.8, True, 0.7),
        _fabric("ici", "scale_up", "100GB/s", "1us", 0.8),
        _fabric("ib", "scale_out", "400Gbps", "2.5us", 0.9, True, 0.9),
        _fabric("eth", "scale_out", "100Gbps", "5us", 0.85),
    ]

    def system(name: str, accel_name: str, up: str, nics: int, nic: str, out: str,
               domain: int = 8, per_node: int = 8, topo: str = "switched") -> System:
        return System(name=name, accelerator=accel_name, num_accelerators=per_node,
                      scale_up_domain_size=domain, scale_up_fabric=up,
                      scale_up_topology=topo, num_nics=nics,
                      nic_bandwidth_bytes_per_s=nic, scale_out_fabric=out,
                      host_power_w=1000, max_power_w=8000, source=SRC)

    systems = [
        system("node-8nic", "gpu-x", "nvl", 8, "400Gbps", "ib"),
        system("node-1nic", "gpu-x", "nvl", 1, "100Gbps", "eth"),
        system("pod", "tpu-x", "ici", 4, "50Gbps", "eth", domain=4096, per_node=4,
               topo="torus3d"),
    ]
    return Catalog(accelerators={a.name: a for a in (accel, tpu)},
                   systems={s.name: s for s in systems},
                   fabrics={f.name: f for f in fabrics})


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return make_catalog()


@pytest.fixture(scope="session")
def make_hw(catalog: Catalog) -> Callable[..., HardwareSpec]:
    def build(system: str = "node-8nic", *, fabric: str | None = None,
              kind: str = "rail_optimized", nodes_per_leaf: int = 32,
              oversubscription: float = 1.0) -> HardwareSpec:
        net = NetworkTopology(kind=kind, nodes_per_leaf=nodes_per_leaf,  # type: ignore[arg-type]
                              oversubscription=oversubscription)
        return resolve_hardware(catalog, system=system, fabric=fabric, network=net)

    return build
