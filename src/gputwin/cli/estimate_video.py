"""``gputwin estimate video``: diffusion-transformer video/image generation time and cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gputwin.cli.options import Finite, emit_json, positive_int, rental_price_options

if TYPE_CHECKING:
    from gputwin.economics.tables import VideoApiPrice
    from gputwin.energy.accounting import AllocationRates
    from gputwin.topology.hardware import HardwareSpec


def _api_rows(apis: list[VideoApiPrice], image: bool,
              self_hosted_usd: float | None) -> list[dict[str, Any]]:
    """Rows of the API price comparison, each with the ratio of its price to the self-hosted
    cost (per second of video, or per image when ``image``)."""
    rows: list[dict[str, Any]] = []
    for a in apis:
        price = a.price(image)
        rows.append({"name": a.name, "kind": a.kind,
                     "usd_per_video_second": a.usd_per_video_second,
                     "usd_per_image": a.usd_per_image, "resolution": a.resolution,
                     "as_of": a.as_of, "retired": a.retired, "source": a.source,
                     "ratio_to_self_hosted": (price / self_hosted_usd
                                              if price is not None and self_hosted_usd
                                              else None)})
    return rows


def _echo_api_rows(model: str, same: list[dict[str, Any]], reference: list[dict[str, Any]],
                   image: bool) -> None:
    unit = "image" if image else "s"
    reference = [r for r in reference if not r["retired"]]  # kept in --json, flagged
    if not same and not reference:
        return
    click.echo(f"  API list prices (x = API price / self-hosted cost per "
               f"{'image' if image else 'second'}):")
    width = max(len(r["name"]) for r in same + reference)

    def line(r: dict[str, Any]) -> str:
        price = r["usd_per_image"] if image else r["usd_per_video_second"]
        ratio = r["ratio_to_self_hosted"]
        return (f"      {r['name']:<{width}}  {f'${price:.3g}/{unit}':<{13 if image else 9}} "
                f"{r['resolution']:<9} {f'{_gpu_s(ratio)}x' if ratio else '-':>5}  ({r['as_of']})")

    if same:
        click.echo(f"    serving {model}:")
        for r in same:
            click.echo(line(r))
    else:
        click.echo(f"    none listed serving {model}")
    if reference:
        click.echo("    closed models, for reference:")
        for r in reference:
            click.echo(line(r))


@click.command()
@click.option("--model", required=True, help="DiT model (perf/diffusion.yaml), e.g. hunyuanvideo.")
@click.option("--gpu", default="h100-sxm-80gb", show_default=True, help="Accelerator (catalog).")
@click.option("--num-gpus", type=int, default=1, show_default=True, callback=positive_int,
              help="GPUs per sample (Ulysses sequence parallel: all-to-alls over the "
              "GPU's default system).")
@click.option("--parallel-vae", is_flag=True,
              help="Tile the VAE decode across the GPUs (the reference pipelines decode on "
              "one).")
@click.option("--compiled", is_flag=True,
              help="A compiled pipeline (torch.compile, CUDA graphs): no eager host floor on "
              "a sequence-parallel forward, pointwise ops fused (a third of the eager "
              "elementwise bytes).")
@click.option("--frames", type=int, default=None, callback=positive_int,
              help="Frames (1 = an image) [default: the model's native clip].")
@click.option("--height", type=int, default=None, callback=positive_int,
              help="[default: the model's native size]")
@click.option("--width", type=int, default=None, callback=positive_int,
              help="[default: the model's native size]")
@click.option("--steps", type=int, default=None, callback=positive_int,
              help="Denoising steps [default: the reference pipeline's].")
@click.option("--fps", type=Finite(min=0, min_open=True), default=None,
              help="[default: the model's native rate]")
@click.option("--attention-kernel", type=click.Choice(["fa2", "fa3"]), default=None,
              help="Attention kernel class instead of the model's reference one: fa2 "
              "(FlashAttention-2 / PyTorch SDPA), fa3 (FlashAttention-3 on Hopper, cuDNN / "
              "FlashAttention-4 on Blackwell).")
@rental_price_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def video(model: str, gpu: str, num_gpus: int, parallel_vae: bool, compiled: bool,
          frames: int | None,
          height: int | None, width: int | None, steps: int | None, fps: float | None,
          attention_kernel: str | None, provider: str | None, pricing: str | None,
          as_json: bool) -> None:
    """Seconds, GPU-seconds per second of video and cost of one generated sample, beside the
    dated list prices of public APIs (hosts of the same model; closed models for reference).

    \b
    Example:
      gputwin estimate video --model hunyuanvideo --frames 129 --height 720 --width 1280
      gputwin estimate video --model flux.1-dev        # the model's native 1024x1024 image
    """
    from gputwin.catalog.loader import default_catalog
    from gputwin.economics.tables import video_apis_for_model
    from gputwin.energy.accounting import allocation_rates
    from gputwin.energy.tco import SERVING_NETWORK
    from gputwin.perf.diffusion import dit_model, estimate_generation_on
    from gputwin.perf.split import cli_flag
    from gputwin.topology.hardware import resolve_hardware

    dit = dit_model(model)
    native = dit.native
    frames = native.frames if frames is None else frames
    height = native.height if height is None else height
    width = native.width if width is None else width
    steps = native.steps if steps is None else steps
    fps = native.fps if fps is None else fps
    hw = resolve_hardware(default_catalog(), gpu=gpu, where=cli_flag)
    acc = hw.accelerator
    est = estimate_generation_on(hw, model, frames=frames, height=height, width=width,
                                 steps=steps, num_gpus=num_gpus, fps=fps,
                                 attention_kernel=attention_kernel, parallel_vae=parallel_vae,
                                 compiled=compiled)
    rates = allocation_rates(acc.name, acc.tdp_w, provider=provider, pricing=pricing,
                             network=SERVING_NETWORK)
    compute, energy, basis = _sample_cost(hw, est.gpu_seconds, rates)
    cost = compute + energy
    kernel = attention_kernel or dit.attention_kernel
    image = frames == 1
    per_second = None if image else cost / (frames / fps)
    same, closed = video_apis_for_model(model, image=image)
    apis = _api_rows(same, image, cost if image else per_second)
    reference_apis = _api_rows(closed, image, cost if image else per_second)
    out = {"model": model, "gpu": gpu, "num_gpus": num_gpus, "system": hw.system.name,
           "parallel_vae": parallel_vae, "compiled": compiled, "attention_kernel": kernel,
           **est.to_dict(),
           "cost_usd": cost, "cost_compute_usd": compute, "cost_energy_usd": energy,
           "cost_basis": basis,
           "cost_usd_per_video_second": per_second,
           "apis": apis, "reference_apis": reference_apis}
    if as_json:
        emit_json(out)
        return
    _echo_estimate(out, f"{frames} x {height}x{width}, {steps} steps")
    _echo_api_rows(model, apis, reference_apis, image)


def _sample_cost(hw: HardwareSpec, gpu_seconds: float, rates: AllocationRates
                 ) -> tuple[float, float, str]:
    """Compute and energy cost (USD) of ``gpu_seconds`` and the basis: a rental's price
    pays for its power; the owned rate bills energy apart, so the sample adds its power
    at full activity (a DiT is compute-bound) at the TCO's PUE and electricity price."""
    from gputwin.energy.tco import owned_power_usd_per_gpu_hour

    compute = gpu_seconds * rates.compute_usd_per_gpu_s
    if rates.energy_in_price:
        return compute, 0.0, rates.cost_basis
    power_usd_h, power_basis = owned_power_usd_per_gpu_hour(hw.accelerator, hw.system)
    basis = rates.cost_basis.replace(", energy billed apart", "") + f"; + {power_basis}"
    return compute, gpu_seconds / 3600.0 * power_usd_h, basis


def _echo_estimate(out: dict[str, Any], shape: str) -> None:
    """The text lines of ``estimate video`` for its JSON payload ``out``."""
    n = out["num_gpus"]
    build = " (compiled)" if out["compiled"] else ""
    click.echo(f"{out['model']}, {shape} on {n} x {out['gpu']}{build}: {out['time_s']:,.1f} s "
               f"({out['tokens']:,} latent tokens, {out['flops']:.3g} FLOPs; VAE decode "
               f"{out['vae_decode_s']:,.1f} s)")
    if n > 1:
        host = "; paced by the eager host (--compiled lifts it)" if out["host_bound"] else ""
        click.echo(f"  sequence parallel on {out['system']}: all-to-alls "
                   f"{out['sequence_parallel_comm_s']:,.1f} s; VAE decode on "
                   f"{n if out['parallel_vae'] else 1} GPU(s){host}")
    click.echo(f"  attention {out['attention_flops_frac']:.0%} of FLOPs, "
               f"{out['attention_kernel']} at {out['attention_frac']:.0%} of bf16 peak; linear "
               f"layers at {out['gemm_frac']:.0%}")
    per_second = out["cost_usd_per_video_second"]
    basis = f" ({out['cost_basis']})"
    if out["gpu_seconds_per_video_second"] is not None and per_second is not None:
        click.echo(f"  {_gpu_s(out['gpu_seconds_per_video_second'])} GPU-seconds per second of "
                   f"video, {_usd(per_second)} per second{basis}")
        basis = ""
    click.echo(f"  {_usd(out['cost_usd'])} per sample{basis}")


def _gpu_s(x: float) -> str:
    """GPU-seconds (and price ratios): whole from 10 up, two significant digits below (a
    fast model makes a second of video in 0.75 GPU-seconds, not '1'; an API at 110x, not
    '1.1e+02x')."""
    return f"{x:,.0f}" if x >= 10.0 else f"{x:.2g}"


def _usd(x: float) -> str:
    """Dollars: cents from $1 up, three significant digits below (an image costs $0.0044,
    not $0.00)."""
    return f"${x:,.2f}" if x >= 1.0 else f"${x:.3g}"
