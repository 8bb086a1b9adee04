"""``fourreal train base|sync|upsampler|all``: the training flows from the command line.

The options are the fields of the stage's parameter model (tasks.train.params): one
``--option`` per field, same names with dashes, same defaults and descriptions, as
``fourreal build`` does (fourreal/commands/options.py). ``-p name=value`` (repeatable,
JSON values) sets any field too and wins over an option. Values are validated by the
pydantic model before anything runs. ``--flow`` runs the Prefect flow (artifacts,
flow-run id in the ``runs`` row); the default runs the library entry
``tasks.train.run`` (the same code, without Prefect). The summary is printed as JSON.

    fourreal train base clips-demo --steps 200 --low-res-steps 100
    fourreal train sync <base-checkpoint> --pseudo4d p4d-demo --objaverse objv-demo
    fourreal train upsampler clips-demo --steps 200 -p frames=4
    fourreal train all clips-demo --pseudo4d p4d-demo --objaverse objv-demo --preset tiny

Exit status: 0; 2 for a bad option or input; 128 + the signal number when SIGTERM or
SIGINT stopped training (a checkpoint was written; the same command resumes).
"""

from __future__ import annotations

import inspect
import json

import typer

from fourreal.commands.options import fail, lazy_group, model_command, parse

PARAM_HELP = "Any field as name=value (repeatable; JSON values), e.g. -p batch_size=4"

# stage -> (model name in tasks.train.params, the positional field, flow name, help)
STAGES = {
    "base": ("TrainBaseParams", "dataset", "train_base", "Stage 1: the base video model."),
    "sync": (
        "TrainSyncParams",
        "parent_checkpoint",
        "train_sync",
        "Stage 2: synchronisation layers over a frozen base.",
    ),
    "upsampler": ("TrainUpsamplerParams", "dataset", "train_upsampler", "Stage 3: the upsampler."),
    "all": ("TrainAllParams", "clips_dataset", "train_all", "base -> sync -> upsampler."),
}
# the sync snapshots under their short names (the names the CLI always had)
FLAGS = {
    "pseudo4d_dataset": ("--pseudo4d", "--pseudo4d-dataset"),
    "objaverse_dataset": ("--objaverse", "--objaverse-dataset"),
}
EXTRA = [
    inspect.Parameter(
        "param",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option([], "--param", "-p", help=PARAM_HELP),
        annotation=list[str],
    ),
    inspect.Parameter(
        "flow",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(False, "--flow", help="Run as a Prefect flow"),
        annotation=bool,
    ),
]


def name_values(pairs: list[str]) -> dict:
    """``-p name=value`` pairs as field values (JSON when it parses, else a string)."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise fail(f"--param: {pair!r} is not name=value")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value  # a plain string
    return out


def run(stage: str, params, as_flow: bool) -> dict:
    """Train ``params`` with the flow (``as_flow``) or the library entry."""
    if as_flow:
        from flows import train as flows

        return getattr(flows, STAGES[stage][2])(params)
    from tasks.train.run import run_all, run_stage

    return run_all(params) if stage == "all" else run_stage(params)


def _stage_command(stage: str):
    from tasks.train import params as P
    from tasks.train.preemption import TrainingInterrupted

    model_name, positional, _, doc = STAGES[stage]
    model = getattr(P, model_name)

    def body(values: dict, param: list[str], flow: bool) -> None:
        params = parse(model, {**values, **name_values(param)})
        try:
            result = run(stage, params, flow)
        except TrainingInterrupted as e:  # SIGTERM/SIGINT: a checkpoint was written
            print(f"interrupted: {e}", flush=True)  # on stdout, as it always was
            raise typer.Exit(e.exit_code) from None
        except ValueError as e:
            raise fail(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        print(json.dumps(result, indent=2, default=str))

    return model_command(
        model,
        body,
        name=f"train_{stage}",
        doc=doc,
        positional=(positional,),
        flags={k: v for k, v in FLAGS.items() if k in model.model_fields},
        extra=EXTRA,
    )


def register(app: typer.Typer) -> None:
    commands = {
        stage: ((lambda s=stage: _stage_command(s)), doc)
        for stage, (_, _, _, doc) in STAGES.items()
    }
    train_app = typer.Typer(
        cls=lazy_group(commands),
        help="Train the base model, the sync layers, the upsampler, or all three.",
    )
    app.add_typer(train_app, name="train")
