"""``fourreal demo``: the whole pipeline on embedded defaults."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.tree import Tree

console = Console()


def demo_cmd(
    objects: int = typer.Option(6, help="Procedural animated objects to render"),
    base_steps: int = typer.Option(200, help="Base training steps"),
    sync_steps: int = typer.Option(60, help="Steps of each sync phase"),
    upsampler_steps: int = typer.Option(100, help="Upsampler training steps"),
) -> None:
    """sources -> grids -> dataset -> base -> sync -> upsampler -> generated grid (tiny, CPU)."""
    from catalog.lineage import lineage
    from catalog.store import Catalog
    from flows.demo import DemoParams, demo
    from fourreal.commands.catalog import _tree

    out = demo(DemoParams(objects=objects, base_steps=base_steps, sync_steps=sync_steps,
                          upsampler_steps=upsampler_steps))  # fmt: skip
    gen = out["generated"]
    root = lineage(Catalog(), out["checkpoints"]["sync"])
    tree = Tree(f"[bold]lineage of sync checkpoint[/bold] {root.id}")
    _tree(root, tree)
    console.print(tree)
    console.print(f"generated grid : {gen['grid']}")
    console.print(f"mosaic mp4     : {gen['mosaic']}")
    console.print(f"contact sheet  : {gen['contact_sheet']}")
    if gen.get("grid_high"):
        console.print(f"upsampled grid : {gen['grid_high']}")
        console.print(f"  mosaic mp4   : {gen['mosaic_high']}")
        console.print(f"  contact sheet: {gen['contact_sheet_high']}")
    console.print(f"catalog        : duckdb -init {out['catalog']}  (or fourreal catalog query)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
