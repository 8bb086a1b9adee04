"""``fourreal generate ...`` and ``fourreal evaluate ...``: the two flows from the shell."""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError
from rich.console import Console

console = Console()


def _params(cls, **values):
    """Build a flow's params model; a bad value exits 2 with pydantic's field message."""
    try:
        return cls(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as e:
        for err in e.errors():
            field = ".".join(str(x) for x in err["loc"]) or "params"
            console.print(f"[red]error:[/red] {field}: {err['msg']}")
        raise typer.Exit(2) from None


def generate_cmd(
    checkpoint: str = typer.Option(..., help="Sync checkpoint: catalog id or path"),
    sample: str = typer.Option(None, "--sample", help="Catalog grid sample id to condition on"),
    fixed_view_video: str = typer.Option(None, help="Video file that becomes grid[0, :]"),
    freeze_time_video: str = typer.Option(None, help="Video file that becomes grid[:, 0]"),
    upsampler: str = typer.Option(None, help="Upsampler checkpoint (id or path)"),
    views: int = typer.Option(None, help="V (default: the sample's, else 8)"),
    times: int = typer.Option(None, help="T (default: the sample's, else 8)"),
    steps: int = typer.Option(25, help="Euler sampling steps"),
    guidance_scale: float = typer.Option(1.0, help="Classifier-free guidance scale (1 = off)"),
    shift: float = typer.Option(1.0, help="Sampling schedule shift (1 = uniform steps)"),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw ones"),
    upsampler_steps: int = typer.Option(20, help="Euler steps of the upsampler"),
    seed: int = typer.Option(0, help="Random seed"),
    fps: int = typer.Option(8, help="Frame rate of the mp4s"),
    out_dir: str = typer.Option(None, help="Output folder inside the data root"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Generate a grid from a fixed-view and a freeze-time video (files or a catalog sample)."""
    from flows.generate import GenerateParams, generate

    params = _params(
        GenerateParams,
        checkpoint=checkpoint,
        sample_id=sample,
        fixed_view_video=fixed_view_video,
        freeze_time_video=freeze_time_video,
        upsampler=upsampler,
        views=views,
        times=times,
        steps=steps,
        guidance_scale=guidance_scale,
        shift=shift,
        ema=ema,
        upsampler_steps=upsampler_steps,
        seed=seed,
        fps=fps,
        out_dir=out_dir,
    )
    try:
        result = generate(params)
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result))
        return
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")
    console.print(f"grid:          {result['grid']}")
    if result["grid_high"]:
        console.print(f"upsampled:     {result['grid_high']}")
    console.print(f"mosaic mp4:    {result['mosaic']}")
    console.print(f"contact sheet: {result['contact_sheet']}")
    if result["grid_high"]:
        console.print(f"upsampled mosaic mp4:    {result['mosaic_high']}")
        console.print(f"upsampled contact sheet: {result['contact_sheet_high']}")
    console.print(f"sample ids:    {', '.join(result['sample_ids'])}")
    console.print(f"weights:       {result['weights']}")


def evaluate_cmd(
    checkpoint: list[str] = typer.Option(..., help="Sync checkpoint id or path (repeatable)"),
    dataset: str = typer.Option(..., help="Held-out dataset snapshot (id or name)"),
    max_samples: int = typer.Option(None, help="Evaluate at most this many grids"),
    steps: int = typer.Option(25, help="Euler sampling steps"),
    guidance_scale: float = typer.Option(1.0, help="Classifier-free guidance scale (1 = off)"),
    shift: float = typer.Option(1.0, help="Sampling schedule shift (1 = uniform steps)"),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw ones"),
    seed: int = typer.Option(0, help="Random seed"),
    detector: str = typer.Option("sift", help="Consistency features: sift | orb"),
    allow_non_heldout: bool = typer.Option(False, help="Accept a snapshot not split 'heldout'"),
    lpips_weights: str = typer.Option(None, help="torchvision AlexNet file (or its folder)"),
    fid_weights: str = typer.Option(None, help="torch-fidelity FID Inception file (FID and KID)"),
    fvd_weights: str = typer.Option(None, help="cd-fvd I3D or VideoMAE-v2 file"),
    clip_weights: str = typer.Option(None, help="open_clip checkpoint file"),
    clip_model: str = typer.Option("ViT-B-32", help="open_clip architecture of --clip-weights"),
    dust3r_weights: str = typer.Option(None, help="DUSt3R checkpoint file"),
    dust3r_repo: str = typer.Option(None, help="Clone of naver/dust3r (with croco)"),
    dust3r_tau: float = typer.Option(3.0, help="DUSt3R confidence threshold τ"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Evaluate checkpoints on a held-out snapshot; print the comparison table, then each
    checkpoint beside the trivial baselines (copy grid[0, t], copy grid[v, 0], the better
    of the two, the background) and whether it beats the best of them."""
    from flows.generate import EvaluateParams, evaluate

    params = _params(
        EvaluateParams,
        checkpoints=checkpoint,
        dataset=dataset,
        max_samples=max_samples,
        steps=steps,
        guidance_scale=guidance_scale,
        shift=shift,
        ema=ema,
        seed=seed,
        detector=detector,
        allow_non_heldout=allow_non_heldout,
        lpips_weights=lpips_weights,
        fid_weights=fid_weights,
        fvd_weights=fvd_weights,
        clip_weights=clip_weights,
        dust3r_weights=dust3r_weights,
        dust3r_repo=dust3r_repo,
        dust3r_tau=dust3r_tau,
        clip_model=clip_model,
    )
    try:
        result = evaluate(params)
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result, default=str))
        return
    from tasks.evaluation.evaluate import format_table

    console.print(format_table(result["table"]))
    for cid, b in result["baselines"].items():
        # plain print: the verdict's [low, high] interval is not rich markup
        print(f"\ncheckpoint {cid[:12]} beside the trivial baselines "
              f"(generated frames of {b['grids']} grids; psnr_object: the object's pixels):")  # fmt: skip
        print(b["table"])
        print(b["verdict"])
    for line in result["skipped"]:
        console.print(line)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
    app.command("evaluate")(evaluate_cmd)
