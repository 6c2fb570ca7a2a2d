"""The one check of how a model may be split across GPUs (tp, pp, cp, ep, interleave).

Every caller — ``estimate train``/``serve``, the layout planner, cluster-simulation jobs,
serving replicas — asks here, and says where each value came from with a :data:`Where`
(a CLI flag, or a scenario's ``file:line: key.path``), so one rule gives one message
wherever the value was typed.

Rules (what real frameworks refuse, Megatron-Core / vLLM):

- ``tp`` divides the attention heads; ``tp`` and the key/value heads divide one another
  (KV heads are replicated when ``tp`` exceeds them); ``tp`` divides the MLP width (and the
  expert MLP width of MoE models).
- ``pp × interleave`` ≤ layers; ``interleave > 1`` needs ``pp > 1``.
- ``cp > 1``: the sequence splits into ``2·cp`` chunks (load-balanced causal attention).
- ``ep > 1``: a MoE model whose experts (plus ``redundant_experts`` EPLB slots) ``ep``
  divides.
- With a GPU count: ``tp·pp·cp`` divides it; for training, ``ep`` divides ``dp·cp``.
- Serving (``ep_over_dp=False``): the experts are spread inside the tensor-parallel group
  (``ep`` divides ``tp``) or over every rank of the replica (wide EP: ``ep = tp ×
  dp_attention``, attention replicated per data-parallel group as SGLang's
  ``--enable-dp-attention`` and vLLM's ``--data-parallel-size`` with
  ``--enable-expert-parallel``). ``dp_attention > 1`` needs a MoE model.
- Serving, with the replica's node type (``system``): a replica may span nodes — TP, PP and
  wide EP groups larger than one scale-up domain run over the scale-out fabric, as the
  collective model places them (``topology.comm_group``) — but only on a system with
  scale-out NICs; the first of ``tp``, ``tp × dp_attention``, ``tp × dp_attention × pp``
  beyond the domain is named.

The vocabulary never refuses a split: frameworks pad it to a multiple of ``128·tp``.
:func:`split_problem` returns the first broken rule without raising (the planner calls it
millions of times); :func:`check_split` raises :class:`InputError` at the caller's place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gputwin.catalog.schema import ModelSpec, System
from gputwin.errors import InputError

#: Turns a parameter name (``"tp"``, ``"seq_len"``) into where its value came from.
Where = Callable[[str], str]


def cli_flag(name: str) -> str:
    """``"seq_len"`` → ``"--seq-len"``: the CLI's place for a parameter."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Split:
    """How one model instance is cut: tensor, pipeline, context and expert parallel sizes."""

    tp: int = 1
    pp: int = 1
    cp: int = 1
    ep: int = 1
    interleave: int = 1
    dp_attention: int = 1  # serving: attention data-parallel groups inside one replica
    redundant_experts: int = 0  # serving: extra expert slots (EPLB replicas of hot experts)

    @property
    def label(self) -> str:
        """The split in words, ``tp`` always and the others when above 1:
        ``tp4 pp2``, ``tp1 ep8 dp8`` (``dp`` = attention data-parallel groups)."""
        parts = [f"tp{self.tp}"]
        parts += [f"{name}{value}" for name, value in (
            ("pp", self.pp), ("cp", self.cp), ("ep", self.ep), ("dp", self.dp_attention))
            if value > 1]
        return " ".join(parts)

    @property
    def replica_gpus(self) -> int:
        """GPUs of one model instance: ``tp × pp × cp × dp_attention`` (expert parallelism
        runs over those ranks, never on GPUs of its own)."""
        return self.tp * self.pp * self.cp * self.dp_attention


@dataclass(frozen=True, slots=True)
class SplitProblem:
    """The first rule a split breaks: which parameter, and why (without the value's place)."""

    param: str
    message: str


def _positive(split: Split) -> SplitProblem | None:
    for name in ("tp", "pp", "cp", "ep", "interleave", "dp_attention"):
        value = getattr(split, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return SplitProblem(name, f"must be a positive integer, got {value!r}")
    r = split.redundant_experts
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        return SplitProblem("redundant_experts", f"must be an integer >= 0, got {r!r}")
    return None


def _tensor(model: ModelSpec, tp: int, padded_heads: bool = False) -> SplitProblem | None:
    if padded_heads:  # the stack pads heads and the MLP to the ranks (AWS Neuron)
        return None
    heads, kv = model.num_attention_heads, model.kv_heads
    if heads % tp:
        return SplitProblem("tp", f"{tp} does not divide the {heads} attention heads of "
                                  f"{model.name}")
    if kv % tp and tp % kv:
        return SplitProblem("tp", f"{tp} and the {kv} key/value heads of {model.name} must "
                                  "divide one another")
    if model.ffn_hidden_size % tp:
        return SplitProblem("tp", f"{tp} does not divide the MLP width "
                                  f"{model.ffn_hidden_size} of {model.name}")
    moe_ffn = model.moe_ffn_hidden_size
    if model.is_moe and moe_ffn is not None and moe_ffn % tp:
        return SplitProblem("tp", f"{tp} does not divide the expert MLP width {moe_ffn} of "
                                  f"{model.name}")
    return None


def _layers_and_experts(model: ModelSpec, split: Split,
                        seq_len: int | None) -> SplitProblem | None:
    if split.pp * split.interleave > model.num_layers:
        layers = f"the {model.num_layers} layers of {model.name}"
        if split.interleave == 1:  # no word of interleave where it is not used (serving)
            return SplitProblem("pp", f"{split.pp} exceeds {layers}")
        return SplitProblem("interleave", f"pp x interleave = {split.pp * split.interleave} "
                                          f"exceeds {layers}")
    if split.interleave > 1 and split.pp == 1:
        return SplitProblem("interleave", "needs pp > 1 (virtual stages of a pipeline)")
    if split.cp > 1 and seq_len is not None and seq_len % (2 * split.cp):
        return SplitProblem("seq_len", f"{seq_len} must be a multiple of 2 x cp = "
                                       f"{2 * split.cp} (context-parallel chunks)")
    if split.ep > 1 and not model.is_moe:
        return SplitProblem("ep", f"{split.ep} needs a mixture-of-experts model; "
                                  f"{model.name} is dense")
    slots = model.num_experts + split.redundant_experts
    if split.ep > 1 and slots % split.ep:
        extra = f" + {split.redundant_experts} redundant" if split.redundant_experts else ""
        return SplitProblem("ep", f"{split.ep} does not divide the {model.num_experts}"
                                  f"{extra} experts of {model.name}")
    if split.redundant_experts and not model.is_moe:
        return SplitProblem("redundant_experts", f"needs a mixture-of-experts model; "
                                                 f"{model.name} is dense")
    return None


def _serving_experts(model: ModelSpec, split: Split) -> SplitProblem | None:
    """Where a serving replica's experts live: inside TP, or over every rank (wide EP)."""
    tp, ep, dp = split.tp, split.ep, split.dp_attention
    if dp > 1 and not model.is_moe:
        return SplitProblem("dp_attention", f"{dp} needs a mixture-of-experts model; for "
                                            f"the dense {model.name} add replicas instead")
    if dp > 1 and ep != tp * dp:
        return SplitProblem("ep", f"{ep} must equal tp x dp_attention = {tp * dp} (with "
                                  "attention data parallelism the experts are spread over "
                                  "every rank of the replica)")
    if ep > 1 and dp == 1 and tp % ep:
        return SplitProblem("ep", f"{ep} must divide tp {tp} (experts inside the tensor-"
                                  "parallel group), or equal tp x dp_attention (wide EP)")
    return None


def _span(split: Split, system: System) -> SplitProblem | None:
    """A replica beyond one scale-up domain needs the system's scale-out NICs."""
    if system.num_nics > 0 and system.nic_bandwidth_bytes_per_s > 0:
        return None
    domain = system.scale_up_domain_size
    gpus = "GPU" if domain == 1 else "GPUs"
    factors: list[str] = []
    size = 1
    for param in ("tp", "dp_attention", "pp"):
        value = getattr(split, param)
        size *= value
        factors += [param] if value > 1 or param == "tp" else []
        if size > domain:
            product = "" if factors == ["tp"] else f"{' x '.join(factors)} = "
            return SplitProblem(param, f"{product}{size} GPUs span more than one scale-up "
                                       f"domain ({domain} {gpus} of {system.name}), and "
                                       f"{system.name} has no scale-out NIC to join them; "
                                       "keep the replica inside one domain")
    return None


def _gpus(split: Split, num_gpus: int, *, ep_over_dp: bool) -> SplitProblem | None:
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        return SplitProblem("num_gpus", f"must be a positive integer, got {num_gpus!r}")
    denom = split.tp * split.pp * split.cp
    if num_gpus % denom:
        return SplitProblem("num_gpus", f"{num_gpus} is not a multiple of tp x pp x cp = "
                                        f"{denom}")
    dp_cp = num_gpus // (split.tp * split.pp)
    if ep_over_dp and split.ep > 1 and dp_cp % split.ep:
        return SplitProblem("ep", f"{split.ep} must divide dp x cp = {dp_cp} (experts are "
                                  "spread over the data-parallel ranks)")
    return None


def split_problem(model: ModelSpec, split: Split, *, seq_len: int | None = None,
                  num_gpus: int | None = None, ep_over_dp: bool = True,
                  padded_heads: bool = False,
                  system: System | None = None) -> SplitProblem | None:
    """The first rule ``split`` breaks for ``model`` (``None`` when it is valid).

    ``num_gpus`` adds the divisibility of the job; ``ep_over_dp`` (training) requires the
    expert-parallel group to sit inside the data-parallel ranks; without it (serving) the
    experts sit inside ``tp`` or over all ``tp × dp_attention`` ranks. ``padded_heads``
    (serving on a part whose stack pads heads, ``Accelerator.pads_attention_heads``): TP
    need not divide the heads or the MLP. ``system`` (serving): the replica's node type,
    whose scale-out NICs a replica beyond one scale-up domain needs.
    """
    problem = _positive(split) or _tensor(model, split.tp, padded_heads) or _layers_and_experts(
        model, split, seq_len)
    if problem is None and not ep_over_dp:
        problem = _serving_experts(model, split)
    if problem is None and not ep_over_dp and system is not None:
        problem = _span(split, system)
    if problem is None and num_gpus is not None:
        problem = _gpus(split, num_gpus, ep_over_dp=ep_over_dp)
    return problem


def check_split(model: ModelSpec, split: Split, *, seq_len: int | None = None,
                num_gpus: int | None = None, ep_over_dp: bool = True,
                padded_heads: bool = False, system: System | None = None,
                where: Where = cli_flag) -> None:
    """Raise :class:`InputError` at ``where(param)`` for the first broken rule."""
    problem = split_problem(model, split, seq_len=seq_len, num_gpus=num_gpus,
                            ep_over_dp=ep_over_dp, padded_heads=padded_heads, system=system)
    if problem is not None:
        raise InputError(problem.message, where=where(problem.param))
