"""``fourreal build objects|pseudo4d|clips SOURCE``: the build flows, in-process.

The options are the flows' own typed parameters (one ``--option`` per field of the
pydantic model, same names with dashes, same defaults and descriptions;
fourreal/commands/options.py), so the CLI, the
Prefect UI form and a deployment's parameters are one contract. ``--workers`` is the
number of Ray workers of each build. With ``--json`` the last line of stdout is one JSON
object: ``{"run_id", "ok", "failed", "skipped", "sample_ids"}`` (``ok``: samples made by
this run; ``failed``: every input that failed, with its reason in the catalog;
``skipped``: samples the catalog already had), plus ``nodes`` (renders per Ray node id)
for ``objects``.

Exit status: 0; 1 when every input failed (nothing made, nothing already there); 128 +
the signal number when SIGTERM or SIGINT stopped the build (what finished is recorded;
the same command again does the rest); 2 for a bad option or an unusable data root.
"""

from __future__ import annotations

import inspect
import json
import signal
from collections.abc import Callable

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from fourreal.commands.options import (
    fail,
    field_values,
    lazy_group,
    model_options,
    validation_message,
)

console = Console(stderr=True)


# the Ray worker count of each build, under one name on the command line
WORKERS_FIELD = {"objects": "num_workers", "pseudo4d": "num_cpus", "clips": "num_cpus"}


# the one CLI pattern (options from the model, one-line errors), under its older names here
_fail, _values = fail, field_values


def _parameters(model: type[BaseModel], workers_field: str) -> list[inspect.Parameter]:
    workers = (f"--{workers_field.replace('_', '-')}", "--workers")
    return model_options(model, skip=("source",), flags={workers_field: workers})


def summary_line(result: dict) -> dict:
    """The ``--json`` contract from a build flow's return value (objects or videos).

    ``failed`` counts every input that failed: an object or clip that failed, and a
    video refused before it made any (``result["failed"]`` of both kinds of build).
    The objects build adds ``nodes``: renders per Ray node id.
    """
    if "samples_written" in result:  # a video build
        ok, skipped = result["samples_written"], result["samples_skipped"]
    else:
        ok, skipped = result["ok"], result["skipped"]
    line = {
        "run_id": result["run_id"],
        "ok": ok,
        "failed": result["failed"],
        "skipped": skipped,
        "sample_ids": list(result["sample_ids"]),
    }
    if "nodes" in result:
        line["nodes"] = dict(result["nodes"])
    return line


def failure_lines(result: dict, limit: int = 10) -> list[str]:
    """``what: reason`` of the first ``limit`` failures (objects: a dict; videos: a list)."""
    failures = result.get("failures") or {}
    if isinstance(failures, dict):
        pairs = list(failures.items())
    else:
        pairs = [(f.get("uri") or f.get("sample_id"), f["error"]) for f in failures]
    lines = [f"  failed {what}: {' '.join(str(why).split())[:200]}" for what, why in pairs]
    if len(lines) > limit:
        lines = lines[:limit] + [f"  ... and {len(lines) - limit} more (see the catalog)"]
    return lines


def exit_code(result: dict, line: dict) -> int:
    """128 + the signal that stopped the build; 1 when every input failed; else 0."""
    stopped = result.get("interrupted")
    if stopped:
        return 128 + int(signal.Signals[stopped])
    if line["failed"] and not line["ok"] and not line["skipped"]:
        return 1
    return 0


def print_summary(result: dict, line: dict, out: Console | None = None) -> None:
    """The human summary (on stderr): counts, failures with their reasons, renders per node."""
    lines = [
        f"run {line['run_id']}: {line['ok']} made, {line['skipped']} already recorded, "
        f"{line['failed']} failed",
        *failure_lines(result),
    ]
    if line.get("nodes"):
        per_node = ", ".join(f"{node[:12]} {n}" for node, n in line["nodes"].items())
        lines.append(f"renders per node: {per_node}")
    if result.get("interrupted"):
        lines.append(
            f"stopped by {result['interrupted']}: what finished is recorded; "
            "run the same command again to do the rest"
        )
    if result.get("contact_sheet"):
        lines.append(f"contact sheet: {result['contact_sheet']}")
    for text in lines:  # one line each, never wrapped nor styled
        (out or console).print(text, markup=False, highlight=False, soft_wrap=True)


def _command(what: str, model_of: Callable, flow_of: Callable, doc: str):
    """A typer command whose options are the fields of the flow's parameter model."""
    model = model_of()

    def run(source: str, as_json: bool, **given) -> None:
        try:
            params = model(source=source, **_values(model, given))
        except ValidationError as e:
            raise _fail(validation_message(e)) from None
        from core.fs import StoreConfigError, check_home

        try:  # an unusable data root (S3 unreachable, bad keys) fails before any work
            check_home()
        except StoreConfigError as e:
            raise _fail(str(e)) from None
        try:
            result = flow_of()(params)
        except (ValueError, FileNotFoundError) as e:
            raise _fail(str(e).splitlines()[0]) from None
        line = summary_line(result)
        code = exit_code(result, line)
        if as_json:
            print(json.dumps(line), flush=True)
        else:
            print_summary(result, line)
        if code:
            raise typer.Exit(code)

    def command(**kwargs) -> None:
        source, as_json = kwargs.pop("source"), kwargs.pop("as_json")
        run(source, as_json, **kwargs)

    command.__signature__ = inspect.Signature(
        [
            inspect.Parameter(
                "source",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=typer.Argument(..., help=model.model_fields["source"].description),
                annotation=str,
            ),
            *_parameters(model, WORKERS_FIELD[what]),
            inspect.Parameter(
                "as_json",
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(False, "--json", help="Last stdout line: one JSON object"),
                annotation=bool,
            ),
        ]
    )
    command.__doc__ = doc
    command.__name__ = f"build_{what}"
    return command


def _objects_model():
    from flows.build_objaverse import BuildObjaverseParams

    return BuildObjaverseParams


def _objects_flow():
    from flows.build_objaverse import build_objaverse_grids

    return build_objaverse_grids


def _pseudo4d_model():
    from flows.build_pseudo4d import Pseudo4DParams

    return Pseudo4DParams


def _pseudo4d_flow():
    from flows.build_pseudo4d import build_pseudo4d

    return build_pseudo4d


def _clips_model():
    from flows.build_pseudo4d import ClipParams

    return ClipParams


def _clips_flow():
    from flows.build_pseudo4d import build_clips

    return build_clips


BUILDS = {
    "objects": (_objects_model, _objects_flow, "Render animated glTF objects to V x T grids."),
    "pseudo4d": (_pseudo4d_model, _pseudo4d_flow, "Pseudo-4D grids from ordinary videos."),
    "clips": (_clips_model, _clips_flow, "Base-model clips (dynamic | freeze_time) from videos."),
}


def register(app: typer.Typer) -> None:
    # made on first use: their options come from the flows' parameter models, and
    # importing the flows (Prefect, Ray) must not slow every other command
    commands = {
        name: ((lambda n=name: _command(n, *BUILDS[n])), BUILDS[name][2]) for name in BUILDS
    }
    build_app = typer.Typer(
        cls=lazy_group(commands), help="Build samples: render objects, pseudo-4D grids, clips."
    )
    app.add_typer(build_app, name="build")
