"""Every command with a parameter model takes its options from it (fourreal/commands/options.py):
each field is an option, a field added to a model is an option with no other change, the
option names users know stay, and a bad value is one line on stderr with exit code 2."""

from __future__ import annotations

import importlib

import click
import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from fourreal.cli import app
from fourreal.commands.options import model_command, parse

# command path -> (module:model, the command's parameters that are not fields)
COMMANDS = {
    ("train", "base"): ("tasks.train.params:TrainBaseParams", {"param", "flow"}),
    ("train", "sync"): ("tasks.train.params:TrainSyncParams", {"param", "flow"}),
    ("train", "upsampler"): ("tasks.train.params:TrainUpsamplerParams", {"param", "flow"}),
    ("train", "all"): ("tasks.train.params:TrainAllParams", {"param", "flow"}),
    ("generate",): ("flows.generate:GenerateParams", {"as_json"}),
    ("evaluate",): ("flows.evaluate:EvaluateParams", {"as_json"}),
    ("dataset", "create"): ("tasks.snapshot:SnapshotParams", set()),
    ("demo",): ("flows.demo:DemoParams", set()),
    ("pseudo4d",): ("fourreal.commands.pseudo4d:ExportParams", set()),
    ("build", "objects"): ("flows.build_objaverse:BuildObjaverseParams", {"as_json"}),
    ("build", "clips"): ("flows.build_pseudo4d:ClipParams", {"as_json"}),
}
# the option names the CLI had before its options were made from the models (a contract)
KNOWN_FLAGS = {
    ("train", "base"): "--preset --steps --low-res-steps --batch-size --workers --seed -p --flow",
    ("train", "sync"): "--pseudo4d --objaverse --pseudo4d-steps --objaverse-steps --sync --preset",
    ("train", "upsampler"): "--preset --steps --param",
    ("train", "all"): "--pseudo4d --objaverse --preset -p --flow",
    ("generate",): "--checkpoint --sample --fixed-view-video --freeze-time-video --upsampler "
    "--views --times --steps --guidance-scale --shift --ema --no-ema --upsampler-steps --seed "
    "--fps --out-dir --json",
    ("evaluate",): "--checkpoint --dataset --max-samples --steps --guidance-scale --shift --ema "
    "--no-ema --seed --detector --allow-non-heldout --lpips-weights --fid-weights --fvd-weights "
    "--clip-weights --clip-model --dust3r-weights --dust3r-repo --dust3r-tau --json",
    ("dataset", "create"): "--where --split --heldout-fraction --split-seed",
    ("demo",): "--objects --base-steps --sync-steps --upsampler-steps --generate-steps",
    ("pseudo4d",): "--views -V --times -T --height --width --seed --out -o --fps --stride --start",
    ("build", "objects"): "--views --times --workers --num-workers --json",
    ("build", "clips"): "--times --workers --num-cpus --json",
}


def command_at(path: tuple[str, ...]) -> click.Command:
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.get_command(click.Context(cmd), name)
    return cmd.real() if hasattr(cmd, "real") else cmd


def model_of(ref: str):
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_field_is_an_option_and_known_names_stay(path):
    ref, extras = COMMANDS[path]
    cmd = command_at(path)
    assert {p.name for p in cmd.params} == set(model_of(ref).model_fields) | extras
    flags = {f for p in cmd.params for f in (*p.opts, *p.secondary_opts)}
    assert set(KNOWN_FLAGS[path].split()) <= flags


def test_a_field_added_to_a_model_is_an_option():
    from tasks.snapshot import SnapshotParams

    class Extended(SnapshotParams):
        new_knob: int = Field(3, ge=1, le=9, description="A knob added later")

    seen = []
    one = typer.Typer(add_completion=False)
    one.command()(
        model_command(
            Extended,
            lambda values: seen.append(parse(Extended, values)),
            name="x",
            doc="Extended.",
            positional=("name",),
        )  # fmt: skip
    )
    runner = CliRunner()
    shown = runner.invoke(one, ["--help"], terminal_width=200)
    assert "--new-knob" in shown.output and "A knob added later" in shown.output
    assert runner.invoke(one, ["n", "--new-knob", "5"]).exit_code == 0
    assert seen[-1].new_knob == 5 and seen[-1].name == "n"
    assert runner.invoke(one, ["n"]).exit_code == 0 and seen[-1].new_knob == 3  # the default
    bad = runner.invoke(one, ["n", "--new-knob", "10"])
    assert bad.exit_code == 2 and bad.output.strip().splitlines() == [
        "error: new_knob: Input should be less than or equal to 9"
    ]


@pytest.mark.parametrize(
    "args, field",
    [
        (["train", "base", "clips", "--steps", "0"], "steps"),
        (["train", "sync", "ckpt", "--objaverse", "o", "--sync", "nope"], "sync"),
        (["train", "all", "clips", "--objaverse", "o", "-p", "pseudo4d_steps=0",
          "--base-masks", '{"none": 0, "random": 0, "interpolate": 0, "extend": 0}'], "base_masks"),
        (["generate", "--checkpoint", "c", "--sample", "s", "--shift", "-1"], "shift"),
        (["evaluate", "--dataset", "d", "--steps", "2"], "checkpoints"),
        (["evaluate", "--checkpoint", "a", "--checkpoint", "b", "--dataset", "d",
          "--detector", "nope"], "detector"),
        (["dataset", "create", "x", "--split", "nope"], "split"),
        (["demo", "--objects", "1"], "objects"),
        (["pseudo4d", "v.mp4", "--fps", "8", "--stride", "2"], "fps"),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_on_stderr_exit_2(args, field):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stdout == "" and "Traceback" not in res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: {field}"), line


def test_render_object_maps_its_options_as_the_flow_does():
    """``render-object`` defaults are RenderSpec's (max_triangles too: the flow's 500,000),
    and its options and the objects flow's fields map to one spec through one function."""
    from flows.build_objaverse import BuildObjaverseParams
    from renderers.spec import render_spec

    cmd = command_at(("render-object",))
    given = {p.name: p.default for p in cmd.params if p.name not in ("path", "out")}
    names = {"azimuth": "azimuth_deg", "azimuth_span": "azimuth_span_deg",
             "elevation": "elevation_deg", "yfov": "yfov_deg"}  # fmt: skip
    spec = render_spec(**{names.get(k, k): v for k, v in given.items()})
    assert spec == render_spec() and spec.max_triangles == 500_000
    flow = BuildObjaverseParams(source="objects", animation="2", azimuth_deg=30.0)
    assert flow.build_config().spec == render_spec(
        animation=2, azimuth_deg=30.0, min_motion=flow.min_motion
    )
