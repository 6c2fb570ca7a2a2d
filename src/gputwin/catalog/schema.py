"""Typed schema of the catalog: accelerators, systems, fabrics, storage tiers, models,
encoders (embedding and reranker models of RAG pipelines).

Entries are written in YAML with human units (``"80GB"``, ``"3.35TB/s"``, ``"700W"``),
parsed here into SI floats. Every entry must carry a ``source`` (the citation that backs
its numbers); ``sources`` may name a different citation for individual fields.
All models are frozen and reject unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gputwin.quantities import Bytes, BytesPerS, FlopPerS, Seconds, Watts

#: Training length assumed for models whose pre-training length is not recorded (an HF
#: config.json gives only the longest context): the length of Llama 3 pre-training.
DEFAULT_TRAIN_SEQ_LEN = 8192

DType = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp6", "fp4", "int4"]


class CatalogEntry(BaseModel):
    """Common fields: a unique kebab-case ``name`` and the ``source`` of its numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    description: str = ""
    source: str = Field(min_length=8, description="Citation (document + URL) for the numbers")
    sources: dict[str, str] = Field(
        default_factory=dict, description="Per-field citations overriding `source`"
    )
    notes: str = ""

    @field_validator("sources")
    @classmethod
    def _sources_name_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"`sources` names unknown field(s): {', '.join(unknown)}")
        return value

    def source_of(self, field: str) -> str:
        """The citation backing ``field``."""
        return self.sources.get(field, self.source)


#: A FLOP rate the estimators divide by: it must be above zero.
PositiveFlopPerS = Annotated[FlopPerS, Field(gt=0)]


class Accelerator(CatalogEntry):
    """One accelerator package (GPU, TPU chip, ...). FLOP rates are dense (no sparsity).
    Its FLOP rates, memory, memory bandwidth and TDP must be above zero (the estimators
    divide by them)."""

    vendor: str
    peak_flop_per_s: dict[DType, PositiveFlopPerS]
    memory_bytes: Bytes = Field(gt=0)
    usable_memory_bytes: Bytes | None = Field(
        default=None, gt=0, description="Device memory the runtime reports as its total "
        "(torch.cuda.mem_get_info, the total vLLM's gpu_memory_utilization multiplies): "
        "memory_bytes less the driver's reservation and, on GDDR6 parts with ECC on, the "
        "sixteenth ECC keeps; None where no measurement is cited (memory_bytes is used)")
    memory_bandwidth_bytes_per_s: BytesPerS = Field(gt=0)
    scale_up_bandwidth_bytes_per_s: BytesPerS = Field(
        description="Scale-up (NVLink/ICI/Infinity Fabric) bandwidth per accelerator, per "
        "direction; 0 when the part has none"
    )
    scale_up_fabric: str | None = None
    tdp_w: Watts = Field(gt=0)
    idle_w: Watts
    tp_ranks_per_chip: int = Field(
        default=1, ge=1, description="Tensor-parallel ranks one chip holds in serving "
        "(NeuronCores: TP 24 on the 12 chips of an inf2.48xlarge)")
    pads_attention_heads: bool = Field(
        default=False, description="Its serving stack pads attention heads (and the MLP) "
        "to a multiple of the TP ranks and replicates KV heads, so TP need not divide them "
        "(AWS Neuron)")
    attention_sfu_speedup: float = Field(
        default=1.0, ge=1.0, le=4.0, description="Throughput of its fused attention "
        "kernels relative to the same kernels on the tensor-core-equal part the attention "
        "efficiency was set for, from a faster softmax exponential (special-function unit); "
        "1 unless published (Blackwell Ultra: doubled SFU exp rate)")

    @property
    def usable_memory(self) -> float:
        """Bytes a process can allocate on one device (``usable_memory_bytes`` where
        measured, else the nominal ``memory_bytes``)."""
        return self.usable_memory_bytes or self.memory_bytes

    @field_validator("usable_memory_bytes")
    @classmethod
    def _usable_within_memory(cls, value: float | None, info: ValidationInfo) -> float | None:
        total = info.data.get("memory_bytes")
        if value is not None and total is not None and value > total:
            raise ValueError(f"must not exceed memory_bytes ({total / 2**30:g} GiB)")
        return value

    @field_validator("peak_flop_per_s")
    @classmethod
    def _needs_a_training_dtype(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("needs at least one dtype")
        return value

    @field_validator("idle_w")
    @classmethod
    def _idle_within_tdp(cls, value: float, info: ValidationInfo) -> float:
        tdp = info.data.get("tdp_w")
        if tdp is not None and value > tdp:
            raise ValueError(f"must not exceed tdp_w ({tdp:g} W)")
        return value

    def peak_for(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``; raises ``KeyError`` if the part lacks it."""
        return self.peak_flop_per_s[dtype]  # type: ignore[index]


class System(CatalogEntry):
    """A node (server, tray or host) type, and the scale-up domain it belongs to."""

    accelerator: str
    num_accelerators: int = Field(gt=0, description="Accelerators per node")
    scale_up_domain_size: int = Field(
        gt=0, description="Accelerators sharing one scale-up domain (8 in a DGX H100, 72 in a "
        "GB200 NVL72 rack); may span several nodes"
    )
    scale_up_fabric: str | None = None
    scale_up_topology: Literal["switched", "mesh", "torus2d", "torus3d", "pcie", "none"] = Field(
        default="switched", description="How the domain is wired; sets the share of the "
        "scale-up bandwidth a group uses (topology/scale_up.py)")
    pair_bridge_fabric: str | None = Field(
        default=None, description="Point-to-point bridge (e.g. NVLink bridge) joining "
        "accelerator pairs (2k, 2k+1) of a PCIe server; used by 2-member groups of a pair")
    peer_to_peer: bool = Field(
        default=True, description="Accelerators read and write each other's memory directly "
        "over the scale-up fabric; false where the driver refuses it (GeForce cards), so "
        "collectives bounce through host memory and the engines' one-shot all-reduce "
        "kernels cannot run (perf/serving_comm.py)")
    host_link_bytes_per_s_per_gpu: BytesPerS | None = Field(
        default=None, gt=0, description="Copy bandwidth between one accelerator and host memory, "
        "per direction, all accelerators copying at once (NVLink-C2C on Grace parts); None: "
        "the calibration's PCIe Gen5 figure (perf/calibration.yaml host_link)")
    num_nics: int = Field(ge=0, description="Scale-out NICs per node")
    nic_bandwidth_bytes_per_s: BytesPerS = Field(description="Per NIC, per direction")
    scale_out_fabric: str
    host_power_w: Watts = Field(description="Power of everything but the accelerators at load")
    max_power_w: Watts = Field(description="Nameplate maximum power of one node")
    cooling: Literal["air", "liquid", "air-or-liquid"] = "air"
    deployment: Literal["datacenter", "edge"] = Field(
        default="datacenter", description="Where the node runs: a data-centre rack (its "
        "network, storage and facility costs per GPU) or an edge site (an embedded module "
        "in a closet, cell site or shop floor; energy/data/tco.yaml `edge`)")
    torus_block: tuple[int, int, int] | None = Field(
        default=None, description="A 3D torus built of electrical blocks of this shape "
        "(TPU v4/v5p: 4x4x4): a group larger than one block and a whole number of them is "
        "whole blocks (topology/scale_up.py slice_torus_shape)")

    @field_validator("scale_up_domain_size")
    @classmethod
    def _domain_is_whole_nodes(cls, value: int, info: ValidationInfo) -> int:
        """A domain larger than a node is whole nodes (GB200 NVL72: 18 trays of 4); one
        smaller than a node splits it evenly."""
        per_node = info.data.get("num_accelerators")
        if per_node is None or value == per_node:
            return value
        if value > per_node and value % per_node:
            raise ValueError(f"a scale-up domain larger than a node is whole nodes: {value} "
                             f"is not a multiple of num_accelerators ({per_node})")
        if value < per_node and per_node % value:
            raise ValueError(f"a scale-up domain smaller than a node divides it: {value} does "
                             f"not divide num_accelerators ({per_node})")
        return value

    @model_validator(mode="after")
    def _block_needs_a_3d_torus(self) -> System:
        if self.torus_block is not None:
            if self.scale_up_topology != "torus3d":
                raise ValueError("torus_block needs scale_up_topology torus3d")
            if min(self.torus_block) < 1:
                raise ValueError("torus_block sides must be >= 1")
        return self


class Fabric(CatalogEntry):
    """A link technology with the figures the collective model needs."""

    kind: Literal["scale_up", "scale_out"]
    technology: str
    link_bandwidth_bytes_per_s: BytesPerS = Field(gt=0, description="Per port, per direction")
    latency_s: Seconds = Field(description="Base latency of one message across this fabric")
    efficiency_frac: float = Field(
        gt=0, le=1, description="Achievable share of link bandwidth for large collectives"
    )
    in_network_reduction: bool = Field(
        default=False, description="Switch-side reduction (NVLS, SHARP) available"
    )
    in_network_efficiency_frac: float | None = Field(
        default=None, gt=0, le=1, description="Achievable share of link bandwidth with NVLS/SHARP"
    )
    ll128_base_s: Seconds | None = Field(
        default=None, gt=0, description="Fixed cost of one LL128 collective call where the "
        "library runs NCCL's LL128 protocol (NVLink); None = the model's default"
    )
    bisection_bytes_per_s: BytesPerS | None = Field(
        default=None, gt=0, description="Host-routed fabrics (PCIe): peer-to-peer bandwidth per "
        "direction between the two halves of a server (sockets or switch trees); bounds "
        "all-to-all, which sends half of every GPU's traffic across it. None = not a bound"
    )


class StorageTier(CatalogEntry):
    """A storage tier as seen by one node and by the whole cluster."""

    kind: Literal["object", "parallel_fs", "local_nvme"]
    read_bandwidth_bytes_per_s_per_node: BytesPerS = Field(gt=0)
    write_bandwidth_bytes_per_s_per_node: BytesPerS = Field(gt=0)
    aggregate_read_bandwidth_bytes_per_s: BytesPerS | None = None
    aggregate_write_bandwidth_bytes_per_s: BytesPerS | None = None
    latency_s: Seconds


class ModelSpec(CatalogEntry):
    """Transformer architecture, enough to count FLOPs, parameters and activations."""

    family: str = ""
    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int | None = Field(default=None, gt=0, description="None = same as heads "
                                     "(MHA); else it divides num_attention_heads (GQA/MQA)")
    head_dim: int | None = Field(default=None, gt=0, validate_default=True,
                                 description="None = hidden / heads (then heads divide "
                                 "hidden_size)")
    ffn_hidden_size: int = Field(gt=0, description="Intermediate size of the dense MLP")
    vocab_size: int = Field(gt=0)
    max_seq_len: int = Field(gt=0)
    train_seq_len: int | None = Field(
        default=None, gt=0,
        description="Sequence length of (most of) pre-training; None = unknown, "
        "min(max_seq_len, 8192) is assumed")
    mlp_kind: Literal["gelu", "swiglu"] = Field(
        default="swiglu",
        description="'swiglu' = gated MLP with three matrices (SwiGLU/GeGLU); 'gelu' = plain "
        "two-matrix MLP (GELU or ReLU)",
    )
    tied_embeddings: bool = False
    # Details that only move the parameter count by <1 % (exact counts in model_math).
    norm_kind: Literal["rmsnorm", "layernorm"] = Field(
        default="rmsnorm", description="LayerNorm has a bias vector, RMSNorm does not"
    )
    linear_bias: bool = Field(
        default=False, description="Biases on every attention and MLP projection (GPT-2/3, OPT)"
    )
    qkv_bias: bool = Field(default=False, description="Biases on Q/K/V projections only (Qwen2)")
    position_embedding: Literal["rope", "learned", "none"] = Field(
        default="rope", description="'learned' adds a max_seq_len x hidden table (GPT-2/3, OPT)"
    )
    # Mixture of experts (num_experts == 0 means dense).
    num_experts: int = Field(default=0, ge=0)
    num_experts_per_token: int = Field(default=0, ge=0)
    moe_ffn_hidden_size: int | None = Field(default=None, gt=0)
    num_shared_experts: int = Field(default=0, ge=0)
    num_dense_layers: int = Field(default=0, ge=0, description="Leading layers with a dense MLP")
    # Group-limited routing (DeepSeek-V3 "node-limited routing"; HF n_group / topk_group):
    # the routed experts form `num_expert_groups` equal groups and a token picks its top-k
    # experts inside its best `expert_groups_per_token` groups. 1/1 = no limit.
    num_expert_groups: int = Field(default=1, ge=1, description="Expert groups (HF n_group)")
    expert_groups_per_token: int = Field(
        default=1, ge=1, description="Groups a token's experts come from (HF topk_group)")
    # Multi-head latent attention (DeepSeek-V2/V3); None for standard MHA/GQA.
    attention_kind: Literal["mha", "mla"] = "mha"
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    # Local attention: layers attending over a window of recent tokens (sliding window,
    # gpt-oss, Mistral 7B) or within their chunk (Llama 4's chunked attention); their KV
    # holds at most the window per sequence.
    local_attention_window: int | None = Field(
        default=None, gt=0, description="Tokens a local-attention layer attends over")
    local_attention_layers: int = Field(
        default=0, ge=0, description="How many layers use the local window (the rest attend "
        "over the whole context)")

    attention_sinks: bool = Field(
        default=False, description="A learned sink logit per attention head (gpt-oss): one "
        "more term in each query's softmax, no key or value; counted in the parameters, adds "
        "no FLOPs or KV bytes worth pricing")

    fp4_format: Literal["nvfp4", "mxfp4"] = Field(
        default="nvfp4", description="What `fp4` weights mean for this model: its released "
        "FP4 checkpoint's format (gpt-oss ships MXFP4); NVFP4 (ModelOpt) otherwise")

    @field_validator("num_kv_heads")
    @classmethod
    def _kv_heads_group_the_heads(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Each KV head serves a whole group of query heads (GQA), so it divides them."""
        heads = info.data.get("num_attention_heads")
        if value is not None and heads is not None and heads % value:
            raise ValueError(f"must divide num_attention_heads ({heads}): each KV head "
                             "serves a whole group of query heads")
        return value

    @field_validator("head_dim")
    @classmethod
    def _head_dim_or_even_split(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Without ``head_dim`` the head size is hidden_size / num_attention_heads, which
        must then be whole."""
        hidden, heads = info.data.get("hidden_size"), info.data.get("num_attention_heads")
        if value is None and hidden is not None and heads is not None and hidden % heads:
            raise ValueError(f"hidden_size ({hidden}) is not a multiple of "
                             f"num_attention_heads ({heads}); give head_dim")
        return value

    @model_validator(mode="after")
    def _expert_groups_fit(self) -> ModelSpec:
        if self.expert_groups_per_token > self.num_expert_groups:
            raise ValueError(f"expert_groups_per_token ({self.expert_groups_per_token}) "
                             f"exceeds num_expert_groups ({self.num_expert_groups})")
        if self.num_expert_groups > 1 and self.num_experts % self.num_expert_groups:
            raise ValueError(f"num_expert_groups ({self.num_expert_groups}) must divide "
                             f"num_experts ({self.num_experts})")
        return self

    @model_validator(mode="after")
    def _local_attention_fits(self) -> ModelSpec:
        if self.local_attention_layers > self.num_layers:
            raise ValueError(f"local_attention_layers ({self.local_attention_layers}) exceeds "
                             f"num_layers ({self.num_layers})")
        if (self.local_attention_layers > 0) != (self.local_attention_window is not None):
            raise ValueError("local_attention_window and local_attention_layers go together "
                             "(a window size and how many layers use it)")
        return self

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def training_seq_len(self) -> int:
        """The sequence length a training estimate uses when none is given."""
        if self.train_seq_len is not None:
            return self.train_seq_len
        return min(self.max_seq_len, DEFAULT_TRAIN_SEQ_LEN)

    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_attention_heads

    @property
    def attn_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads


class EncoderSpec(CatalogEntry):
    """A bidirectional (BERT/XLM-R class) encoder of a RAG pipeline: an ``embedding`` model
    (query/document → one vector of ``embedding_dim``) or a cross-encoder ``reranker``
    (query + passage → one relevance score). Enough to count FLOPs and weight bytes."""

    kind: Literal["embedding", "reranker"]
    params: float = Field(gt=0, description="Total parameters (embeddings included)")
    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    ffn_hidden_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_seq_len: int = Field(gt=0)
    embedding_dim: int | None = Field(default=None, gt=0,
                                      description="Output vector size (embedding models)")

    @property
    def dense_params(self) -> float:
        """Parameters a token passes through (not the token/position embedding tables)."""
        return max(self.params - (self.vocab_size + self.max_seq_len) * self.hidden_size,
                   0.1 * self.params)
