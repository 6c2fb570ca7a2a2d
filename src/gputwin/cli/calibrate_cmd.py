"""``gputwin calibrate``: fit the serving model's coefficients to measured step or request times."""

from __future__ import annotations

import click

from gputwin.cli.options import OutPath, emit_json, positive_int

_FITTABLE = ["step_overhead_s", "per_seq_overhead_s", "layer_overhead_s", "compute_eff_mult",
             "bandwidth_frac"]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


@click.command()
@click.argument("measurements", type=click.Path(dir_okay=False))
@click.option("--model", required=True, help="Model name (catalog) or HF config.json path.")
@click.option("--gpu", default=None, help="Accelerator name (catalog).")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--tp", type=int, default=1, show_default=True, callback=positive_int)
@click.option("--pp", type=int, default=1, show_default=True, callback=positive_int)
@click.option("--ep", type=int, default=1, show_default=True, callback=positive_int)
@click.option("--weights", type=click.Choice(["bf16", "fp16", "fp8", "int8", "int4", "fp4"]),
              default="bf16", show_default=True)
@click.option("--kv-cache", type=click.Choice(["bf16", "fp8"]), default="bf16",
              show_default=True)
@click.option("--fit", "fit_names", type=click.Choice(_FITTABLE), multiple=True,
              help="Coefficient to fit (repeat) [default: step_overhead_s, compute_eff_mult, "
                   "bandwidth_frac].")
@click.option("--folds", type=int, default=5, show_default=True, callback=positive_int,
              help="Folds of the hold-out cross-validation.")
@click.option("--max-num-batched-tokens", type=int, default=None, callback=positive_int,
              help="Engine token budget used for TTFT rows [default: vLLM's for the part, "
              "as estimate serve: 8,192 on CUDA/ROCm GPUs of 70 GiB or more but A100s, "
              "2,048 below].")
@click.option("--calibration", type=click.Path(dir_okay=False), default=None,
              help="Starting calibration YAML [default: bundled].")
@click.option("--out", type=OutPath(dir_okay=False), default=None,
              help="Write the fitted calibration YAML here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def calibrate(measurements: str, model: str, gpu: str | None, system: str | None, tp: int,
              pp: int, ep: int, weights: str, kv_cache: str, fit_names: tuple[str, ...],
              folds: int, max_num_batched_tokens: int | None, calibration: str | None,
              out: str | None, as_json: bool) -> None:
    """Fit serving-model coefficients to MEASUREMENTS (CSV of step or request times)."""
    from gputwin.perf.serving_fit import DEFAULT_FIT
    from gputwin.run.calibrate import calibrate as run_calibrate
    from gputwin.run.calibrate import write_calibration

    report = run_calibrate(measurements, model=model, gpu=gpu, system=system, tp=tp, pp=pp,
                           ep=ep, weights=weights, kv_cache=kv_cache,
                           fit=fit_names or DEFAULT_FIT, folds=folds,
                           calibration=calibration,
                           max_num_batched_tokens=max_num_batched_tokens)
    if out is not None:
        write_calibration(report, out)
    if as_json:
        emit_json(report.to_dict())
        return
    d = report.to_dict()
    click.echo(f"{report.model} on {report.accelerator}: {d['num_observations']} measurements")
    from gputwin.perf.serving_fit import bound_reached

    for name, value in d["coefficients"].items():
        bound = bound_reached(name, value)
        note = "" if bound is None else f"  (at its {bound})"
        click.echo(f"  {name:<20} {value:.6g}{note}")
    click.echo(f"fit error      median {_pct(d['fit_median_abs_error'])}, "
               f"worst {_pct(d['fit_max_abs_error'])}")
    click.echo(f"hold-out error median {_pct(d['holdout_median_abs_error'])}, "
               f"worst {_pct(d['holdout_max_abs_error'])} ({d['num_folds']}-fold)")
    if out is not None:
        click.echo(f"wrote {out}")
