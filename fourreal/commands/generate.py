"""``fourreal generate ...`` and ``fourreal evaluate ...``: the two flows from the shell.

The options are the fields of ``GenerateParams`` (flows/generate.py) / ``EvaluateParams`` (flows/evaluate.py),
made by fourreal/commands/options.py (``--sample`` is ``sample_id``; ``--checkpoint``,
repeatable, is ``checkpoints``). A bad value or input: one line on stderr, exit 2.
``--json`` prints the flow's result as JSON.
"""

from __future__ import annotations

import inspect
import json

import typer
from rich.console import Console

from fourreal.commands.options import fail, lazy_command, model_command, parse

console = Console()

AS_JSON = inspect.Parameter(
    "as_json",
    inspect.Parameter.KEYWORD_ONLY,
    default=typer.Option(False, "--json", help="Print the result as JSON"),
    annotation=bool,
)
GENERATE_DOC = (
    "Generate a grid from a fixed-view and a freeze-time video (files or a catalog sample)."
)
EVALUATE_DOC = (
    "Evaluate checkpoints on a held-out snapshot; print the comparison table, then each "
    "checkpoint beside the trivial baselines (copy grid[0, t], copy grid[v, 0], the better "
    "of the two, the background) and whether it beats the best of them."
)


def print_generated(result: dict) -> None:
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


def print_evaluated(result: dict) -> None:
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


def run_flow(flow, model, values: dict, as_json: bool, show) -> None:
    """Validate ``values`` with ``model``, run ``flow``; JSON or ``show`` the result."""
    params = parse(model, values)
    try:
        result = flow(params)
    except ValueError as e:
        raise fail(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    if as_json:
        print(json.dumps(result, default=str))
    else:
        show(result)


def generate_command():
    from flows.generate import GenerateParams, generate

    def body(values: dict, as_json: bool) -> None:
        run_flow(generate, GenerateParams, values, as_json, print_generated)

    return model_command(
        GenerateParams, body, name="generate", doc=GENERATE_DOC,
        flags={"sample_id": ("--sample",)}, extra=[AS_JSON],
    )  # fmt: skip


def evaluate_command():
    from flows.evaluate import EvaluateParams, evaluate

    def body(values: dict, as_json: bool) -> None:
        run_flow(evaluate, EvaluateParams, values, as_json, print_evaluated)

    return model_command(
        EvaluateParams, body, name="evaluate", doc=EVALUATE_DOC,
        flags={"checkpoints": ("--checkpoint",)}, repeatable=("checkpoints",), extra=[AS_JSON],
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    # the options are made from the flow's model on first use (importing it is slow)
    app.command("generate", cls=lazy_command(generate_command), help=GENERATE_DOC)(_listed)
    app.command("evaluate", cls=lazy_command(evaluate_command), help=EVALUATE_DOC)(_listed)


def _listed() -> None:
    """Stands in for a lazy command in the app's listing; never runs."""
