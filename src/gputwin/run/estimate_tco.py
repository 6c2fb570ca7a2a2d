"""Facade for ``gputwin estimate tco``: build vs buy for serving a model to a traffic profile.

Sizes one replica with the serving model (:func:`gputwin.run.estimate_serve.estimate_serve`):
for each tensor-parallel size that fits a node, the largest power-of-two batch whose
steady-state TPOT and approximate TTFT (one prompt's prefill plus one steady step) meet the
SLOs; the layout with the most output tokens/s per GPU wins. Then prices the fleet at every
price book listing (rent) and at the owned TCO (:mod:`gputwin.economics.tco`), and every
public API that serves the model (:mod:`gputwin.economics.tables`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from gputwin.catalog.loader import default_catalog
from gputwin.economics.build_vs_buy import (
    CostOption,
    ReplicaCapacity,
    Traffic,
    api_option,
    break_even_tokens_per_day,
    fleet_option,
)
from gputwin.economics.tables import apis_for_model
from gputwin.economics.tco import OwnedAssumptions, OwnedCost, owned_cost, rental_prices
from gputwin.energy.tco import SERVING_NETWORK, NetworkClass
from gputwin.errors import DoesNotFitError, InputError
from gputwin.input_model import InputModel
from gputwin.perf.dataflow import estimate_dataflow, is_dataflow
from gputwin.perf.split import cli_flag
from gputwin.quantities import PositiveCount
from gputwin.requests import ServeRequest, validated
from gputwin.run.estimate_serve import estimate_serve
from gputwin.topology.hardware import resolve_hardware

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class TcoRequest(InputModel):
    """Serve ``model`` to ``tokens_per_day`` (input + output, split by the request shape)."""

    model: str
    tokens_per_day: PositiveCount
    gpu: str | None = None
    system: str | None = None
    input_tokens: PositiveInt = 1024
    output_tokens: PositiveInt = 256
    peak_to_mean: float = Field(default=2.0, ge=1.0)
    tpot_slo_s: float = Field(default=0.05, gt=0)
    ttft_slo_s: float = Field(default=2.0, gt=0)
    weights: str = "bf16"
    kv_cache: str = "bf16"
    tp: PositiveInt | None = None
    cooling: str | None = None  # None: the system's own (energy.tco.system_cooling)
    network: NetworkClass = SERVING_NETWORK
    financing_rate_frac: float | None = Field(default=None, ge=0, lt=1)
    electricity_usd_per_mwh: float | None = Field(default=None, ge=0)
    pue: float | None = Field(default=None, ge=1.0)


DEFAULT_GPU = "h100-sxm-80gb"


def tco_request(data: dict[str, Any]) -> TcoRequest:
    """Validated request; neither ``gpu`` nor ``system`` given = :data:`DEFAULT_GPU`."""
    fields = {k: v for k, v in data.items() if v is not None}
    if "gpu" not in fields and "system" not in fields:
        fields["gpu"] = DEFAULT_GPU
    return validated(TcoRequest, fields,
                     where=lambda f: "--" + _FLAGS.get(f, f.replace("_", "-")))


# request fields whose CLI flag drops the unit suffix (`estimate tco --tpot-slo 50ms`)
_FLAGS = {"tpot_slo_s": "tpot-slo", "ttft_slo_s": "ttft-slo",
          "financing_rate_frac": "financing-rate"}


def size_replica(req: TcoRequest) -> tuple[ReplicaCapacity, dict[str, Any]]:
    """The replica layout and batch with the most output tokens/s per GPU within the SLOs.
    Raises :class:`DoesNotFitError` when no layout meets them."""
    hw = resolve_hardware(default_catalog(), gpu=req.gpu, system=req.system, where=cli_flag)
    if is_dataflow(hw.accelerator.name):
        return _size_dataflow(req, hw.accelerator.name)
    tps = [req.tp] if req.tp else [t for t in (1, 2, 4, 8, 16, 32, 64)
                                    if t <= hw.gpus_per_node]
    best: tuple[float, ReplicaCapacity, dict[str, Any]] | None = None
    no_room: DoesNotFitError | None = None  # the largest tp's, while no layout fits
    for tp in tps:
        for batch in BATCHES:
            try:
                est = estimate_serve(ServeRequest(
                    model=req.model, gpu=hw.accelerator.name, system=hw.system.name, tp=tp,
                    input_tokens=req.input_tokens, output_tokens=req.output_tokens,
                    batch_size=batch, weights=req.weights, kv_cache=req.kv_cache))
            except DoesNotFitError as exc:
                if batch == BATCHES[0]:
                    no_room = exc
                break
            no_room = None
            ttft = est.prefill_time_single_s + est.extra["steady_step_time_s"]
            if est.tpot_s > req.tpot_slo_s or ttft > req.ttft_slo_s:
                break
            per_gpu = est.throughput_tokens_per_s / tp
            if best is None or per_gpu > best[0]:
                cap = ReplicaCapacity(hw.accelerator.name, tp, est.throughput_tokens_per_s,
                                      f"tp={tp}, batch={batch}")
                best = (per_gpu, cap, {"tp": tp, "batch_size": batch, "tpot_s": est.tpot_s,
                                       "ttft_s": ttft,
                                       "output_tokens_per_s": est.throughput_tokens_per_s})
    if best is None and no_room is not None:  # memory, not the SLOs
        need = str(no_room).split("; raise")[0]  # its advice names flags tco lacks (--pp)
        raise DoesNotFitError(f"{req.model} does not fit on {hw.accelerator.name} at tp "
                              f"{tps}: at tp {tps[-1]}, {need}; quantise --weights or pick "
                              "a larger --gpu")
    if best is None:
        raise DoesNotFitError(
            f"no layout of {req.model} on {hw.accelerator.name} (tp {tps}) meets TPOT "
            f"{req.tpot_slo_s * 1e3:g} ms and TTFT {req.ttft_slo_s:g} s at batch 1; relax "
            "--tpot-slo/--ttft-slo, quantise --weights or pick a larger --gpu")
    return best[1], best[2]


def _size_dataflow(req: TcoRequest, accelerator: str) -> tuple[ReplicaCapacity, dict[str, Any]]:
    """SRAM-resident parts (perf/dataflow.py): one pipeline holding the whole model, one
    sequence per pipeline stage in flight (its system rate is an upper bound)."""
    cat = default_catalog()
    est = estimate_dataflow(cat.accelerator(accelerator), cat.model(req.model),
                            input_tokens=req.input_tokens, output_tokens=req.output_tokens)
    if est.tpot_s > req.tpot_slo_s or est.ttft_s > req.ttft_slo_s:
        raise DoesNotFitError(f"{req.model} on {accelerator} misses the SLOs (TPOT "
                              f"{est.tpot_s * 1e3:.1f} ms, TTFT {est.ttft_s:.2f} s)")
    cap = ReplicaCapacity(accelerator, est.chips, est.system_output_tokens_per_s,
                          f"{est.chips} chips, dataflow pipeline")
    return cap, {"tp": est.chips, "batch_size": 1, "tpot_s": est.tpot_s, "ttft_s": est.ttft_s,
                 "output_tokens_per_s": est.system_output_tokens_per_s,
                 "model": "perf/dataflow.py (SRAM-resident)"}


def _owned(req: TcoRequest) -> OwnedCost:
    hw = resolve_hardware(default_catalog(), gpu=req.gpu, system=req.system, where=cli_flag)
    return owned_cost(hw.accelerator, hw.system, OwnedAssumptions(
        cooling=req.cooling, network=req.network,
        financing_rate_frac=req.financing_rate_frac,
        electricity_usd_per_mwh=req.electricity_usd_per_mwh, pue=req.pue))


def estimate_tco(req: TcoRequest) -> dict[str, Any]:
    """Options (API, rent, own) sorted by monthly cost, break-even volumes, sizing."""
    default_catalog().model(req.model, where="--model")  # unknown names fail first
    share_out = req.output_tokens / (req.input_tokens + req.output_tokens)
    traffic = Traffic(req.tokens_per_day * (1 - share_out), req.tokens_per_day * share_out,
                      req.peak_to_mean)
    cap, sizing = size_replica(req)
    own = _owned(req)
    apis = apis_for_model(req.model)
    options: list[CostOption] = [api_option(a, traffic) for a in apis]
    for r in rental_prices(cap.accelerator):
        rent = fleet_option("rent", f"rent/{r.provider}/{r.pricing}", r.usd_per_gpu_hour,
                            traffic, cap, r.basis)
        rent.extra["price_estimated"] = r.estimated
        options.append(rent)
    options.append(fleet_option("own", "own", own.usd_per_gpu_hour, traffic, cap,
                                f"owned TCO ${own.usd_per_gpu_hour:.2f}/GPU-h "
                                f"({own.assumptions['cooling']} cooling, {req.network})"))
    if not options:
        raise InputError(f"nothing to compare for {req.model} on {cap.accelerator}")
    cheapest_api = min(apis, key=lambda a: api_option(a, traffic).monthly_usd, default=None)
    out = []
    for opt in sorted(options, key=lambda o: o.monthly_usd):
        d = opt.to_dict()
        if opt.kind != "api" and cheapest_api is not None and opt.usd_per_gpu_hour:
            d["break_even_tokens_per_day"] = break_even_tokens_per_day(
                opt.usd_per_gpu_hour, cap, cheapest_api, traffic)
        out.append(d)
    return {
        "model": req.model, "accelerator": cap.accelerator,
        "traffic": {"tokens_per_day": traffic.tokens_per_day,
                    "input_tokens_per_day": traffic.input_tokens_per_day,
                    "output_tokens_per_day": traffic.output_tokens_per_day,
                    "peak_to_mean": traffic.peak_to_mean,
                    "peak_output_tokens_per_s": traffic.peak_output_tokens_per_s},
        "slo": {"tpot_s": req.tpot_slo_s, "ttft_s": req.ttft_slo_s},
        "replica": {**sizing, "gpus": cap.gpus},
        "owned_tco": own.to_dict(),
        "break_even_against": cheapest_api.name if cheapest_api else None,
        "options": out,
    }
