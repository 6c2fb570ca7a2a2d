"""The scenario tree: what to simulate, as typed, validated, frozen pydantic models.

Human units are parsed here (``"14d"``, ``"20min"``, ``"5e9"``/``"5B"`` tokens) with
:mod:`gputwin.units`; everything inside is SI floats. Unknown fields are errors. Names
(system, GPU, model, storage tier, fabric) are checked against the catalog separately, in
:mod:`gputwin.scenario.check`, so the error can name the field and its line.
See docs/scenario.md for the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from gputwin.input_model import InputModel
from gputwin.limits import GpuCount, JobCount
from gputwin.quantities import Bytes, Count, Seconds, ShareWeight
from gputwin.requests import EpDispatcher, OffloadModule, PipelineSchedule, RecomputeModule
from gputwin.scenario.experiment import ExperimentConfig
from gputwin.scenario.failures import FailuresConfig
from gputwin.scenario.paths import CATALOG_FIELD_HELP
from gputwin.scenario.shared_fleet import FleetServing, fill_service_hardware
from gputwin.scenario.site import SiteConfig
from gputwin.scenario.tenancy import TenancyConfig
from gputwin.topology.hardware import TopologyKind

if TYPE_CHECKING:
    from gputwin.perf.training_layout import ParallelConfig, TrainingConfig


def _number_to_str(value: Any) -> Any:
    """YAML reads ids such as ``103959`` as numbers; keep them as the text they are."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Label = Annotated[str, BeforeValidator(_number_to_str, json_schema_input_type=str | float)]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveSeconds = Annotated[Seconds, Field(gt=0)]


class _Model(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


class NetworkConfig(_Model):
    """Scale-out network shape (see :class:`gputwin.topology.hardware.NetworkTopology`)."""

    topology: TopologyKind = "fat_tree"
    nodes_per_leaf: PositiveInt = 32
    oversubscription: float = Field(default=1.0, ge=1.0, description="Leaf down:up ratio")
    leaves_per_pod: int = Field(default=0, ge=0,
                                description="Leaves per spine group (pod); 0 = one pod")
    contention: bool = Field(
        default=False, description="Jobs crossing the same leaf uplinks slow each other's "
        "data-parallel communication (cluster runs; docs/simulation.md, 'Fabric contention')")


class OpticsConfig(_Model):
    """The optical fabric of a torus cluster (TPU-style 4x4x4 blocks; docs/simulation.md,
    'Optical circuit switching'): ``ocs`` wires any free blocks into a job's slice,
    ``static`` fibre offers only fixed, aligned slices."""

    switching: Literal["ocs", "static"] = "ocs"
    transceiver: str = Field(default="pluggable-800g",
                             description="Optics of the blocks' face links (optical.yaml)")


class NodeGroupConfig(_Model):
    """``num_nodes`` nodes of one catalog ``system`` (or the default system of ``gpu``)."""

    system: str | None = None
    gpu: str | None = None
    num_nodes: GpuCount

    @model_validator(mode="after")
    def _system_or_gpu(self) -> NodeGroupConfig:
        if self.system is None and self.gpu is None:
            raise ValueError("name a `system` (e.g. dgx-h100) or a `gpu`")
        return self


class ClusterConfig(_Model):
    """``num_nodes`` nodes of one catalog ``system`` (or the default system of ``gpu``), or
    ``node_groups`` of several (a mixed fleet, docs/simulation.md)."""

    system: str | None = None
    gpu: str | None = None
    num_nodes: GpuCount | None = Field(
        default=None, description="Required unless from_trace (then the trace's node count)")
    node_groups: list[NodeGroupConfig] | None = Field(
        default=None, description="A mixed fleet: groups of nodes of different GPU types "
        "(same GPUs per node), placed in this order; replaces system/gpu/num_nodes")
    network: NetworkConfig = NetworkConfig()
    storage: str | None = Field(default=None, description="Storage tier models load from")
    scale_out_fabric: str | None = Field(default=None, description="Override the system's")
    from_trace: bool = Field(
        default=False, description="Nodes from the trace's node list (GPUs, model, CPU, "
        "memory per node; e.g. openb), replacing num_nodes x the system's GPUs")
    optics: OpticsConfig | None = Field(
        default=None, description="A torus system's optical fabric: jobs get slices of "
        "whole blocks, OCS or statically wired; its power joins the site's")

    @model_validator(mode="before")
    @classmethod
    def _groups_fill_the_primary(cls, data: Any) -> Any:
        """With ``node_groups``, ``system``/``gpu`` name the first group (the primary type:
        site power, prices and quotas) and ``num_nodes`` the total."""
        if not isinstance(data, dict) or data.get("node_groups") is None:
            return data
        groups = data["node_groups"]
        if not isinstance(groups, list) or not groups:
            raise ValueError("node_groups: give a list of at least one group")
        given = [k for k in ("system", "gpu", "num_nodes", "from_trace") if data.get(k)]
        if given:
            raise ValueError(f"node_groups replaces {', '.join(given)}: give one or the other")
        first = groups[0] if isinstance(groups[0], dict) else {}
        nodes = [g.get("num_nodes") for g in groups if isinstance(g, dict)]
        out = dict(data)
        out["system"], out["gpu"] = first.get("system"), first.get("gpu")
        if all(isinstance(n, int) and not isinstance(n, bool) for n in nodes):
            out["num_nodes"] = sum(nodes)
        return out

    @model_validator(mode="after")
    def _system_or_gpu(self) -> ClusterConfig:
        if self.system is None and self.gpu is None:
            raise ValueError("name a `system` (e.g. dgx-h100) or a `gpu`")
        if self.num_nodes is None and not self.from_trace:
            raise ValueError("give `num_nodes` (or `from_trace: true` with a trace that "
                             "lists its nodes)")
        return self


class ArrivalConfig(_Model):
    """Submit times: ``poisson`` (exponential gaps) or ``fixed`` (equal gaps)."""

    process: Literal["poisson", "fixed"] = "poisson"
    mean_interarrival: Seconds = Field(gt=0)
    start: Seconds = 0.0


_LAYOUT_KEYS = frozenset({"tp", "pp", "cp", "ep", "interleave", "zero_stage",
                          "sequence_parallel", "micro_batch_size", "recompute",
                          "pipeline_schedule", "recompute_modules", "recompute_num_layers",
                          "offload_activation_layers", "offload_modules", "main_grads_fp32",
                          "adam_moments_bf16",
                          "fused_cross_entropy"})


class TemplateConfig(_Model):
    """A weighted kind of training job drawn by the synthetic generator.

    ``num_gpus``: one count or a list of choices (uniform). ``tokens``: a number or a
    ``[min, max]`` range (log-uniform). A template that sets no layout knob (tp, pp, cp,
    ep, interleave, zero_stage, sequence_parallel, micro_batch_size, recompute,
    pipeline_schedule, or the memory knobs recompute_modules, recompute_num_layers,
    offload_activation_layers, offload_modules, main_grads_fp32, adam_moments_bf16,
    fused_cross_entropy;
    docs/training-model.md, 'Memory') gets the layout planner's best layout for each GPU
    count, run with
    the template's MoE dispatch (ep_dispatcher, ep_dispatch_fp8, moe_a2a_overlap where the
    layout allows it). The split (every GPU count a multiple of ``tp·pp·cp``, heads,
    layers, experts) and the layout's schedule are checked against the model in
    ``scenario.check``.
    """

    weight: float = Field(default=1.0, gt=0)
    kind: str = "finetune"
    model: str
    tenant: str = "default"
    num_gpus: GpuCount | list[GpuCount]
    tp: PositiveInt = 1
    pp: PositiveInt = 1
    cp: PositiveInt = 1
    ep: PositiveInt = 1
    interleave: PositiveInt = Field(default=1, description="Virtual pipeline stages per rank")
    zero_stage: int = Field(default=1, ge=0, le=3)
    sequence_parallel: bool = False
    ep_dispatcher: EpDispatcher = Field(
        default="alltoall", description="MoE dispatch (docs/training-model.md, 'MoE dispatch')")
    ep_dispatch_fp8: bool = False
    moe_a2a_overlap: bool = False
    pipeline_schedule: PipelineSchedule = "1f1b"
    global_batch_size: PositiveInt | None = Field(
        default=None, description="Sequences per step (required with `tokens`)")
    micro_batch_size: PositiveInt = 1
    seq_len: PositiveInt | None = Field(
        default=None, description="None = the model's training length (catalog)")
    dtype: Literal["bf16", "fp16", "fp8"] = "bf16"
    recompute: Literal["none", "selective", "full"] = "selective"
    recompute_modules: list[RecomputeModule] | None = Field(
        default=None, min_length=1, description="With recompute selective: what it "
        "checkpoints (Megatron-Core recompute_modules); default core_attn")
    recompute_num_layers: PositiveInt | None = Field(
        default=None, description="With recompute full: only the first N layers of each "
        "pipeline chunk")
    offload_activation_layers: int = Field(
        default=0, ge=0, description="Layers whose activations wait in host memory (pp 1, "
        "recompute none)")
    offload_modules: list[OffloadModule] | None = Field(
        default=None, min_length=1, description="Modules whose inputs wait in host memory "
        "in every layer (fine-grained offload)")
    main_grads_fp32: bool = False
    adam_moments_bf16: bool = False
    fused_cross_entropy: bool = False
    tokens: Count | tuple[Count, Count] | None = Field(
        default=None, description="Training tokens (a number or [min, max]); required "
        "unless `duration` is given")
    duration: Seconds | None = Field(
        default=None, gt=0, description="A fixed run time instead of a model-priced "
        "training run (pods, notebooks, inference; required with gpu_fraction/mig_profile)")
    gpu_fraction: float | None = Field(
        default=None, gt=0, lt=1, description="Part of one GPU (fractional sharing; needs "
        "num_gpus 1 and a sharing profile such as fgd or bestfit)")
    mig_profile: str | None = Field(
        default=None, description="A MIG instance of one GPU, e.g. 1g.10gb (needs num_gpus 1 "
        "and scheduler profile mig)")
    gpu: str | None = Field(
        default=None, description="Mixed fleets: the GPU type(s) the job may run on "
        "(catalog names, 'a|b'); None = any type it fits, in node-group order")
    startup_overhead: Seconds = Field(default=0.0, description="Container start, NCCL init...")
    deferrable_slack: Seconds | None = Field(
        default=None, ge=0, description="Carbon-aware: the job may start this much later "
        "than its submission (None = not deferrable; docs/carbon-aware.md)")
    interruptible: bool = Field(default=False, description="Carbon-aware: may be suspended")
    data_bytes: Bytes = Field(default=0.0, ge=0, description="Dataset moved if run elsewhere")
    region: str | None = Field(default=None, description="Where the job's data lives")

    @property
    def num_gpus_choices(self) -> tuple[int, ...]:
        return tuple(self.num_gpus) if isinstance(self.num_gpus, list) else (self.num_gpus,)

    @property
    def layout_given(self) -> bool:
        """Whether the file sets any layout knob; if not, the planner chooses the layout."""
        return bool(self.model_fields_set & _LAYOUT_KEYS)

    def layout(self, seq_len: int | None = None) -> tuple[ParallelConfig, TrainingConfig]:
        """The template's own layout and batch (``seq_len``: the sequence length to use,
        default the template's, else 2,048)."""
        from gputwin.perf.training_layout import TrainingConfig, parallel_config_of

        parallel = parallel_config_of(self)
        training = TrainingConfig(global_batch_size=self.global_batch_size or 1,
                                  micro_batch_size=self.micro_batch_size,
                                  seq_len=seq_len or self.seq_len or 2048,
                                  dtype=self.dtype, recompute=self.recompute,
                                  recompute_modules=(None if self.recompute_modules is None
                                                     else tuple(self.recompute_modules)),
                                  recompute_num_layers=self.recompute_num_layers)
        return parallel, training

    @property
    def tokens_range(self) -> tuple[float, float]:
        if self.tokens is None:  # a fixed-duration template (no tokens drawn from it)
            return (1.0, 1.0)
        return self.tokens if isinstance(self.tokens, tuple) else (self.tokens, self.tokens)

    @model_validator(mode="after")
    def _consistent(self) -> TemplateConfig:
        if isinstance(self.num_gpus, list) and not self.num_gpus:
            raise ValueError("num_gpus: give at least one GPU count")
        if self.tokens is None and self.duration is None:
            raise ValueError("give `tokens` (a model-priced training run) or `duration`")
        if self.tokens is not None and self.duration is not None:
            raise ValueError("give `tokens` or `duration`, not both")
        if self.tokens is not None and self.global_batch_size is None:
            raise ValueError("a training template (`tokens`) needs `global_batch_size`")
        lo, hi = self.tokens_range
        if lo <= 0 or hi < lo:
            raise ValueError(f"tokens must be > 0 with min <= max, got {self.tokens!r}")
        shared = self.gpu_fraction is not None or self.mig_profile is not None
        if shared and self.num_gpus_choices != (1,):
            raise ValueError("gpu_fraction / mig_profile ask for part of one GPU: num_gpus: 1")
        if shared and self.duration is None:
            raise ValueError("gpu_fraction / mig_profile need a `duration` (the training "
                             "model prices whole GPUs only)")
        if self.gpu_fraction is not None and self.mig_profile is not None:
            raise ValueError("give gpu_fraction or mig_profile, not both")
        return self


class SyntheticConfig(_Model):
    num_jobs: JobCount
    arrival: ArrivalConfig
    templates: list[TemplateConfig] = Field(min_length=1)


class TraceConfig(_Model):
    """Replay a job trace; each job runs for its recorded duration.

    A relative ``path`` is looked up beside the scenario file, then in the data folder
    (``$GPUTWIN_DATA_DIR``, default ``../shared/data`` beside the checkout).
    """

    format: Literal["philly_csv", "philly_json", "openb", "pai2020", "helios", "swf"]
    path: str
    model: str | None = Field(default=None, description="Catalog model to label jobs with")
    kind: str = "trace"
    cluster: Label | None = Field(default=None, description="Keep one virtual cluster only")
    max_jobs: PositiveInt | None = None
    max_gpus: PositiveInt | None = Field(default=None, description="Drop larger jobs")
    options: dict[str, Any] = Field(
        default_factory=dict, description="More options of gputwin.workload.traces."
        "read_trace for this format (docs/workloads.md); relative paths: beside the trace")


class WorkloadConfig(_Model):
    """A synthetic mix, a trace, or both (merged by submit time)."""

    synthetic: SyntheticConfig | None = None
    trace: TraceConfig | None = None

    @model_validator(mode="after")
    def _something(self) -> WorkloadConfig:
        if self.synthetic is None and self.trace is None:
            raise ValueError("give `synthetic` and/or `trace`")
        return self


class SchedulerConfig(_Model):
    """The scheduling framework's profile (see docs/scheduling.md).

    ``profile``: a built-in named profile (``fifo``, ``backfill-easy``, ...); ``plugins``:
    override extension points (``{queue_sort: fifo, score: [{name: binpack, weight: 1}]}``);
    ``args``: typed args per plugin, keyed by plugin name. Plugin names and args are checked
    in :mod:`gputwin.scenario.check`. Legacy form: ``policy: fifo`` with ``placement:
    first_fit | leaf_pack`` (``leaf_pack`` = topology placement).
    """

    profile: str | None = None
    plugins: dict[str, Any] | None = None
    args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    policy: Literal["fifo"] | None = None
    placement: Literal["first_fit", "leaf_pack"] | None = None
    checkpoint_interval: Seconds | None = Field(
        default=None, gt=0, description="Default checkpoint interval of jobs (preemption)")
    restart_overhead: Seconds = Field(
        default=0.0, ge=0, description="Extra start-up paid when a preempted job restarts")
    tenant_shares: dict[str, ShareWeight] = Field(
        default_factory=dict, description="Entitlement per tenant (summary; DRF/fair-share)")


class Scenario(_Model):
    """The root of a scenario file."""

    name: str = "scenario"
    description: str = ""
    seed: int = Field(default=0, ge=0)
    horizon: PositiveSeconds | None = Field(default=None, description="None = run until done")
    cluster: ClusterConfig
    workload: WorkloadConfig
    scheduler: SchedulerConfig = SchedulerConfig()
    tenancy: TenancyConfig | None = Field(
        default=None, description="Kueue-style queues, quotas, priority classes "
        "(docs/multi-tenancy.md)")
    site: SiteConfig | None = Field(
        default=None, description="Region, cooling, racks, power budget, grid data, pricing "
        "(energy, carbon, water and cost accounting; docs/energy.md)")
    failures: FailuresConfig | None = Field(
        default=None, description="Fault injection, spares, checkpoints, stragglers "
        "(docs/reliability.md); None = no faults")
    experiment: ExperimentConfig | None = Field(
        default=None, description="Run as a packing experiment (workload_inflation, the "
        "FGD paper's method) instead of a time replay; needs workload.trace")
    catalog: str | list[str] = Field(default_factory=list, description=CATALOG_FIELD_HELP)
    serving: FleetServing | None = Field(
        default=None, description="Inference services sharing the cluster with the "
        "training jobs (replicas are gang jobs; docs/shared-fleet.md)")

    _hardware = model_validator(mode="before")(fill_service_hardware)

    @model_validator(mode="after")
    def _trace_nodes(self) -> Scenario:
        if self.cluster.from_trace and self.workload.trace is None:
            raise ValueError("cluster.from_trace needs a workload.trace")
        if self.experiment is not None and self.workload.trace is None:
            raise ValueError("experiment: workload_inflation draws pods from workload.trace")
        if self.serving is not None:
            for name in ("experiment", "failures", "site"):
                if getattr(self, name) is not None:
                    raise ValueError(f"serving: a shared fleet does not model `{name}:` "
                                     "yet (docs/shared-fleet.md)")
        return self
