"""Constants of the collective model that are not properties of one fabric.

Each value is a documented assumption or a calibration against a cited published
measurement (see docs/collectives.md for the derivations). Fabric numbers (bandwidth,
latency, efficiency) live in ``catalog/data/fabrics.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Protocol:
    """A wire protocol: share of the bandwidth carrying data, latency multiplier per hop."""

    name: str
    bandwidth_frac: float
    latency_mult: float
    base_s: float


#: NCCL/RCCL protocols. LL: 8-byte stores of 4 data bytes + 4 flag bytes (50 % of the
#: bandwidth, lowest latency); LL128: 128-byte lines carrying 120 data bytes (15/16);
#: Simple: full bandwidth, a fence per step. Facts from the NCCL documentation of
#: NCCL_PROTO (https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html).
#: The latency multipliers (x2, x5 of the fabric's LL hop latency) are model assumptions
#: of the same order as NCCL's own tuning model.
#: ``base_s`` is the fixed cost of one call. LL/LL128: kernel launch and proxy hand-off,
#: a few microseconds (NVIDIA/nccl issue #1259: ~6 us for a 2-GPU all-reduce even with
#: CUDA graphs). Simple: pipeline set-up over all channels, calibrated on the ~46 us
#: small-message floor of a Simple-only NVLSTree all-reduce on 2 nodes of 8 GPUs
#: (NVIDIA/nccl issue #1244); it also makes mid-size (1-100 MB) transfers use LL128, as
#: NCCL does, and reproduces "256 MB is too small to reach peak" (nccl-tests issue #212).
#: Over NVLink, LL128 costs what NCCL's own tuner charges it per call (14 us, fabric field
#: ``ll128_base_s``, catalog/data/fabrics.yaml); the 4 us here serves the other fabrics,
#: whose libraries' mid-size protocols are not modelled separately.
LL = Protocol("LL", 0.5, 1.0, 4.0e-6)
LL128 = Protocol("LL128", 120.0 / 128.0, 2.0, 4.0e-6)
SIMPLE = Protocol("Simple", 1.0, 5.0, 25.0e-6)
PROTOCOLS: tuple[Protocol, ...] = (LL, LL128, SIMPLE)

#: NVLS all-reduce is limited by the wire traffic (n+1)/n * S per GPU in small domains
#: and by the switch's reduction throughput in large ones: the bus bandwidth of a full
#: GB200 NVL72 rack (~840 GB/s, coreweave/nccl-tests PR #43) equals that of 8 B300 GPUs
#: (845 GB/s, NVIDIA/nccl issue #2140). We take the switch limit equal to the wire limit
#: at this domain size (where the efficiencies were calibrated).
NVLS_SWITCH_REF_GPUS = 8

#: Double-binary-tree all-reduce reaches only part of the link bandwidth with NCCL's
#: default 16 SMs (S. Jeaugey, NVIDIA/nccl issue #1649). Calibrated on NVIDIA/nccl issue
#: #1221: 2 nodes of 8x H100, 8x 400G RoCE, NVLS disabled -> busbw ~330 GB/s.
TREE_EFFICIENCY_FRAC = 0.55

#: NVLSTree (NVLS inside the node, tree across nodes) keeps ~90 % of the single-node
#: NVLS rate. Calibrated on the 2-node 8x H100 8x NDR all-reduce busbw of ~470 GB/s
#: (NVIDIA/nccl issue #2409, citing nccl-tests results).
NVLS_TREE_EFFICIENCY_FRAC = 0.905

#: Per-peer issue cost of all-to-all (one send and one receive per peer). Assumption.
ALL_TO_ALL_PEER_OVERHEAD_S = 0.1e-6
