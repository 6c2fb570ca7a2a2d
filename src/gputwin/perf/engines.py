"""Serving engine profiles (vLLM, SGLang, TensorRT-LLM) read from ``engines.yaml``.

An :class:`EngineProfile` holds one engine's scheduling defaults, host overheads, kernel
efficiency multipliers and KV layout. The profiles form a registry:
:func:`engine_names` gives the CLI ``--engine`` choices and the scenario schema's
``engine.name`` values, :func:`engine_profile` looks one up (unknown names raise
:class:`InputError` listing the known ones). Every figure in the YAML carries a
``source``; a figure without one, an unknown key or a value out of range is refused with
the file, line and key.

:class:`GraphPaddedStep` prices a pure-decode step at the next captured CUDA-graph batch
size (TensorRT-LLM ``enable_padding``, SGLang's graph runner): the padded rows run through
the GEMMs but hold no KV.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.serving_memory import KvMemory, ProfilingRule
from gputwin.units import format_bytes
from gputwin.yaml_io import KeyPath, load_yaml_with_lines

if TYPE_CHECKING:
    from gputwin.catalog.schema import Accelerator

ENGINES_PATH = Path(__file__).with_name("engines.yaml")
CACHE_KINDS = ("paged", "radix")
KV_DEFAULTS = ("auto", "checkpoint", "bf16", "fp8")
MEMORY_MODES = ("total", "free")
#: How a scheduler admits against KV capacity: greedy (vLLM; TensorRT-LLM MAX_UTILIZATION),
#: no_evict (TensorRT-LLM GUARANTEED_NO_EVICT), new_token_ratio (SGLang)
CapacityPolicy = Literal["greedy", "no_evict", "new_token_ratio"]
CAPACITY_POLICIES: tuple[str, ...] = get_args(CapacityPolicy)
LIMIT_SCOPES = ("replica", "dp_rank")
#: KV of local-attention layers: ``hybrid`` (one pool; a sequence holds blocks for its
#: window only, vLLM V1), ``set_aside`` (the windows of ``max_num_seqs`` sequences set
#: aside up front, KvMemory.kv_pool_tokens), ``full`` (every layer caches every token)
LOCAL_LAYER_KV = ("hybrid", "set_aside", "full")
#: GEMM efficiency keys: the tensor-core dtype the GEMMs run in, or ``weight_only`` for
#: weights dequantised to BF16 in the GEMM main loop (perf.serving_rates.runs_weight_only)
GEMM_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4", "weight_only")
#: expert weight formats a MoE kernel family can be named for (blackwell_moe_min_tile_rows,
#: masked_moe_formats)
MOE_TILE_FORMATS = ("mxfp4", "nvfp4", "fp8", "bf16")
#: figures a profile may leave out (EngineProfile's default: vLLM's behaviour)
_OPTIONAL = ("mixed_chunk", "masked_moe_formats", "eager_layer_s", "fp4_as_fp8_on",
             "frontend_latency_s", "profiling", "large_gpu_limits", "tpu_token_budgets")
_SECTIONS: dict[str, tuple[str, ...]] = {
    "scheduling": ("max_num_seqs", "max_num_batched_tokens", "enable_chunked_prefill",
                   "cuda_graph_batch_sizes", "pad_decode_to_graph", "capacity_policy",
                   "limits_scope", "mixed_chunk", "large_gpu_limits", "tpu_token_budgets"),
    "host": ("step_overhead_s", "per_seq_overhead_s", "overlapped_per_seq_s",
             "eager_layer_s", "frontend_latency_s"),
    "kernels": ("attention_eff_mult", "gemm_eff_mult", "blackwell_moe_min_tile_rows",
                "masked_moe_formats", "fp4_as_fp8_on"),
    "kv": ("block_size", "cache", "default_kv_dtype", "memory_mode", "memory_frac",
           "local_layer_kv", "profiling"),
}


@dataclass(frozen=True, slots=True)
class LargeGpuLimits:
    """Batch limits an engine defaults to on large parts (vLLM's get_batch_defaults: a
    device of one of ``vendors``, with ``min_usable_bytes`` or more, whose name holds none
    of ``except_names``)."""

    vendors: tuple[str, ...]
    min_usable_bytes: float
    except_names: tuple[str, ...]
    max_num_seqs: int
    max_num_batched_tokens: int

    def applies(self, accelerator: Accelerator) -> bool:
        name = accelerator.name.lower()
        return (accelerator.vendor.lower() in self.vendors
                and accelerator.usable_memory >= self.min_usable_bytes
                and not any(n in name for n in self.except_names))


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """One serving engine's defaults and coefficients (see engines.yaml for sources)."""

    name: str
    title: str
    max_num_seqs: int
    max_num_batched_tokens: int
    enable_chunked_prefill: bool
    cuda_graph_batch_sizes: tuple[int, ...]
    pad_decode_to_graph: bool
    capacity_policy: str
    limits_scope: str  # max_num_seqs / token budget per replica or per attention DP rank
    step_overhead_s: float  # host seconds per step, in series with the device
    per_seq_overhead_s: float  # host seconds per running sequence, in series
    overlapped_per_seq_s: float  # host seconds per sequence run beside the device step
    attention_eff_mult: float
    gemm_eff_mult: dict[str, float]
    #: smallest M-tile (rows per expert) of the native-format MoE kernels on NVIDIA parts
    #: with FP4 tensor cores, by expert weight format; unlisted formats: the dense 64
    blackwell_moe_min_tile_rows: dict[str, float]
    block_size: int
    cache: str
    default_kv_dtype: str
    memory_mode: str
    memory_frac: float
    local_layer_kv: str
    sources: dict[str, str]
    runs_on: tuple[str, ...] = ("nvidia",)  # accelerator vendors the engine supports
    #: a step carries decoders and prompt chunks (False: SGLang's prefill batches apart)
    mixed_chunk: bool = True
    #: expert weight formats whose wide-EP decode runs DeepEP's low-latency all-to-all into
    #: a masked grouped GEMM (ServingPerf._expert_rate); () for none
    masked_moe_formats: tuple[str, ...] = ()
    #: host seconds per layer of a step that carries prompt tokens, in series with the
    #: device: the forward runs eagerly (CUDA graphs replay pure-decode batches only) and
    #: small prompts leave the GPU waiting on kernel launches; 0: hidden or graph-captured
    eager_layer_s: float = 0.0
    base: str | None = None  # release profile: the profile whose figures it inherits
    #: vendors on whose FP4 tensor cores the engine's W4A4 FP4 GEMMs run no faster than
    #: FP8 ones: such steps are priced as FP8 GEMMs (perf.serving_rates.timing_weights_dtype)
    fp4_as_fp8_on: tuple[str, ...] = ()
    #: host seconds per step on the listed vendors' parts where the engine's back end for
    #: them differs from ``step_overhead_s`` (engines.yaml: ``{default: s, vendor: s}``)
    vendor_step_overhead_s: dict[str, float] = field(default_factory=dict)
    #: seconds a request spends in the engine's API server outside the engine loop (HTTP
    #: intake, tokenisation, hand-off to the engine, streaming the tokens back): it adds
    #: to TTFT and end-to-end latency and delays a closed-loop client's next request, but
    #: occupies no device; 0: not modelled
    frontend_latency_s: float = 0.0
    #: how the engine's memory profiling sizes what stays out of the KV pool; None: the
    #: calibration's rule (perf/serving_memory.py ProfilingRule, KvMemory)
    profiling: ProfilingRule | None = None
    #: other default batch limits on large parts; None: max_num_seqs and
    #: max_num_batched_tokens on every part
    large_gpu_limits: LargeGpuLimits | None = None
    #: default token budget by TPU part (catalog name); the sequences are capped by it
    tpu_token_budgets: tuple[tuple[str, int], ...] = ()

    def limits_for(self, accelerator: Accelerator | None) -> tuple[int, int]:
        """Default ``(max_num_seqs, max_num_batched_tokens)`` of the engine on
        ``accelerator`` (the profile's own where the part is unknown)."""
        budget = dict(self.tpu_token_budgets).get(accelerator.name) if accelerator else None
        if budget is not None:
            return min(self.max_num_seqs, budget), budget
        big = self.large_gpu_limits
        if big is not None and accelerator is not None and big.applies(accelerator):
            return big.max_num_seqs, big.max_num_batched_tokens
        return self.max_num_seqs, self.max_num_batched_tokens

    def step_overhead_for(self, vendor: str | None) -> float:
        """Host seconds per step of the engine on ``vendor``'s parts."""
        if vendor is None:
            return self.step_overhead_s
        return self.vendor_step_overhead_s.get(vendor.lower(), self.step_overhead_s)

    def host_floor_s(self, step_overhead_s: float, seqs_per_scheduler: int) -> float:
        """Least seconds a step lasts because of host work that overlaps the device step
        (the step costs the larger of the two): the step's own host time plus
        ``overlapped_per_seq_s`` per running sequence of one scheduler. 0 without it."""
        if self.overlapped_per_seq_s <= 0.0:
            return 0.0
        return step_overhead_s + self.overlapped_per_seq_s * seqs_per_scheduler

    def fp4_runs_as_fp8(self, vendor: str) -> bool:
        """True when the engine's W4A4 FP4 GEMMs on ``vendor``'s parts are priced as FP8
        GEMMs (``fp4_as_fp8_on``; engines.yaml gives the measurements)."""
        return vendor.lower() in self.fp4_as_fp8_on

    def runs_on_part(self, vendor: str) -> bool:
        return vendor in self.runs_on

    def check_runs_on(self, accelerator: str, vendor: str) -> None:
        """Raise InputError unless the engine runs on ``vendor``'s accelerators."""
        if vendor not in self.runs_on:
            raise InputError(f"{self.title.split(' (')[0]} ({self.name}) runs on "
                             f"{', '.join(self.runs_on)} accelerators; {accelerator} is "
                             f"{vendor}'s: pick another engine", where="--engine")

    def gemm_mult(self, weights_dtype: str, weight_only: bool = False) -> float:
        """GEMM efficiency multiplier for GEMMs running in ``weights_dtype`` (nvfp4/mxfp4
        count as fp4), or for weight-only GEMMs (their own kernels, e.g. TensorRT-LLM's
        Triton MXFP4 MoE on Hopper)."""
        if weight_only:
            return self.gemm_eff_mult.get("weight_only", 1.0)
        key = "fp4" if weights_dtype in ("nvfp4", "mxfp4") else weights_dtype
        return self.gemm_eff_mult.get(key, 1.0)

    def kv_dtype(self, weights_dtype: str, weight_only: bool = False) -> str:
        """The KV-cache dtype the engine picks when none is given.

        ``checkpoint``: FP8 when the quantised weights run at a low-precision tensor-core
        rate (W8A8, W4A4, W4A8 checkpoints calibrate activation and KV scales); BF16 when
        they are dequantised to BF16 in the GEMM (``weight_only``: gpt-oss's MXFP4 on
        Hopper, FP8 on Ampere), whose checkpoints carry no KV scales."""
        d = self.default_kv_dtype
        if d == "checkpoint":
            quantised = weights_dtype in ("fp8", "fp4", "nvfp4", "mxfp4")
            return "fp8" if quantised and not weight_only else "bf16"
        return "bf16" if d == "auto" else d

    def limits_multiplier(self, dp_attention: int) -> int:
        """How many times its per-scope batch limits a replica of ``dp_attention``
        attention data-parallel groups holds (1 when the limits count the replica)."""
        return max(1, dp_attention) if self.limits_scope == "dp_rank" else 1

    def graph_batch_sizes(self, cap: int | None = None) -> tuple[int, ...]:
        """The CUDA-graph batch sizes captured under a largest pure-decode batch ``cap``
        (the engine's max batch, or its token budget over the tokens per sequence):
        sizes above it are dropped and, when the list went beyond it, ``cap`` itself is
        captured as the padding target (TensorRT-LLM ``_filter_cuda_graph_batch_sizes``;
        SGLang caps ``--cuda-graph-max-bs`` at its max running requests)."""
        sizes = self.cuda_graph_batch_sizes
        if cap is None or not sizes or sizes[-1] <= cap:
            return sizes
        return (*(s for s in sizes if s < cap), cap)

    def padded_batch(self, num_seqs: int, cap: int | None = None) -> int:
        """Decode batch size after CUDA-graph padding (unchanged above the largest size
        captured under ``cap``, see :meth:`graph_batch_sizes`)."""
        sizes = self.graph_batch_sizes(cap)
        if not self.pad_decode_to_graph or not sizes or num_seqs > sizes[-1]:
            return num_seqs
        return sizes[bisect.bisect_left(sizes, num_seqs)]


class _Where:
    def __init__(self, path: Path, lines: dict[KeyPath, int]) -> None:
        self.path, self.lines = path, lines

    def __call__(self, key: KeyPath) -> str:
        probe = key
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = f":{self.lines[probe]}" if probe in self.lines else ""
        return f"{self.path}{line}: {'.'.join(str(k) for k in key)}"


def _figure(raw: Any, key: KeyPath, where: _Where) -> tuple[Any, str]:
    if not isinstance(raw, dict) or set(raw) != {"value", "source"}:
        raise InputError("expected {value: ..., source: \"...\"}", where=where(key))
    source = raw["source"]
    if not isinstance(source, str) or len(source.strip()) < 8:
        raise InputError("every figure needs a source (a citation of 8+ characters)",
                         where=where((*key, "source")))
    return raw["value"], source


def _check(value: Any, name: str, key: KeyPath, where: _Where) -> Any:
    """Type and range of one figure (raises InputError)."""
    ok: bool
    if name in ("max_num_seqs", "max_num_batched_tokens", "block_size"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    elif name in ("enable_chunked_prefill", "pad_decode_to_graph", "mixed_chunk"):
        ok = isinstance(value, bool)
    elif name == "fp4_as_fp8_on":
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        value = tuple(v.lower() for v in value) if ok else value
    elif name == "cuda_graph_batch_sizes":
        ok = (isinstance(value, list) and all(isinstance(v, int) and v >= 1 for v in value)
              and value == sorted(set(value)))
        value = tuple(value) if ok else value
    elif name == "step_overhead_s" and isinstance(value, dict):  # {default: s, vendor: s}
        ok = ("default" in value and all(isinstance(k, str) and k for k in value)
              and all(_seconds(v) for v in value.values()))
        value = {k.lower(): float(v) for k, v in value.items()} if ok else value
    elif name in ("step_overhead_s", "per_seq_overhead_s", "overlapped_per_seq_s",
                  "frontend_latency_s"):
        ok = _seconds(value)
    elif name == "eager_layer_s":
        ok = isinstance(value, int | float) and 0.0 <= value <= 0.01
    elif name in ("attention_eff_mult", "memory_frac"):
        ok = isinstance(value, int | float) and 0.0 < value <= 2.0
    elif name == "blackwell_moe_min_tile_rows":
        ok = (isinstance(value, dict) and set(value) <= set(MOE_TILE_FORMATS)
              and all(isinstance(v, int | float) and 1 <= v <= 64 for v in value.values()))
        value = {k: float(v) for k, v in value.items()} if ok else value
    elif name == "masked_moe_formats":
        ok = (isinstance(value, list) and set(value) <= set(MOE_TILE_FORMATS))
        value = tuple(value) if ok else value
    elif name == "profiling":  # null (the calibration's rule) or the four figures
        return _profiling_rule(value, key, where)
    elif name == "large_gpu_limits":
        return _large_gpu_limits(value, key, where)
    elif name == "tpu_token_budgets":  # null or {accelerator name: tokens}
        if value is None:
            return ()
        ok = (isinstance(value, dict) and all(
            isinstance(k, str) and k and isinstance(v, int) and not isinstance(v, bool)
            and v >= 1 for k, v in value.items()))
        value = tuple(sorted(value.items())) if ok else value
    elif name == "gemm_eff_mult":
        ok = (isinstance(value, dict) and set(value) <= set(GEMM_DTYPES)
              and all(isinstance(v, int | float) and 0.0 < v <= 2.0 for v in value.values()))
        value = {k: float(v) for k, v in value.items()} if ok else value
    else:
        allowed = {"cache": CACHE_KINDS, "default_kv_dtype": KV_DEFAULTS,
                   "memory_mode": MEMORY_MODES, "capacity_policy": CAPACITY_POLICIES,
                   "limits_scope": LIMIT_SCOPES, "local_layer_kv": LOCAL_LAYER_KV}[name]
        ok = value in allowed
        if not ok:
            raise InputError(f"expected one of {', '.join(allowed)}, got {value!r}",
                             where=where(key))
    if not ok:
        raise InputError(f"invalid value {value!r} for {name}", where=where(key))
    return value


#: ProfilingRule's figures and their bounds (copies; bytes per GPU up to 16 GiB)
_PROFILING_BOUNDS = {"sampler_logit_copies": (0.0, 20.0),
                     "runtime_bytes": (0.0, 16 * 2.0**30),
                     "tp_runtime_bytes": (0.0, 16 * 2.0**30)}


def _profiling_rule(value: Any, key: KeyPath, where: _Where) -> ProfilingRule | None:
    """null, or the figures of _PROFILING_BOUNDS and optionally reserves_activations."""
    if value is None:
        return None
    if not isinstance(value, dict) or not (
            set(_PROFILING_BOUNDS) <= set(value)
            <= {*_PROFILING_BOUNDS, "reserves_activations"}):
        raise InputError(f"expected null or a mapping of {', '.join(_PROFILING_BOUNDS)} "
                         "(and optionally reserves_activations)", where=where(key))
    for name, (low, high) in _PROFILING_BOUNDS.items():
        v = value[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
            raise InputError(f"expected a number in [{low:g}, {high:g}], got {v!r}",
                             where=where((*key, name)))
    reserves = value.get("reserves_activations", True)
    if not isinstance(reserves, bool):
        raise InputError(f"expected true or false, got {reserves!r}",
                         where=where((*key, "reserves_activations")))
    return ProfilingRule(**{k: float(value[k]) for k in _PROFILING_BOUNDS},
                         reserves_activations=reserves)


_LARGE_GPU_KEYS = ("vendors", "min_usable_gib", "except_names", "max_num_seqs",
                   "max_num_batched_tokens")


def _large_gpu_limits(value: Any, key: KeyPath, where: _Where) -> LargeGpuLimits | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != set(_LARGE_GPU_KEYS):
        raise InputError(f"expected null or a mapping of {', '.join(_LARGE_GPU_KEYS)}",
                         where=where(key))
    gib, names, vendors = value["min_usable_gib"], value["except_names"], value["vendors"]
    if not (isinstance(vendors, list) and vendors
            and all(isinstance(v, str) and v for v in vendors)):
        raise InputError("expected a non-empty list of accelerator vendors",
                         where=where((*key, "vendors")))
    if isinstance(gib, bool) or not isinstance(gib, int | float) or not 0 < gib <= 4096:
        raise InputError(f"expected GiB in (0, 4096], got {gib!r}",
                         where=where((*key, "min_usable_gib")))
    if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names)):
        raise InputError("expected a list of name fragments",
                         where=where((*key, "except_names")))
    limits = [value["max_num_seqs"], value["max_num_batched_tokens"]]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in limits) \
            or limits[1] < limits[0]:
        raise InputError("expected whole numbers >= 1, the token budget >= the sequences",
                         where=where(key))
    return LargeGpuLimits(tuple(v.lower() for v in vendors), gib * 2.0**30,
                          tuple(n.lower() for n in names), *limits)


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _inherit(name: str, raw: Any, engines: dict[str, Any], where: _Where) -> Any:
    """A release profile's entry (``base: NAME``) completed with its base's figures: it
    sets only the figures in which the release differs; every other one is the base's."""
    if not isinstance(raw, dict) or "base" not in raw:
        return raw
    parent = raw["base"]
    if parent not in engines or not isinstance(engines[parent], dict) \
            or "base" in engines[parent]:
        raise InputError(f"base must name a profile without a base of its own, got "
                         f"{parent!r}", where=where(("engines", name, "base")))
    out = {k: v for k, v in engines[parent].items() if k != "title"}
    for key, value in raw.items():
        if key in _SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _profile(name: str, raw: Any, where: _Where) -> EngineProfile:
    base: KeyPath = ("engines", name)
    if not isinstance(raw, dict):
        raise InputError("expected a mapping", where=where(base))
    unknown = sorted(set(raw) - {"title", "runs_on", "base", *_SECTIONS})
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)}; expected title, runs_on, "
                         f"base, {', '.join(_SECTIONS)}", where=where(base))
    runs_on, runs_on_source = _figure(raw.get("runs_on"), (*base, "runs_on"), where)
    if not (isinstance(runs_on, list) and runs_on
            and all(isinstance(v, str) and v for v in runs_on)):
        raise InputError("expected a non-empty list of accelerator vendors",
                         where=where((*base, "runs_on", "value")))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for section, names in _SECTIONS.items():
        sec = raw.get(section)
        if not isinstance(sec, dict):
            raise InputError(f"missing section {section!r}", where=where((*base, section)))
        extra = sorted(set(sec) - set(names))
        missing = [n for n in names if n not in sec and n not in _OPTIONAL]
        if extra or missing:
            raise InputError(f"{section}: unknown {extra}, missing {missing}; expected "
                             f"{', '.join(names)}", where=where((*base, section)))
        for n in names:
            if n not in sec:
                continue  # optional: the dataclass default
            key = (*base, section, n)
            value, src = _figure(sec[n], key, where)
            values[n] = _check(value, n, (*key, "value"), where)
            sources[n] = src
    if values["max_num_batched_tokens"] < values["max_num_seqs"]:
        raise InputError("max_num_batched_tokens must be >= max_num_seqs (every running "
                         "sequence decodes each step)", where=where((*base, "scheduling")))
    sources["runs_on"] = runs_on_source
    step = values["step_overhead_s"]
    if isinstance(step, dict):
        own = {"default", *(v.lower() for v in runs_on)}
        stray = sorted(set(step) - own)
        if stray and raw.get("base") is None:  # a release keeps its base's for its vendors
            raise InputError(f"step time for vendor(s) {', '.join(stray)} the engine does not "
                             f"run on ({', '.join(runs_on)})",
                             where=where((*base, "host", "step_overhead_s", "value")))
        values["step_overhead_s"] = step["default"]
        values["vendor_step_overhead_s"] = {k: v for k, v in step.items()
                                            if k != "default" and k in own}
    return EngineProfile(name=name, title=str(raw.get("title", name)), sources=sources,
                         runs_on=tuple(runs_on), base=raw.get("base"), **values)


def load_engine_profiles(path: Path = ENGINES_PATH) -> tuple[str, dict[str, EngineProfile]]:
    """(default engine name, profiles by name) from ``path``; raises InputError."""
    data, lines = load_yaml_with_lines(path)
    where = _Where(path, lines)
    if not isinstance(data, dict) or not isinstance(data.get("engines"), dict):
        raise InputError("expected a mapping with `engines:` and `default:`", where=str(path))
    unknown = sorted(set(data) - {"engines", "default"})
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)}", where=str(path))
    engines = data["engines"]
    profiles = {str(n): _profile(str(n), _inherit(str(n), e, engines, where), where)
                for n, e in engines.items()}
    default = data.get("default")
    if default not in profiles:
        raise InputError(f"default must name an engine ({', '.join(profiles)}), got "
                         f"{default!r}", where=where(("default",)))
    return str(default), profiles


@functools.cache
def _registry() -> tuple[str, dict[str, EngineProfile]]:
    return load_engine_profiles()


def engine_names() -> tuple[str, ...]:
    """Registered engine names (the default first): CLI and scenario choices."""
    default, profiles = _registry()
    return (default, *(n for n in profiles if n != default))


def current_engine_names() -> tuple[str, ...]:
    """The engines of today's releases (no ``base``; the default first): what a search over
    engines tries unless it names a release profile."""
    _, profiles = _registry()
    return tuple(n for n in engine_names() if profiles[n].base is None)


def default_engine() -> str:
    return _registry()[0]


def engine_profile(name: str | None = None, *, where: str | None = None) -> EngineProfile:
    """The profile called ``name`` (the default when None); raises UnknownNameError."""
    default, profiles = _registry()
    key = default if name is None else name
    if key not in profiles:
        raise UnknownNameError("engine", key, list(profiles), where=where or "--engine")
    return profiles[key]


class StepModel(Protocol):
    """What a serving engine needs from a step-time model
    (:class:`gputwin.perf.serving.ServingPerf`, or it wrapped in :class:`GraphPaddedStep`)."""

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float: ...

    def spec_step_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float,
                         num_prefill_tokens: int = 0, prefill_context_tokens_sum: float = 0.0,
                         prefill_attn_pairs: float = 0.0) -> float: ...

    def decode_kink(self, num_decode_seqs: int) -> float: ...


class GraphPaddedStep:
    """A step model whose pure-decode steps run at the padded CUDA-graph batch size.

    Only the token count grows (GEMM rows, LM head, all-reduce size); the attention reads
    the real sequences' KV (padding rows have none). Mixed prefill+decode steps run
    eagerly, unpadded (as in the engines). ``cap``: the largest pure-decode batch the
    engine captures (:meth:`EngineProfile.graph_batch_sizes`)."""

    __slots__ = ("_base", "_pad")

    def __init__(self, base: StepModel, profile: EngineProfile, cap: int | None = None) -> None:
        self._base = base
        self._pad = functools.partial(profile.padded_batch, cap=cap)

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float:
        n = num_decode_seqs if num_prefill_tokens else self._pad(num_decode_seqs)
        return self._base.step_time_s(num_prefill_tokens, prefill_context_tokens_sum,
                                      prefill_attn_pairs, n, decode_context_tokens_sum)

    def spec_step_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float,
                         num_prefill_tokens: int = 0, prefill_context_tokens_sum: float = 0.0,
                         prefill_attn_pairs: float = 0.0) -> float:
        n = num_decode_seqs if num_prefill_tokens else self._pad(num_decode_seqs)
        return self._base.spec_step_time_s(n, decode_context_tokens_sum, num_prefill_tokens,
                                           prefill_context_tokens_sum, prefill_attn_pairs)

    def decode_kink(self, num_decode_seqs: int) -> float:
        return self._base.decode_kink(self._pad(num_decode_seqs))


def kv_pool_bytes_per_gpu(memory: KvMemory, profile: EngineProfile, frac: float) -> float:
    """KV pool bytes per GPU (negative: the model does not fit) as ``profile`` sizes it:
    its memory mode (:meth:`KvMemory.free_kv_bytes_per_gpu`: ``total`` for vLLM and
    SGLang, ``free`` for TensorRT-LLM) and its profiling rule. A replica's own memory
    already carries its engine's (:class:`~gputwin.perf.serving.ServingPerf`); another
    profile re-sizes it."""
    return sized_by(memory, profile).free_kv_bytes_per_gpu(frac)


def sized_by(memory: KvMemory, profile: EngineProfile) -> KvMemory:
    """``memory`` with ``profile``'s pool-sizing rule (itself when it has it already)."""
    if (memory.memory_mode, memory.profiling) == (profile.memory_mode, profile.profiling):
        return memory
    return replace(memory, memory_mode=profile.memory_mode, profiling=profile.profiling)


def kv_pool_blocks(memory: KvMemory, profile: EngineProfile, block_size: int,
                   frac: float) -> int:
    """KV blocks of ``block_size`` tokens the replica's pools hold together (0 when
    nothing is left): one pool per attention data-parallel group, each on its own GPUs.

    Under a hybrid allocator (:func:`local_kv_layout`) a block holds ``block_size``
    tokens of the whole-context layers only (a local block costs the layout's weight)."""
    free = kv_pool_bytes_per_gpu(memory, profile, frac)
    layout = local_kv_layout(memory, profile)
    if free <= 0.0:
        tokens = 0.0
    elif layout is not None:
        tokens = free / layout[1]
    elif profile.local_layer_kv == "full":
        tokens = free / memory.kv_bytes_per_token_per_gpu
    else:
        tokens = memory.kv_pool_tokens(free)
    return int(tokens // block_size) * memory.kv_pools_per_replica


def local_kv_layout(memory: KvMemory, profile: EngineProfile) -> tuple[int, float] | None:
    """``(pool blocks per local-layer block, bytes per token of one pool block per GPU)``
    when the engine keeps local-attention layers' KV in a hybrid pool (None: it does not,
    or the model has no local layers).

    vLLM V1's hybrid manager groups layers by attention type in groups of the smaller
    layer count and gives every group the same page: with ``F`` whole-context and
    ``L >= F`` local layers a pool block is one block of the ``F`` whole-context layers
    and a local block costs ``⌈L/F⌉`` of them (the last group padded). A model without
    whole-context layers (Mistral 7B) or with more of them than local ones keeps the
    engine's ``set_aside`` rule."""
    if profile.local_layer_kv != "hybrid":
        return None
    return memory.hybrid_layout()


def kv_room_problem(memory: KvMemory, profile: EngineProfile, block_size: int,
                    frac: float) -> str | None:
    """Why the replica's KV pool holds not one block (``None``: it does), in plain words:
    what the weights, activations and runtime need per GPU against what ``frac`` (the GPU
    memory utilisation) leaves, and what would help."""
    if kv_pool_blocks(memory, profile, block_size, frac) >= 1:
        return None
    memory = sized_by(memory, profile)
    need = memory.weights_bytes_per_gpu + memory.set_aside_bytes()
    rule = memory.profiling
    parts = ("weights and runtime" if rule is not None and not rule.reserves_activations
             else "weights, activations and runtime")
    used = (f"{parts} need {format_bytes(need)} per GPU (weights "
            f"{format_bytes(memory.weights_bytes_per_gpu)})")
    hbm = memory.hbm_bytes
    if need >= hbm:
        return (f"{used}, but the GPU has {format_bytes(hbm)}; use more GPUs (tp/pp) or "
                "quantised weights")
    more = "use more GPUs (tp/pp), quantised weights or a higher gpu_memory_utilization"
    if profile.memory_mode == "total":
        allowed = hbm * frac
        room = (f"a GPU memory utilisation of {frac:g} leaves {format_bytes(allowed)} of its "
                f"{format_bytes(hbm)}")
        if need >= allowed:
            return f"{used}, but {room}; {more}"
    else:  # TensorRT-LLM: the fraction is of what is left after them
        room = f"a GPU memory utilisation of {frac:g} of the {format_bytes(hbm - need)} left"
    pool = format_bytes(kv_pool_bytes_per_gpu(memory, profile, frac))
    return (f"{used}; {room} gives the KV cache {pool}, less than one block of {block_size} "
            f"tokens; {more}")


def step_model(base: StepModel, profile: EngineProfile, cap: int | None = None) -> StepModel:
    """``base`` itself, or wrapped in :class:`GraphPaddedStep` (graphs captured up to a
    pure-decode batch of ``cap``) when the engine pads."""
    return GraphPaddedStep(base, profile, cap) if profile.pad_decode_to_graph else base


__all__ = [
    "CACHE_KINDS",
    "ENGINES_PATH",
    "EngineProfile",
    "GraphPaddedStep",
    "LargeGpuLimits",
    "StepModel",
    "current_engine_names",
    "default_engine",
    "engine_names",
    "engine_profile",
    "kv_pool_blocks",
    "kv_pool_bytes_per_gpu",
    "kv_room_problem",
    "load_engine_profiles",
    "local_kv_layout",
    "sized_by",
    "step_model",
]
