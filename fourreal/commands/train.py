"""``fourreal train base|sync|upsampler|all``: the training flows from the command line.

The main settings are options; any other field of the parameter model
(tasks.train.params) is ``-p name=value`` (repeatable). Values are validated
by the pydantic model before anything runs. ``--flow`` runs the Prefect flow
(artifacts, flow-run id in the ``runs`` row); the default runs the same code
without Prefect.

    fourreal train base clips-demo --steps 200 --low-res-steps 100
    fourreal train sync <base-checkpoint> --pseudo4d p4d-demo --objaverse objv-demo
    fourreal train upsampler clips-demo --steps 200 -p frames=4
    fourreal train all clips-demo --pseudo4d p4d-demo --objaverse objv-demo --preset tiny
"""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError
from rich.console import Console

from model.variants import help_line

console = Console()
train_app = typer.Typer(help="Train the base model, the sync layers, the upsampler, or all three.")

PARAM_HELP = "Any other parameter as name=value (repeatable), e.g. -p batch_size=4"


def _extra(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r} is not name=value", param_hint="--param")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value  # a plain string
    return out


def _run(kind: str, values: dict, as_flow: bool) -> None:
    from tasks.train import params as P

    model = {"base": P.TrainBaseParams, "sync": P.TrainSyncParams,
             "upsampler": P.TrainUpsamplerParams, "all": P.TrainAllParams}[kind]  # fmt: skip
    try:
        params = model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as e:
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "params"
            console.print(f"[red]error:[/red] {loc}: {err['msg']}")
        raise typer.Exit(2) from None
    from flows import train as T

    try:
        if as_flow:
            fn = {"base": T.train_base, "sync": T.train_sync,
                  "upsampler": T.train_upsampler, "all": T.train_all}[kind]  # fmt: skip
            result = fn(params)
        else:
            result = T.run_all(params) if kind == "all" else T.run_stage(params)
    except T.TrainingInterrupted as e:  # SIGTERM/SIGINT: a checkpoint was written
        console.print(f"[yellow]interrupted:[/yellow] {e}", soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    print(json.dumps(result, indent=2, default=str))


@train_app.command("base")
def base(
    dataset: str = typer.Argument(..., help="Snapshot id or name (clips and/or grids)"),
    preset: str = typer.Option("tiny", help="tiny | small | paper"),
    steps: int = typer.Option(None, help="Steps at full resolution"),
    low_res_steps: int = typer.Option(None, help="Steps at half resolution first"),
    batch_size: int = typer.Option(None, help="Samples per micro-batch per worker"),
    workers: int = typer.Option(None, help="DDP workers (>1 uses Ray Train)"),
    seed: int = typer.Option(None, help="Random seed"),
    param: list[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    flow: bool = typer.Option(False, "--flow", help="Run as a Prefect flow"),
) -> None:
    """Stage 1: the base video model."""
    values = dict(dataset=dataset, preset=preset, steps=steps, low_res_steps=low_res_steps,
                  batch_size=batch_size, workers=workers, seed=seed)  # fmt: skip
    _run("base", {**values, **_extra(param)}, flow)


@train_app.command("sync")
def sync(
    parent_checkpoint: str = typer.Argument(..., help="Base checkpoint id or path"),
    pseudo4d: str = typer.Option(None, help="Phase 1 snapshot (pseudo-4D grids)"),
    objaverse: str = typer.Option(None, help="Phase 2 snapshot (Objaverse grids)"),
    pseudo4d_steps: int = typer.Option(None, help="Phase 1 steps"),
    objaverse_steps: int = typer.Option(None, help="Phase 2 steps"),
    sync_kind: str = typer.Option(None, "--sync", help=help_line()),
    preset: str = typer.Option("tiny", help="tiny | small | paper"),
    param: list[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    flow: bool = typer.Option(False, "--flow", help="Run as a Prefect flow"),
) -> None:
    """Stage 2: synchronisation layers over a frozen base."""
    values = dict(parent_checkpoint=parent_checkpoint, pseudo4d_dataset=pseudo4d,
                  objaverse_dataset=objaverse, pseudo4d_steps=pseudo4d_steps,
                  objaverse_steps=objaverse_steps, sync=sync_kind, preset=preset)  # fmt: skip
    _run("sync", {**values, **_extra(param)}, flow)


@train_app.command("upsampler")
def upsampler(
    dataset: str = typer.Argument(..., help="Snapshot id or name (high-resolution clips/grids)"),
    preset: str = typer.Option("tiny", help="tiny | small | paper"),
    steps: int = typer.Option(None, help="Training steps"),
    param: list[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    flow: bool = typer.Option(False, "--flow", help="Run as a Prefect flow"),
) -> None:
    """Stage 3: the upsampler."""
    _run("upsampler", {"dataset": dataset, "preset": preset, "steps": steps, **_extra(param)}, flow)


@train_app.command("all")
def all_stages(
    clips: str = typer.Argument(..., help="Base snapshot (clips and/or grids)"),
    pseudo4d: str = typer.Option(None, help="Sync phase 1 snapshot"),
    objaverse: str = typer.Option(None, help="Sync phase 2 snapshot"),
    preset: str = typer.Option("tiny", help="tiny | small | paper"),
    param: list[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    flow: bool = typer.Option(False, "--flow", help="Run as a Prefect flow"),
) -> None:
    """base -> sync -> upsampler."""
    values = dict(clips_dataset=clips, pseudo4d_dataset=pseudo4d, objaverse_dataset=objaverse,
                  preset=preset)  # fmt: skip
    _run("all", {**values, **_extra(param)}, flow)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
